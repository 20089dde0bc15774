"""Where segments are shipped: the Destination protocol and the directory destination.

A destination stores a segment under the same relative path as in the sensor's tree
(`flows/sensor=<name>/date=<day>/<segment>.parquet`), so the central tree is the same hive
layout. Bytes first go to a hidden partial file beside the final name (`.<segment>.part`,
which no reader's `*.parquet` glob matches); a cut transfer leaves it there and the next
attempt appends from its size. Only a partial whose size and SHA-256 equal the local file's is
renamed into place, and the final file is read back to prove it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from sensor.errors import SensorError

__all__ = [
    "Destination",
    "Digest",
    "DirectoryDestination",
    "Probe",
    "ShipError",
    "file_digest",
    "partial_name",
]

_CHUNK = 1 << 20


class ShipError(SensorError):
    """The destination could not be reached or refused a write; the pass stops, retried later."""


@dataclass(frozen=True, slots=True)
class Digest:
    """Size and SHA-256 (hex) of a file: what must match on both sides."""

    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Probe:
    """What the destination holds for one segment."""

    final: Digest | None
    """The file under its final name, if present."""
    partial: int
    """Bytes of the partial file a cut transfer left (0: none)."""


class Destination(Protocol):
    """A central store segments are shipped to."""

    name: str
    """Where it is, for logs and the ledger (never a secret)."""

    def probe(self, rels: Sequence[str]) -> list[Probe]:
        """Final file and partial size of each segment (relative paths), in one round trip."""
        ...

    def put(self, local: Path, rel: str, offset: int, want: Digest) -> Digest | None:
        """Append the local file's bytes from `offset` to the partial (`offset` is what the
        partial holds), then rename it into place if it matches `want`. Returns the final
        file's digest as read back, or None if the partial did not match (it is deleted:
        start again). Raises ShipError if the transfer was cut (the partial stays)."""
        ...


def file_digest(path: Path) -> Digest:
    """Size and SHA-256 of a local file."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return Digest(size, h.hexdigest())


def partial_name(rel: str) -> PurePosixPath:
    """The hidden partial file of a segment: `.<name>.part` in the same folder."""
    p = PurePosixPath(rel)
    return p.with_name(f".{p.name}.part")


def check_relative(rel: str) -> PurePosixPath:
    """A relative path inside the destination (no `..`, not absolute): guards the remote."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\n" in rel:
        raise ShipError(f"refusing to ship outside the destination: {rel!r}")
    return p


class DirectoryDestination:
    """A local or mounted directory (NFS, CephFS, SMB): files written, fsynced, renamed.
    The directory itself must exist; the table and partition folders are created."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = str(root)

    def probe(self, rels: Sequence[str]) -> list[Probe]:
        if not self.root.is_dir():  # never create it: an unmounted share would fill our disk
            raise ShipError(f"{self.name}: no such directory (is the share mounted?)")
        return [self._probe(rel) for rel in rels]

    def _probe(self, rel: str) -> Probe:
        final = self.root / check_relative(rel)
        part = self.root / partial_name(rel)
        try:
            digest = file_digest(final) if final.is_file() else None
            return Probe(digest, part.stat().st_size if part.is_file() else 0)
        except OSError as e:
            raise ShipError(f"{self.name}: {e}") from None

    def put(self, local: Path, rel: str, offset: int, want: Digest) -> Digest | None:
        final = self.root / check_relative(rel)
        part = self.root / partial_name(rel)
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            with local.open("rb") as src, part.open("ab") as dst:
                fcntl.flock(dst.fileno(), fcntl.LOCK_EX)  # one writer per partial
                if os.fstat(dst.fileno()).st_ino != part.stat().st_ino:
                    raise ShipError(f"{self.name}: {rel} was renamed by another shipper")
                size = os.fstat(dst.fileno()).st_size
                if offset == 0 and size:
                    dst.truncate(0)  # a partial we cannot use: start again
                elif size != offset:
                    raise ShipError(f"{self.name}: partial of {rel} moved to {size} bytes")
                src.seek(offset)
                shutil.copyfileobj(src, dst, _CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            if file_digest(part) != want:
                part.unlink()
                return None
            if final.exists():  # never overwrite what another attempt put there
                raise ShipError(f"{self.name}: {rel} appeared while shipping it")
            os.rename(part, final)
            _fsync_dir(final.parent)
            return file_digest(final)
        except OSError as e:
            raise ShipError(f"{self.name}: cannot write {rel}: {e}") from None


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (a crash of the collector must not undo a verified commit)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
