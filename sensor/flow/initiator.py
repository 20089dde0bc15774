"""Which side of a new flow is the client (the initiator): one rule in two forms.

Why a module of its own: the object tier decides it for one flow in plain Python, the
half-open tier for a batch of runs with numpy, and a flow must get the same answer either way
(records are compared column for column, tests/unit/flow/test_pending.py). Side by side, the
two forms are changed together.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sensor.flow.key import FlowKey
from sensor.flow.state import ACK, SYN

__all__ = ["client_is_src", "clients_are_lo"]


def client_is_src(proto: int, flags0: int, key: FlowKey, fwd0: bool) -> bool:
    """The initiator is the client: the SYN sender, else the first sender, unless that one
    looks like a server answering (well-known source port to an ephemeral port)."""
    if proto == 6 and flags0 & SYN:
        return not flags0 & ACK
    pp = key[4]
    lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
    sport, dport = (lo_port, hi_port) if fwd0 else (hi_port, lo_port)
    return not (proto in (6, 17) and sport < 1024 <= dport)


def clients_are_lo(
    a: dict[str, npt.NDArray[np.int64]], idx: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Per run `idx` of a batch (`a`: Runs.a): is the client the key's lo side? The rule of
    `client_is_src`, as arrays."""
    pp, ff, fw = a["pp"][idx], a["first_flags"][idx], a["first_fwd"][idx]
    proto = a["proto"][idx]
    lo_port, hi_port = (pp >> 24) & 0xFFFF, (pp >> 8) & 0xFFFF
    sport, dport = np.where(fw, lo_port, hi_port), np.where(fw, hi_port, lo_port)
    syn = (proto == 6) & ((ff & SYN) != 0)
    server_like = ((proto == 6) | (proto == 17)) & (sport < 1024) & (dport >= 1024)
    src = np.where(syn, (ff & ACK) == 0, ~server_like)
    is_lo: npt.NDArray[np.bool_] = src == fw
    return is_lo
