"""What `sensor replay` prints when it is done, and what it counts as lost (exit status 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensor.budget import summary_line

if TYPE_CHECKING:  # annotations only: the replay that calls these has built them
    from sensor.classify import Classifier
    from sensor.config import SensorConfig
    from sensor.pipeline import Pipeline, Summary
    from sensor.sinks import AlertSink, Sinks
    from sensor.sinks.captures import CaptureLedger

__all__ = ["losses", "print_summary"]


def losses(summary: Summary, sinks: Sinks, ledger: CaptureLedger) -> int:
    """Everything a replay failed to keep: rows not written, alert lines not written."""
    return (
        sinks.rows_lost()
        + sinks.health.store_stats.rows_dropped
        + sinks.alerts.stats.jsonl_errors
        + ledger.stats.rows_dropped
        + sum(summary.sink_errors.values())
    )


def print_summary(
    summary: Summary, sinks: Sinks, pipe: Pipeline, cfg: SensorConfig, ledger: CaptureLedger
) -> None:
    """The summary on stdout: traffic, the store, the policy, memory, and any losses."""
    store = sinks.flows
    for line in summary.lines():
        print(line)
    print(
        f"flow store: {cfg.storage.catalog} (segments in {store.data_dir}); "
        f"rows_written={store.stats.rows_written} write_errors={store.stats.write_errors}"
        + (f" rows_lost={store.rows_lost}" if store.rows_lost else "")
    )
    for line in _policy_lines(pipe.classifier, sinks.alerts):
        print(line)
    print(summary_line(pipe))
    if losses(summary, sinks, ledger):
        print(
            f"LOSSES: {losses(summary, sinks, ledger)} rows or lines could not be kept "
            "(see the errors above); exit status 1"
        )


def _policy_lines(classifier: Classifier, alerts: AlertSink) -> list[str]:
    """The summary's policy part: records per provision and action, alerts raised."""
    by: dict[str, dict[str, int]] = {}
    for (_, prov, action), n in classifier.matched.items():
        if prov == "none":
            continue
        by.setdefault(prov, {}).setdefault(action, 0)
        by[prov][action] += n
    out = [f"signatures: {len(classifier.signatures)} (version {classifier.version})"]
    titles = {p.id: p.title for p in classifier.provisions.values()}
    alerted: dict[str, int] = {}
    for (prov, _), n in alerts.stats.raised.items():
        alerted[prov] = alerted.get(prov, 0) + n
    for prov in alerted.keys() - by.keys():  # raised over the air (2503-22), not by flows
        by[prov] = {}
    for prov in sorted(by):
        acts = [f"{a}={n}" for a, n in sorted(by[prov].items())]
        acts += [f"alerts={alerted[prov]}"] if prov in alerted else []
        out.append(f"  {prov} {titles.get(prov, '')}: {', '.join(acts)}")
    raised = sum(alerts.stats.raised.values())
    where = ""
    if alerts.jsonl_path:
        failed = alerts.stats.jsonl_errors
        where = f" (also {alerts.jsonl_path}" + (f", {failed} lines FAILED)" if failed else ")")
    out.append(f"alerts: {raised} raised, {alerts.stats.suppressed} suppressed as repeats{where}")
    return out
