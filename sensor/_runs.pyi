"""Types of sensor/_runs.c (a batch's run grouping, the pending tier's hash index); see
its docstrings."""

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
def index_find(index: Buffer, rows: tuple[Buffer, ...], query: tuple[Buffer, ...], /) -> bytes: ...
def index_place(index: Buffer, h: Buffer, slots: Buffer, /) -> tuple[bytes, int]: ...
