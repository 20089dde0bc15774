"""`sensor replay`: capture files through the pipeline into the store, each capture once
(the store's ledger of SHA-256s), with a summary and an exit status that counts losses."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from sensor.budget import memory_budget
from sensor.capture.base import PacketSource
from sensor.capture.pcapfile import open_capture
from sensor.classify import build_classifier
from sensor.cli_inputs import config_from_args, demo_capture
from sensor.cli_progress import Progress
from sensor.cli_signals import linger, stop_on_signals
from sensor.cli_summary import losses, print_summary
from sensor.pipeline import Pipeline, rebuild_classifier
from sensor.sinks import default_sinks, store_config
from sensor.sinks.captures import CaptureLedger, file_sha256
from sensor.text import escape_text

__all__ = ["replay"]


def replay(args: argparse.Namespace) -> int:
    """Run `sensor replay`; 128 + the signal if SIGINT/SIGTERM stopped it, 1 on losses."""
    cfg = config_from_args(args)
    paths = args.pcaps or [demo_capture()]
    block = memory_budget(cfg).block_bytes
    sources: list[PacketSource] = [open_capture(p, block) for p in paths]  # fail before work
    classifier = build_classifier(cfg.signatures, cfg.policy)
    sinks = default_sinks(cfg, dict(classifier.provisions))
    ledger = CaptureLedger(store_config(cfg))
    todo = _not_yet_stored(sources, ledger, args.again)
    pipe = Pipeline(cfg, list(sinks), classifier)
    sinks.health.watch(pipe)
    _reload_on_sighup(pipe, args.config)
    stopped = stop_on_signals(pipe)
    if args.metrics:
        from sensor.metrics import collector_for, serve

        serve(collector_for(pipe, sinks, cfg.sensor.name, cfg.sensor.site), args.metrics)
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = Progress() if show else None
    summary = pipe.run([src for src, _ in todo], progress=bar)
    if bar is not None:
        bar.done()
    ledger.record(_ledger_rows(todo, pipe, stopped))
    if not args.quiet:
        print_summary(summary, sinks, pipe, cfg, ledger)
    if args.metrics and args.linger > 0 and not stopped:
        linger(args.linger)
    if stopped:
        return 128 + stopped[0]
    return 1 if losses(summary, sinks, ledger) else 0


def _reload_on_sighup(pipe: Pipeline, config_path: Path | None) -> None:
    """SIGHUP rebuilds the classifier from the configuration file; the pipeline swaps it in
    before its next sub-batch or flow record."""

    def reload(signum: int, frame: object) -> None:
        pipe.request_reload(lambda: rebuild_classifier(config_path))

    signal.signal(signal.SIGHUP, reload)


def _not_yet_stored(
    sources: list[PacketSource], ledger: CaptureLedger, again: bool
) -> list[tuple[PacketSource, str | None]]:
    """The sources to replay with their SHA-256: a capture the store holds already (or one
    named twice) is skipped with a notice, unless `again`."""
    held = ledger.held()
    seen: set[str] = set()
    todo: list[tuple[PacketSource, str | None]] = []
    for src in sources:
        digest = file_sha256(Path(src.name))
        if digest is not None and not again and (digest in held or digest in seen):
            entry = held.get(digest)
            when = (
                f", {entry.status}, replayed {entry.replayed_at:%Y-%m-%d %H:%M} UTC"
                if (entry and entry.replayed_at)
                else ""
            )
            print(
                f"sensor: {escape_text(src.name)}: already in the store (sha256 "
                f"{digest[:12]}{when}); skipped (--again replays it once more)",
                file=sys.stderr,
            )
            src.close()
            continue
        if digest is not None:
            seen.add(digest)
        todo.append((src, digest))
    return todo


def _ledger_rows(
    todo: list[tuple[PacketSource, str | None]], pipe: Pipeline, stopped: list[int]
) -> list[dict[str, object]]:
    """The ledger's row per capture replayed: complete, damaged, or interrupted."""
    rows: list[dict[str, object]] = []
    for src, digest in todo:
        if digest is None or (stopped and src.name not in pipe.first_ts):
            continue  # a pipe, or a capture the interrupted replay never reached
        status = "interrupted" if stopped else "damaged" if src.stats.errors else "complete"
        path = Path(src.name)
        rows.append(
            {
                "ts": pipe.first_ts.get(src.name, 0) // 1000,
                "sha256": digest,
                "name": path.name,
                "size": path.stat().st_size if path.exists() else None,
                "packets": src.stats.frames,
                "status": status,
            }
        )
    return rows
