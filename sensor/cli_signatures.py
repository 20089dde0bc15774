"""`sensor signatures check|test|coverage|update`: the rule maintainers' tools."""

from __future__ import annotations

import argparse
import datetime
from dataclasses import replace

from sensor.classify import feed_dirs, shipped_dir
from sensor.config import SensorConfig, load_config
from sensor.errors import ConfigError

__all__ = ["signatures"]


def signatures(args: argparse.Namespace) -> int:
    """Run the `signatures` action named on the command line; its exit status."""
    cfg = load_config(args.config)
    if args.action == "check":
        return _check(args, cfg)
    if args.action == "coverage":
        return _coverage(args, cfg)
    if args.action == "update":
        return _update_feeds(args, cfg)
    return _test(args, cfg)


def _check(args: argparse.Namespace, cfg: SensorConfig) -> int:
    from sensor.sigtools import check

    sigs = check(cfg, args.files)
    for err in sigs.errors:
        print(err)
    print(
        f"{len(sigs.signatures)} signatures in {len(sigs.files)} files, version "
        f"{sigs.version}: {'OK' if not sigs.errors else f'{len(sigs.errors)} error(s)'}"
    )
    return 1 if sigs.errors else 0


def _test(args: argparse.Namespace, cfg: SensorConfig) -> int:
    from sensor.sigtools import run_tests

    corpus = args.corpus if args.corpus.is_dir() else None
    results = run_tests(cfg, corpus, args.ids)
    failed = [r for r in results if not r.ok]
    for r in results:
        status = "ok  " if r.ok else "FAIL"
        who = f"signature {r.signature}" if r.signature is not None else "benign"
        print(f"{status} {who}: {r.capture} {r.detail}".rstrip())
    skipped = sum(1 for r in results if "skipped" in r.detail)
    print(f"{len(results)} cases, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


def _update_feeds(args: argparse.Namespace, cfg: SensorConfig) -> int:
    from sensor.classify.feeds import load_feeds
    from sensor.feedupdate import UpdateOptions, update_feeds

    feeds_dir = args.feeds_dir or cfg.signatures.feeds_dir
    if feeds_dir is None:
        raise ConfigError("no writable feeds directory: give --feeds-dir or signatures.feeds_dir")
    sig_cfg = replace(cfg.signatures, feeds_dir=feeds_dir)
    feeds = load_feeds(feed_dirs(sig_cfg))
    if feeds.errors:
        raise ConfigError("feed error(s):\n  " + "\n  ".join(feeds.errors))
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    opts = UpdateOptions(feeds_dir, today, timeout=args.timeout, force=args.force)
    results = update_feeds(feeds.feeds.values(), opts)
    for r in results:
        print(r.line)
    return 1 if any(r.status == "rejected" for r in results) else 0


def _coverage(args: argparse.Namespace, cfg: SensorConfig) -> int:
    from sensor.sigcoverage import coverage, read_mapping, read_reasons, render
    from sensor.sigtools import check

    sigs = check(cfg)
    if sigs.errors:
        raise ConfigError(f"{len(sigs.errors)} signature error(s); run `sensor signatures check`")
    directory = cfg.signatures.directory or shipped_dir()
    rows = coverage(
        read_mapping(args.mapping), sigs.signatures, read_reasons(directory / "README.md")
    )
    bad = [r for r in rows if r.problem]
    for line in render(bad if args.missing else rows):
        print(line)
    with_sig = sum(1 for r in rows if r.ids and not r.problem)
    reasoned = sum(1 for r in rows if r.reason and not r.ids and not r.problem)
    print(
        f"{len(rows)} mapped names: {with_sig} with signatures, {reasoned} with a written "
        f"reason, {len(bad)} with a problem"
    )
    return 1 if bad else 0
