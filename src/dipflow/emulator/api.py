"""The Dataverse Web API surface: `/api/data/v9.2/...`.

Behaviour follows Microsoft Learn's Web API pages: "Query data using the Web
API", "Retrieve a table row", "Create a table row" (204 + `OData-EntityId`, or
201 with the record under `Prefer: return=representation`), "Update and delete
table rows" (PATCH is an upsert unless `If-Match: *`; `If-Match` with an etag
is optimistic concurrency, 412 on mismatch).
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dipflow.emulator import records
from dipflow.emulator.errors import ErrorCode, ODataError, bad_payload, bad_query
from dipflow.emulator.odata.filter_ast import (
    Compare,
    CompareOp,
    Literal,
    LiteralKind,
    Logical,
    LogicalOp,
    Node,
    Property,
)
from dipflow.emulator.odata.options import COUNT_LIMIT, MAX_TOP, QueryOptions, parse_options
from dipflow.emulator.odata.values import is_guid
from dipflow.emulator.payload import parse_payload
from dipflow.emulator.representation import (
    AnnotationFilter,
    Rendering,
    encode_skiptoken,
    etag,
    max_page_size,
    parse_prefer,
    to_json,
)
from dipflow.emulator.schema import ENTITIES, Entity, NavKind
from dipflow.emulator.state import EmulatorState

API_PREFIX = "/api/data/v9.2/"
MAX_BODY = 1_000_000
_SEGMENT = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*)(?:\(([^)]*)\))?(?:/([A-Za-z_][A-Za-z0-9_]*|\$count))?$"
)
COUNT_SEGMENT = "$count"
TOTAL_COUNT = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_COUNT_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"
ODATA_HEADERS = {"OData-Version": "4.0"}
JSON_TYPE = "application/json; odata.metadata=minimal"


def api_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + API_PREFIX


def odata_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        content,
        status_code=status,
        media_type=JSON_TYPE,
        headers={**ODATA_HEADERS, **(headers or {})},
    )


def error_response(error: ODataError, headers: dict[str, str] | None = None) -> Response:
    return odata_json(error.body(), error.status, headers)


async def service_document(request: Request) -> Response:
    url = api_url(request)
    return odata_json(
        {
            "@odata.context": f"{url}$metadata",
            "value": [
                {"name": name, "kind": "EntitySet", "url": name} for name in sorted(ENTITIES)
            ],
        }
    )


def _resolve(path: str) -> tuple[Entity, str | None, str | None]:
    match = _SEGMENT.match(path)
    if match is None:
        raise ODataError(
            404, ErrorCode.RESOURCE_NOT_FOUND, f"Resource not found for the segment '{path}'."
        )
    name, key, nav = match.groups()
    entity = ENTITIES.get(name)
    if entity is None:
        raise ODataError(
            404, ErrorCode.RESOURCE_NOT_FOUND, f"Resource not found for the segment '{name}'."
        )
    if key is not None:
        key = key.strip()
        if key.startswith(f"{entity.key}="):
            key = key[len(entity.key) + 1 :]
        if not is_guid(key):
            raise bad_query(f"Bad Request - Error in query syntax: '{key}' is not a valid key.")
        key = key.lower()
    if nav == COUNT_SEGMENT and key is not None:
        raise bad_query("The $count segment follows a collection, not a single record.")
    if nav is not None and nav != COUNT_SEGMENT and key is None:
        raise bad_query("A navigation property needs a single record before it.")
    return entity, key, nav


def _projection(options: QueryOptions) -> str:
    """`name,nav(sub,nav2(...))`: the select list with each expansion's own projection,
    as Dataverse writes `@odata.context` ("Join tables using OData" examples)."""
    parts = list(options.select or ())
    parts += [f"{item.navigation.name}({_projection(item.options)})" for item in options.expand]
    return ",".join(parts)


def _context(url: str, entity: Entity, options: QueryOptions, single: bool) -> str:
    projection = _projection(options)
    projection = f"({projection})" if projection else ""
    return f"{url}$metadata#{entity.set_name}{projection}" + ("/$entity" if single else "")


def _who_am_i(request: Request, state: EmulatorState) -> Response:
    """The WhoAmI function, the usual "can I reach Dataverse?" call."""
    settings = state.settings
    return odata_json(
        {
            "@odata.context": f"{api_url(request)}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bu:{settings.tenant}")),
            "UserId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{settings.client_id}")),
            "OrganizationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"org:{settings.tenant}")),
        }
    )


async def handle_data(request: Request, state: EmulatorState) -> Response:
    if request.path_params["path"] == "WhoAmI":
        if request.method != "GET":
            # Dataverse's answer to POST WhoAmI (Microsoft Learn, client errors page).
            raise ODataError(
                404,
                ErrorCode.NO_CODE,
                f"No HTTP resource was found that matches the request URI '{request.url}'.",
            )
        return _who_am_i(request, state)
    entity, key, nav = _resolve(request.path_params["path"])
    method = request.method
    if method == "GET":
        return _get(request, state, entity, key, nav)
    if nav is not None:
        raise ODataError(
            405, ErrorCode.GENERIC, "Writes through a navigation property are not supported."
        )
    if method == "POST":
        if key is not None:
            raise ODataError(405, ErrorCode.GENERIC, "POST goes to the entity set, not a record.")
        return await _post(request, state, entity)
    if key is None:
        raise ODataError(
            405, ErrorCode.GENERIC, f"{method} needs a record: {entity.set_name}(<id>)."
        )
    if method == "PATCH":
        return await _patch(request, state, entity, key)
    return _delete(request, state, entity, key)


def _get(
    request: Request, state: EmulatorState, entity: Entity, key: str | None, nav: str | None
) -> Response:
    prefer = request.headers.get("prefer", "")
    _, annotations = parse_prefer(prefer)
    url = api_url(request)
    params = dict(request.query_params)
    headers = _preference_applied(annotations)
    if nav == COUNT_SEGMENT:
        return _count_segment(state, entity, params)
    if key is None:
        return _get_collection(request, state, entity, params, annotations, headers)
    if nav is not None:
        return _get_related(request, state, entity, key, nav, annotations)
    options = parse_options(params, entity)
    page = max_page_size(prefer)
    nested_page = min(page, MAX_TOP) if page is not None and options.nested_expand else None
    record = state.store.get(entity, key, options, expand_page=nested_page)
    if record is None:
        raise records.not_found(entity, key)
    current = etag(record)
    if _not_modified(request, current, options, annotations):
        return Response(
            status_code=304, headers={**ODATA_HEADERS, "ETag": current}, media_type=JSON_TYPE
        )
    rendering = Rendering(
        annotations=annotations,
        api_url=url,
        nested=options.nested_expand,
        page_size=nested_page,
    )
    body = {"@odata.context": _context(url, entity, options, single=True)}
    body.update(to_json(entity, record, options, rendering))
    if nested_page is not None:
        headers = _with_applied(headers, f"odata.maxpagesize={nested_page}")
    return odata_json(body, headers={**headers, "ETag": current})


def _not_modified(
    request: Request, current: str, options: QueryOptions, annotations: AnnotationFilter
) -> bool:
    """Conditional retrieval (Microsoft Learn, "Perform conditional operations").

    `If-None-Match` with the record's current etag answers 304, except that a query
    with `$expand` or with annotations requested never does (Dataverse cannot tell
    whether the related records changed). `If-None-Match: null`, which clients send
    to defeat caches, matches nothing.
    """
    header = request.headers.get("if-none-match")
    if header is None or options.expand or annotations.any:
        return False
    tags = {t.strip() for t in header.split(",")}
    return "*" in tags or current in tags


def _count_segment(state: EmulatorState, entity: Entity, params: dict[str, str]) -> Response:
    """`accounts/$count`: just the number, as text/plain (Microsoft Learn, "Count rows")."""
    options = parse_options({k: v for k, v in params.items() if k == "$filter"}, entity)
    count = min(state.store.count(entity, options), COUNT_LIMIT)
    return Response(str(count), media_type="text/plain", headers=ODATA_HEADERS)


def _with_applied(headers: dict[str, str], preference: str) -> dict[str, str]:
    applied = headers.get("Preference-Applied")
    return {**headers, "Preference-Applied": ", ".join(filter(None, (applied, preference)))}


def _count_annotations(count: int | None, annotations: AnnotationFilter) -> dict[str, Any]:
    """`@odata.count` (at most 5,000) and, when asked for, Dataverse's total-record-count
    annotations (Microsoft Learn, "Count rows using OData"): the capped count and
    whether more rows matched; without `$count=true` the total is -1."""
    out: dict[str, Any] = {}
    if count is not None:
        out["@odata.count"] = min(count, COUNT_LIMIT)
    if annotations.wants(TOTAL_COUNT):
        out[f"@{TOTAL_COUNT}"] = min(count, COUNT_LIMIT) if count is not None else -1
    if annotations.wants(TOTAL_COUNT_EXCEEDED):
        out[f"@{TOTAL_COUNT_EXCEEDED}"] = count is not None and count > COUNT_LIMIT
    return out


def _get_collection(
    request: Request,
    state: EmulatorState,
    entity: Entity,
    params: dict[str, str],
    annotations: AnnotationFilter,
    headers: dict[str, str],
    *,
    related: tuple[Entity, str, Node] | None = None,
) -> Response:
    """A collection, paged when the client asks `Prefer: odata.maxpagesize=N`.

    Microsoft Learn, "Page results using OData": `$top` together with
    `odata.maxpagesize` is ignored; a full page comes with an `@odata.nextLink`
    carrying an opaque `$skiptoken` (here: an encoded offset). With a nested
    `$expand` the page size also pages every expanded collection ("Join tables").
    `related` is `(owner, key, link condition)` for `contacts(<id>)/<nav>`.
    """
    token = params.pop("$skiptoken", None)
    offset = _decode_skiptoken(token) if token is not None else 0
    options = parse_options(params, entity)
    if related is not None:
        link = related[2]
        combined = (
            link
            if options.filter is None
            else Logical(op=LogicalOp.AND, operands=(link, options.filter))
        )
        options = dataclasses.replace(options, filter=combined)
    page = max_page_size(request.headers.get("prefer", ""))
    next_link = None
    if page is None:
        rows, count = state.store.query(entity, options, offset=offset)
    else:
        page = min(page, MAX_TOP)
        options = dataclasses.replace(options, top=None)  # documented: $top is ignored
        rows, count = state.store.query(
            entity,
            options,
            offset=offset,
            limit=page + 1,
            expand_page=page if options.nested_expand else None,
        )
        if len(rows) > page:
            rows = rows[:page]
            next_link = str(
                request.url.include_query_params(**{"$skiptoken": encode_skiptoken(offset + page)})
            )
        headers = _with_applied(headers, f"odata.maxpagesize={page}")
    url = api_url(request)
    rendering = Rendering(
        annotations=annotations,
        api_url=url,
        nested=options.nested_expand,
        page_size=page if options.nested_expand else None,
    )
    body: dict[str, Any] = {"@odata.context": _context(url, entity, options, False)}
    body.update(_count_annotations(count, annotations))
    body["value"] = [to_json(entity, r, options, rendering) for r in rows]
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return odata_json(body, headers=headers)


def _decode_skiptoken(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["offset"]
    except (ValueError, KeyError, TypeError, UnicodeEncodeError):
        raise bad_query("The $skiptoken is not valid.") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**31:
        raise bad_query("The $skiptoken is not valid.")
    return offset


def _get_related(
    request: Request,
    state: EmulatorState,
    entity: Entity,
    key: str,
    nav_name: str,
    annotations: AnnotationFilter,
) -> Response:
    """`contacts(<id>)/incident_customer_contacts`: a filtered collection (and the target
    of every `<nav>@odata.nextLink`), paged like any collection."""
    nav = entity.navigations.get(nav_name)
    if nav is None or nav.kind is not NavKind.COLLECTION:
        raise ODataError(
            404, ErrorCode.RESOURCE_NOT_FOUND, f"Resource not found for the segment '{nav_name}'."
        )
    if state.store.get(entity, key) is None:
        raise records.not_found(entity, key)
    # Combine as trees, not text: a client filter such as "x) or (1 eq 1" must not be able
    # to escape the link condition. GUIDs are unique across tables, so the key suffices.
    link: Node = Compare(
        op=CompareOp.EQ,
        left=Property(name=nav.remote_column),
        right=Literal(kind=LiteralKind.GUID, value=key),
    )
    return _get_collection(
        request,
        state,
        ENTITIES[nav.target],
        dict(request.query_params),
        annotations,
        _preference_applied(annotations),
        related=(entity, key, link),
    )


def _preference_applied(annotations: AnnotationFilter) -> dict[str, str]:
    if not annotations.any:
        return {}
    return {"Preference-Applied": f'odata.include-annotations="{",".join(annotations.patterns)}"'}


async def _body(request: Request) -> object:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # stop reading at the limit instead of buffering all
        size += len(chunk)
        if size > MAX_BODY:
            raise ODataError(
                413, ErrorCode.PAYLOAD, f"The request body is larger than {MAX_BODY} bytes."
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise bad_payload(
            "Error identified in Payload provided by the user: the body is not valid JSON."
        ) from None


def _entity_id(request: Request, entity: Entity, key: str) -> str:
    return f"{api_url(request)}{entity.set_name}({key})"


def _representation_options(request: Request, entity: Entity) -> QueryOptions:
    """Validate `$select`/`$expand` of a write before writing, so a bad one changes nothing."""
    return parse_options(dict(request.query_params), entity)


def _written(
    request: Request,
    entity: Entity,
    record: dict[str, Any],
    options: QueryOptions,
    *,
    created: bool,
) -> Response:
    representation, annotations = parse_prefer(request.headers.get("prefer", ""))
    key = record[entity.key]
    headers = {"OData-EntityId": _entity_id(request, entity, key), "ETag": etag(record)}
    if not representation:
        return Response(status_code=204, headers={**ODATA_HEADERS, **headers})
    body: dict[str, Any] = {
        "@odata.context": _context(api_url(request), entity, options, single=True)
    }
    body.update(to_json(entity, record, options, Rendering(annotations=annotations)))
    headers["Preference-Applied"] = "return=representation"
    return odata_json(body, 201 if created else 200, headers)


async def _post(request: Request, state: EmulatorState, entity: Entity) -> Response:
    options = _representation_options(request, entity)
    payload = parse_payload(entity, await _body(request))
    record = records.create(state.store, entity, payload, state.rng)
    return _written(request, entity, record, options, created=True)


async def _patch(request: Request, state: EmulatorState, entity: Entity, key: str) -> Response:
    options = _representation_options(request, entity)
    payload = parse_payload(entity, await _body(request))
    current = state.store.get(entity, key)
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    if current is None:
        if if_match is not None:
            raise records.not_found(entity, key)  # If-Match: * forbids the upsert's create
        record = records.create(state.store, entity, payload, state.rng, key=key)
        return _written(request, entity, record, options, created=True)
    if if_none_match == "*":
        raise ODataError(
            412, ErrorCode.DUPLICATE_RECORD, "A record with matching key values already exists."
        )
    if if_match not in (None, "*") and if_match != etag(current):
        raise ODataError(
            412,
            ErrorCode.VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    record = records.update(state.store, entity, key, payload)
    return _written(request, entity, record, options, created=False)


def _delete(request: Request, state: EmulatorState, entity: Entity, key: str) -> Response:
    if_match = request.headers.get("if-match")
    current = state.store.get(entity, key)
    if current is None:
        raise records.not_found(entity, key)
    if if_match not in (None, "*") and if_match != etag(current):
        raise ODataError(
            412,
            ErrorCode.VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    records.delete(state.store, entity, key)
    return Response(status_code=204, headers=ODATA_HEADERS)
