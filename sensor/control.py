"""Stop and reload requests. Signal handlers only record them; the pipeline takes them at
points where no flow record is half-classified and no frame half-counted (between sub-batches
and between flow records), so a SIGHUP or SIGTERM never loses or splits a record."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sensor.classify import Classifier, build_classifier
from sensor.config import load_config

__all__ = ["Control", "ReadInterrupted", "rebuild_classifier"]

log = logging.getLogger(__name__)


class ReadInterrupted(BaseException):
    """Raised by a stop request into a read that would block (a BaseException, so no reader's
    error handling swallows it)."""


def rebuild_classifier(config_path: Path | None) -> Classifier:
    """SIGHUP: read the config file again and build a new classifier from it."""
    cfg = load_config(config_path)
    return build_classifier(cfg.signatures, cfg.policy)


class Control:
    """The pending requests of one pipeline and how its reloads went."""

    __slots__ = ("build", "reading", "reloads", "stopping")

    def __init__(self) -> None:
        self.build: Callable[[], Classifier] | None = None
        """The builder of the classifier asked for, until it is taken."""
        self.stopping = False
        self.reading = False
        """True while the source is in a read that may block: a stop then interrupts it."""
        self.reloads: Counter[str] = Counter()
        """Reloads taken, by result (`ok`, `failed`)."""

    def stop(self) -> None:
        """Record a stop; if the source is blocked in a read (a quiet pipe), abandon it."""
        self.stopping = True
        if self.reading:
            raise ReadInterrupted

    def swap(self, current: Classifier) -> Classifier:
        """The classifier to go on with: a new one if a reload was asked for and builds,
        carrying `current`'s counters; else `current` (a failed build is counted and logged,
        and the old rules keep running)."""
        build, self.build = self.build, None
        if build is None:
            return current
        try:
            new = build()
        except Exception as e:  # keep running on the old rules; say why
            self.reloads["failed"] += 1
            log.error("reload failed, keeping signature set %s: %s", current.version, e)
            return current
        self.reloads["ok"] += 1
        new.keep_counts(current)
        log.info(
            "reloaded: %d signatures, version %s (was %s)",
            len(new.signatures),
            new.version,
            current.version,
        )
        return new
