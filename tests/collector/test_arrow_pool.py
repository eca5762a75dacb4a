"""The collector process takes Arrow's buffers from the system allocator, compute kernels included
(see hive_otel/collector/__init__.py). A fresh interpreter: the choice is made when pyarrow loads."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import hive_otel.cli.collector
from hive_otel.collector.rollups import key_index
import pyarrow as pa, pyarrow.compute as pc
values = pa.array(range(100_000))
pc.value_counts(pc.filter(values, pc.greater(values, 5)))
pc.indices_nonzero(pc.greater(values, 5))
print(pa.default_memory_pool().backend_name, pa.mimalloc_memory_pool().max_memory())
"""


def test_arrow_allocates_from_the_system_allocator_in_the_collector_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}  # this process set it
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["system", "0"]
