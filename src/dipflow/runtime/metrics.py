"""Prometheus metrics of the runtime, in a registry the runtime owns.

The web app exposes `runtime.metrics.registry` at /metrics
(`prometheus_client.generate_latest(registry)`); a registry per runtime keeps
tests and several runtimes in one process from sharing counters.
Layer 5 (runtime).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_DIP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_WAIT_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.calls_started = Counter(
            "dipflow_calls_started",
            "Calls that reached a flow.",
            ["channel"],
            registry=self.registry,
        )
        self.calls_ended = Counter(
            "dipflow_calls_ended",
            "Calls the runtime finished, by how they ended.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.active_calls = Gauge(
            "dipflow_active_calls", "Calls in progress.", registry=self.registry
        )
        self.http_dip_seconds = Histogram(
            "dipflow_http_dip_seconds",
            "HTTP data dip latency (retries included), by connector and outcome.",
            ["connector", "outcome"],
            buckets=_DIP_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "dipflow_queue_wait_seconds",
            "Time from queueing to an agent answering (or the caller leaving).",
            ["queue", "outcome"],
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.session_errors = Counter(
            "dipflow_session_errors",
            "Exceptions caught inside call sessions (each turned into the flow's error path).",
            ["where"],
            registry=self.registry,
        )
        self.screen_pops = Counter(
            "dipflow_screen_pops", "Screen pops delivered to agents.", registry=self.registry
        )
