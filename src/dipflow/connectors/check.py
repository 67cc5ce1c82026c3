"""Connector self-test: credentials, permissions, lookups. Layer 3 (connectors).

Credentials, permissions, and the very requests the flow sends for a test number,
derived through the engine from the flow's own activities (`flowcheck`).

`run_checks` returns one `CheckResult` per step, each with what to fix when it
fails; `dipflow crm check` prints them. A failed prerequisite (no secret, no
token) skips the steps that depend on it rather than piling up noise.

Fix hints follow Microsoft's documentation: Entra sign-in error codes
(https://learn.microsoft.com/entra/identity-platform/reference-error-codes) and
Dataverse application users / security roles
(https://learn.microsoft.com/power-platform/admin/manage-application-users).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from dipflow.connectors.auth import BearerAuthenticator
from dipflow.connectors.config import ConnectorConfig
from dipflow.connectors.errors import ConfigError, ConnectorError
from dipflow.connectors.flowcheck import FlowExchange, FlowUnderTest, flow_exchanges
from dipflow.connectors.org import flow_variables
from dipflow.connectors.registry import Connectors
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpCompleted, HttpOutcome
from dipflow.flow.bundled import bundled_path
from dipflow.flow.loader import load_flow

DEFAULT_TEST_ANI = "+14155550123"
BUNDLED_FLOW = "ms-dynamics-data-dip"
BUNDLED_CONNECTOR = "dynamics"

_AADSTS_FIXES = {
    "7000215": "The client secret is wrong: copy the secret's Value (not its Secret ID) from "
    "Entra ID > App registrations > Certificates & secrets.",
    "7000222": "The client secret has expired: add a new one under Certificates & secrets.",
    "700016": "No app with this client_id in this tenant: check the Application (client) ID "
    "and the Directory (tenant) ID on the app registration's Overview page.",
    "90002": "Tenant not found: check the Directory (tenant) ID.",
    "500011": "The resource is unknown to the tenant: the scope must be the exact org URL "
    "followed by /.default (e.g. https://contoso.crm.dynamics.com/.default).",
    "1002012": "The scope must end with /.default for client credentials.",
    "700027": "The certificate is not registered on the app: upload its public part under "
    "Certificates & secrets, and check the thumbprint.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    name: str
    ok: bool | None
    """True passed, False failed, None skipped (a prerequisite failed)."""
    detail: str
    fix: str | None = None
    elapsed_ms: float = 0.0


def _auth_fix(message: str) -> str:
    match = re.search(r"AADSTS(\d+)", message)
    if match and match.group(1) in _AADSTS_FIXES:
        return _AADSTS_FIXES[match.group(1)]
    if "unreachable" in message or "timed out" in message:
        return "The token endpoint cannot be reached: check token_url/authority and the network."
    return "Check the tenant, client_id and secret (or certificate) of the app registration."


def _http_fix(done: HttpCompleted, table: str, config: ConnectorConfig) -> str:
    status = done.status
    error = done.error or ""
    if status == 401:
        return (
            "Dataverse does not know this app: create an application user for the app's "
            "client ID (Power Platform admin center > Environments > <env> > Settings > "
            "Users + permissions > Application users) and give it a security role."
        )
    if status == 403:
        return (
            f"The application user's security role lacks Read on the {table} table: add "
            "Read (Organization or Business Unit depth) to the role."
        )
    if status == 404:
        return f"Not found: is base_url the organization URL ({config.org_url})?"
    if status == 400:
        return (
            "Dataverse rejected the query: check that phone_columns / e164_column exist on "
            f"the {table} table (logical names, lower case)."
        )
    if status == 429:
        return "Throttled by service protection limits: try again after Retry-After."
    if "connection" in error or "connect" in error:
        return "Cannot connect: check base_url, DNS, proxy and firewall."
    if done.outcome is HttpOutcome.TIMEOUT:
        return "No answer in time: check network latency or raise --timeout."
    return "See the error above."


def bundled_flow_for(config: ConnectorConfig) -> FlowUnderTest:
    """The bundled Dynamics flow, with this connector's org settings, as the default flow
    to check (its requests name the connector `dynamics`; see `run_checks`)."""
    flow = load_flow(bundled_path(BUNDLED_FLOW))
    as_dynamics = config.model_copy(update={"name": BUNDLED_CONNECTOR})
    return FlowUnderTest(
        label=BUNDLED_FLOW, flow=flow, variables=flow_variables(flow, [as_dynamics], {})
    )


async def run_checks(
    config: ConnectorConfig,
    *,
    environ: Mapping[str, str],
    ani: str = DEFAULT_TEST_ANI,
    timeout_s: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
    flows: Sequence[FlowUnderTest] | None = None,
) -> list[CheckResult]:
    """Every check, in order; never raises for a connector problem.

    The lookups are the very requests the flows send for a caller `ani`, derived
    through the engine (`flowcheck`): `flows` as the configuration runs them, or by
    default the bundled Dynamics flow with this connector's settings."""
    results: list[CheckResult] = []
    try:
        connectors = Connectors([config], environ=environ, transport=transport)
    except ConfigError as exc:
        results.append(
            CheckResult(
                name="Settings and secrets",
                ok=False,
                detail=str(exc),
                fix="Export the named environment variable (or create the secret file) "
                "before starting dipflow; secrets never go in flow files.",
            )
        )
        return results
    async with connectors:
        results.append(
            CheckResult(
                name="Settings and secrets",
                ok=True,
                detail=f"{config.kind} connector, auth {config.auth.type}, API {config.api_root}",
            )
        )
        client = connectors.client(config.name)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(client.auth.headers(), timeout_s)
        except (ConnectorError, TimeoutError) as exc:
            message = str(exc) or "token request timed out"
            results.append(
                CheckResult(name="Credentials", ok=False, detail=message, fix=_auth_fix(message))
            )
            return results
        elapsed = (time.perf_counter() - started) * 1000
        bearer = isinstance(client.auth, BearerAuthenticator)
        results.append(
            CheckResult(
                name="Credentials",
                ok=True,
                detail="access token acquired" if bearer else f"{config.auth.type} credentials set",
                elapsed_ms=elapsed if bearer else 0.0,
            )
        )
        if config.kind != "dataverse":
            done = await connectors.execute(
                HttpRequest(
                    request_id="check",
                    connector=config.name,
                    method="GET",
                    path="",
                    timeout_s=timeout_s,
                )
            )
            results.append(_http_result("Base URL answers", done, "base", config))
            return results
        readable = True
        for logical, entity_set in (
            ("contact", "contacts"),
            ("account", "accounts"),
            ("incident", "incidents"),
        ):
            done = await connectors.execute(
                HttpRequest(
                    request_id=f"check-{entity_set}",
                    connector=config.name,
                    method="GET",
                    path=entity_set,
                    query={"$select": f"{logical}id", "$top": "1"},
                    timeout_s=timeout_s,
                )
            )
            result = _http_result(f"Read {entity_set}", done, logical, config)
            readable = readable and bool(result.ok)
            results.append(result)
        if not readable:
            return results
        if flows is None:
            flows = [bundled_flow_for(config)]

        async def execute(request: HttpRequest) -> HttpCompleted:
            # The bundled flow names its connector `dynamics`; send to the one checked.
            if request.connector == BUNDLED_CONNECTOR and config.name not in (BUNDLED_CONNECTOR,):
                request = dataclasses.replace(request, connector=config.name)
            return await connectors.execute(request)

        for under_test in flows:
            try:
                exchanges = await flow_exchanges(
                    under_test.flow, under_test.variables, ani, execute
                )
            except Exception as exc:  # a flow that cannot run is a finding, not a crash
                results.append(
                    CheckResult(
                        name=f"Flow {under_test.label}",
                        ok=False,
                        detail=f"the flow could not run: {exc}",
                        fix="Run `dipflow flow lint` on the flow.",
                    )
                )
                continue
            results.extend(_exchange_result(under_test.label, e, config) for e in exchanges)
    return results


