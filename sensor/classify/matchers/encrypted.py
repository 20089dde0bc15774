"""`fully_encrypted`: a connection whose first payload looks like uniformly random bytes and
like no known protocol, the way Shadowsocks, VMess and obfs4 look from the first byte on.

The test is the one Wu et al. found the Great Firewall of China using ("How the Great Firewall
of China Detects and Blocks Fully Encrypted Traffic", USENIX Security 2023, section 4): the
first payload is exempt, i.e. NOT fully encrypted, if any of
  Ex1  its mean number of set bits per byte is <= 3.4 or >= 4.6 (random bytes give 4),
  Ex2  its first 6 bytes are printable ASCII,
  Ex3  more than half of its bytes are printable ASCII,
  Ex4  it has a run of more than 20 printable ASCII bytes,
  Ex5  it is a protocol the sensor recognises (any `app_proto`: TLS, HTTP, SSH, ...), or
       RTMP's handshake, random by design (C0 version 3, then C1: a 4-byte time and 4 zero
       bytes before 1528 random ones: Adobe's RTMP specification, section 5.2.3).
Like the censor, it judges only the first payload of a connection it saw open (the TCP
handshake): the middle of a TLS session caught without its start is random bytes too.
The sensor keeps the first 64 bytes of a payload, so the tests run on those (at 64 random
bytes the mean popcount has a standard deviation of 0.18, well inside the 3.4-4.6 band).

    {fully_encrypted: toserver}     # or toclient
"""

from __future__ import annotations

from typing import Any, ClassVar

from sensor.classify.matchers.base import RAW, Evidence, Gate, Need
from sensor.classify.view import FlowView, Networks
from sensor.extract.inspector import HEAD_TC, HEAD_TS

__all__ = ["FullyEncryptedMatcher"]

_PRINTABLE = bytes(range(0x20, 0x7F))
_MIN_BYTES = 16  # shorter payloads say too little about their byte distribution


def _longest_printable_run(data: bytes) -> int:
    best = run = 0
    for b in data:
        run = run + 1 if 0x20 <= b < 0x7F else 0
        best = max(best, run)
    return best


class FullyEncryptedMatcher:
    kind: ClassVar[str] = "fully_encrypted"

    __slots__ = ("head",)

    def __init__(self, head: str) -> None:
        self.head = head

    @classmethod
    def parse(cls, field: str | None, value: Any) -> FullyEncryptedMatcher:
        if field:
            raise ValueError("fully_encrypted: takes no `field`")
        if value not in ("toserver", "toclient"):
            raise ValueError("fully_encrypted: expected toserver or toclient")
        return cls(HEAD_TS if value == "toserver" else HEAD_TC)

    def match(self, v: FlowView) -> Evidence | None:
        meta = v.meta
        if "app_proto" in meta or v.flow.syn_seq < 0:  # Ex5; the connection's start unseen
            return None
        data: bytes | None = meta.get(self.head)
        if not data or len(data) < _MIN_BYTES:
            return None
        n = len(data)
        if data[0] == 3 and data[5:9] == b"\0\0\0\0":  # Ex5: RTMP
            return None
        bits = int.from_bytes(data, "big").bit_count() / n
        if not 3.4 < bits < 4.6:  # Ex1
            return None
        printable = n - len(data.translate(None, _PRINTABLE))
        if printable * 2 > n or not data[:6].translate(None, _PRINTABLE):  # Ex3, Ex2
            return None
        if _longest_printable_run(data) > 20:  # Ex4
            return None
        side = "toserver" if self.head == HEAD_TS else "toclient"
        return (
            f"payload.{side} fully encrypted ({bits:.2f} bits/byte, {printable}/{n} printable)",
            1.0,
        )

    def gate(self) -> Gate | None:
        return None

    def requires(self, nets: Networks) -> Need:
        return frozenset({frozenset({self.head})})

    def reads(self) -> frozenset[str]:
        """The payload's bytes (and whether the connection's start was seen)."""
        return frozenset({RAW})
