"""Dataverse lookups: who is calling, and their latest case. Layer 3 (connectors).

The lookup matches the caller's number exactly (`eq`, so Dataverse can use its
indexes; the Webex template's `contains()` is a leading-wildcard scan) against
every configured phone column and every usual spelling of the number
(`phone_variants`), with `$top=2`: two rows mean "no unique customer", and the
flow must not greet a stranger by someone else's name.

Two forms, both used by `dipflow crm check` and `bench/dip.py`:

- one round trip: `contacts?$filter=...&$expand=incident_customer_contacts(
  $select=...;$orderby=createdon desc;$top=1)` returns the contact and their
  latest case together ($orderby/$top inside $expand on a collection-valued
  navigation property: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables);
- two requests, as the Webex template does: the contact, then
  `incidents?$filter=_customerid_value eq <id>&$orderby=createdon desc&$top=1`.

All query strings are built as parameters and encoded by httpx; caller data only
ever reaches them through `odata_phone_filter`, which quotes it.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dipflow.connectors.config import ConnectorConfig
from dipflow.connectors.errors import (
    AuthError,
    ConnectorError,
    CrmRequestError,
    CrmTimeout,
    CrmUnavailable,
)
from dipflow.connectors.registry import Connectors
from dipflow.engine.commands import HttpRequest
from dipflow.engine.events import HttpCompleted, HttpOutcome
from dipflow.flow.dynamics_filters import guid, odata_phone_filter, phone_variants

CASE_COLUMNS = "incidentid,title,ticketnumber,createdon"
LATEST = f"($select={CASE_COLUMNS};$orderby=createdon desc;$top=1)"
NAMED_CASES = "contact_as_primary_contact"
"""Cases whose Contact (`primarycontactid`) is the caller: B2B cases of their company."""
COMPANY = "parentcustomerid_account"


@dataclass(frozen=True, slots=True)
class _Table:
    entity: str
    entity_set: str
    name_column: str
    cases_navigation: str


CONTACT = _Table("contact", "contacts", "fullname", "incident_customer_contacts")
ACCOUNT = _Table("account", "accounts", "name", "incident_customer_accounts")


class MatchKind(StrEnum):
    NONE = "none"
    UNIQUE = "unique"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseInfo:
    incident_id: str
    title: str
    ticket_number: str | None = None
    created_on: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerInfo:
    id: str
    name: str
    entity: str
    """"contact" or "account"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerMatch:
    kind: MatchKind
    customer: CustomerInfo | None = None
    latest_case: CaseInfo | None = None
    round_trips: int = 0
    elapsed_ms: float = 0.0

    @property
    def found(self) -> bool:
        return self.kind is MatchKind.UNIQUE


def raise_for_completed(completed: HttpCompleted) -> Any:
    """The JSON body of a successful completion; the matching `ConnectorError` otherwise."""
    if completed.outcome is HttpOutcome.SUCCESS:
        return completed.body
    reason = completed.error or "request failed"
    if completed.outcome is HttpOutcome.TIMEOUT:
        raise CrmTimeout(reason)
    status = completed.status
    if status in (401, 403):
        raise AuthError(reason, status=status)
    if status is not None and 400 <= status < 500 and status != 429:
        raise CrmRequestError(reason, status=status)
    raise CrmUnavailable(reason, status=status)


def _latest(row: Mapping[str, Any], table: _Table) -> CaseInfo | None:
    """The latest case of a matched row: as the customer, or (contacts) as the case's
    Contact, whichever is newer (the bundled flow's `CollectCases` rule)."""
    navigations = [table.cases_navigation] + ([NAMED_CASES] if table is CONTACT else [])
    cases = [c for n in navigations for c in (row.get(n) or []) if isinstance(c, dict)]
    cases.sort(key=lambda c: str(c.get("createdon") or ""), reverse=True)
    return _case(cases[0]) if cases else None


def _company(row: Mapping[str, Any]) -> str:
    account = row.get(COMPANY)
    return guid(account.get("accountid")) if isinstance(account, dict) else ""


def _case(row: Any) -> CaseInfo | None:
    if not isinstance(row, dict) or not row.get("incidentid"):
        return None
    return CaseInfo(
        incident_id=str(row["incidentid"]),
        title=str(row.get("title") or ""),
        ticket_number=row.get("ticketnumber"),
        created_on=row.get("createdon"),
    )


