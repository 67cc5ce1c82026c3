"""The public Flow Designer exports in tests/webex/exports (see SOURCES.md there) import
strictly, load, lint, and each runs a scripted call to the end its author meant.

Every export is imported with nothing but queue and connector mappings, the YAML the
import writes is loaded back from text, and one call per export is played with
`dipflow.testing`: the caller presses what the lab guide or sample tells them to, the
HTTP hosts answer as their services would (the files name internet hosts; nothing here
leaves the machine), a virtual agent is scripted where the flow hands over to one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dipflow.engine.commands import Enqueue, StartVirtualAgent
from dipflow.flow.lint import Severity, lint_flow
from dipflow.flow.loader import load_flow_text
from dipflow.flow.model import Flow, QueueContactActivity
from dipflow.flow.webex import import_webex_file
from dipflow.flow.webex.activities import ImportOptions
from dipflow.testing import (
    BotOutcome,
    BotReply,
    HttpReply,
    SimulationResult,
    agent_hang_up,
    answer,
    press,
    run_flow,
)

EXPORTS = Path(__file__).parent / "exports"
FILES = sorted(p.name for p in EXPORTS.glob("*.json"))
BOT = "dialogflow"
"""The dipflow connector the exports' virtual-agent connectors are mapped to."""

# Lint errors that are true defects of the exports (found by reading them), not false
# positives: the caller's number pasted unescaped into a URL path.
KNOWN_DEFECTS: dict[str, set[tuple[str, str]]] = {
    "webexsamples-api__CJDS02_Voice.json": {("unquoted-caller-data", "GetIdentity")},
    "webexsamples-api__DF_CX_Flow.json": {("unquoted-caller-data", "GetCustomerName")},
}


def _queue_ids(name: str) -> list[str]:
    """The queues an export names only by id, as a strict import lists them."""
    result = import_webex_file(EXPORTS / name)
    return list(result.document.get("queues", {}))


def imported(name: str) -> Flow:
    """Import with queue ids mapped to readable names and virtual agents to `BOT`, then
    load the YAML the import writes, as `dipflow flow import webex -o` would."""
    queues = {queue: f"queue-{n}" for n, queue in enumerate(_queue_ids(name), start=1)}
    connectors = {
        str(a.get("connector")): BOT
        for a in _raw_activities(EXPORTS / name)
        if str(a.get("activityName", "")).startswith("ivr-virtualassistant")
    }
    result = import_webex_file(
        EXPORTS / name, options=ImportOptions(queue_map=queues, connector_map=connectors)
    )
    text = yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True)
    return load_flow_text(text, filename=name + ".yaml")


