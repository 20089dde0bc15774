"""Which compiled helpers are in use.

`sensor/_native.c` holds the few loops a profile showed Python cannot make fast (the pcap
record walk, Community ID hashing, address text); `sensor/_runs.c` a batch's grouping into
runs (`runs_lib`). Each has a pure-Python reference next to its caller, and the callers take
the compiled module when it is not None. `SENSOR_PURE_PYTHON=1` in the
environment turns the compiled code off for a whole process: the differential tests and
anyone comparing outputs use it; a machine without a C compiler gets the same by default.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["describe", "lib", "runs_lib"]


def _load(name: str) -> ModuleType | None:
    if os.environ.get("SENSOR_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        module: ModuleType = importlib.import_module(f"sensor.{name}")
    except ImportError:
        return None
    return module


lib: ModuleType | None = _load("_native")
"""sensor._native, or None where it is not built or turned off."""

runs_lib: ModuleType | None = _load("_runs")
"""sensor._runs (sensor/flow/group.py's grouping), or None where it is not built or turned off."""


def describe() -> str:
    """`compiled`, `pure-python`, or `partly compiled (...)` naming the modules that are
    not (one extension failed to build), for `--version` and the build-info metric."""
    missing = [name for name, mod in (("_native", lib), ("_runs", runs_lib)) if mod is None]
    if not missing:
        return "compiled"
    if len(missing) == 2:
        return "pure-python"
    return f"partly compiled (no {', '.join(missing)})"
