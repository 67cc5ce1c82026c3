"""Flow Designer export (JSON) -> native dipflow flow. Layer 1 (flow).

The import is faithful: the imported flow behaves as it does in Webex, defects
included (the linter, not the importer, reports them). Activities are named by
their Flow Designer names; their Webex ids are kept in `origin`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dipflow.flow.checks import KIND_CLASSES
from dipflow.flow.model import NEVER_RAISED, EventName, Flow
from dipflow.flow.webex import handoff
from dipflow.flow.webex.activities import CONVERTERS, Converter, ImportOptions, native_output
from dipflow.flow.webex.errors import ImportProblem, WebexImportError

# Flow Designer event names -> dipflow event flows.
EVENT_NAMES = {
    "AgentContactAssigned": "agent_answered",
    "AgentOfferContact": "agent_offered",
    "FCAsk(ContactLastAgentRemoved)": "agent_disconnected",
    "ContactEnded": "contact_ended",
    "GlobalErrorHandling": "global_error",
    "ContactCallbackFailed": "callback_failed",
    "ContactPredial": "predial",
    "ContactOutboundCampaignResult": "outbound_campaign_result",
    "ContactAniUpdated": "ani_updated",
    "ContactReservationStarted": "reservation_started",
}
_NOT_HERE = {
    "predial": "outbound campaigns, which dipflow does not run",
    "outbound_campaign_result": "outbound campaigns, which dipflow does not run",
    "reservation_started": "queue reservations, which dipflow does not make",
}
NEVER_RAISED_NOTE = (
    "Webex raises {event} for {why}: this event flow is kept as imported and never runs here."
)
UNKNOWN_EVENT_NOTE = (
    "dipflow does not know the Webex event {event}: this event flow is kept as imported "
    "(kept_event_flows) and never runs here."
)
START_KINDS = frozenset({"NewPhoneContact", "NewContact", "NewSubFlowStart"})
"""The start activity: `NewPhoneContact`, or the newer `NewContact` (event NewPhoneContact);
`NewSubFlowStart` in a subflow's export."""

ALL_CONVERTERS: dict[str, Converter] = {
    **CONVERTERS,
    "hand-off": handoff.goto,
    "subflow-handoff": handoff.subflow,
    "start-media-stream": handoff.media_stream,
}

_VARIABLE_TYPES = {
    "STRING": "string",
    "INTEGER": "integer",
    "DECIMAL": "decimal",
    "FLOAT": "decimal",
    "BOOLEAN": "boolean",
    "DATETIME": "datetime",
    "JSON": "json",
}

_IDENTIFIER_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


@dataclass(slots=True)
class ImportResult:
    flow: Flow
    document: dict[str, Any]
    """The native flow as plain data, ready to write as YAML."""
    notes: list[str] = field(default_factory=list)
    """What the import decided on its own (ignored events, renamed ids), for the user."""
    unsupported: list[ImportProblem] = field(default_factory=list)
    """What became `unsupported` activities (only with `allow_partial`)."""


@dataclass(slots=True)
class _Graph:
    """One Flow Designer process: activities by id and links."""

    activities: dict[str, Mapping[str, Any]]
    links: list[Mapping[str, Any]]


