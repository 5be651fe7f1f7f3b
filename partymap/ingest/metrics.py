"""The daemon's counters, and their Prometheus form for ``/metrics``.

:class:`IngestStats` is a plain object the pipeline thread, the writer thread and the event loop
each update in their own fields; :class:`IngestCollector` reads it (and every source's
:class:`~gnss.sources.SourceStats`) only when Prometheus scrapes, so counting costs an integer
addition and nothing more.

>>> stats = IngestStats()
>>> stats.fixes_rejected["no_fix"] += 2
>>> families = {m.name: m for m in IngestCollector(stats, lambda: []).collect()}
>>> [(s.labels, s.value) for s in families["partymap_ingest_fix_rejections"].samples]
[({'reason': 'no_fix'}, 2)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gnss.epoch.decoder import Counts
from gnss.sources import SourceStats


@dataclass(slots=True)
class IngestStats:
    """What the pipeline did, since the daemon started."""

    # Decoding (the GNSS core's counts: every sentence is accepted or rejected with a reason),
    # in total and per source as (source, "accepted" or the rejection's reason). ``lines`` and
    # the outcomes count sentences: a line with two sentences glued together counts twice, so
    # accepted + rejected = sentences ≥ lines read, which ``lines_read`` counts per source.
    lines_read: Counter[str] = field(default_factory=Counter)
    lines: int = 0
    lines_accepted: int = 0
    lines_rejected: Counter[str] = field(default_factory=Counter)
    line_outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Per device (its uid), sentences by outcome ("accepted" or the reason). Each Counter is
    # replaced, never changed, once published: the API reads them from another thread.
    device_lines: dict[str, Counter[str]] = field(default_factory=dict)
    epochs_untimed: int = 0
    epochs_undated: int = 0
    # Chunks from devices the directory does not know (or that are deactivated): dropped.
    unknown_device_chunks: int = 0
    # Devices whose data a batch failed on (a bug): their lines are set aside from then on,
    # counted per source, and the other devices go on.
    quarantined_devices: set[str] = field(default_factory=set)
    lines_quarantined: Counter[str] = field(default_factory=Counter)
    batches_failed: int = 0
    # The pipeline has stopped (nothing more is ingested): the process is on its way out.
    pipeline_failed: bool = False
    # Fixes and the quality rules (a fix failing several rules counts under each).
    fixes: int = 0
    fixes_accepted: int = 0
    fixes_rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    pipeline_s: float = 0.0  # thread time spent in the pipeline's stages
    # The store.
    batches_committed: int = 0
    positions_stored: int = 0
    transactions: int = 0
    commit_s: float = 0.0  # time spent writing and committing transactions that succeeded
    write_retries: int = 0
    batches_dropped: int = 0  # a batch the database refused for a reason retrying cannot fix
    buffered_batches: int = 0
    buffered_fixes: int = 0
    buffer_capacity_fixes: int = 0
    newest_fix_s: float = float("nan")  # newest fix time stored (UTC seconds)
    newest_received_s: float = float("nan")  # newest receipt time of a stored fix
    lag_s: float = 0.0  # arrival of a committed batch's oldest chunk → its commit
    sources_paused: bool = False  # the buffer is full: sources are not being read
    directory_devices: int = 0
    site_set_version: int = -1
    sites: int = 0
    pairs_under_way: int = 0

    def count_lines(self, source: str, counts: Counts) -> None:
        """One device's share of a batch, as the decoder counted it."""
        self.lines += counts.lines
        self.lines_accepted += counts.accepted
        self.lines_rejected.update(counts.rejected)
        self.line_outcomes[source, "accepted"] += counts.accepted
        for reason, n in counts.rejected.items():
            self.line_outcomes[source, reason] += n
        self.epochs_untimed += counts.untimed_epochs
        self.epochs_undated += counts.undated_epochs

    def lines_of(self, source: str) -> int:
        """Lines decoded from one source (accepted or rejected)."""
        return sum(n for (label, _), n in self.line_outcomes.items() if label == source)


