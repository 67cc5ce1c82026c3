"""Native dipflow flow -> Flow Designer export (JSON), the importer's reverse.

What the export writes is what the importer reads (the properties of
`dipflow.flow.webex.activities`), so import -> export -> import gives the same flow.
Activities keep the Webex id of their `origin` (a flow imported from Webex goes back
with the same ids); others get a stable id made from the flow's and activity's names.
Behaviour Flow Designer cannot express (a menu that re-prompts, an HTTP request with an
error output, a business-hours schedule written in the flow rather than named by id)
fails the export with every such problem listed, as the import does the other way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from dipflow.flow.model import (
    ActivityBase,
    BlindTransferActivity,
    BusinessHoursActivity,
    CallbackActivity,
    CaseActivity,
    CollectDigitsActivity,
    ConditionActivity,
    DisconnectActivity,
    EndActivity,
    FeedbackActivity,
    Flow,
    GoToActivity,
    HttpRequestActivity,
    MenuActivity,
    ParseActivity,
    PlayMessageActivity,
    PlayMusicActivity,
    Prompt,
    QueueContactActivity,
    QueueLookupActivity,
    QueueToAgentActivity,
    ScreenPopActivity,
    SetCallerIdActivity,
    SetVariableActivity,
    StartActivity,
    StartMediaStreamActivity,
    SubflowActivity,
    UnsupportedActivity,
    VirtualAgentActivity,
)
from dipflow.flow.webex.activities import WEBEX_DEFAULT_MUSIC
from dipflow.flow.webex.errors import ImportProblem, WebexImportError
from dipflow.flow.webex.handoff import export_goto, export_media_stream, export_subflow
from dipflow.flow.webex.importer import EVENT_NAMES
from dipflow.flow.webex.skills import export_priority, export_skills

_WEBEX_EVENTS = {native: webex for webex, native in EVENT_NAMES.items()}
_TYPES = {
    "string": "STRING",
    "integer": "INTEGER",
    "decimal": "DECIMAL",
    "boolean": "BOOLEAN",
    "datetime": "DATETIME",
    "json": "JSON",
}
_CONDITIONS = {
    "success": "default",
    "no_input": "timeout",
    "handled": "ENDED",
    "escalated": "ESCALATE",
    "insufficient_data": "insufficientdata",
    "working_hours": "workingHours",
}
_SINGLE_VARIABLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}$")
_LOOKUPS = {"email": "agentEmail", "id": "agentId", "name": "agentName"}

_PRIORITY_PROBLEM = "priority {!r}: Flow Designer takes P1..P10 or a variable holding one"


class WebexExportError(WebexImportError):
    """The flow uses behaviour Flow Designer cannot express; `problems` lists each."""


class _Exporter:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.problems: list[ImportProblem] = []
        self.ids: dict[tuple[str, str], str] = {}

    def problem(self, activity_id: str, message: str) -> None:
        self.problems.append(
            ImportProblem(file=self.flow.name, message=message, activity_name=activity_id)
        )

    def webex_id(self, graph: str, activity_id: str, activity: ActivityBase) -> str:
        key = (graph, activity_id)
        if key not in self.ids:
            origin = activity.origin or ""
            if origin.startswith("webex:"):
                self.ids[key] = origin.removeprefix("webex:")
            else:
                name = f"dipflow:{self.flow.name}:{graph}:{activity_id}"
                self.ids[key] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        return self.ids[key]

    # -- activities ---------------------------------------------------------------------

    def prompt(self, prompt: Prompt) -> dict[str, Any]:
        props: dict[str, Any] = {"promptsTts": None, "prompts": []}
        if prompt.text:
            props["promptsTts"] = [{"type": "tts", "name": prompt.text, "value": prompt.text}]
        if prompt.audio:
            kind = "audioPromptVariable" if "{{" in prompt.audio else "audioFile"
            props["prompts"] = [{"type": kind, "value": prompt.audio}]
        if prompt.language:
            # Flow Designer names a voice; the language is what dipflow keeps of it.
            props["voiceLanguage_name"] = f"{prompt.language}-Standard-A"
        props["speakingRate"] = prompt.rate
        props["volumeGainDb"] = prompt.gain_db
        return props

    def queue(self, value: str, key: str) -> dict[str, Any]:
        if value in self.flow.queues:
            return {key: value}  # an id: Webex names queues by id
        return {key: value, f"{key}_name": value}

    def properties(self, ident: str, activity: ActivityBase) -> dict[str, Any] | None:
        match activity:
            case StartActivity():
                return {"activityName": "NewPhoneContact", "event": "NewPhoneContact"}
            case SetVariableActivity():
                return {
                    "activityName": "set-variable",
                    "srcVariable": activity.variable,
                    "expr": activity.value,
                }
            case PlayMessageActivity():
                return {"activityName": "play-message", **self.prompt(activity.prompt)}
            case MenuActivity():
                return self.menu(ident, activity)
            case HttpRequestActivity():
                return self.http(ident, activity)
            case ConditionActivity():
                return {"activityName": "condition-activity", "expression": activity.expression}
            case QueueContactActivity():
                return self.queue_contact(ident, activity)
            case PlayMusicActivity():
                audio = WEBEX_DEFAULT_MUSIC if activity.audio == "hold" else activity.audio
                return {
                    "activityName": "play-music",
                    "prompt": audio,
                    "duration": -1 if activity.duration_s is None else activity.duration_s,
                }
            case DisconnectActivity():
                return {"activityName": "disconnect-contact"}
            case ScreenPopActivity():
                return {
                    "activityName": "screen-pop",
                    "screenPopUrl": activity.url,
                    "queryParameters": dict(activity.query),
                    "screenPopDesktopLabel": activity.label,
                    "target": "newBrowserTab"
                    if activity.target.value == "new_tab"
                    else "insideDesktop",
                }
            case EndActivity():
                return {"activityName": "end"}
            case CollectDigitsActivity():
                return {
                    "activityName": "ivr-collectdigits",
                    **self.prompt(activity.prompt),
                    "minDigits": activity.min_digits,
                    "maxDigits": activity.max_digits,
                    "terminatorSymbol": activity.terminator,
                    "entryTimeout": activity.entry_timeout_s,
                    "interDigitTimeout": activity.inter_digit_timeout_s,
                    "interruptible": activity.interruptible,
                }
            case CaseActivity():
                return {
                    "activityName": "case-statement",
                    "expression": activity.expression,
                    "menuLinks": list(activity.cases),
                    "menuLinks_input": list(activity.cases.values()),
                }
            case ParseActivity():
                return {
                    "activityName": "parse-activity",
                    "inputVariable": activity.input,
                    "contentType": activity.content_type.value.upper(),
                    "outputVariableArray": [
                        {"outputVariable": o.variable, "jsonPathExp": o.path}
                        for o in activity.parse
                    ],
                }
            case _:
                return self.routing(ident, activity)

    def routing(self, ident: str, activity: ActivityBase) -> dict[str, Any] | None:
        match activity:
            case QueueToAgentActivity():
                props: dict[str, Any] = {
                    "activityName": "queue-to-agent",
                    "destinationVariable": activity.agent,
                    "destinationLookupType": _LOOKUPS[activity.lookup.value],
                    "parkContactToggle": activity.park,
                    **self.queue(activity.reporting_queue, "reportingQueue"),
                }
                if activity.recovery_queue:
                    props.update(self.queue(activity.recovery_queue, "recoveryQueue"))
                priority = export_priority(activity.priority)
                if priority is None:
                    self.problem(ident, _PRIORITY_PROBLEM.format(activity.priority))
                elif priority:
                    props.update(priorityToggle=True, **priority)
                return props
            case QueueLookupActivity():
                return {
                    "activityName": "queue-lookup",
                    **self.queue(activity.queue, "destination"),
                    "ewtLookbackMinutes": activity.lookback_minutes,
                }
            case VirtualAgentActivity():
                props = {
                    "activityName": "ivr-virtualassistantvoice",
                    "connector": activity.connector,
                    "eventData": json.dumps(activity.parameters) if activity.parameters else "",
                    "eventName": activity.event_name or "",
                }
                if activity.language:
                    props.update(overrideLanguageToggle=True, inputLanguage=activity.language)
                return props
            case CallbackActivity():
                props = {"activityName": "callback", "callbackDn": activity.number}
                if activity.caller_id:
                    props["callbackAni"] = activity.caller_id
                if activity.queue:
                    props.update(self.queue(activity.queue, "callbackQueue"))
                    props["callbackQueue_radioName"] = "setToValue"
                return props
            case BlindTransferActivity():
                return {"activityName": "blind-transfer", "transfertodn": activity.destination}
            case SetCallerIdActivity():
                return {"activityName": "SetCallerID", "callerId": activity.caller_id}
            case FeedbackActivity():
                return {"activityName": "Feedback-V2", "surveyMethod": activity.survey}
            case BusinessHoursActivity() if activity.schedule_id is not None:
                return {"activityName": "business-hours", "businessHoursId": activity.schedule_id}
            case GoToActivity():
                return export_goto(activity.flow)
            case StartMediaStreamActivity():
                return export_media_stream(activity.destination)
            case SubflowActivity():
                return export_subflow(activity.flow, activity.inputs, activity.returns)
            case UnsupportedActivity():
                return {**activity.properties, "activityName": activity.original_kind}
        self.problem(ident, f"a {activity.kind} has no Flow Designer equivalent")
        return None

    def menu(self, ident: str, activity: MenuActivity) -> dict[str, Any]:
        if activity.max_tries != 1 or activity.no_input_prompt or activity.invalid_prompt:
            self.problem(
                ident,
                "Flow Designer plays a menu once: wire `no_input`/`invalid` back to the "
                "menu instead of `max_tries` and retry prompts",
            )
        return {
            "activityName": "ivr-menu",
            **self.prompt(activity.prompt),
            "menuLinks": list(activity.choices),
            "menuLinks_input": list(activity.choices.values()),
            "entryTimeout": activity.entry_timeout_s,
            "interruptible": activity.interruptible,
        }

    def http(self, ident: str, activity: HttpRequestActivity) -> dict[str, Any]:
        wired = activity.wiring()
        if not activity.single_output and ({"error", "timeout"} & set(wired)):
            self.problem(
                ident,
                "Flow Designer's HTTP Request has one output: check "
                f"`{ident}.httpStatusCode` after it instead of wiring `error`/`timeout`",
            )
        props: dict[str, Any] = {
            "activityName": "http-request-v2",
            "httpRequestMethod": activity.method.value,
            "httpQueryParameters": dict(activity.query),
            "httpRequestHeaders": dict(activity.headers),
            "httpContentType": activity.content_type,
            "httpResponseTimeout": activity.timeout_ms,
            "retryAttempts": activity.retries,
            "outputVariableArray": [
                {"outputVariable": o.variable, "jsonPathExp": o.path} for o in activity.parse
            ],
        }
        if activity.connector is not None:
            props.update(
                authenticated=True,
                connectorId_name=activity.connector,
                httpRequestPath=activity.path,
            )
        else:
            props.update(authenticated=False, httpRequestUrl=activity.url)
        if activity.body is not None:
            body = activity.body
            props["httpRequestBody"] = body if isinstance(body, str) else json.dumps(body)
        return props

    def queue_contact(self, ident: str, activity: QueueContactActivity) -> dict[str, Any]:
        if activity.max_wait_s is not None:
            self.problem(ident, "Flow Designer's Queue Contact has no maximum wait")
        variable = _SINGLE_VARIABLE.match(activity.queue)
        props: dict[str, Any] = {"activityName": "queue-contact"}
        if variable is not None:
            props.update(queueRadioGroup="variableQueue", destinationVariable=variable.group(1))
        else:
            props.update(queueRadioGroup="staticQueue", **self.queue(activity.queue, "destination"))
        priority = export_priority(activity.priority)
        if priority is None:
            self.problem(ident, _PRIORITY_PROBLEM.format(activity.priority))
        elif priority:
            props.update(toggle=True, **priority)
        if activity.fallback_queue:
            props.update(self.queue(activity.fallback_queue, "fallbackQueue"))
        props["skills"] = export_skills(activity.skills, activity.relaxation)
        return props

    # -- graphs ---------------------------------------------------------------------------

    def condition(self, activity: ActivityBase, output: str) -> str:
        if isinstance(activity, StartActivity | SetVariableActivity) and output == "out":
            return "out"
        if isinstance(activity, QueueLookupActivity) and output == "out":
            return "out"
        if output == "out":
            return "default"
        if output == "error" and isinstance(activity, QueueContactActivity | BlindTransferActivity):
            return "failure"
        return _CONDITIONS.get(output, output)

    def process(
        self, graph: str, activities: Mapping[str, ActivityBase]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        nodes: dict[str, Any] = {}
        links: list[dict[str, Any]] = []
        for ident, activity in activities.items():
            props = self.properties(ident, activity)
            if props is None:
                continue
            webex_id = self.webex_id(graph, ident, activity)
            # A screen pop's `label` is its desktop label, not the activity's name.
            name = ident if isinstance(activity, ScreenPopActivity) else activity.label or ident
            props = {"name": name, **props}
            if activity.description:
                props["description"] = activity.description
            nodes[webex_id] = {"id": webex_id, "name": name, "properties": props}
            for output, target in activity.wiring().items():
                target_activity = activities.get(target)
                if target_activity is None:
                    continue
                links.append(
                    {
                        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{webex_id}:{output}")),
                        "sourceActivityId": webex_id,
                        "targetActivityId": self.webex_id(graph, target, target_activity),
                        "conditionExpr": self.condition(activity, output),
                    }
                )
        return nodes, links

    def variables(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for variable in self.flow.variables:
            out.append(
                {
                    "name": variable.name,
                    "type": _TYPES[variable.type.value],
                    "value": variable.default,
                    "description": variable.description or variable.name,
                    "isCAD": variable.agent_visible,
                    "desktopLabel": variable.desktop_label or "",
                    "isAgentEditable": variable.agent_editable,
                    "isReportable": variable.reportable,
                    "isSecure": variable.secure,
                }
            )
        return out

    def event_flows(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        links: list[dict[str, Any]] = []
        on_events: dict[str, str] = {}
        flows = [
            (_WEBEX_EVENTS[event.value], f"event:{event.value}", event_flow)
            for event, event_flow in self.flow.event_flows.items()
        ] + [(name, f"kept:{name}", flow) for name, flow in self.flow.kept_event_flows.items()]
        for webex_event, graph, event_flow in flows:
            flow_nodes, flow_links = self.process(graph, event_flow.activities)
            trigger = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.flow.name}:{webex_event}"))
            nodes[trigger] = {
                "id": trigger,
                "name": webex_event,
                "group": "event",
                "properties": {"name": webex_event, "eventSpecificationName": webex_event},
            }
            start = event_flow.activities[event_flow.start]
            links.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{trigger}:out")),
                    "sourceActivityId": trigger,
                    "targetActivityId": self.webex_id(graph, event_flow.start, start),
                    "conditionExpr": "out",
                }
            )
            nodes.update(flow_nodes)
            links.extend(flow_links)
            on_events[webex_event] = trigger
        return {
            "eventsMap": {
                "GLOBAL_EVENTS": {
                    "id": "GLOBAL_EVENTS",
                    "process": {"activities": nodes, "links": links},
                    "onEvents": on_events,
                }
            }
        }

    def run(self) -> dict[str, Any]:
        nodes, links = self.process("main", self.flow.activities)
        export = {
            "name": self.flow.name,
            "description": self.flow.description,
            "variables": self.variables(),
            "process": {"activities": nodes, "links": links},
            "eventFlows": self.event_flows(),
        }
        if self.problems:
            raise WebexExportError(self.problems)
        return export


def export_webex(flow: Flow) -> dict[str, Any]:
    """The Flow Designer export of `flow`; `WebexExportError` lists what cannot be."""
    return _Exporter(flow).run()
