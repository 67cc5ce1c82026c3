"""`/main.aspx`: the Dynamics 365 pages a screen pop opens, rendered server-side.

Dynamics URL shape (Microsoft Learn, "Open forms, views, dialogs, and reports
with a URL"): `main.aspx?appid=...&pagetype=entityrecord&etn=incident&id=<guid>`
opens a record; without `id` and with `extraqs=<url-encoded field=value&...>`
it opens a new-record form with those fields filled in.

Safety: Jinja2 autoescaping on every template (a hostile contact name shows as
text), no inline script or style, and a strict Content-Security-Policy.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from dipflow.emulator import records
from dipflow.emulator.errors import ODataError
from dipflow.emulator.odata.options import parse_options
from dipflow.emulator.odata.values import is_guid
from dipflow.emulator.payload import Binding, Payload
from dipflow.emulator.schema import BY_LOGICAL_NAME, ENTITIES, INCIDENTS, Entity
from dipflow.emulator.state import EmulatorState
from dipflow.emulator.store import CUSTOMER_NAME, Record

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_env = Environment(
    loader=PackageLoader("dipflow.emulator", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _not_found(message: str) -> HTMLResponse:
    return _render("not_found.html", 404, message=message)


def _strip_braces(value: str) -> str:
    return value.strip().strip("{}").strip()


def record_url(app_id: str, logical_name: str, key: str) -> str:
    query = urlencode({"appid": app_id, "pagetype": "entityrecord", "etn": logical_name, "id": key})
    return f"/main.aspx?{query}"


def routes(state: EmulatorState) -> list[Route]:
    app_id = state.settings.app_id

    def link(entity: Entity, key: str) -> str:
        return record_url(app_id, entity.logical_name, key)

    async def main(request: Request) -> Response:
        params = request.query_params
        requested_app = params.get("appid")
        if requested_app is not None and not state.settings.knows_app(requested_app):
            # A screen pop with another org's (or a placeholder) app id opens no app on
            # Dynamics either; without `appid` Dynamics opens the user's default app.
            return _render("app_not_found.html", 404, app_id=requested_app)
        if params.get("pagetype", "entityrecord") != "entityrecord":
            return _not_found("Only pagetype=entityrecord pages exist in the emulator.")
        entity = BY_LOGICAL_NAME.get(params.get("etn", ""))
        if entity is None:
            return _not_found("There is no table with that name.")
        raw_id = params.get("id")
        if raw_id is None:
            if entity is not INCIDENTS:
                return _not_found("Only the new case form is available.")
            return _new_case(params.get("extraqs", ""), app_id)
        key = _strip_braces(raw_id).lower()
        if not is_guid(key):
            return _not_found("The record id is not a GUID.")
        record = state.store.get(entity, key)
        if record is None:
            return _not_found("The record does not exist or was deleted.")
        return _record_page(state, entity, record, link)

    async def save_case(request: Request) -> Response:
        try:
            form = await request.form(max_fields=50)
        except Exception:  # a malformed form is the client's error: show the form again
            return _render(
                "new_case.html",
                400,
                error="The form could not be read.",
                **_new_case_context({}, app_id),
            )
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        customer_id = _strip_braces(fields.get("customerid", "")).lower()
        customer_type = fields.get("customeridtype", "contact")
        set_name = {"contact": "contacts", "account": "accounts"}.get(customer_type)
        title = fields.get("title", "").strip()
        if not title or set_name is None or not is_guid(customer_id):
            return _render(
                "new_case.html",
                400,
                error="A case needs a title and a customer.",
                **_new_case_context(fields, app_id),
            )
        origin = _small_int(fields.get("caseorigincode", ""))
        values: dict[str, Any] = {
            "title": title[:400],
            "description": fields.get("description", "")[:4000] or None,
        }
        if origin is not None:
            values["caseorigincode"] = origin
        payload = Payload(
            values=values,
            bindings=(
                Binding(
                    navigation=f"customerid_{customer_type}", set_name=set_name, key=customer_id
                ),
            ),
        )
        try:
            created = records.create(state.store, INCIDENTS, payload, state.rng)
        except ODataError as exc:
            return _render(
                "new_case.html", 400, error=exc.message, **_new_case_context(fields, app_id)
            )
        return RedirectResponse(link(INCIDENTS, created["incidentid"]), status_code=303)

    return [
        Route("/main.aspx", main, methods=["GET"]),
        Route("/main.aspx/new-case", save_case, methods=["POST"]),
    ]


def _record_page(
    state: EmulatorState, entity: Entity, record: Record, link: Callable[[Entity, str], str]
) -> Response:
    if entity is INCIDENTS:
        kind = record.get("customeridtype")
        customer_entity = BY_LOGICAL_NAME.get(kind or "")
        customer_link = (
            link(customer_entity, record["_customerid_value"]) if customer_entity else None
        )
        return _render(
            "incident.html",
            case=record,
            customer_name=record.get(CUSTOMER_NAME),
            customer_type=kind,
            customer_link=customer_link,
            labels=_labels(INCIDENTS, record),
        )
    cases = _cases_of(state, entity, record)
    return _render(
        f"{entity.logical_name}.html",
        record=record,
        cases=[(c, link(INCIDENTS, c["incidentid"])) for c in cases],
        labels=_labels(entity, record),
    )


def _cases_of(state: EmulatorState, entity: Entity, record: Record) -> list[Record]:
    """The customer's 50 latest cases (the record's key comes from our own database)."""
    nav = entity.navigations[f"incident_customer_{entity.set_name}"]
    options = parse_options(
        {
            "$filter": f"_customerid_value eq {record[entity.key]}",
            "$orderby": "createdon desc",
            "$top": "50",
        },
        ENTITIES[nav.target],
    )
    rows, _ = state.store.query(ENTITIES[nav.target], options)
    return rows


def _labels(entity: Entity, record: Record) -> dict[str, str]:
    labels: dict[str, str] = {}
    for name, column in entity.columns.items():
        value = record.get(name)
        if column.options and value is not None:
            labels[name] = column.options.get(int(value), str(value))
    return labels


def _new_case_context(fields: dict[str, str], app_id: str) -> dict[str, Any]:
    customer_type = fields.get("customeridtype", "contact")
    return {
        "customer_id": _strip_braces(fields.get("customerid", "")),
        "customer_name": fields.get("customeridname", ""),
        "customer_type": customer_type if customer_type in ("contact", "account") else "contact",
        "caseorigincode": fields.get("caseorigincode", ""),
        "origin_label": INCIDENTS.columns["caseorigincode"].options.get(
            _small_int(fields.get("caseorigincode", "")) or -1, ""
        ),
        "title": fields.get("title", ""),
        "description": fields.get("description", ""),
        "app_id": app_id,
    }


def _small_int(text: str) -> int | None:
    """An option-set value typed by hand: ASCII digits only (int('²') would raise)."""
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _new_case(extraqs: str, app_id: str) -> Response:
    try:
        parsed = parse_qs(extraqs, keep_blank_values=True, max_num_fields=50)
    except ValueError:  # more fields than any new-case link carries
        return _not_found("The extraqs parameter is not a valid new-case prefill.")
    fields = {k: v[0] for k, v in parsed.items() if v}
    return _render("new_case.html", error=None, **_new_case_context(fields, app_id))