class _Importer:
    def __init__(self, filename: str, options: ImportOptions, allow_partial: bool) -> None:
        self.filename = filename
        self.options = options
        self.allow_partial = allow_partial
        self.problems: list[ImportProblem] = []
        self.unsupported: list[ImportProblem] = []
        self.notes: list[str] = []
        self.native_ids: dict[str, str] = {}
        self.queue_ids: list[str] = []
        self.schedule_ids: list[str] = []
        self.kept_events: dict[str, dict[str, Any]] = {}
        """Queues the export names only by id, in the order met."""
        self.links_from: dict[str, list[str]] = {}
        """Webex activity id -> the conditions of the links leaving it."""

    def problem(self, message: str, activity: Mapping[str, Any] | None = None) -> None:
        self.problems.append(self._problem(message, activity))

    def _problem(self, message: str, activity: Mapping[str, Any] | None) -> ImportProblem:
        return ImportProblem(
            file=self.filename,
            message=message,
            activity_name=str(activity.get("name")) if activity else None,
            activity_id=str(activity.get("id")) if activity else None,
        )

    # -- structure -----------------------------------------------------------------

    def graph(self, process: Any, where: str) -> _Graph | None:
        if not isinstance(process, Mapping):
            self.problem(f"{where}: `process` is missing or not an object")
            return None
        activities = process.get("activities")
        links = process.get("links", [])
        if not isinstance(activities, Mapping):
            self.problem(f"{where}: `process.activities` is missing or not an object")
            return None
        if not isinstance(links, list):
            self.problem(f"{where}: `process.links` is not a list")
            return None
        checked: dict[str, Mapping[str, Any]] = {}
        for key, activity in activities.items():
            if not isinstance(activity, Mapping):
                self.problem(f"{where}: activity {key!r} is not an object")
                continue
            if not activity.get("id"):
                self.problem(f"{where}: activity {key!r} has no `id`", activity)
                continue
            if not isinstance(activity.get("properties"), Mapping):
                self.problem("activity has no `properties` object", activity)
                continue
            checked[str(activity["id"])] = activity
        good_links: list[Mapping[str, Any]] = []
        for link in links:
            if isinstance(link, Mapping):
                self.links_from.setdefault(str(link.get("sourceActivityId")), []).append(
                    str(link.get("conditionExpr", "default"))
                )
        for index, link in enumerate(links):
            if not isinstance(link, Mapping):
                self.problem(f"{where}: link #{index} is not an object")
                continue
            source, target = link.get("sourceActivityId"), link.get("targetActivityId")
            for end, value in (("sourceActivityId", source), ("targetActivityId", target)):
                if value not in checked:
                    self.problem(
                        f"{where}: link {link.get('id', f'#{index}')} has {end} {value!r}, "
                        "which is no activity of this flow"
                    )
            if source in checked and target in checked:
                good_links.append(link)
        return _Graph(activities=checked, links=good_links)

    def native_id(self, activity: Mapping[str, Any]) -> str:
        webex_id = str(activity["id"])
        if webex_id in self.native_ids:
            return self.native_ids[webex_id]
        name = str(activity.get("name") or activity.get("properties", {}).get("name") or "")
        base = _IDENTIFIER_UNSAFE.sub("_", name) or "Activity"
        if base[0].isdigit():
            base = f"A_{base}"
        candidate, n = base, 2
        taken = set(self.native_ids.values())
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        if candidate != name:
            self.notes.append(f"activity {name!r} (id {webex_id}) is named {candidate!r}")
        self.native_ids[webex_id] = candidate
        return candidate

    # -- activities ----------------------------------------------------------------

    def activity_kind(self, activity: Mapping[str, Any]) -> str:
        props = activity["properties"]
        return str(props.get("activityName") or props.get("event") or "")

    def convert(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        kind = self.activity_kind(activity)
        converter = ALL_CONVERTERS.get(kind)
        origin = f"webex:{activity['id']}"
        description = activity["properties"].get("description")
        if converter is None:
            return self.unsupported_activity(
                activity, kind, f"activity kind {kind!r} is not supported by dipflow"
            )
        try:
            converted = converter(activity["properties"], self.options)
        except (TypeError, ValueError) as exc:
            self.problem(f"cannot read its properties: {exc}", activity)
            return {"kind": "end", "origin": origin}
        if converted.unsupported:
            listed = ", ".join(converted.unsupported)
            return self.unsupported_activity(activity, kind, f"unsupported properties: {listed}")
        for queue in converted.queue_ids:
            if queue not in self.queue_ids:
                self.queue_ids.append(queue)
        for schedule in converted.schedule_ids:
            if schedule not in self.schedule_ids:
                self.schedule_ids.append(schedule)
        who = activity.get("name") or activity["id"]
        self.notes.extend(f"{who}: {note}" for note in converted.notes)
        fields = {**converted.fields, "origin": origin}
        if isinstance(description, str) and description:
            fields["description"] = description
        label = activity.get("name")
        if isinstance(label, str) and label != self.native_id(activity):
            fields["label"] = label
        return fields

    def unsupported_activity(
        self, activity: Mapping[str, Any], kind: str, message: str
    ) -> dict[str, Any]:
        problem = self._problem(message, activity)
        if not self.allow_partial:
            self.problems.append(problem)
        else:
            self.unsupported.append(problem)
        outputs: list[str] = []
        for condition in self.links_from.get(str(activity["id"]), []):
            output = native_output("unsupported", condition)
            if output not in outputs:
                outputs.append(output)
        return {
            "kind": "unsupported",
            "original_kind": kind or "?",
            "original_outputs": outputs,
            "properties": {
                k: v for k, v in activity["properties"].items() if not k.startswith("_")
            },
            "origin": f"webex:{activity['id']}",
            "reason": message,
            "description": message,
        }

    def wire(self, graph: _Graph, activities: dict[str, dict[str, Any]]) -> None:
        """Turn Flow Designer links into each activity's `on` map."""
        for link in graph.links:
            source = graph.activities[str(link["sourceActivityId"])]
            target = graph.activities[str(link["targetActivityId"])]
            if source["id"] not in self.native_ids:
                continue  # an event trigger: it starts an event flow, it is no activity
            source_id, target_id = self.native_id(source), self.native_id(target)
            if source_id not in activities or target_id not in activities:
                continue
            native = activities[source_id]
            output = native_output(str(native["kind"]), str(link.get("conditionExpr", "default")))
            on: dict[str, str] = native.setdefault("on", {})
            cls = KIND_CLASSES.get(str(native["kind"]))
            if cls is not None and output not in (*cls.instance_outputs(native), *cls.outputs):
                self.problem(
                    f"a link leaves output {link.get('conditionExpr')!r}, which a "
                    f"{native['kind']} does not have",
                    source,
                )
                continue
            if output in on and on[output] != target_id:
                self.problem(f"two links leave output {output!r}", source)
            on[output] = target_id

    def reachable(self, graph: _Graph, start: str) -> list[str]:
        """Webex ids reachable from `start` (a Webex id), in discovery order."""
        successors: dict[str, list[str]] = {}
        for link in graph.links:
            successors.setdefault(str(link["sourceActivityId"]), []).append(
                str(link["targetActivityId"])
            )
        seen: list[str] = [start]
        stack = [start]
        while stack:
            for nxt in successors.get(stack.pop(), []):
                if nxt not in seen:
                    seen.append(nxt)
                    stack.append(nxt)
        return seen

    def activities_of(self, graph: _Graph, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {self.native_id(graph.activities[i]): self.convert(graph.activities[i]) for i in ids}

    # -- whole export --------------------------------------------------------------

    def variables(self, raw: Any) -> list[dict[str, Any]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem("`variables` is not a list")
            return []
        out: list[dict[str, Any]] = []
        for index, var in enumerate(raw):
            if not isinstance(var, Mapping) or not var.get("name"):
                self.problem(f"variable #{index} has no `name`")
                continue
            vtype = _VARIABLE_TYPES.get(str(var.get("type", "STRING")).upper())
            if vtype is None:
                self.problem(f"variable {var['name']!r} has unknown type {var.get('type')!r}")
                continue
            native: dict[str, Any] = {"name": var["name"], "type": vtype}
            if var.get("value") is not None:
                native["default"] = var["value"]
            if var.get("description") and var.get("description") != var["name"]:
                native["description"] = var["description"]
            for webex_flag, flag in (
                ("isCAD", "agent_visible"),
                ("isAgentEditable", "agent_editable"),
                ("isReportable", "reportable"),
                ("isSecure", "secure"),
            ):
                if var.get(webex_flag) is True:
                    native[flag] = True
            if var.get("desktopLabel"):
                native["desktop_label"] = var["desktopLabel"]
            out.append(native)
        return out

    def main_flow(self, graph: _Graph) -> tuple[str | None, dict[str, dict[str, Any]]]:
        starts = [a for a in graph.activities.values() if self.activity_kind(a) in START_KINDS]
        if len(starts) != 1:
            self.problem(
                "the main flow needs one NewPhoneContact (or NewContact) start activity, "
                f"found {len(starts)}"
            )
            return None, {}
        # Every activity of the main process is imported, reachable or not: the linter
        # reports the unreachable ones, the importer keeps the flow whole. Reachable
        # ones come first, in the order a caller meets them.
        order = self.reachable(graph, str(starts[0]["id"]))
        order += [i for i in graph.activities if i not in order]
        activities = self.activities_of(graph, order)
        self.wire(graph, activities)
        return self.native_id(starts[0]), activities

    def event_flows(self, raw: Any) -> dict[str, dict[str, Any]]:
        if raw is None:
            return {}
        events = raw.get("eventsMap", {}).get("GLOBAL_EVENTS") if isinstance(raw, Mapping) else None
        if not isinstance(events, Mapping):
            self.problem("`eventFlows.eventsMap.GLOBAL_EVENTS` is missing or not an object")
            return {}
        graph = self.graph(events.get("process"), "event flows")
        on_events = events.get("onEvents", {})
        if graph is None or not isinstance(on_events, Mapping):
            return {}
        flows: dict[str, dict[str, Any]] = {}
        for event_name, trigger_id in on_events.items():
            trigger = graph.activities.get(str(trigger_id))
            if trigger is None:
                self.problem(f"onEvents maps {event_name!r} to {trigger_id!r}, no such activity")
                continue
            ids = self.reachable(graph, str(trigger_id))[1:]
            native_event = EVENT_NAMES.get(str(event_name))
            if not ids:
                continue
            first = next(
                str(link["targetActivityId"])
                for link in graph.links
                if str(link["sourceActivityId"]) == str(trigger_id)
            )
            activities = self.activities_of(graph, ids)
            self.wire(graph, activities)
            flow: dict[str, Any] = {
                "start": self.native_id(graph.activities[first]),
                "activities": activities,
            }
            if native_event is None:
                # Never fail the import for an event: keep its flow, say it never runs.
                flow["note"] = UNKNOWN_EVENT_NOTE.format(event=event_name)
                self.notes.append(f"event {event_name}: {flow['note']}")
                self.kept_events[str(event_name)] = flow
                continue
            if EventName(native_event) in NEVER_RAISED:
                why = _NOT_HERE[native_event]
                flow["note"] = NEVER_RAISED_NOTE.format(event=event_name, why=why)
                self.notes.append(f"event {event_name}: {flow['note']}")
            flows[native_event] = flow
        return flows

    def run(self, export: Any) -> ImportResult:
        if not isinstance(export, Mapping):
            raise WebexImportError([ImportProblem(file=self.filename, message="not a JSON object")])
        if "process" not in export:
            raise WebexImportError(
                [
                    ImportProblem(
                        file=self.filename, message="no `process`: not a Flow Designer export"
                    )
                ]
            )
        variables = self.variables(export.get("variables"))
        graph = self.graph(export.get("process"), "main flow")
        start, activities = self.main_flow(graph) if graph else (None, {})
        event_flows = self.event_flows(export.get("eventFlows"))
        if self.problems:
            raise WebexImportError(self.problems)
        name = _IDENTIFIER_UNSAFE.sub("-", str(export.get("name") or Path(self.filename).stem))
        document: dict[str, Any] = {
            "format": 1,
            "name": name,
            "description": str(export.get("description") or ""),
            "variables": variables,
            "start": start,
            "activities": activities,
            "event_flows": event_flows,
        }
        if self.queue_ids:
            document["queues"] = {q: self.options.queue_map.get(q) for q in self.queue_ids}
            unmapped = [q for q in self.queue_ids if not self.options.queue_map.get(q)]
            if unmapped:
                self.notes.append(
                    "queues named only by id, not mapped yet (--queue ID=NAME, or `queues:` "
                    f"in the configuration): {', '.join(unmapped)}"
                )
        if self.kept_events:
            document["kept_event_flows"] = self.kept_events
        if self.schedule_ids:
            document["schedules"] = dict.fromkeys(self.schedule_ids)
            self.notes.append(
                "business-hours schedules live in Control Hub, not mapped yet (`schedules:` "
                f"in the flow or the configuration): {', '.join(self.schedule_ids)}"
            )
        try:
            flow = Flow.model_validate(document)
        except ValidationError as exc:
            raise WebexImportError(
                [
                    ImportProblem(
                        file=self.filename,
                        message=f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
                    )
                    for err in exc.errors()
                ]
            ) from exc
        return ImportResult(flow, document, self.notes, self.unsupported)


def import_webex_export(
    export: Any,
    *,
    filename: str = "<export>",
    options: ImportOptions | None = None,
    allow_partial: bool = False,
) -> ImportResult:
    """Import an already parsed export; `WebexImportError` lists every problem."""
    return _Importer(filename, options or ImportOptions(), allow_partial).run(export)


def import_webex_file(
    path: Path, *, options: ImportOptions | None = None, allow_partial: bool = False
) -> ImportResult:
    """Read and import a Flow Designer export file."""
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WebexImportError(
            [ImportProblem(file=filename, message=f"cannot read: {exc}")]
        ) from exc
    try:
        export = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WebexImportError(
            [
                ImportProblem(
                    file=filename,
                    line=exc.lineno,
                    column=exc.colno,
                    message=f"not valid JSON: {exc.msg}",
                )
            ]
        ) from exc
    return import_webex_export(
        export, filename=filename, options=options, allow_partial=allow_partial
    )
