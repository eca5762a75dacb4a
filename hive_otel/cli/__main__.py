"""``python -m hive_otel.cli``: the ``hive-otel`` command without its console script."""

import sys

from hive_otel.cli import run

sys.exit(run())
