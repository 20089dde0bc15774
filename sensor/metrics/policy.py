"""Metric families of the policy: what the classifier decided, which rule set it ran, and
the alerts raised from it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, InfoMetricFamily

from sensor.classify import Classifier
from sensor.classify.feeds import Feed
from sensor.metrics.families import counter, counter_by, counter_by3, gauge

__all__ = ["alerts", "rule_set", "verdicts"]

_VERDICT_LABELS = ("category", "provision", "action")


def verdicts(clf: Classifier, base: Mapping[str, str]) -> Iterator[Any]:
    """Flow records and their bytes by verdict, and how the classifier's memo served them:
    the dashboards' breaches per provision, and whether the memo still pays."""
    b = base
    yield counter_by3(
        "sensor_classified_records_total",
        "Flow records by policy category, provision and action ('none': no match).",
        b,
        _VERDICT_LABELS,
        clf.matched,
    )
    yield counter_by3(
        "sensor_classified_bytes_total",
        "Bytes of those flow records by category, provision and action.",
        b,
        _VERDICT_LABELS,
        clf.matched_bytes,
    )
    yield counter_by(
        "sensor_classifier_memo_total",
        "Flow records whose candidates' verdict was remembered (hit) or computed (miss),"
        " that had no candidate (none), classified without the memo while it did not pay"
        " (bypass); remembered verdicts dropped (evicted), computed and not kept because"
        " their key holds over 1,024 characters of wire text (unkept).",
        b,
        "result",
        clf.memo_counts,
    )


def rule_set(clf: Classifier, reloads: Mapping[str, int], base: Mapping[str, str]) -> Iterator[Any]:
    """Which signatures, provisions and feeds are running, and how reloads went: a fleet's
    sensors can be checked for running the same set, and legends can show provision titles."""
    keys, vals = list(base), list(base.values())
    yield gauge(
        "sensor_signatures_loaded", "Signatures in the running set.", base, len(clf.signatures)
    )
    sig = InfoMetricFamily(
        "sensor_signature_set", "Version of the running signature set.", labels=keys
    )
    sig.add_metric(vals, {"version": clf.version})
    yield sig
    titles = InfoMetricFamily(
        "sensor_provision",
        "Title of each policy provision, for dashboards to join (group_left) into legends.",
        labels=[*keys, "provision"],
    )
    for pid, prov in sorted(clf.provisions.items()):
        titles.add_metric([*vals, pid], {"title": prov.title})
    yield titles
    yield _feeds(clf.feeds, base)
    yield counter_by(
        "sensor_reloads_total",
        "Signature and policy reloads (SIGHUP), by result.",
        base,
        "result",
        {"ok": 0, "failed": 0, **reloads},
    )


def _feeds(feeds: Iterable[Feed], base: Mapping[str, str]) -> InfoMetricFamily:
    """One sample per loaded feed (a handful of files, so the labels stay bounded): which
    copy of each list the running classifier uses, and when it was taken from its source."""
    fam = InfoMetricFamily(
        "sensor_feed",
        "Address and domain feeds in the running signature set: version and fetch date.",
        labels=[*base, "feed"],
    )
    for f in sorted(feeds, key=lambda f: f.name):
        fam.add_metric([*base.values(), f.name], {"version": f.version, "fetched": f.fetched})
    return fam


def alerts(stats: Any, base: Mapping[str, str]) -> Iterator[Any]:
    """Alerts raised by provision and severity, and repeats suppressed (the alert sink's
    `stats`): raised alerts are what analysts act on, suppressed ones what they were spared."""
    fam = CounterMetricFamily(
        "sensor_alerts",
        "Alerts raised, by provision and severity.",
        labels=[*base, "provision", "severity"],
    )
    for (prov, sev), n in list(stats.raised.items()):
        fam.add_metric([*base.values(), prov, sev], n)
    yield fam
    yield counter(
        "sensor_alerts_suppressed_total",
        "Alerts suppressed as repeats of the same signature and host.",
        base,
        stats.suppressed,
    )
    yield counter(
        "sensor_alerts_dedup_forgotten_total",
        "(signature, host) pairs forgotten by the bounded de-duplication table (50,000, "
        "oldest first); their next repeat alerts again.",
        base,
        stats.forgotten,
    )
