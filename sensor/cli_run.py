"""`sensor run`: the command line's capture options over the config's, then live capture."""

from __future__ import annotations

import argparse
from dataclasses import replace

from sensor.cli_inputs import config_from_args
from sensor.errors import ConfigError
from sensor.live import LiveOptions, run_live

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run `sensor run` until SIGTERM/SIGINT; the exit status is the live capture's."""
    cfg = config_from_args(args)
    cap = cfg.capture
    cap = replace(
        cap,
        interface=args.interface or cap.interface,
        workers=args.workers or cap.workers,
        bpf=args.bpf if args.bpf is not None else cap.bpf,
        snaplen=args.snaplen or cap.snaplen,
        promiscuous=cap.promiscuous and not args.no_promisc,
    )
    if not cap.interface:
        raise ConfigError("no interface: give --interface or capture.interface in the config")
    if args.metrics is not None:
        cfg = replace(cfg, metrics=replace(cfg.metrics, listen=args.metrics))
    opts = LiveOptions(
        interface=cap.interface,
        config_path=args.config,
        workers=cap.workers,
        bpf=cap.bpf,
        snaplen=cap.snaplen,
        promiscuous=cap.promiscuous,
        block_count=cap.ring_blocks,
    )
    return run_live(cfg, opts)
