"""Every extractor class in sensor/extract is in the explicit default list, once."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import sensor.extract as pkg
from sensor.extract import DnsNames, default_extractors


def test_every_extractor_class_is_listed() -> None:
    classes = set()
    for mod in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"sensor.extract.{mod.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                obj.__module__ == module.__name__
                and obj.__name__.endswith("Extractor")
                and obj.__name__ != "Extractor"
            ):  # the Protocol itself
                classes.add(obj)
    listed = [type(e) for e in default_extractors(DnsNames())]
    assert len(listed) == len(set(listed))
    assert classes == set(listed)
    assert len({e.name for e in default_extractors(DnsNames())}) == len(listed)
