"""Model-driven app URLs for the agent's screen pop. Layer 3 (connectors).

Format from "Open forms, views, dialogs, and reports with a URL"
(https://learn.microsoft.com/power-apps/developer/model-driven-apps/open-forms-views-dialogs-reports-url):
`<org>/main.aspx?appid=<app>&pagetype=entityrecord&etn=<table>&id=<row id>`; a new
record form omits `id` and pre-fills columns with `extraqs` ("Set field values using
parameters passed to a form"). A customer lookup on a case is pre-filled with
`customerid`, `customeridname` and `customeridtype`.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlencode

from dipflow.flow.dynamics_filters import dynamics_extraqs

_URI_COMPONENT_SAFE = "-_.!~*'()"
CUSTOMER_TYPES = frozenset({"contact", "account"})


def _guid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value).strip("{}")))
    except ValueError:
        raise ValueError(f"{what} is not a GUID: {value!r}") from None


def _main_aspx(org_url: str, params: dict[str, str]) -> str:
    query = urlencode(params, quote_via=quote, safe=_URI_COMPONENT_SAFE)
    return f"{org_url.rstrip('/')}/main.aspx?{query}"


def case_record_url(org_url: str, app_id: str, incident_id: str) -> str:
    """The form of an existing case."""
    return _main_aspx(
        org_url,
        {
            "appid": _guid(app_id, "app id"),
            "pagetype": "entityrecord",
            "etn": "incident",
            "id": _guid(incident_id, "incident id"),
        },
    )


def new_case_url(
    org_url: str,
    app_id: str,
    customer_id: str,
    customer_name: str,
    customer_type: str = "contact",
) -> str:
    """A new case form with the customer filled in."""
    if customer_type not in CUSTOMER_TYPES:
        raise ValueError(f"customer type must be contact or account, not {customer_type!r}")
    extraqs = dynamics_extraqs(
        {
            "customerid": _guid(customer_id, "customer id"),
            "customeridname": customer_name,
            "customeridtype": customer_type,
        }
    )
    return _main_aspx(
        org_url,
        {
            "appid": _guid(app_id, "app id"),
            "pagetype": "entityrecord",
            "etn": "incident",
            "extraqs": extraqs,
        },
    )
