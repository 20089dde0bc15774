"""Hostile capture files through the whole sensor: a malformed frame after good traffic costs
nothing but itself, and a gzip bomb ends fast, in bounded memory, with a one-line message."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Replay
from tests.tools.hostile import ETH, pcap, radiotap_data, udp

T0 = 1_764_086_400.0


def _flows(n: int, link: str) -> list[tuple[float, bytes]]:
    wrap = radiotap_data if link == "radiotap" else (lambda ip: ETH + ip)
    return [
        (T0 + i / 1000, wrap(udp(0x0A000001, 10000 + i, 0x0A000002, 53, b"q" * 20)))
        for i in range(n)
    ]


RADIOTAP, PRISM = 127, 119
BAD_RADIOTAP = struct.pack("<BBHI", 0, 0, 8, 0xFFFFFFFF)  # extended bitmaps run off the frame
BAD_PRISM = struct.pack("<II", 0x41, 0xFFFFFFF0)  # header "size" of 4 GB


def test_a_bad_radiotap_frame_after_1000_flows_loses_none(tmp_path: Path, replay: Replay) -> None:
    p = tmp_path / "air.pcap"
    p.write_bytes(pcap([*_flows(1000, "radiotap"), (T0 + 2, BAD_RADIOTAP)], linktype=RADIOTAP))
    con, summary = replay([p])
    assert con.execute("SELECT count(*) FROM flows").fetchone() == (1000,)
    assert summary.decode_errors["internal_error"] == 0  # bounds checked, not caught


def test_a_forged_prism_header_is_counted(tmp_path: Path, replay: Replay) -> None:
    p = tmp_path / "prism.pcap"
    p.write_bytes(pcap([(T0, BAD_PRISM + b"\0" * 16)], linktype=PRISM))
    _, summary = replay([p])
    assert summary.packets == 1
    assert summary.decode_errors["truncated_link"] == 1


_CHILD = """
import resource, sys
from sensor.cli import main
rc = main(sys.argv[1:])
print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(rc)
"""


def _replay_child(path: Path, db: Path) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`sensor replay` in a child process: (result, wall seconds, its own peak RSS in MB)."""
    t = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, "replay", str(path), "--db", str(db), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    secs = time.perf_counter() - t
    rss = int(res.stderr.rsplit("peak_rss_kb", 1)[1].split()[0]) // 1024
    return res, secs, rss


def _zero_bomb(path: Path) -> None:
    """256 MB of zeros after a pcap header, in ~260 kB: 16.8 M empty frames."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))]
    parts += [comp.compress(b"\0" * (1 << 20)) for _ in range(256)]
    path.write_bytes(b"".join(parts) + comp.flush())


def _snaplen_bomb(path: Path) -> None:
    """A pcap header claiming snaplen 2^31, then a record "of" 2 GB: once a 2.09 MB file that
    grew to 2.75 GB while the reader re-copied its buffer."""
    head = pcap(_flows(100, "eth"), snaplen=1 << 31)
    rec = struct.pack("<IIII", int(T0) + 1, 0, 0x7FFFFFF0, 0x7FFFFFF0)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(head + rec)] + [comp.compress(b"\0" * (1 << 20)) for _ in range(2000)]
    path.write_bytes(b"".join(parts) + comp.flush())


@pytest.mark.parametrize("bomb", [_zero_bomb, _snaplen_bomb])
def test_gzip_bombs_end_fast_in_bounded_memory(
    tmp_path: Path, bomb: Callable[[Path], None]
) -> None:
    small = tmp_path / "small.pcap.gz"
    small.write_bytes(gzip.compress(pcap(_flows(100, "eth"))))
    _, _, base = _replay_child(small, tmp_path / "base.duckdb")  # imports, DuckDB, Arrow
    p = tmp_path / "bomb.pcap.gz"
    bomb(p)
    res, secs, rss = _replay_child(p, tmp_path / "s.duckdb")
    print(f"{bomb.__name__}: {p.stat().st_size} B, {secs:.1f} s, peak RSS {rss} MB ({base})")
    assert "Traceback" not in res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if "pcapfile" in ln or "bomb.pcap.gz" in ln]
    assert len(warnings) == 1, res.stderr
    assert secs < 10
    assert rss < base + 160  # measured: +112 MB for the zero bomb, +0 for the snaplen bomb


class _Source:
    """Batches as a broken capture reader might hand them over: the second one's columns
    disagree in length."""

    name = "broken"

    def __init__(self, good: Path) -> None:
        from sensor.capture.base import SourceStats
        from sensor.capture.pcapfile import open_capture

        self.stats = SourceStats()
        self._good = [b for b in open_capture(good).batches()]

    def batches(self):  # type: ignore[no-untyped-def]
        from sensor.capture.base import FrameBatch

        first = self._good[0]
        yield first
        bad = FrameBatch(1, first.data, first.offsets, first.caplens[:2], first.wirelens[:3],
                         first.ts + 10**9)  # fmt: skip
        yield bad

    def close(self) -> None:
        pass


def test_a_batch_that_breaks_the_pipeline_loses_only_itself(tmp_path: Path) -> None:
    from sensor.config import SensorConfig
    from sensor.pipeline import Pipeline

    good = tmp_path / "good.pcap"
    good.write_bytes(pcap(_flows(300, "eth")))
    ended: list[str] = []

    class _Collect:
        name = "collect"

        def write_flow(self, flow, reason):  # type: ignore[no-untyped-def]
            ended.append(reason)

        def flush(self, force=False):  # type: ignore[no-untyped-def]
            pass

        def close(self) -> None:
            pass

    summary = Pipeline(SensorConfig(), [_Collect()]).run([_Source(good)])  # type: ignore[list-item]
    assert summary.decode_errors["internal_error"] == 1
    assert len(ended) == 300 and set(ended) == {"eof"}
