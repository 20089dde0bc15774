"""The sender never blocks the caller, counts what it drops, and gives up on a bad message."""

from __future__ import annotations

import socket
import time

from sensor.endpoints import Address
from sensor.sinks.sender import Sender


def test_offer_never_waits_and_counts_drops_when_nobody_listens(tmp_path: str) -> None:
    s = Sender("t", Address("unix", path=f"{tmp_path}/nobody.sock"), max_queue=10)
    t0 = time.perf_counter()
    accepted = sum(s.offer(b"x" * 100) for _ in range(1000))
    assert time.perf_counter() - t0 < 0.5
    assert accepted == 10 and s.stats.dropped == 990
    s.close(timeout=0.2)
    assert s.stats.sent == 0 and s.stats.failed + s.stats.dropped == 1000


def test_a_message_too_big_for_a_datagram_is_given_up_and_the_next_goes_through() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        s = Sender("t", Address("udp", "127.0.0.1", rx.getsockname()[1]))
        s.offer(b"x" * 70_000)  # EMSGSIZE on every connection
        s.offer(b"small")
        s.close()
        assert rx.recv(65536) == b"small"
    assert (s.stats.sent, s.stats.failed) == (1, 1)
