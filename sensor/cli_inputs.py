"""What a command works on: the site configuration with the command line's overrides, and
the capture bundled with the package. Shared by the commands, so none imports another.

`sensor.config` is imported when a configuration is read, not with this module: it loads
the classifier and numpy, which `sensor --help` never needs and `main` sets up first."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensor.config import SensorConfig

__all__ = ["config_from_args", "demo_capture"]


def demo_capture() -> Path:
    """The capture bundled with the package, replayed when `sensor replay` gets no file."""
    return Path(str(resources.files("sensor") / "data" / "demo.pcapng"))


def config_from_args(args: argparse.Namespace) -> SensorConfig:
    """The `-c` configuration with `--db`, `--sensor-name` and `--force` applied, for the
    commands that have them."""
    from sensor.config import load_config

    cfg = load_config(args.config)
    if args.db is not None and args.db != cfg.storage.catalog:
        cfg = _own_outputs(cfg, args.db)
    if getattr(args, "sensor_name", None):
        cfg = replace(cfg, sensor=replace(cfg.sensor, name=args.sensor_name))
    if getattr(args, "force", False):
        cfg = replace(cfg, storage=replace(cfg.storage, adopt=True))
    return cfg


def _own_outputs(cfg: SensorConfig, db: Path) -> SensorConfig:
    """Another store than the config's own (a test replay with the site config): every
    file output goes beside that store, and what would reach the site's systems (syslog,
    IPFIX, shipping to the central store) is off, never fed from a test."""
    from sensor.config import IpfixConfig, ShipConfig, SyslogConfig

    alerts = replace(cfg.policy.alerts, jsonl="" if cfg.policy.alerts.jsonl == "" else None)
    out = cfg.outputs
    flows = str(db.with_suffix(".eve-flows.jsonl")) if out.eve_flows else ""
    off = [name for name, on in (("syslog", out.syslog.address), ("IPFIX", out.ipfix.address),
                                 ("shipping", cfg.storage.ship.destination)) if on]  # fmt: skip
    if off:
        print(f"sensor: --db is not the config's store: {', '.join(off)} off for this run",
              file=sys.stderr)  # fmt: skip
    outputs = replace(out, eve_flows=flows, syslog=SyslogConfig(), ipfix=IpfixConfig())
    storage = replace(cfg.storage, catalog=db, data_dir=None, ship=ShipConfig())
    return replace(cfg, storage=storage, policy=replace(cfg.policy, alerts=alerts),
                   outputs=outputs)  # fmt: skip
