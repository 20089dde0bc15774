"""Vendor names of MAC address blocks, from Wireshark's `manuf` file (built from the IEEE
registries; Debian ships it in libwireshark-data, refreshed with every Wireshark release)."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

__all__ = ["MANUF", "prefixes", "vendor"]

log = logging.getLogger(__name__)

MANUF = Path("/usr/share/wireshark/manuf")


@lru_cache(maxsize=4)
def _table(path: Path) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        log.warning("no OUI database at %s: vendors will be empty", path)
        return out
    for line in lines:
        if not line or line[0] == "#":
            continue
        parts = line.split("\t")
        prefix = parts[0]
        if "/" in prefix or len(parts) < 2:  # /28 and /36 blocks: not needed here
            continue
        try:
            key = bytes.fromhex(prefix.replace(":", "").replace("-", ""))
        except ValueError:
            continue
        if len(key) == 3:
            out[key] = (parts[2] if len(parts) > 2 else parts[1]).strip()
    return out


def prefixes(path: Path = MANUF) -> list[tuple[str, str]]:
    """(aa:bb:cc, vendor) for every 24-bit prefix: the catalog's `oui` table."""
    return [(":".join(f"{b:02x}" for b in k), v) for k, v in _table(path).items()]


def vendor(mac: bytes, path: Path = MANUF) -> str | None:
    """The registered vendor of a MAC address (None if unknown or locally administered)."""
    if len(mac) < 3 or mac[0] & 0x02:
        return None
    return _table(path).get(bytes(mac[:3]))
