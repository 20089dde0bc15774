"""Sender: a bounded queue and one thread that delivers messages over UDP, TCP or a unix socket.

The packet path only calls `offer()`, which never waits: when the queue is full the message
is dropped and counted. The thread connects, and while the receiver is away it holds the
queue and reconnects with exponential back-off (0.5 s doubling to 30 s), so a short outage
costs nothing and a long one costs counted drops, never a stalled capture. Over TCP and
unix sockets every loss is counted; over UDP a receiver that is down loses datagrams that
nobody can count (RFC 5426), which is why TCP is there. Before each TCP write it checks whether
the peer has closed the connection (as rsyslog's omfwd does), because a write to a
half-closed socket succeeds locally and the message would vanish without an error.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import threading
import time
from collections.abc import Callable

from sensor.endpoints import Address

__all__ = ["Sender", "SenderStats"]

log = logging.getLogger(__name__)


class SenderStats:
    """Plain counters read by the metrics collector."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        """Taken from the queue but not delivered (collector down, write error)."""
        self.dropped = 0
        """Never queued: the queue was full."""
        self.connects = 0


class Sender:
    """One output's queue and delivery thread."""

    def __init__(
        self,
        name: str,
        address: Address,
        max_queue: int = 10_000,
        on_connect: Callable[[], list[bytes]] | None = None,
        framing: Callable[[bytes], bytes] = bytes,
    ) -> None:
        self.name = name
        self.address = address
        self.stats = SenderStats()
        self.max_queue = max_queue
        self._q: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._pending = 0
        """Messages queued or in hand: what `max_queue` bounds and `drain` waits for."""
        self._lock = threading.Lock()
        self._on_connect = on_connect
        """Messages to send first on each new connection (IPFIX templates over TCP)."""
        self._framing = framing
        self._sock: socket.socket | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sender-{name}", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        """Messages waiting (or in hand)."""
        return self._pending

    def offer(self, msg: bytes) -> bool:
        """Queue `msg` without waiting; False (and counted) when the queue is full."""
        return self.offer_batch([msg])

    def offer_batch(self, msgs: list[bytes]) -> bool:
        """Queue messages as one item (one wake-up of the thread for a whole flush);
        all-or-nothing, so a batch that does not fit is dropped and counted whole."""
        with self._lock:
            if self._pending + len(msgs) > self.max_queue:
                self.stats.dropped += len(msgs)
                return False
            self._pending += len(msgs)
        self._q.put(msgs)
        return True

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queued message to be sent or given up."""
        end = time.monotonic() + timeout
        while self._pending and time.monotonic() < end:
            time.sleep(0.01)
        return self._pending == 0

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to `timeout`), then stop; the rest counts as failed."""
        self.drain(timeout)
        self._stopping.set()  # the thread now gives up what is left, counted as failed
        self._q.put(None)
        self._thread.join(timeout)
        with self._lock:  # if the thread is stuck in a write, count its backlog here
            if self._thread.is_alive():
                self.stats.failed += self._pending
                self._pending = 0
        self._disconnect()

    def _run(self) -> None:
        while True:
            batch = self._q.get()
            if batch is None:
                return
            for msg in batch:
                ok = not self._stopping.is_set() and self._deliver(msg)
                with self._lock:
                    if ok:
                        self.stats.sent += 1
                    else:
                        self.stats.failed += 1
                    self._pending -= 1

    def _deliver(self, msg: bytes) -> bool:
        """Send one message, waiting out the back-off while the receiver is away (the queue
        fills meanwhile, and what does not fit is dropped and counted at `offer`). A message
        that fails on two connections in a row is given up, so one bad message cannot
        wedge the queue."""
        data = self._framing(msg)
        failures = 0
        while not self._stopping.is_set():
            sock = self._connected()
            if sock is None:
                self._stopping.wait(max(0.01, self._retry_at - time.monotonic()))
                continue
            try:
                sock.sendall(data)
                self._backoff = 0.0  # delivered: the next outage starts from a short wait
                return True
            except OSError as e:
                log.warning("%s: send to %s failed: %s", self.name, self.address, e)
                self._disconnect()
                failures += 1
                if failures >= 2:  # a receiver that takes connections but no data: back off
                    self._back_off()
                    return False
        return False

    def _connected(self) -> socket.socket | None:
        if self._sock is not None and self.address.transport == "tcp" and _peer_closed(self._sock):
            log.warning("%s: %s closed the connection", self.name, self.address)
            self._disconnect()
        if self._sock is not None:
            return self._sock
        if time.monotonic() < self._retry_at:
            return None
        try:
            self._sock = self._connect()
        except OSError as e:
            self._back_off()
            log.warning(
                "%s: cannot reach %s (%s); retry in %.1fs",
                self.name,
                self.address,
                e,
                self._backoff,
            )
            return None
        self.stats.connects += 1
        return self._sock

    def _back_off(self) -> None:
        self._backoff = min(30.0, max(0.5, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff

    def _connect(self) -> socket.socket:
        a = self.address
        if a.transport == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            target: object = a.path
        else:
            kind = socket.SOCK_STREAM if a.transport == "tcp" else socket.SOCK_DGRAM
            fam, _, _, _, target = socket.getaddrinfo(a.host, a.port, type=kind)[0]
            s = socket.socket(fam, kind)
        s.settimeout(5.0)
        try:
            s.connect(target)  # type: ignore[arg-type]
            for m in self._on_connect() if self._on_connect else []:
                s.sendall(self._framing(m))
        except OSError:
            s.close()
            raise
        return s

    def _disconnect(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _peer_closed(sock: socket.socket) -> bool:
    """True when the peer has closed (EOF or reset) a TCP connection we only write to.

    poll, not select (no limit on descriptor numbers), and only then a peek: recv on a
    socket with a timeout would wait for that timeout when nothing is there.
    """
    p = select.poll()
    p.register(sock, select.POLLIN)
    if not p.poll(0):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # reset
        return True
