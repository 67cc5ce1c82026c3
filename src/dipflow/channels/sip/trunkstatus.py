"""What the supervisor view and /metrics show of the trunks. Layer 4 (channels).

`trunk_rows(trunking, now)` is one plain row per trunk (registration state, server,
seconds to expiry, last status and error, counters) for the supervisor; `TrunkCollector`
exposes the same as Prometheus metrics, read at scrape time (nothing to keep in step):

* `dipflow_sip_trunk_registered{trunk}`: 1 while registered, else 0;
* `dipflow_sip_trunk_registration_expires_seconds{trunk}`: until the binding expires;
* `dipflow_sip_trunk_registrations_total{trunk}`: successful REGISTERs;
* `dipflow_sip_trunk_registration_failures{trunk}`: failed attempts since the last success;
* `dipflow_sip_trunk_registration_failovers_total{trunk}`: moves to another server;
* `dipflow_sip_trunk_reachable{trunk}`: 1 when the last OPTIONS keep-alive was answered;
* `dipflow_sip_tls_handshakes_total` / `dipflow_sip_tls_handshake_seconds_total`: the TLS
  connections we opened and the time their handshakes took (TCP connect included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from dipflow.channels.sip.registration import RegistrationState
from dipflow.channels.sip.tls import TlsTransport
from dipflow.channels.sip.trunkconfig import RegistrationAuth
from dipflow.channels.sip.trunking import Trunking


def trunk_rows(trunking: Trunking, now: float) -> list[dict[str, Any]]:
    """One row per configured trunk; `now` on the loop clock."""
    statuses = {s.trunk: s for s in trunking.registration_status()}
    rows: list[dict[str, Any]] = []
    for trunk in trunking.table.trunks:
        row: dict[str, Any] = {
            "trunk": trunk.name,
            "auth": "registration" if isinstance(trunk.auth, RegistrationAuth) else "ip",
            "dids": list(trunk.dids),
            "transport": trunk.transport or "auto",
            "srtp": trunk.srtp,
        }
        status = statuses.get(trunk.name)
        if status is not None:
            row.update(
                state=str(status.state), server=status.server,
                expires_in_s=round(status.expires_at - now) if status.expires_at else None,
                last_status=status.last_status, last_error=status.last_error,
                registrations=status.registrations, failures=status.failures,
                failovers=status.failovers,
            )  # fmt: skip
        else:
            row.update(state="ip-trust", server=None, expires_in_s=None, last_status=None,
                       last_error=None, registrations=0, failures=0, failovers=0)  # fmt: skip
        keepalive = trunking.keepalives.get(trunk.name)
        row["reachable"] = keepalive.status.reachable if keepalive is not None else None
        if keepalive is not None and keepalive.status.reachable is False and status is None:
            row["state"] = "unreachable"
            row["last_status"] = keepalive.status.last_status
        rows.append(row)
    return rows


class TrunkCollector:
    """A Prometheus collector over the channel's trunks (register it on a registry)."""

    def __init__(self, trunking: Trunking, tls: TlsTransport, now: Callable[[], float]) -> None:
        self.trunking = trunking
        self.tls = tls
        self.now = now

    def collect(self) -> Iterable[Metric]:
        registered = GaugeMetricFamily(
            "dipflow_sip_trunk_registered", "1 while the trunk is registered.", labels=["trunk"]
        )
        expires = GaugeMetricFamily(
            "dipflow_sip_trunk_registration_expires_seconds",
            "Seconds until the trunk's registration expires unless refreshed.",
            labels=["trunk"],
        )
        successes = CounterMetricFamily(
            "dipflow_sip_trunk_registrations", "Successful REGISTERs.", labels=["trunk"]
        )
        failures = GaugeMetricFamily(
            "dipflow_sip_trunk_registration_failures",
            "Failed registration attempts since the last success.", labels=["trunk"],
        )  # fmt: skip
        failovers = CounterMetricFamily(
            "dipflow_sip_trunk_registration_failovers",
            "Times the registration moved to another server.", labels=["trunk"],
        )  # fmt: skip
        now = self.now()
        for status in self.trunking.registration_status():
            labels = [status.trunk]
            up = status.state is RegistrationState.REGISTERED
            registered.add_metric(labels, 1.0 if up else 0.0)
            left = max(0.0, status.expires_at - now) if status.expires_at and up else 0.0
            expires.add_metric(labels, left)
            successes.add_metric(labels, float(status.registrations))
            failures.add_metric(labels, float(status.failures))
            failovers.add_metric(labels, float(status.failovers))
        reachable = GaugeMetricFamily(
            "dipflow_sip_trunk_reachable",
            "1 when a server of the trunk answered the last OPTIONS keep-alive.", labels=["trunk"],
        )  # fmt: skip
        for name, keepalive in self.trunking.keepalives.items():
            if keepalive.status.reachable is not None:
                reachable.add_metric([name], 1.0 if keepalive.status.reachable else 0.0)
        handshakes = CounterMetricFamily(
            "dipflow_sip_tls_handshakes", "TLS connections dipflow opened."
        )
        handshakes.add_metric([], float(self.tls.handshakes))
        handshake_time = CounterMetricFamily(
            "dipflow_sip_tls_handshake_seconds",
            "Time the TLS connections dipflow opened took to connect and handshake.",
        )
        handshake_time.add_metric([], self.tls.handshake_seconds)
        return [registered, expires, successes, failures, failovers, reachable, handshakes,
                handshake_time]  # fmt: skip
