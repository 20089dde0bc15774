"""Wiring only: source -> decoder -> flow table -> sinks, one batch at a time.

Replay and live capture run this same code; they differ only in the PacketSource. Beside it:
`runloop.py` (the replay loop), `control.py` (stop and reload requests), `bare.py` (field-less
half-open flows ending in bulk) and `summary.py` (what a run did).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from sensor.bare import possible_rows, write_bare
from sensor.budget import FLOW_BYTES, PENDING_BYTES, STRUCTURES, memory_budget, used_bytes
from sensor.capture.base import FrameBatch, PacketSource
from sensor.classify import Classifier, build_classifier
from sensor.config import SensorConfig
from sensor.control import Control, ReadInterrupted, rebuild_classifier
from sensor.decode.decoder import Decoder
from sensor.decode.wifi import WIFI_LINKTYPES
from sensor.extract import (
    ByteBudget,
    Certificates,
    DnsNames,
    HelloPrints,
    Inspector,
    default_extractors,
)
from sensor.flow.pending import EndedBatch
from sensor.flow.state import FlowState
from sensor.flow.table import FlowTable
from sensor.runloop import Progress, flow_heavy_gc, replay_sources
from sensor.sinks.base import Sink
from sensor.summary import Summary
from sensor.wireless import WirelessEvent, WirelessMonitor

__all__ = ["Pipeline", "ReadInterrupted", "Summary", "flow_heavy_gc", "rebuild_classifier"]

log = logging.getLogger(__name__)

SUB_BATCH = 16_384
"""Frames processed between two looks at a pending reload or stop: a file block or ring
block of a SYN flood holds over 100,000 frames, seconds of work when every frame is a new
flow (a SIGHUP once waited 40 s). Batches are cut, never merged: the records are the same."""


def _part(batch: FrameBatch, lo: int, hi: int) -> FrameBatch:
    """Frames [lo, hi) of a batch: views of its arrays over the same buffer, no copy."""
    return FrameBatch(
        batch.linktype,
        batch.data,
        batch.offsets[lo:hi],
        batch.caplens[lo:hi],
        batch.wirelens[lo:hi],
        batch.ts[lo:hi],
    )


class Pipeline:
    """Owns the decoder, the flow table and the sinks of one worker."""

    def __init__(
        self,
        cfg: SensorConfig,
        sinks: Sequence[Sink],
        classifier: Classifier | None = None,
        columnar: bool = True,
    ) -> None:
        """`columnar=False`: no pending tier in the flow table (the reference in tests)."""
        self.cfg = cfg
        self.sinks = list(sinks)
        self.classifier = classifier or build_classifier(cfg.signatures, cfg.policy)
        self.control = Control()
        """Stop and reload requests, taken between sub-batches and flow records."""
        self.first_ts: dict[str, int] = {}
        """Time of each source's first frame (ns), by source name."""
        self.reloads = self.control.reloads
        """Reloads taken, by result: the control's own counter (sensor_reloads_total)."""
        self.decoder = Decoder()
        self.budget = budget = memory_budget(cfg)
        """limits.memory_mb split into shares; every structure below gets its limit here."""
        wpolicy = replace(cfg.policy.wireless, max_aps=budget.max_aps)
        self.wireless = WirelessMonitor(wpolicy, self._on_wireless, self.decoder.errors)
        self.names = DnsNames(budget.dns_names, cfg.inspect.dns_min_seconds)
        self.buffers = ByteBudget(budget.buffer_bytes)
        """TLS records, QUIC CRYPTO frames, HTTP heads and DNS-over-TCP messages being
        reassembled, all flows."""
        self.prints = HelloPrints(max_bytes=budget.prints_bytes)
        """ClientHello fingerprints by shape (TLS, QUIC, DTLS): bounded in shapes and in bytes
        (part of the tls_quic share), evictions counted."""
        self.certs = Certificates()
        """Server certificates' fields by certificate (TLS): bounded, evictions counted."""
        self.inspector = self._build_inspector()
        self.table = self._build_table(columnar)
        self.memory_peak = dict.fromkeys(STRUCTURES, 0)
        """Highest estimated bytes of each structure, sampled after every sub-batch."""
        self.summary = Summary(
            decode_errors=self.decoder.errors,
            skipped=self.decoder.skipped,
            extractor_errors=self.inspector.errors,
        )

    def _build_inspector(self) -> Inspector:
        """The extractors, sharing the DNS names, reassembly budget and fingerprints built
        just before (`default_extractors` is looked up here, so `bench/floor.py` can swap it)."""
        return Inspector(
            default_extractors(self.names, self.buffers, self.prints, self.certs),
            self.cfg.inspect.max_packets,
            self.names,
            self.budget.hold_bytes,
        )

    def _build_table(self, columnar: bool) -> FlowTable:
        """The flow table, ending flows into this pipeline one by one and in bulk."""
        budget = self.budget
        return FlowTable(
            self.cfg.flow.timeouts,
            budget.max_flows,
            self._on_end,
            self.inspector,
            on_end_bulk=self._on_end_bulk,
            columnar=columnar,
            max_bytes=budget.shares["flows"],
            sizes=(FLOW_BYTES, PENDING_BYTES),
        )

    def _on_end(self, flow: FlowState, reason: str) -> None:
        self.summary.records += 1
        if self.control.build is not None:  # a mass expiry ends 100,000s of flows in one sweep
            self._maybe_reload()
        try:
            self.classifier.apply(flow)
        except Exception:  # a bad signature must not lose the record
            self.summary.sink_errors["classifier"] += 1
            log.exception("classifier failed on a flow record")
        for sink in self.sinks:
            try:
                sink.write_flow(flow, reason)
            except Exception:  # one broken sink must not stop the others or the capture
                self.summary.sink_errors[sink.name] += 1
                log.exception("sink %s failed on a flow record", sink.name)

    def _on_end_bulk(self, batch: EndedBatch) -> None:
        """Pending flows that ended together. No field, so their verdict is `none` unless a
        signature for their numbers could match one without fields: those rows go the
        FlowState way; the rest go to the sinks as columns (`sensor.bare`)."""
        if self.control.build is not None:
            self._maybe_reload()
        clf = self.classifier  # asked and counted on, even if a record below takes a reload
        possible = possible_rows(batch, clf, self.summary)
        if possible.any():
            slow = batch.select(possible)
            for flow, why in zip(slow.states(), slow.reasons, strict=True):
                self._on_end(flow, why)
            batch = batch.select(~possible)
        write_bare(batch, clf, self.sinks, self.summary)

    def request_stop(self) -> None:
        """Stop reading after the current batch; `run` then ends every open flow as
        `shutdown` and closes the sinks, so nothing in flight is lost. Called from a signal
        handler: if the source is blocked in a read (a quiet pipe), that read is abandoned."""
        self.control.stop()

    def request_reload(self, build: Callable[[], Classifier]) -> None:
        """Ask for a new classifier (SIGHUP); it is built and swapped before the next
        sub-batch (SUB_BATCH frames) or the next flow record, whichever comes first, so no
        flow is lost or classified by half a rule set, and a flood does not delay it."""
        self.control.build = build

    def _maybe_reload(self) -> None:
        self.classifier = self.control.swap(self.classifier)

    def process(self, batch: FrameBatch) -> None:
        """Decode a batch and account it to flows, SUB_BATCH frames at a time."""
        if self.control.build is not None:
            self._maybe_reload()
        n = len(batch)
        if n <= SUB_BATCH:
            self._process(batch)
            return
        for at in range(0, n, SUB_BATCH):
            if self.control.build is not None:
                self._maybe_reload()
            self._process(_part(batch, at, at + SUB_BATCH))

    def _process(self, batch: FrameBatch) -> None:
        if not len(batch):
            return
        if self.names:  # DNS answers expired before these frames can name no flow now
            self.names.prune(int(batch.ts.min()))
        if batch.linktype in WIFI_LINKTYPES:  # a monitor-mode radio: access points too
            self.wireless.process(batch)
            # a beacon flood changes an access point per frame: hand them to the store now,
            # not after the whole file block (8 MB: 129,000 APs and their rows, 150 MB)
            self.flush_sinks(force=False)
        cols = self.decoder.decode(batch)
        self.table.update(cols)
        peak = self.memory_peak
        for k, v in used_bytes(self).items():
            if v > peak[k]:
                peak[k] = v
        s = self.summary
        s.packets += len(batch)
        s.bytes += int(batch.wirelens.sum())
        s.flow_packets += int(cols.ok.sum())

    def run(self, sources: Sequence[PacketSource], progress: Progress | None = None) -> Summary:
        """Replay every source in order, then end all flows (`eof`) and close the sinks."""
        return replay_sources(self, sources, progress)

    def guarded(self, batch: FrameBatch) -> None:
        """`process`, with a last line of defence: a bug that one hostile frame triggers is
        counted and logged, the batch is lost, and every flow before it goes on (and is
        written at the end) instead of the traceback discarding everything in flight."""
        try:
            self.process(batch)
        except Exception:
            self.summary.decode_errors["internal_error"] += 1
            if self.summary.decode_errors["internal_error"] == 1:
                log.exception("a batch of %d frames failed; counted, going on", len(batch))

    def tick(self, now_ns: int) -> None:
        """Live capture on a quiet link: move the flow table's clock to wall time so idle
        flows end without waiting for the next packet."""
        if now_ns > self.table.now:
            self.table.now = now_ns
            self.table.expire(now_ns)
        self.summary.flows = self.table.created
        self.flush_sinks(force=False)

    def finish(self, reason: str) -> None:
        """End every open flow with `reason` and close the sinks."""
        self.table.flush(reason)
        self.wireless.close()
        self._snapshot_aps()
        self.summary.flows = self.table.created
        self.summary.ended = self.table.ended
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                self.summary.sink_errors[sink.name] += 1
                log.exception("sink %s failed to close", sink.name)

    def _on_wireless(self, event: WirelessEvent) -> None:
        for sink in self.sinks:
            write = getattr(sink, "write_event", None)
            if write is not None:
                try:
                    write(event)
                except Exception:
                    self.summary.sink_errors[sink.name] += 1
                    log.exception("sink %s failed on a wireless event", sink.name)

    def _snapshot_aps(self) -> None:
        """Hand the access points that changed to the sinks that keep them; a failing sink
        is counted and logged like any other (at exit, the flows still get written)."""
        changed = self.wireless.take_changed()
        if not changed:
            return
        for sink in self.sinks:
            write = getattr(sink, "write_aps", None)
            if write is not None:
                try:
                    write(changed, max(self.table.now, self.wireless.last))
                except Exception:
                    self.summary.sink_errors[sink.name] += 1
                    log.exception("sink %s failed on %d access points", sink.name, len(changed))

    def flush_sinks(self, force: bool) -> None:
        """Hand the sinks what changed and let each flush on size or on packet time; a
        failing sink is counted and logged, the others still flush."""
        self._snapshot_aps()
        now = self.table.now
        for sink in self.sinks:
            try:
                advance = getattr(sink, "advance", None)
                if advance is not None:  # the stores' flush interval counts packet time
                    advance(now)
                sink.flush(force)
            except Exception:
                self.summary.sink_errors[sink.name] += 1
                log.exception("sink %s failed to flush", sink.name)
