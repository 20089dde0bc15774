"""The ship ledger: which segments the destination verifiably holds.

One JSON line per verified segment, appended and fsynced before the local copy is removed.
If the sensor dies between the two, the next pass finds the segment in the ledger and only
removes it, so no segment is ever sent twice. Lines whose local file is gone are dropped when
the ledger is opened (they can no longer be shipped), which keeps it small.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from sensor.ship.destination import Digest

__all__ = ["Ledger"]

log = logging.getLogger(__name__)


class Ledger:
    """Relative segment paths already verified at the destination, with their digests."""

    def __init__(self, path: Path, data_dir: Path) -> None:
        self.path = path
        self._done: dict[str, Digest] = {}
        if path.exists():
            for rel, digest in _read(path).items():
                if (data_dir / rel).exists():
                    self._done[rel] = digest
            self._rewrite()

    def __contains__(self, rel: object) -> bool:
        return rel in self._done

    def get(self, rel: str) -> Digest | None:
        return self._done.get(rel)

    def add(self, rel: str, digest: Digest, destination: str) -> None:
        """Record a verified segment durably (before its local copy is removed)."""
        line = {"path": rel, "size": digest.size, "sha256": digest.sha256, "to": destination}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._done[rel] = digest

    def forget(self, rel: str) -> None:
        """The local copy is gone: nothing left to guard (dropped at the next rewrite)."""
        self._done.pop(rel, None)

    def _rewrite(self) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for rel, d in self._done.items():
                f.write(json.dumps({"path": rel, "size": d.size, "sha256": d.sha256}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _read(path: Path) -> dict[str, Digest]:
    out: dict[str, Digest] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for n, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
            out[str(row["path"])] = Digest(int(row["size"]), str(row["sha256"]))
        except (ValueError, KeyError, TypeError):
            # a line torn by a crash mid-write: that segment was not yet removed locally,
            # so it is probed again at the destination, which has it (verified, not resent)
            log.warning("%s:%d: unreadable ledger line ignored", path, n)
    return out
