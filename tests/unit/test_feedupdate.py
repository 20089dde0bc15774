"""`sensor signatures update` against a local HTTP server (127.0.0.1 only): a changed copy
is fetched, validated and written over the snapshot; SIGHUP's reload path then decides with
it and quotes its new version; with the server down the snapshot stays, in one line."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from sensor.capture.pcapfile import open_capture
from sensor.classify import SignaturesConfig, build_classifier, shipped_dir
from sensor.classify.feeds import load_feeds
from sensor.cli import main
from sensor.config import SensorConfig
from sensor.flow.state import FlowState
from sensor.metrics import SensorCollector
from sensor.pipeline import Pipeline
from tests.test_policy_replay import WORK, _tls
from tests.unit.test_reload import Keep

NEW = "198.51.100.0/24"  # documentation range: in the served copy only


class Served:
    """What the test server answers: a status and a body."""

    status = 200
    body = b""


def _handler(served: type[Served]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(served.status)
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, type[Served]]]:
    served = type("S", (Served,), {})
    httpd = HTTPServer(("127.0.0.1", 0), _handler(served))
    served.httpd = httpd  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/cidr.txt", served
    httpd.shutdown()
    httpd.server_close()


class Evidence(Keep):
    """Keeps each record's evidence."""

    def __init__(self) -> None:
        super().__init__()
        self.evidence: list[str] = []

    def write_flow(self, flow: FlowState, reason: str) -> None:
        self.evidence.append(flow.meta.get("policy.evidence", ""))


def _signatures(tmp_path: Path, url: str) -> SignaturesConfig:
    """The shipped Telegram signature and its feed, the feed's update pointed at `url`."""
    base = tmp_path / "sigs"
    (base / "feeds").mkdir(parents=True)
    shutil.copy(shipped_dir() / "provisions.yaml", base)
    shutil.copy(shipped_dir() / "messaging.yaml", base)
    doc = yaml.safe_load((shipped_dir() / "feeds" / "telegram-ranges.yaml").read_text())
    doc["update"] = {"url": url, "parser": "plain"}
    (base / "feeds" / "telegram-ranges.yaml").write_text(yaml.safe_dump(doc))
    return SignaturesConfig(directory=base, feeds_dir=tmp_path / "state")


def _config(tmp_path: Path, sig: SignaturesConfig) -> Path:
    cfg = tmp_path / "sensor.yaml"
    cfg.write_text(
        yaml.safe_dump({"signatures": {"directory": str(sig.directory)}}), encoding="utf-8"
    )
    return cfg


def _update(tmp_path: Path, sig: SignaturesConfig, *extra: str) -> int:
    cfg = _config(tmp_path, sig)
    args = ["signatures", "update", "-c", str(cfg), "--feeds-dir", str(sig.feeds_dir)]
    return main([*args, "--timeout", "5", *extra])


def test_update_fetches_the_changed_copy_and_a_reload_decides_with_it(
    tmp_path: Path, server: tuple[str, type[Served]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, served = server
    sig = _signatures(tmp_path, url)
    old = load_feeds([sig.directory / "feeds"]).feeds["telegram-ranges"]  # type: ignore[operator]
    served.body = ("# changed copy\n" + "\n".join([*old.entries, NEW]) + "\n").encode()
    cfg = SensorConfig(signatures=sig)
    sink = Evidence()
    pipe = Pipeline(cfg, [sink])
    assert _update(tmp_path, sig) == 0
    line = capsys.readouterr().out.strip()
    new = load_feeds([sig.feeds_dir]).feeds["telegram-ranges"]  # type: ignore[list-item]
    assert line.startswith(f"telegram-ranges: updated {old.version} -> {new.version} (+1 -0")
    assert new.version != old.version and NEW in new.entries and "\n" not in line
    pipe.request_reload(lambda: build_classifier(sig, cfg.policy))  # what SIGHUP does
    for batch in open_capture(_tls(tmp_path / "a.pcap", WORK, "x.test", "198.51.100.7")).batches():
        pipe.process(batch)
    pipe.finish("eof")
    assert sink.evidence == [
        f"transport=tcp; dest_ip=198.51.100.7 in {NEW} (feed telegram-ranges@{new.version})"
    ]
    registry = CollectorRegistry()
    registry.register(SensorCollector(pipe))
    labels = {"sensor": "", "site": "", "feed": "telegram-ranges"}
    info = {**labels, "version": new.version, "fetched": new.fetched}
    assert registry.get_sample_value("sensor_feed_info", info) == 1.0
    assert _update(tmp_path, sig) == 0
    assert capsys.readouterr().out.startswith("telegram-ranges: unchanged")


def server_down(server: tuple[str, type[Served]]) -> None:
    """Stop answering: the port is closed, so a fetch is refused at once."""
    server[1].httpd.shutdown()  # type: ignore[attr-defined]
    server[1].httpd.server_close()  # type: ignore[attr-defined]


def test_offline_keeps_the_snapshot_and_says_so_in_one_line(
    tmp_path: Path, server: tuple[str, type[Served]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = server
    sig = _signatures(tmp_path, url)
    server_down(server)
    old = load_feeds([sig.directory / "feeds"]).feeds["telegram-ranges"]  # type: ignore[operator]
    assert _update(tmp_path, sig) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"telegram-ranges: offline, [Errno 111] Connection refused (kept {old.version} "
        f"dated {old.fetched})"
    ]
    assert not (sig.feeds_dir / "telegram-ranges.yaml").exists()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("status", "body", "expect", "rc"),
    [
        (200, b"91.108.4.0/22\n", "rejected: 1 entries where there were 14; --force", 1),
        (200, b"<html>maintenance</html>\n", "rejected: entry 1 '<html>maintenance</html>'", 1),
        (200, b"", "rejected: no entries", 1),
        (503, b"busy", "offline, HTTP 503", 0),
    ],
)
def test_a_bad_download_is_refused_and_the_snapshot_kept(
    tmp_path: Path,
    server: tuple[str, type[Served]],
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: bytes,
    expect: str,
    rc: int,
) -> None:
    url, served = server
    served.status, served.body = status, body
    sig = _signatures(tmp_path, url)
    assert _update(tmp_path, sig) == rc
    assert capsys.readouterr().out.startswith(f"telegram-ranges: {expect}")
    assert not (sig.feeds_dir / "telegram-ranges.yaml").exists()  # type: ignore[operator]


def test_force_accepts_a_list_that_shrank(
    tmp_path: Path, server: tuple[str, type[Served]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, served = server
    served.body = b"91.108.4.0/22\n"
    sig = _signatures(tmp_path, url)
    assert _update(tmp_path, sig, "--force") == 0
    assert "updated" in capsys.readouterr().out
    written = load_feeds([sig.feeds_dir]).feeds["telegram-ranges"]  # type: ignore[list-item]
    assert written.entries == ("91.108.4.0/22",) and "sensor signatures update" in written.note