def _exchange_result(label: str, exchange: FlowExchange, config: ConnectorConfig) -> CheckResult:
    request, done = exchange.request, exchange.completed
    activity = request.request_id.split("#", 1)[0]
    name = f"{label}: {activity} (GET {request.path or request.url})"
    table = (request.path or "").split("(", 1)[0].split("/", 1)[0] or "contacts"
    result = _http_result(name, done, table, config)
    if not result.ok or not isinstance(done.body, dict):
        return result
    rows = done.body.get("value")
    found = ", ".join(_describe(r) for r in rows[:2]) if isinstance(rows, list) else ""
    count = len(rows) if isinstance(rows, list) else 0
    return CheckResult(
        name=name,
        ok=True,
        detail=f"{count} row(s) for the test number" + (f": {found}" if found else ""),
        elapsed_ms=result.elapsed_ms,
    )


def _describe(row: object) -> str:
    if not isinstance(row, dict):
        return "?"
    label = row.get("fullname") or row.get("name") or row.get("title") or "?"
    cases = [
        c
        for key, value in row.items()
        if isinstance(value, list) and key.startswith(("incident_", "contact_as_"))
        for c in value
        if isinstance(c, dict)
    ]
    if not cases:
        return str(label)
    latest = max(cases, key=lambda c: str(c.get("createdon") or ""))
    return f"{label}, latest case {latest.get('ticketnumber')}: {latest.get('title')!r}"


def _http_result(
    name: str, done: HttpCompleted, table: str, config: ConnectorConfig
) -> CheckResult:
    if done.outcome is HttpOutcome.SUCCESS:
        return CheckResult(
            name=name, ok=True, detail=f"HTTP {done.status}", elapsed_ms=done.elapsed_ms
        )
    return CheckResult(
        name=name,
        ok=False,
        detail=done.error or f"HTTP {done.status}",
        fix=_http_fix(done, table, config),
        elapsed_ms=done.elapsed_ms,
    )