def _raw_activities(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [dict(a["properties"]) for a in data["process"]["activities"].values()]


@pytest.mark.parametrize("name", FILES)
def test_export_imports_strictly_loads_and_lints(name: str) -> None:
    flow = imported(name)
    assert all(name for name in flow.queues.values()), "every queue id is mapped"
    errors = {(f.rule, f.activity or "") for f in lint_flow(flow, minimum=Severity.ERROR)}
    assert errors == KNOWN_DEFECTS.get(name, set())


def test_unmapped_queue_ids_are_kept_and_reported() -> None:
    name = "ciscolivelabs__CL_1_start.json"
    result = import_webex_file(EXPORTS / name)
    queue = result.flow.activities["QueueContact_ys9"]
    assert isinstance(queue, QueueContactActivity)
    assert queue.queue == "f98926a4-a00d-4c92-86df-e9ba30de0ee1"
    assert result.flow.queues == {"f98926a4-a00d-4c92-86df-e9ba30de0ee1": None}
    findings = [f for f in lint_flow(result.flow) if f.rule == "unmapped-queue"]
    assert [f.severity for f in findings] == [Severity.ERROR]
    assert "f98926a4-a00d-4c92-86df-e9ba30de0ee1" in findings[0].message


def _no_global_error(result: SimulationResult) -> None:
    problems = [(e.activity, e.error) for e in result.trace if e.kind == "global_error"]
    assert problems == []


def _readback_callback(name: str, *, number: str, caller: list[Any]) -> SimulationResult:
    """The Cisco Live lab flows: the caller opts out of the queue, hears their number read
    back digit by digit, confirms it, and is called back; an agent takes the callback."""
    result = run_flow(
        imported(name),
        ani="+14155550123",
        caller=caller,
        agent=[answer(after=400, agent_id="a1", name="Ada"), agent_hang_up(after=460)],
        max_time=900,
    )
    _no_global_error(result)
    assert [c.number for c in result.callbacks] == [number]
    assert result.disconnected  # the caller's leg ends after the confirmation...
    assert any(e.kind == "callback_pending" for e in result.trace)  # ...the place stays
    assert result.finished  # the agent took the callback and hung up
    return result


def test_cl_readout_reads_the_number_back_and_calls_back() -> None:
    result = _readback_callback(
        "ciscolivelabs__CL_1_readout.json",
        number="+14155550123",
        caller=[press("1", when="opt_out")],
    )
    digits = [p for p in result.prompts if p[:-4].isdigit()]
    assert digits == [f"{d}.wav" for d in "4155550123"]
    assert result.queued == ["queue-1"]


def test_cl_readout_2_takes_a_new_number_with_collect_digits() -> None:
    """This lab stage collects and reads back a new number, but its Callback activity
    still dials `NewPhoneContact.ani` (the next stage fixes it): faithfully so here."""
    result = _readback_callback(
        "ciscolivelabs__CL_1_readout_2.json",
        number="+14155550123",
        caller=[
            press("1", when="opt_out"),
            press("2", when="confirmNumber"),  # "no, another number"
            press("6505550100", when="newNumber"),
            press("1", when="confirmNumber"),
        ],
    )
    assert result.variables["newNumber.DigitsEntered"] == "6505550100"
    assert result.variables["callbackANI"] == "6505550100"
    read_back = [p for p in result.prompts if p[:-4].isdigit()]
    assert read_back[-10:] == [f"{d}.wav" for d in "6505550100"]


def test_cl_sales_service_menu_then_callback() -> None:
    result = _readback_callback(
        "ciscolivelabs__CL_1_salesService.json",
        number="+14155550123",
        caller=[
            press("2", when="salesService"),
            press("1", when="opt_out"),
            press("1", when="confirmNumber"),
        ],
    )
    assert len(result.queued) == 1


@pytest.mark.parametrize(
    "name",
    [
        "ciscolivelabs__CL_1_salesService_lang.json",
        "ciscolivelabs__CL_1_salesService_lang_treatment.json",
    ],
)
def test_cl_spanish_caller_hears_spanish_prompts(name: str) -> None:
    result = _readback_callback(
        name,
        number="+14155550123",
        caller=[
            press("2", when="lang_menu"),
            press("1", when="salesService"),
            press("1", when="opt_out"),
            press("1", when="confirmNumber"),
        ],
    )
    assert "salesServiceMenu_ES.wav" in result.prompts
    assert "callback_confirm_ES.wav" in result.prompts
    if "treatment" in name:
        assert "sales_1_ES.wav" in result.prompts  # `{{treatment.bUnit}}`: a JSON variable


def test_cl_agent_routing_queues_to_the_ticket_owner() -> None:
    tickets = HttpReply(json=[{"agentEmail": "ada@example.com", "ticketID": "12345"}])
    result = run_flow(
        imported("ciscolivelabs__CL_1_salesService_lang_treatment_agentRouting.json"),
        caller=[press("2", when="salesService"), press("12345", when="collectTicket")],
        http={"getTicketInfo": tickets},
        agent=[answer(after=20, agent_id="ada", name="Ada"), agent_hang_up(after=80)],
        max_time=600,
    )
    _no_global_error(result)
    assert result.variables["collectTicket.DigitsEntered"] == "12345"
    (to_agent,) = [c for c in result.commands if isinstance(c, Enqueue) and c.agent]
    assert (to_agent.agent, to_agent.agent_lookup) == ("ada@example.com", "email")
    assert result.finished


def test_cl_start_calls_back_from_the_lab_number() -> None:
    result = _readback_callback(
        "ciscolivelabs__CL_1_start.json",
        number="+14155550123",
        caller=[press("1", when="opt_out")],
    )
    assert result.callbacks[0].caller_id == "+12027548691"


def test_unconfigured_template_queues_the_caller() -> None:
    """The lab's starting template: its message is empty (nothing plays) and its queue is
    not chosen (the activity's name stands for it, mapped like an id)."""
    result = run_flow(
        imported("ciscolivelabs__flow_template.json"),
        agent=[answer(after=15), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    assert result.queued == ["queue-1"]
    assert result.prompts == []  # no silence either: music plays until the agent answers
    assert result.finished


def test_dialogflow_es_escalation_reaches_an_agent() -> None:
    result = run_flow(
        imported("webexsamples-api__CCAI_Flow_DialogFlowES.json"),
        bots={"CustomGreeting": BotReply(outcome=BotOutcome.ESCALATED, after=20)},
        agent=[answer(after=10), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    (start,) = [c for c in result.commands if isinstance(c, StartVirtualAgent)]
    assert start.parameters["name"] == "Arunabh" and start.parameters["pin"] == "70843"
    assert result.queued == ["queue-1"] and result.finished


def test_dialogflow_es_without_a_connector_takes_the_error_path() -> None:
    result = run_flow(
        import_webex_file(EXPORTS / "webexsamples-api__CCAI_Flow_DialogFlowES.json").flow
    )
    (entry,) = [e for e in result.trace if e.activity == "CustomGreeting"]
    assert entry.output_taken == "error"
    assert entry.error is not None and "no virtual-agent connector" in entry.error
    assert "DisconnectContact1" in result.path and result.disconnected


def test_dialogflow_cx_escalation_data_is_parsed_for_the_agent() -> None:
    escalation = {
        "dialogflow.ccai.live-agent-escalation": {
            "call_reason": "reschedule",
            "appointment_date": "2026-03-14",
            "appointment_time": "15:30:00",
        }
    }
    result = run_flow(
        imported("webexsamples-api__DF_CX_Flow.json"),
        http={"GetCustomerName": HttpReply(json={"name": "Grace"})},
        bots={"VirtualAgent": BotReply(outcome=BotOutcome.ESCALATED, metadata=escalation)},
        agent=[answer(after=10), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    assert result.variables["Call_Reason"] == "reschedule"
    assert result.variables["DF_Appointment"].startswith("03-14-2026")
    assert result.queued == ["queue-1"] and result.finished


@pytest.mark.parametrize(
    "name",
    ["webexsamples-api__GiftCardVoiceFlow.json", "webexsamples-api__VoiceFlow_InstantConnect.json"],
)
def test_queue_samples_reach_an_agent(name: str) -> None:
    keys = HttpReply(json={"guest": [{"short": "g1"}], "host": [{"short": "h1"}]})
    # Only InstantConnect makes HTTP requests (a reply for an activity a flow lacks is refused).
    http = {"HTTPRequest_u4f": keys, "SendSMS": HttpReply(status=201)} if "Instant" in name else {}
    result = run_flow(
        imported(name),
        http=http,
        agent=[answer(after=10), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    assert result.queued == ["queue-1"] and result.finished
    if "Instant" in name:
        assert result.variables["guestKey"] == "g1"  # Jayway-style `$.guest.[0].short`


def test_journey_sample_cjds02_counts_calls_and_looks_up_the_queue() -> None:
    result = run_flow(
        imported("webexsamples-api__CJDS02_Voice.json"),
        http={
            "GetIdentity": HttpReply(json={"data": [{"id": "person-1"}]}),
            "GetCount": HttpReply(json={"data": [{"attributes": [{"result": "2"}]}]}),
            "UpdateJDSQueueInfo": HttpReply(status=202),
        },
        agent=[answer(after=10), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    assert result.prompts[0] == "Hello Carlos Guadamuz"  # parsed from the JSON variable
    assert result.variables["QueueCallIcon"] == "passive"  # the second call: case "2"
    assert result.variables["GetQueueInfoPayment.EWT"] == 120_000
    assert len(result.queued) == 1 and result.finished


def _jds_record() -> HttpReply:
    record = '{"FirstName": "Barry", "LastName": "Mc", "Email": "b@example.com"}'
    return HttpReply(json={"value": record})


def test_journey_sample_jds1_with_no_past_due_goes_to_the_main_menu() -> None:
    result = run_flow(
        imported("webexsamples-api__bmclella_Voice_JDS_1.json"),
        http={
            "GetCustomerRecord": _jds_record(),
            "UpdateJDS": HttpReply(status=200),
            "get_JDSToken": HttpReply(json={"token": "t"}),
            "GetPaymentInfo": HttpReply(status=404, json={"error": "not found"}),
        },
        caller=[press("1", when="MainIVR")],
        agent=[answer(after=5), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    assert result.variables["FirstName"] == "Barry"
    assert "MainIVR" in result.path  # 404: no past-due record
    assert result.queued == ["queue-1"] and result.finished


def test_journey_sample_jds2_repeat_caller() -> None:
    result = run_flow(
        imported("webexsamples-api__bmclella_Voice_JDS_2.json"),
        http={
            "GetCustomerRecord": _jds_record(),
            "get_JDSToken": HttpReply(json={"token": "t"}),
            "GetIdentity": HttpReply(json={"data": [{"id": "p"}]}),
            "GetTotalCalls": HttpReply(json={"data": [{"attributes": [{"result": "6"}]}]}),
            "UpdateJDSQueueInfo": HttpReply(status=202),
        },
        agent=[answer(after=5), agent_hang_up(after=60)],
    )
    _no_global_error(result)
    assert result.variables["QueueCallIcon"] == "QueueCallNeutral"  # cases 5..9
    assert result.queued == ["queue-1"] and result.finished


OFFLINE_CALLERS: dict[str, list[Any]] = {
    "ciscolivelabs__CL_1_salesService_lang_treatment_agentRouting.json": [
        press("2", when="salesService"),
        press("12345", when="collectTicket"),
    ],
    "webexsamples-api__bmclella_Voice_JDS_1.json": [press("1", when="MainIVR")],
}


@pytest.mark.parametrize(
    "name", [n for n in FILES if n.startswith("webexsamples") or "agentRouting" in n]
)
def test_offline_the_flows_own_failure_paths_run(name: str) -> None:
    """With their internet hosts unreachable (nothing leaves the machine), every HTTP
    request goes on with an empty status, as Webex's one-output HTTP Request does, the
    flows' own checks take their failure paths, and each call still ends where its author
    meant it to: with an agent, never at the global error handler."""
    result = run_flow(
        imported(name),
        caller=OFFLINE_CALLERS.get(name, []),
        agent=[answer(after=20), agent_hang_up(after=80)],
        max_time=600,
    )
    _no_global_error(result)
    assert result.finished
    if "DialogFlow" in name:  # no bot is scripted: its error path hangs up, as written
        assert "DisconnectContact1" in result.path and result.disconnected
    elif "agentRouting" in name:  # no ticket owner: the service queue
        assert "set_toService" in result.path and len(result.queued) == 1
    else:
        assert len(result.queued) == 1


def test_a_recorded_call_with_the_new_activities_replays_identically() -> None:
    """A call through a virtual agent, a parse and a queue: its event log, written as JSON
    and read back, gives the same commands (the engine stays pure: `now()`, queue
    statistics and bot answers all come in as events)."""
    from dipflow.testing import events_from_json, events_to_json, replay

    flow = imported("webexsamples-api__DF_CX_Flow.json")
    escalation = {"dialogflow.ccai.live-agent-escalation": {"call_reason": "billing"}}
    result = run_flow(
        flow,
        http={"GetCustomerName": HttpReply(json={"name": "Grace"})},
        bots={"VirtualAgent": BotReply(outcome=BotOutcome.ESCALATED, metadata=escalation)},
        agent=[answer(after=10), agent_hang_up(after=60)],
    )
    log = events_from_json(events_to_json(result.event_log))
    assert replay(flow, log) == result.commands


@pytest.mark.parametrize(
    ("name", "activity"),
    [
        ("webexsamples-api__DF_CX_Flow.json", "GetCustomerName"),  # a GUID host name
        ("webexsamples-api__VoiceFlow_InstantConnect.json", "HTTPRequest_u4f"),  # `aud`
        ("webexsamples-api__bmclella_Voice_JDS_1.json", "UpdateJDS"),  # an API key header
    ],
)
def test_configuration_ids_are_not_record_ids(name: str, activity: str) -> None:
    findings = [f for f in lint_flow(imported(name)) if f.activity == activity]
    assert "hard-coded-record-id" not in {f.rule for f in findings}
