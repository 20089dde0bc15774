"""Command-line interface: `sensor replay`, `sensor run`, `sensor ship`, `sensor catalog`,
`sensor query`, `sensor report`, `sensor signatures check|test|coverage|update`.

This module parses, dispatches and turns errors into exit statuses; each command lives in
its own `sensor.cli_*` module, imported only when that command runs, so `main` can set up
the process before numpy is loaded (`_quiet_blas`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sensor.cli_inputs import config_from_args, demo_capture
from sensor.cli_parser import build_parser
from sensor.cli_signals import linger
from sensor.errors import CaptureError, ConfigError, SensorError, StorageError, UsageError
from sensor.logfmt import SafeFormatter
from sensor.text import escape_text

__all__ = ["demo_capture", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sensor` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    _quiet_blas()
    _log_to_stderr(args.verbose)
    try:
        return _dispatch(args)
    except (ConfigError, UsageError) as e:
        _error(e)
        return 2
    except (CaptureError, StorageError) as e:
        _error(e)
        return 3
    except SensorError as e:
        _error(e)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sensor query ... | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:  # an output that cannot be written: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        _error(f"{where}{e.strerror or e}")
        return 3


def _quiet_blas() -> None:
    """One OpenBLAS thread. numpy's OpenBLAS starts a worker per core when numpy is loaded,
    and each spins for a while before sleeping: 0.1 CPU s of every run (a quarter of a short
    replay's) on a library the sensor never calls (no matrix products anywhere). Only a
    process that has not loaded numpy yet is changed; a value the operator set is kept."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _log_to_stderr(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="sensor: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # wire strings reach log lines: escape them
        handler.setFormatter(SafeFormatter("sensor: %(levelname)s: %(message)s"))


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command. Its module is imported here, so `sensor query` or `--help` never
    loads the pipeline, and `sensor replay` never loads the shipper or the report."""
    if args.command == "replay":
        from sensor.cli_replay import replay

        return replay(args)
    if args.command == "signatures":
        from sensor.cli_signatures import signatures

        return signatures(args)
    if args.command == "run":
        from sensor.cli_run import run

        return run(args)
    if args.command in ("ship", "catalog"):
        return _fleet(args)
    if args.command in ("query", "report"):
        return _analyst(args)
    return 2


def _fleet(args: argparse.Namespace) -> int:
    """`ship` and `catalog`: their code lives beside the shipper (sensor/ship/commands.py)."""
    from sensor.ship.commands import catalog_command, ship_command

    if args.command == "ship":
        return ship_command(config_from_args(args), args.to, args.every, linger)
    return catalog_command(args.root, args.db)


def _analyst(args: argparse.Namespace) -> int:
    """`query` and `report` read the store the configuration (or `--db`) names."""
    cfg = config_from_args(args)
    if args.command == "query":
        from sensor.analyst import query

        return query(cfg.storage.catalog, args.sql, args.format, args.output)
    from sensor.report import report

    return report(
        cfg.storage.catalog,
        sys.stdout,
        since=args.since,
        until=args.until,
        site=args.site,
        tz=cfg.policy.schedule.timezone,
        detail=args.detail,
        html_out=args.html,
        signatures=cfg.signatures,
    )


def _error(e: object) -> None:
    print(f"sensor: error: {escape_text(str(e))}", file=sys.stderr)
