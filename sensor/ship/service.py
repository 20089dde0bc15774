"""ShipThread: `sensor run` ships in the background every `storage.ship.interval_seconds`.

A thread of the parent process (the capture workers never wait for the network): the
transfers are `ssh` child processes or file copies, so the thread mostly waits on I/O.
"""

from __future__ import annotations

import logging
import threading

from sensor.ship.shipper import Shipper

__all__ = ["ShipThread"]

log = logging.getLogger(__name__)


class ShipThread:
    """Runs `shipper.ship_once()` now and then every `interval` seconds until `stop()`."""

    def __init__(self, shipper: Shipper, interval: float) -> None:
        self.shipper = shipper
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sensor-ship", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, final_pass: bool = True) -> None:
        """End the loop; one last pass ships what the workers wrote while stopping."""
        self._stop.set()
        self._thread.join()
        if final_pass:
            self._pass()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._pass()
            self._stop.wait(self._interval)

    def _pass(self) -> None:
        try:
            self.shipper.ship_once()
        except Exception:  # a bug in one pass must not end shipping for good
            self.shipper.stats.failures += 1
            log.exception("ship pass failed")