# (metric, help, IngestStats field): the plain counters and gauges, by table.
COUNTERS = (
    ("partymap_ingest_lines", "NMEA sentences decoded (accepted + rejected)", "lines"),
    ("partymap_ingest_epochs_untimed", "Epochs without a time", "epochs_untimed"),
    ("partymap_ingest_epochs_undated", "Epochs without a date", "epochs_undated"),
    ("partymap_ingest_unknown_device_chunks", "Chunks dropped: unknown or deactivated device",
     "unknown_device_chunks"),
    ("partymap_ingest_fixes", "Fixes (epochs) decoded", "fixes"),
    ("partymap_ingest_fixes_accepted", "Fixes passing every rule", "fixes_accepted"),
    ("partymap_ingest_batches", "Micro-batches processed", "batches"),
    ("partymap_ingest_batches_failed", "Micro-batches that failed and were taken apart by device",
     "batches_failed"),
    ("partymap_ingest_pipeline_seconds", "Thread time in the pipeline's stages", "pipeline_s"),
    ("partymap_ingest_commit_seconds", "Time writing committed transactions", "commit_s"),
    ("partymap_ingest_batches_committed", "Batches stored", "batches_committed"),
    ("partymap_ingest_positions_stored", "Positions stored", "positions_stored"),
    ("partymap_ingest_transactions", "Store transactions", "transactions"),
    ("partymap_ingest_write_retries", "Store writes retried", "write_retries"),
    ("partymap_ingest_batches_dropped", "Batches the store refused for good", "batches_dropped"),
)  # fmt: skip
GAUGES = (
    ("partymap_ingest_buffered_batches", "Batches awaiting commit", "buffered_batches"),
    ("partymap_ingest_buffered_fixes", "Fixes awaiting commit", "buffered_fixes"),
    ("partymap_ingest_buffer_capacity_fixes", "Write buffer size", "buffer_capacity_fixes"),
    ("partymap_ingest_lag_seconds",
     "Arrival of the last committed batch's oldest chunk to its commit", "lag_s"),
    ("partymap_ingest_sources_paused", "1 while the full buffer holds the sources back",
     "sources_paused"),
    ("partymap_ingest_devices", "Devices in the directory", "directory_devices"),
    ("partymap_ingest_site_set_version", "Site set in use", "site_set_version"),
    ("partymap_ingest_sites", "Sites in the index", "sites"),
    ("partymap_ingest_presence_pairs", "Member-site pairs not outside", "pairs_under_way"),
)  # fmt: skip


class IngestCollector(Collector):
    """Prometheus view of :class:`IngestStats` and the sources' counters."""

    def __init__(self, stats: IngestStats, sources: Callable[[], Sequence[SourceStats]]) -> None:
        self.stats = stats
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        for name, documentation, field_name in COUNTERS:
            yield CounterMetricFamily(name, documentation, value=getattr(s, field_name))
        for name, documentation, field_name in GAUGES:
            yield GaugeMetricFamily(name, documentation, value=float(getattr(s, field_name)))
        lines = CounterMetricFamily(
            "partymap_ingest_line_outcomes",
            "NMEA lines by source: accepted, or rejected with a reason",
            labels=["source", "outcome", "reason"],
        )
        for (source, reason), n in sorted(s.line_outcomes.items()):
            if reason == "accepted":
                lines.add_metric([source, "accepted", ""], n)
            else:
                lines.add_metric([source, "rejected", reason], n)
        yield lines
        yield _labelled(
            "partymap_ingest_fix_rejections", "Fixes failing a quality rule", "reason",
            s.fixes_rejected,
        )  # fmt: skip
        yield _labelled("partymap_ingest_events", "Presence events recorded", "type", s.events)
        yield _labelled(
            "partymap_ingest_lines_read", "Lines that reached the decoder, by source", "source",
            s.lines_read,
        )  # fmt: skip
        yield _labelled(
            "partymap_ingest_lines_quarantined",
            "Lines set aside: their device's data made a batch fail", "source",
            s.lines_quarantined,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "partymap_ingest_quarantined_devices", "Devices whose lines are set aside",
            value=len(s.quarantined_devices),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "partymap_ingest_pipeline_failed", "1 once the pipeline has stopped",
            value=float(s.pipeline_failed),
        )  # fmt: skip
        yield from _source_metrics(self.sources())


def _source_metrics(sources: Sequence[SourceStats]) -> Iterator[Metric]:
    counters: dict[str, CounterMetricFamily] = {}
    active = GaugeMetricFamily(
        "partymap_source_active_connections", "Connections open now", labels=["source"]
    )
    for stats in sources:
        for name, value in stats.as_dict().items():
            if name == "active":
                active.add_metric([stats.source], value)
                continue
            family = counters.get(name)
            if family is None:
                family = counters[name] = CounterMetricFamily(
                    f"partymap_source_{name}",
                    f"Per source: {name.replace('_', ' ')}",
                    labels=["source"],
                )
            family.add_metric([stats.source], value)
    yield active
    yield from counters.values()


def _labelled(name: str, documentation: str, label: str, counts: Counter[str]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, n in sorted(counts.items()):
        family.add_metric([key], n)
    return family


class Jt808Collector(Collector):
    """Prometheus view of the JT/T 808 server's counters (none while it is off)."""

    def __init__(self, server: Callable[[], Any]) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        server = self.server()
        if server is None:
            return
        s = server.stats
        for name in ("connections", "frames", "accepted", "locations", "acked", "ack_failures",
                     "alarms"):  # fmt: skip
            yield CounterMetricFamily(
                f"partymap_jt808_{name}", f"JT/T 808: {name}", value=getattr(s, name)
            )
        yield GaugeMetricFamily(
            "partymap_jt808_active_connections", "JT/T 808: open", value=s.active
        )
        yield _labelled(
            "partymap_jt808_rejected_frames", "JT/T 808 frames refused", "reason", s.rejected
        )
        yield _labelled(
            "partymap_jt808_session_events", "JT/T 808 session events", "event", s.events
        )
        yield _labelled("partymap_jt808_closed", "JT/T 808 connections closed", "reason", s.closed)
