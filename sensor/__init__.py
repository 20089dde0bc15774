"""Passive network sensor for Personnel Policy 2503 (Communications and Information Systems)."""

import os

# Arrow's buffers from the C library's allocator, not mimalloc (pyarrow's default), unless the
# environment says otherwise. Set here, before anything imports pyarrow, because Arrow's C++
# code (the Parquet writer) reads it once: mimalloc keeps per-thread heaps, and with the flow
# store's writer thread it held ~30 MB more at the same CPU (floods, the 2 M-packet capture);
# under `limits.memory_mb: 64` that was the margin.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
__all__ = ["__version__"]
