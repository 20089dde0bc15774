"""A value from the wire that its column cannot hold costs that value, never its batch."""

from __future__ import annotations

import logging

import pytest

from sensor.extract.http import HttpExtractor
from sensor.flow.key import pack_ports
from sensor.flow.state import FlowState
from sensor.sinks.records import RecordBuffer


def _flow(i: int) -> FlowState:
    return FlowState((0, i, 0, 2, pack_ports(40000 + i, 80, 6, 4)), i, True, 6, 0, 0, 0)


@pytest.mark.parametrize(
    "line,status",
    [
        (b"HTTP/1.1 200 OK", 200),
        (b"ICY 200 OK", 200),
        (b"HTTP/1.1 99999999999 OK", None),  # an int32 column cannot hold it
        (b"HTTP/1.1 20 OK", None),
        ("HTTP/1.1 ２００ OK".encode(), None),  # fullwidth digits: str.isdigit() says yes
    ],
)
def test_an_http_status_is_three_ascii_digits(line: bytes, status: int | None) -> None:
    flow = _flow(1)
    HttpExtractor().feed(flow, line + b"\r\nServer: x\r\n\r\n", False, 0, {})
    assert flow.meta.get("http.status") == status


def test_a_value_that_does_not_fit_its_column_is_null_and_the_batch_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An 11-digit HTTP status (accepted before the check above) failed the whole Arrow
    batch, and the store dropped every record in it (found by review)."""
    good, bad = _flow(1), _flow(2)
    good.meta.update({"app_proto": "http", "http.status": 404})
    bad.meta.update({"app_proto": "http", "http.status": 99_999_999_999, "http.host": "a.example"})
    buf = RecordBuffer()
    buf.append(good, "fin")
    buf.append(bad, "fin")
    with caplog.at_level(logging.WARNING, logger="sensor.sinks.records"):
        rows = buf.take().to_pylist()
    assert [r["http_status"] for r in rows] == [404, None]
    assert rows[1]["http_host"] == "a.example" and rows[1]["app_proto"] == "http"
    assert "1 value(s) of http_status did not fit its type" in caplog.text
