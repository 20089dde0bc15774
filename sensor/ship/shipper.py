"""The Shipper: moves this sensor's closed segments to a destination, oldest first.

Closed segments are the files the writers renamed into place (`*.parquet` without a leading
dot): they never change again, so shipping one is a copy, a verification and a delete. Per
segment: the destination is probed (already there? a partial left by a cut connection?), the
missing bytes are appended, the partial is renamed into place only if its size and SHA-256
match, the final file's digest is read back and compared, the ledger records it, and only
then is the local copy removed. A connection failure ends the pass (the next one resumes);
retention runs after the pass, so it only ever sees what could not be shipped yet.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sensor.errors import StorageError
from sensor.ship.destination import Destination, Probe, ShipError, file_digest
from sensor.ship.ledger import Ledger

__all__ = ["LEDGER_NAME", "ShipStats", "Shipper", "closed_segments"]

log = logging.getLogger(__name__)

_BATCH = 256
"""Segments probed in one round trip."""

LEDGER_NAME = ".ship-ledger.jsonl"
"""In the data directory's root: outside every table's glob."""
KEPT_TABLES = frozenset({"captures"})
"""Shipped as a copy, never removed here: the replay ledger (which captures the store holds)
must stay with the sensor, or replaying a capture again after shipping would double rows."""
LOCK_NAME = ".ship.lock"
"""Held during a pass: two shippers of one tree would race for the same partials."""


@dataclass(slots=True)
class ShipStats:
    """Counters and gauges the metrics endpoint and `sensor ship` report."""

    segments_shipped: int = 0
    bytes_shipped: int = 0
    """Bytes sent (a resumed segment counts only what was still missing)."""
    resumed: int = 0
    failures: int = 0
    passes: int = 0
    backlog_segments: int = 0
    backlog_bytes: int = 0
    backlog_age_seconds: float = 0.0
    """Age of the oldest segment still waiting (0: none waiting)."""


def closed_segments(data_dir: Path, sensor: str) -> list[Path]:
    """This sensor's whole segments of every table, oldest first."""
    found: list[tuple[float, str, Path]] = []
    for table in sorted(data_dir.iterdir()) if data_dir.is_dir() else []:
        if table.name.startswith(".") or not table.is_dir():
            continue
        for f in (table / f"sensor={sensor}").glob("date=*/*.parquet"):
            if f.name.startswith("."):
                continue  # a writer's temporary: not closed yet
            try:
                found.append((f.stat().st_mtime, f.name, f))
            except FileNotFoundError:
                continue  # removed meanwhile (retention)
    return [f for _, _, f in sorted(found)]


class Shipper:
    """Ships the closed segments of one sensor partition under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        sensor: str,
        destination: Destination,
        after_pass: Callable[[], object] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.sensor = sensor
        self.destination = destination
        self.after_pass = after_pass
        """Retention, run once every pass has shipped what it could."""
        self.stats = ShipStats()
        try:
            self.ledger = Ledger(data_dir / LEDGER_NAME, data_dir)
        except OSError as e:
            where = data_dir / LEDGER_NAME
            raise StorageError(f"{where}: cannot open the ship ledger: {e}") from None

    def ship_once(self) -> bool:
        """One pass over the backlog; True if nothing failed (or another pass is running)."""
        try:
            lock = os.open(self.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o640)
        except FileNotFoundError:
            return True  # no data directory yet: nothing to ship
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # `sensor run` and the timer both configured: one suffices
            log.info("ship: another ship pass runs on %s; skipped", self.data_dir)
            os.close(lock)
            return True
        try:
            return self._pass()
        finally:
            os.close(lock)

    def _pass(self) -> bool:
        self.stats.passes += 1
        segments = self._pending()
        ok = True
        try:
            for i in range(0, len(segments), _BATCH):
                ok = self._ship_batch(segments[i : i + _BATCH]) and ok
        except (ShipError, OSError) as e:  # unreachable, cut, or the ledger's disk is full
            self.stats.failures += 1
            log.error("ship: %s; will retry", e)
            ok = False  # the rest would fail the same way: the next pass resumes
        if self.after_pass is not None:
            try:
                self.after_pass()
            except OSError as e:
                log.error("ship: retention after shipping failed: %s", e)
        self._measure_backlog()
        return ok

    def _ship_batch(self, paths: list[Path]) -> bool:
        """Ship up to `_BATCH` segments: one probe for all, then one transfer each."""
        todo = []
        for path in paths:
            rel = path.relative_to(self.data_dir).as_posix()
            if rel in self.ledger:  # verified by an earlier pass that died before the unlink
                self._remove(path, rel)
            else:
                todo.append((path, rel))
        probes = self.destination.probe([rel for _, rel in todo]) if todo else []
        ok = True
        for (path, rel), probe in zip(todo, probes, strict=True):
            try:
                ok = self._ship(path, rel, probe) and ok
            except FileNotFoundError:
                continue  # retention removed it meanwhile
        return ok

    def _ship(self, path: Path, rel: str, probe: Probe) -> bool:
        local = file_digest(path)
        if probe.final is not None:
            if probe.final != local:
                self.stats.failures += 1
                log.error("ship: %s differs at %s; left in place", rel, self.destination.name)
                return False
            log.info("ship: %s was already at the destination", rel)
        else:
            offset = probe.partial if 0 < probe.partial <= local.size else 0
            if offset:
                self.stats.resumed += 1
                log.info("ship: resuming %s at byte %d of %d", rel, offset, local.size)
            final = self.destination.put(path, rel, offset, local)
            self.stats.bytes_shipped += local.size - offset
            if final != local:
                self.stats.failures += 1
                log.error("ship: %s did not verify at %s (%s); resent next pass", rel,
                          self.destination.name, final)  # fmt: skip
                return False
            self.stats.segments_shipped += 1
        self.ledger.add(rel, local, self.destination.name)
        if not _kept(rel):
            self._remove(path, rel)
        return True

    def _pending(self) -> list[Path]:
        """Closed segments not yet verified at the destination (kept copies are done)."""
        return [
            p
            for p in closed_segments(self.data_dir, self.sensor)
            if not (_kept(rel := p.relative_to(self.data_dir).as_posix()) and rel in self.ledger)
        ]

    def _remove(self, path: Path, rel: str) -> None:
        path.unlink(missing_ok=True)
        self.ledger.forget(rel)

    def _measure_backlog(self) -> None:
        left = self._pending()
        sizes, oldest = 0, None
        for f in left:
            try:
                st = f.stat()
            except FileNotFoundError:
                continue
            sizes += st.st_size
            oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
        self.stats.backlog_segments = len(left)
        self.stats.backlog_bytes = sizes
        self.stats.backlog_age_seconds = max(time.time() - oldest, 0.0) if oldest else 0.0


def _kept(rel: str) -> bool:
    return rel.split("/", 1)[0] in KEPT_TABLES
