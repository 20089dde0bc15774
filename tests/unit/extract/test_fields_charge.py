"""A flow whose fields hold more than a flow's measured size is charged the rest against the
flow table's share, and its records count it against the rows a segment waits for: every
field is capped, but a sender can fill every cap at once (found by review)."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from sensor.extract import DnsNames, Inspector, default_extractors
from sensor.extract.base import FIELDS_INCLUDED, fields_bytes
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState
from sensor.sinks.records import RecordBuffer

TLS_FIELDS: dict[str, Any] = {
    "_head.toserver": bytes(64), "_head.toserver_len": 517,
    "_head.toclient": bytes(64), "_head.toclient_len": 1400,
    "app_proto": "tls", "tls.sni": "host1.example.com", "server_name": "host1.example.com",
    "server_name_source": "tls", "tls.alpn": "h2,http/1.1", "tls.version": "TLS 1.3",
    "tls.ech": False, "ja4": "t13d1516h2_8daaf6152771_02713d6af862",
    "ja3": "cd08e31494f9531f560d64c695473da9", "tls.alpn_selected": "h2",
}  # fmt: skip
"""The fields of the TLS flow that FLOW_BYTES and RECORD_BYTES were measured with."""

LOADED: dict[str, Any] = {
    **TLS_FIELDS,
    "tls.cert_subject": "CN=" + "s" * 4093,
    "tls.cert_issuer": "CN=" + "i" * 4093,
    "tls.cert_san": ",".join(f"{i:02d}" + "n" * 250 for i in range(50)),
    "dns.answers": "\ufffd" * 1024,  # not ASCII: four bytes a character at most
    "_head.extra": bytes(4096),
}
"""Every field at its cap."""


def _flow(meta: dict[str, Any], i: int = 1) -> FlowState:
    f = FlowState((0, i, 0, 2, pack_ports(40000 + i, 443, 6, 4)), i, True, 6, 0, 0, 0)
    f.meta.update(meta)
    return f


def test_the_reference_flow_costs_nothing_more() -> None:
    assert fields_bytes(TLS_FIELDS) <= FIELDS_INCLUDED


@pytest.mark.parametrize("meta", [TLS_FIELDS, LOADED], ids=["tls", "loaded"])
def test_fields_bytes_is_not_below_what_tracemalloc_measures(meta: dict[str, Any]) -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        copies = [{k: (v[:1] + v[1:] if isinstance(v, str | bytes) else v) for k, v in meta.items()}
                  for _ in range(200)]  # fmt: skip
        held = (tracemalloc.get_traced_memory()[0] - before) / len(copies)
    finally:
        tracemalloc.stop()
    assert held <= fields_bytes(meta), (held, fields_bytes(meta))


def test_the_inspector_charges_a_loaded_flow_at_its_end_and_forgets_it_after() -> None:
    names = DnsNames()
    insp = Inspector(default_extractors(names), 16, names)
    light, heavy = _flow(TLS_FIELDS, 1), _flow(LOADED, 2)
    for f in (light, heavy):
        insp.release(f)  # inspection over: its fields are final
    assert "_extra" not in light.meta
    assert heavy.meta["_extra"] == fields_bytes(LOADED) - FIELDS_INCLUDED > 20_000
    assert insp.extra_bytes == heavy.meta["_extra"]
    insp.forget(light)
    insp.forget(heavy)
    assert insp.extra_bytes == 0

    buf = RecordBuffer()
    buf.append(light, "fin")
    buf.append(heavy, "fin")
    buf.append(heavy, "active")  # an interim record keeps a copy of the fields
    assert buf.extra_bytes == 2 * heavy.meta["_extra"]
    buf.detach()
    assert buf.extra_bytes == 0
