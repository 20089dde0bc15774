"""The Sink protocol: every consumer of ended flows implements these four calls."""

from __future__ import annotations

from typing import Protocol

from sensor.flow.state import FlowState

__all__ = ["Sink"]


class Sink(Protocol):
    """Receives ended flows in order; batches internally; never raises into the pipeline."""

    name: str

    def write_flow(self, flow: FlowState, reason: str) -> None:
        """Take one ended (or interim) flow; must not keep a reference to mutate later."""
        ...

    def flush(self, force: bool = False) -> None:
        """Write what is buffered if due (or now, with force)."""
        ...

    def close(self) -> None:
        """Flush everything and release files."""
        ...
