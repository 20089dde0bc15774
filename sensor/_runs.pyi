"""Types of sensor/_runs.c (a batch's run grouping); see its docstring."""

from typing_extensions import Buffer

def runs(
    cols: tuple[Buffer, ...],
    sel: Buffer,
    idle_tcp: int,
    idle_udp: int,
    idle_other: int,
    closed: int,
    ending: int,
    synmask: int,
    syn: int,
    /,
) -> tuple[bytes, bytes, bytes, int] | None: ...
