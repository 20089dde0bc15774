"""Compiled parts of the sensor (everything else is in pyproject.toml).

Each extension is optional: where no C compiler is found the package still installs and
runs on the pure-Python references (sensor/native.py says which one is in use).
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra"]

setup(
    ext_modules=[
        Extension("sensor._native", ["sensor/_native.c"], extra_compile_args=_FLAGS, optional=True),
        # the batch's run grouping (sensor/flow/group.py); apart so it builds and fails alone
        Extension("sensor._runs", ["sensor/_runs.c"], extra_compile_args=_FLAGS, optional=True),
    ],
)
