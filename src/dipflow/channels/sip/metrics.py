"""The SIP channel's Prometheus metrics. Layer 4 (channels).

The sans-IO user agent counts in plain `Counter`s (`ua.stats`, `ua.counts`,
`ua.failures`): no metrics library on the message path. `SipCollector` reads them when
/metrics is scraped. Media quality (RFC 3550 reports, `rtcp.py`) is observed once per
call leg when it ends, in histograms. The composition root passes the runtime's
registry, so one /metrics page shows the runtime's and the channel's series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from dipflow.channels.seam import MediaQuality
    from dipflow.channels.sip.agent import SipUserAgent

_LOSS_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_JITTER_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
_RTT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)

DROP_REASONS = {
    "garbage": "unparseable",
    "oversized": "oversized",
    "penalised": "penalised source",
    "rate_limited": "INVITE rate limit",
    "amplification_drops": "amplification limit",
    "overload_drops": "transaction limit",
}
"""`ua.stats` key -> the `reason` label of dipflow_sip_dropped_messages_total."""


class SipCollector(Collector):
    """The user agent's counters as Prometheus series, read at scrape time."""

    def __init__(self, ua: Callable[[], SipUserAgent | None]) -> None:
        self._ua = ua

    def collect(self) -> Iterator[Metric]:
        ua = self._ua()
        counts = ua.counts if ua is not None else {}
        calls = CounterMetricFamily(
            "dipflow_sip_calls", "SIP call legs: INVITEs received (inbound), placed to agents "
            "(outbound).", labels=["direction"],
        )  # fmt: skip
        for direction in ("inbound", "outbound"):
            calls.add_metric([direction], counts.get(f"calls_{direction}", 0))
        yield calls
        failures = CounterMetricFamily(
            "dipflow_sip_call_failures", "Call legs that ended with a final error response "
            "(inbound: we refused; outbound: the agent's phone did, 408 for no answer).",
            labels=["direction", "status"],
        )  # fmt: skip
        for (direction, status), n in sorted(ua.failures.items() if ua is not None else ()):
            failures.add_metric([direction, str(status)], n)
        yield failures
        retrans = CounterMetricFamily(
            "dipflow_sip_retransmissions", "SIP messages sent again (timers A, E, G, and "
            "the 2xx until the ACK; a response repeated for a retransmitted request).",
            labels=["message"],
        )  # fmt: skip
        for message in ("request", "response"):
            retrans.add_metric([message], counts.get(f"retransmitted_{message}s", 0))
        yield retrans
        registrations = CounterMetricFamily(
            "dipflow_sip_registrations", "REGISTER requests: accepted (200) or challenged (401).",
            labels=["outcome"],
        )  # fmt: skip
        registrations.add_metric(["accepted"], counts.get("registrations", 0))
        registrations.add_metric(["challenged"], counts.get("registrations_challenged", 0))
        yield registrations
        dropped = CounterMetricFamily(
            "dipflow_sip_dropped_messages", "SIP messages dropped unanswered, by reason.",
            labels=["reason"],
        )  # fmt: skip
        for key, reason in DROP_REASONS.items():
            dropped.add_metric([reason], ua.stats.get(key, 0) if ua is not None else 0)
        yield dropped
        yield CounterMetricFamily(
            "dipflow_sip_codec_mismatches", "Offers refused with 488 and Warning: 305: no "
            "codec in common.", value=counts.get("codec_mismatches", 0),
        )  # fmt: skip


class SipMetrics:
    """The channel's series in `registry` (a private one when None: tests, benchmarks)."""

    def __init__(
        self, registry: CollectorRegistry | None, ua: Callable[[], SipUserAgent | None]
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(SipCollector(ua))
        self.rtp_loss = Histogram(
            "dipflow_rtp_loss_ratio", "Fraction of RTP packets lost per call leg (RFC 3550 "
            "A.3), by who measured it: we (received) or the peer (its receiver reports).",
            ["measured_by"], buckets=_LOSS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.rtp_jitter = Histogram(
            "dipflow_rtp_jitter_seconds", "Interarrival jitter per call leg at its end (RFC "
            "3550 A.8), by who measured it.", ["measured_by"], buckets=_JITTER_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.rtp_rtt = Histogram(
            "dipflow_rtp_round_trip_seconds", "Round-trip time per call leg from RTCP "
            "(RFC 3550 §6.4.1: LSR/DLSR).", buckets=_RTT_BUCKETS, registry=self.registry,
        )  # fmt: skip

    def observe(self, quality: MediaQuality) -> None:
        """A call leg ended: its loss, jitter and round-trip time into the histograms."""
        if quality.packets_received:
            self.rtp_loss.labels(measured_by="dipflow").observe(quality.loss_fraction)
            self.rtp_jitter.labels(measured_by="dipflow").observe(quality.jitter_ms / 1000)
        if quality.peer_loss_fraction is not None:
            self.rtp_loss.labels(measured_by="peer").observe(quality.peer_loss_fraction)
        if quality.peer_jitter_ms is not None:
            self.rtp_jitter.labels(measured_by="peer").observe(quality.peer_jitter_ms / 1000)
        if quality.rtt_ms is not None:
            self.rtp_rtt.observe(quality.rtt_ms / 1000)
