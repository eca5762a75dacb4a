"""The collector wing: OTLP receivers, the ClickHouse store, its API and report."""

import os

# Arrow's buffers come from the C library's allocator, process-wide. pyarrow's default pool (mimalloc)
# hands freed pages back to the kernel within milliseconds and takes fresh huge pages, zeroed by the
# kernel, for the next batch's tables: measured with a server store, that zeroing was ~15% of the
# collector process's CPU. Arrow reads this variable once, when it loads, which the store's modules
# make happen after this package's init. (``pa.set_memory_pool`` does not cover Arrow's compute kernels.)
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