class Dataverse:
    """Lookups over one `dataverse` connector of a `Connectors` registry."""

    def __init__(self, connectors: Connectors, connector: str, *, timeout_s: float = 5.0) -> None:
        self._connectors = connectors
        self._name = connector
        self.config: ConnectorConfig = connectors.client(connector).config
        self._timeout_s = timeout_s
        self._ids = itertools.count(1)

    # -- request builders (pure) --------------------------------------------------------

    def phone_filter(self, ani: str, table: _Table = CONTACT) -> str:
        """The same filter the bundled flow builds from the same org settings."""
        phone = self.config.phone
        columns = phone.phone_columns if table is CONTACT else phone.account_phone_columns
        return odata_phone_filter(
            ani,
            columns=columns,
            region=phone.default_region,
            e164_column=phone.e164_column,
            entity=table.entity,
            e164_only=phone.e164_only,
            active_only=phone.active_only,
        )

    def caller_query(self, ani: str, *, expand: bool, table: _Table = CONTACT) -> dict[str, str]:
        """The query parameters of the caller lookup (encoded later by httpx)."""
        query = {
            "$select": f"{table.entity}id,{table.name_column}",  # as the bundled flow writes it
            "$filter": self.phone_filter(ani, table),
            "$top": "2",
        }
        if expand:
            # Single-level expands only: next to a nested $expand Dataverse refuses
            # $top/$orderby (400 0x80060888), and "latest" needs both.
            expands = [f"{table.cases_navigation}{LATEST}"]
            if table is CONTACT:
                expands += [f"{NAMED_CASES}{LATEST}", f"{COMPANY}($select=accountid)"]
            query["$expand"] = ",".join(expands)
        return query

    def _request(self, path: str, query: dict[str, str]) -> HttpRequest:
        return HttpRequest(
            request_id=f"dynamics-{next(self._ids)}",
            connector=self._name,
            method="GET",
            path=path,
            query=query,
            timeout_s=self._timeout_s,
            retries=1,
        )

    async def get(self, path: str, query: dict[str, str]) -> Any:
        """GET `path` (relative to the API root); the JSON body or a `ConnectorError`."""
        completed = await self._connectors.execute(self._request(path, query))
        return raise_for_completed(completed)

    # -- lookups -----------------------------------------------------------------------

    async def lookup_caller(self, ani: str, *, expand: bool = True) -> CallerMatch:
        """Who is calling from `ani`, and their latest case.

        `expand=True` needs one round trip; `expand=False` is the two-request form.
        Raises `ConnectorError` when Dataverse cannot answer.
        """
        started = time.perf_counter()
        if not phone_variants(ani, self.config.phone.default_region):
            return CallerMatch(kind=MatchKind.NONE)
        tables = [CONTACT, ACCOUNT] if self.config.phone.match_accounts else [CONTACT]
        trips = 0
        for table in tables:
            body = await self.get(
                table.entity_set, self.caller_query(ani, expand=expand, table=table)
            )
            trips += 1
            rows = body.get("value") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise CrmUnavailable("Dataverse answered without a `value` array")
            if not rows:
                continue
            if len(rows) > 1:
                return CallerMatch(
                    kind=MatchKind.AMBIGUOUS,
                    round_trips=trips,
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                )
            row = rows[0]
            customer = CustomerInfo(
                id=str(row.get(f"{table.entity}id", "")),
                name=str(row.get(table.name_column) or ""),
                entity=table.entity,
            )
            if expand:
                latest = _latest(row, table)
                company = _company(row) if table is CONTACT else ""
                if latest is None and company:
                    # B2B, named on no case: the company's latest case, one more request.
                    latest = await self.company_case(company)
                    trips += 1
            else:
                latest = await self.latest_case(customer.id)
                trips += 1
            return CallerMatch(
                kind=MatchKind.UNIQUE,
                customer=customer,
                latest_case=latest,
                round_trips=trips,
                elapsed_ms=(time.perf_counter() - started) * 1000,
            )
        return CallerMatch(
            kind=MatchKind.NONE,
            round_trips=trips,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    async def company_case(self, account_id: str) -> CaseInfo | None:
        """The latest case whose customer is the account (the caller's company)."""
        body = await self.get(
            f"accounts({guid(account_id)})/incident_customer_accounts",
            {"$select": CASE_COLUMNS, "$orderby": "createdon desc", "$top": "1"},
        )
        rows = body.get("value") if isinstance(body, dict) else None
        return _case(rows[0]) if isinstance(rows, list) and rows else None

    async def latest_case(self, customer_id: str) -> CaseInfo | None:
        """The customer's most recent case (second request of the two-request form)."""
        guid = str(uuid.UUID(customer_id))  # a GUID literal is unquoted in OData: validate it
        body = await self.get(
            "incidents",
            {
                "$select": CASE_COLUMNS,
                "$filter": f"_customerid_value eq {guid}",
                "$orderby": "createdon desc",
                "$top": "1",
            },
        )
        rows = body.get("value") if isinstance(body, dict) else None
        return _case(rows[0]) if isinstance(rows, list) and rows else None


__all__ = [
    "ACCOUNT",
    "CONTACT",
    "CallerMatch",
    "CaseInfo",
    "ConnectorError",
    "CustomerInfo",
    "Dataverse",
    "MatchKind",
    "raise_for_completed",
]
