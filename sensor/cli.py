"""Command-line interface: `sensor replay`, and later `run`, `query`, `report`, `signatures`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

from sensor import __version__
from sensor.capture.base import PacketSource
from sensor.capture.pcapfile import open_capture
from sensor.config import SensorConfig, load_config
from sensor.errors import SensorError
from sensor.pipeline import Pipeline, Summary
from sensor.sinks.flowstore import FlowStore, StoreConfig

__all__ = ["main"]

log = logging.getLogger("sensor")


def demo_capture() -> Path:
    """The capture bundled with the package, replayed when `sensor replay` gets no file."""
    return Path(str(resources.files("sensor") / "data" / "demo.pcapng"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sensor",
        description="Passive network sensor for Personnel Policy 2503: flows, provisions, alerts.",
    )
    p.add_argument("--version", action="version", version=f"sensor {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser(
        "replay",
        help="replay capture files through the pipeline into the flow store",
        description="Replay pcap/pcapng files (optionally gzip-compressed) through the same "
        "pipeline as live capture and write flow records to the DuckDB catalog and its "
        "Parquet segments. Without files, replays the bundled demo capture.",
    )
    r.add_argument("pcaps", nargs="*", type=Path, metavar="PCAP", help="capture files")
    r.add_argument(
        "--db",
        type=Path,
        help="DuckDB catalog file (default: config "
        "storage.catalog, else ./sensor.duckdb); segments go to <db>.data/",
    )
    r.add_argument("-c", "--config", type=Path, help="site configuration YAML")
    r.add_argument("--sensor-name", help="sensor name stored with each record")
    r.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: only when stderr is a terminal)",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sensor` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="sensor: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "replay":
            return _replay(args)
    except SensorError as e:
        print(f"sensor: error: {e}", file=sys.stderr)
        return 2 if "config" in type(e).__name__.lower() else 1
    except KeyboardInterrupt:
        return 130
    return 2


def _config(args: argparse.Namespace) -> SensorConfig:
    cfg = load_config(args.config)
    if args.db is not None:
        cfg = replace(cfg, storage=replace(cfg.storage, catalog=args.db))
    if args.sensor_name:
        cfg = replace(cfg, sensor=replace(cfg.sensor, name=args.sensor_name))
    return cfg


def _replay(args: argparse.Namespace) -> int:
    cfg = _config(args)
    paths = args.pcaps or [demo_capture()]
    sources: list[PacketSource] = [open_capture(p) for p in paths]  # fail before any work
    st = cfg.storage
    store = FlowStore(
        StoreConfig(
            catalog=st.catalog,
            sensor=cfg.sensor.name,
            data_dir=st.data_dir,
            flush_rows=st.flush_rows,
            flush_seconds=st.flush_seconds,
            max_buffered_rows=st.max_buffered_rows,
        )
    )
    pipe = Pipeline(cfg, [store])
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = _Progress() if show else None
    summary = pipe.run(sources, progress=bar)
    if bar is not None:
        bar.done()
    if not args.quiet:
        for line in summary.lines():
            print(line)
        print(
            f"flow store: {st.catalog} (segments in {store.data_dir}); "
            f"rows_written={store.stats.rows_written} write_errors={store.stats.write_errors}"
        )
    failed = store.stats.rows_dropped or summary.sink_errors
    return 1 if failed else 0


class _Progress:
    """A one-line progress bar on stderr, redrawn at most twice a second."""

    def __init__(self) -> None:
        self._next = 0.0
        self._t0 = time.monotonic()

    def __call__(self, src: PacketSource, s: Summary) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.5
        total = src.stats.bytes_total or 0
        pct = f"{100 * src.stats.bytes_read / total:5.1f}%" if total else "    ?"
        rate = s.packets / max(now - self._t0, 1e-9)
        name = Path(src.name).name[:30]
        sys.stderr.write(f"\r{name:30} {pct} {s.packets:>12,} packets {rate:>10,.0f}/s")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
