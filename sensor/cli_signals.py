"""How a foreground command ends on SIGINT/SIGTERM: a replay writes what it holds first, a
lingering metrics endpoint just stops waiting. Imports nothing heavy: `ship` uses `linger`."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the type: the replay that passes it has imported the pipeline
    from sensor.pipeline import Pipeline

__all__ = ["linger", "stop_on_signals"]


def stop_on_signals(pipe: Pipeline) -> list[int]:
    """SIGINT/SIGTERM during a replay: stop reading, write every open flow (end_reason
    shutdown) and close the store, then exit 130/143. A second signal stops at once."""
    got: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if got:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        got.append(signum)
        # the notice first: request_stop may raise out of a read the signal interrupted
        print("sensor: stopping: writing every open flow (again to stop at once)", file=sys.stderr)
        pipe.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return got


def linger(seconds: float) -> None:
    """Keep the process (and its metrics thread) alive; SIGTERM or SIGINT end it early."""
    done = False

    def stop(signum: int, frame: object) -> None:
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, stop)
    end = time.monotonic() + seconds
    try:
        while not done and time.monotonic() < end:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
