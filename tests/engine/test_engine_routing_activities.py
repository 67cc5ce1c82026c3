"""queue_to_agent, queue_lookup, virtual_agent, callback, blind_transfer, set_caller_id,
feedback, business_hours and `--allow-partial` stubs: each output and what the caller,
the agent and the center see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dipflow.engine import Engine
from dipflow.engine.commands import Enqueue, RequestCallback, StartVirtualAgent, Transfer
from dipflow.engine.events import CallStarted, TimerFired
from dipflow.engine.logic import classify
from dipflow.flow.model import Flow, Schedule
from dipflow.testing import (
    BotOutcome,
    BotReply,
    QueueStats,
    agent_hang_up,
    answer,
    callback_fail,
    queue_fail,
    run_flow,
)

MakeFlow = Callable[..., Flow]
MUSIC = {"kind": "play_music"}
BYE = {"kind": "disconnect_contact"}


# -- queue to agent -----------------------------------------------------------------------


def _to_agent(make_flow: MakeFlow, **fields: Any) -> Flow:
    return make_flow(
        {
            "Owner": {
                "kind": "queue_to_agent",
                "agent": "{{ OwnerEmail }}",
                "lookup": "email",
                "reporting_queue": "q-owner",
                "recovery_queue": "Support",
                "on": {"out": "Music", "error": "Sorry"},
                **fields,
            },
            "Music": MUSIC,
            "Sorry": {"kind": "play_message", "prompt": {"text": "sorry"}, "next": "Bye"},
            "Bye": BYE,
        },
        variables=[{"name": "OwnerEmail", "default": "ada@example.com"}],
        first="Owner",
    )


def test_queue_to_agent_offers_the_contact_to_that_agent_only(make_flow: MakeFlow) -> None:
    result = run_flow(_to_agent(make_flow, park=True), agent=[answer(after=5, agent_id="ada")])
    (enqueue,) = [c for c in result.commands if isinstance(c, Enqueue)]
    assert (enqueue.queue, enqueue.agent, enqueue.agent_lookup) == (
        "q-owner",
        "ada@example.com",
        "email",
    )
    assert enqueue.park
    assert result.state.connected


def test_queue_to_agent_falls_back_to_the_recovery_queue_for_anyone(make_flow: MakeFlow) -> None:
    result = run_flow(_to_agent(make_flow), agent=[queue_fail(after=3, reason="logged out")])
    assert result.queued == ["q-owner", "Support"]
    recovery = [c for c in result.commands if isinstance(c, Enqueue)][-1]
    assert recovery.agent is None
    assert any(e.kind == "queue_fallback" for e in result.trace)


def test_queue_to_agent_without_recovery_queue_takes_error(make_flow: MakeFlow) -> None:
    result = run_flow(_to_agent(make_flow, recovery_queue=None), agent=[queue_fail(after=3)])
    assert "Sorry" in result.path and result.disconnected


# -- queue lookup -------------------------------------------------------------------------


def _lookup(make_flow: MakeFlow) -> Flow:
    return make_flow(
        {
            "Queue": {"kind": "queue_contact", "queue": "q-7", "next": "Stats"},
            "Stats": {
                "kind": "queue_lookup",
                "queue": "q-7",
                "lookback_minutes": 15,
                "on": {"out": "Tell", "insufficient_data": "Music", "error": "Music"},
            },
            "Tell": {
                "kind": "play_message",
                "prompt": {
                    "text": "You are number {{ Stats.PIQ }}, about "
                    "{{ (Stats.EWT / 60000) | round | int }} minutes."
                },
                "next": "Music",
            },
            "Music": MUSIC,
        },
        first="Queue",
    )


def test_queue_lookup_gives_position_and_wait(make_flow: MakeFlow) -> None:
    stats = QueueStats(estimated_wait_s=185, calls_queued=4, agents_logged_on=3)
    result = run_flow(_lookup(make_flow), queue_stats={"Stats": stats}, max_time=30)
    assert result.prompts == ["You are number 1, about 3 minutes."]
    assert result.variables["Stats.CallsQueuedNow"] == 4
    assert result.variables["Stats.LoggedOnAgentsAll"] == 3


@pytest.mark.parametrize(
    ("stats", "taken"),
    [(QueueStats(estimated_wait_s=None), "insufficient_data"), (QueueStats(error="down"), "error")],
)
def test_queue_lookup_without_an_estimate_or_statistics(
    make_flow: MakeFlow, stats: QueueStats, taken: str
) -> None:
    result = run_flow(_lookup(make_flow), queue_stats={"Stats": stats}, max_time=30)
    (entry,) = [e for e in result.trace if e.activity == "Stats"]
    assert entry.output_taken == taken and result.prompts == []


def test_queue_lookup_with_no_answer_takes_error_after_its_guard(make_flow: MakeFlow) -> None:
    engine = Engine(_lookup(make_flow))
    state, _ = engine.start(CallStarted(call_id="c", ani="1", dnis="2"), now=0.0)
    (timer,) = list(state.timers)
    state, _ = engine.step(state, TimerFired(timer_id=timer), now=10.0)
    (entry,) = [e for e in state.trace if e.activity == "Stats"]
    assert entry.output_taken == "error" and entry.error == "no answer about queue statistics"


# -- virtual agent ------------------------------------------------------------------------


def _bot(make_flow: MakeFlow, connector: str | None) -> Flow:
    return make_flow(
        {
            "Bot": {
                "kind": "virtual_agent",
                "connector": connector,
                "parameters": {"customer": "{{ NewPhoneContact.ANI }}"},
                "on": {"handled": "Bye", "escalated": "Queue", "error": "Queue"},
            },
            "Queue": {"kind": "queue_contact", "queue": "Support", "next": "Music"},
            "Music": MUSIC,
            "Bye": BYE,
        },
        first="Bot",
    )


def test_without_a_connector_the_bot_takes_error_and_says_why(make_flow: MakeFlow) -> None:
    result = run_flow(_bot(make_flow, None), max_time=30)
    (entry,) = [e for e in result.trace if e.activity == "Bot"]
    assert entry.output_taken == "error"
    assert entry.error is not None and "no virtual-agent connector" in entry.error
    assert result.queued == ["Support"]
    assert not [c for c in result.commands if isinstance(c, StartVirtualAgent)]


@pytest.mark.parametrize(
    ("outcome", "step"), [(BotOutcome.HANDLED, "Bye"), (BotOutcome.ESCALATED, "Queue")]
)
def test_the_bot_ends_or_escalates(make_flow: MakeFlow, outcome: BotOutcome, step: str) -> None:
    reply = BotReply(outcome=outcome, metadata={"intent": "billing"}, state_event="done")
    result = run_flow(_bot(make_flow, "dialogflow"), bots={"Bot": reply}, max_time=60)
    (start,) = [c for c in result.commands if isinstance(c, StartVirtualAgent)]
    assert start.parameters == {"customer": "+14155550123"}
    assert step in result.path
    assert result.variables["Bot.MetaData"] == {"intent": "billing"}
    assert result.variables["Bot.StateEventName"] == "done"


# -- callback -----------------------------------------------------------------------------


def _callback(make_flow: MakeFlow, **fields: Any) -> Flow:
    return make_flow(
        {
            "Queue": {"kind": "queue_contact", "queue": "Support", "next": "Offer"},
            "Offer": {
                "kind": "callback",
                "number": "{{ NewPhoneContact.ANI }}",
                "on": {"out": "Thanks", "error": "Music"},
                **fields,
            },
            "Thanks": {"kind": "play_message", "prompt": {"text": "We will call you."}},
            "Music": MUSIC,
        },
        event_flows={
            "callback_failed": {
                "start": "Note",
                "activities": {
                    "Note": {
                        "kind": "http_request",
                        "url": "https://crm.example/missed",
                        "on": {"success": "End", "error": "End"},
                    },
                    "End": {"kind": "end"},
                },
            }
        },
        first="Queue",
    )


def test_callback_keeps_the_place_and_an_agent_takes_it(make_flow: MakeFlow) -> None:
    result = run_flow(
        _callback(make_flow),
        agent=[answer(after=60, agent_id="a1"), agent_hang_up(after=120)],
    )
    assert result.callbacks == [RequestCallback(queue="Support", number="+14155550123")]
    assert result.disconnected  # the flow ended: the caller's leg is released...
    assert result.commands.count(next(c for c in result.commands if isinstance(c, Enqueue))) == 1
    assert not any(type(c).__name__ == "Dequeue" for c in result.commands)  # ...not the place
    assert result.state.agent is not None and result.state.agent.agent_id == "a1"
    assert result.finished


def test_a_failed_callback_runs_its_event_flow_then_ends(make_flow: MakeFlow) -> None:
    result = run_flow(_callback(make_flow), agent=[callback_fail(after=90, reason="busy")])
    assert [r.url for r in result.requests] == ["https://crm.example/missed"]
    assert result.finished and any(type(c).__name__ == "Dequeue" for c in result.commands)


def test_a_callback_for_a_contact_in_no_queue_takes_error(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Offer": {"kind": "callback", "number": "+1", "on": {"out": "Bye", "error": "Sorry"}},
            "Sorry": {"kind": "play_message", "prompt": {"text": "sorry"}, "next": "Bye"},
            "Bye": BYE,
        }
    )
    result = run_flow(flow)
    assert "Sorry" in result.path and result.callbacks == []


# -- blind transfer, set caller id ---------------------------------------------------------


def _transfer(make_flow: MakeFlow) -> Flow:
    return make_flow(
        {
            "Id": {"kind": "set_caller_id", "caller_id": "+18005550100", "next": "Move"},
            "Move": {
                "kind": "blind_transfer",
                "destination": "sip:desk@example.com",
                "on": {"error": "Sorry"},
            },
            "Sorry": {"kind": "play_message", "prompt": {"text": "cannot transfer"}, "next": "Bye"},
            "Bye": BYE,
        },
        first="Id",
    )


def test_blind_transfer_leaves_the_call_with_the_caller_id_set(make_flow: MakeFlow) -> None:
    result = run_flow(_transfer(make_flow))
    assert result.transfers == [
        Transfer(transfer_id="Move#1", destination="sip:desk@example.com", caller_id="+18005550100")
    ]
    assert result.finished and not result.disconnected and result.prompts == []
    assert result.variables["Id.CallerID"] == "+18005550100"


def test_a_failed_transfer_takes_error(make_flow: MakeFlow) -> None:
    result = run_flow(_transfer(make_flow), transfer_error="486 Busy Here")
    assert result.prompts == ["cannot transfer"] and result.disconnected


# -- feedback -----------------------------------------------------------------------------


def _feedback(make_flow: MakeFlow, survey: bool) -> Flow:
    events: dict[str, Any] = {}
    if survey:
        events["post_call_survey"] = {
            "start": "Ask",
            "activities": {
                "Ask": {
                    "kind": "collect_digits",
                    "prompt": {"text": "Rate us from 1 to 5."},
                    "on": {"out": "Thanks", "no_input": "Thanks", "invalid": "Thanks"},
                },
                "Thanks": {"kind": "play_message", "prompt": {"text": "Thank you."}},
            },
        }
    return make_flow(
        {
            "Offer": {"kind": "feedback", "next": "Queue"},
            "Queue": {"kind": "queue_contact", "queue": "Support", "next": "Music"},
            "Music": MUSIC,
        },
        event_flows=events,
        first="Offer",
    )


def test_feedback_runs_the_survey_when_the_agent_hangs_up(make_flow: MakeFlow) -> None:
    from dipflow.testing import press

    result = run_flow(
        _feedback(make_flow, survey=True),
        agent=[answer(after=5), agent_hang_up(after=30)],
        caller=[press("5", when="Ask")],
    )
    assert result.prompts == ["Rate us from 1 to 5.", "Thank you."]
    assert result.variables["Ask.DigitsEntered"] == "5"
    assert result.disconnected and result.finished


def test_feedback_without_a_survey_flow_says_so(make_flow: MakeFlow) -> None:
    result = run_flow(
        _feedback(make_flow, survey=False), agent=[answer(after=5), agent_hang_up(after=30)]
    )
    (missing,) = [e for e in result.trace if e.kind == "survey_missing"]
    assert missing.error is not None and "post_call_survey" in missing.error
    assert result.disconnected and result.finished


# -- business hours -----------------------------------------------------------------------

SCHEDULE = Schedule.model_validate(
    {
        "timezone": "America/New_York",
        "working_hours": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"},
            {"days": ["sat"], "start": "22:00", "end": "02:00"},
        ],
        "holidays": [{"name": "New Year", "start": "2026-01-01"}],
        "overrides": [{"name": "storm", "start": "2026-02-02T12:00", "end": "2026-02-02T14:00"}],
    }
)


@pytest.mark.parametrize(
    ("utc", "output"),
    [
        ("2026-01-05T14:00", "working_hours"),  # Monday 09:00 in New York
        ("2026-01-05T12:00", "default"),  # Monday 07:00: not yet open
        ("2026-01-01T15:00", "holidays"),  # a Thursday, but New Year's Day
        ("2026-02-02T17:30", "override"),  # Monday 12:30, the storm
        ("2026-01-11T05:00", "working_hours"),  # Sunday 00:00, Saturday's night shift
        ("2026-01-11T08:00", "default"),  # Sunday 03:00: the night shift is over
    ],
)
def test_business_hours_classify(utc: str, output: str) -> None:
    moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert classify(SCHEDULE, moment) == output


def test_business_hours_reads_the_calls_clock(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Hours": {
                "kind": "business_hours",
                "schedule": SCHEDULE.model_dump(mode="json"),
                "on": {"working_hours": "Open", "default": "Closed", "holidays": "Closed"},
            },
            "Open": {"kind": "play_message", "prompt": {"text": "open"}, "next": "Bye"},
            "Closed": {"kind": "play_message", "prompt": {"text": "closed"}, "next": "Bye"},
            "Bye": BYE,
        }
    )
    # The simulator's clock starts 2026-01-01T00:00Z: New Year's Eve, 19:00 in New York.
    assert run_flow(flow).prompts == ["closed"]


# -- stubs ----------------------------------------------------------------------------------


def test_a_stub_keeps_its_outputs_and_says_so(make_flow: MakeFlow) -> None:
    flow = make_flow(
        {
            "Survey": {
                "kind": "unsupported",
                "original_kind": "start-media-stream",
                "original_outputs": ["out", "error"],
                "reason": "not supported by dipflow",
                "on": {"out": "Bye", "error": "Sorry"},
            },
            "Sorry": {"kind": "play_message", "prompt": {"text": "sorry"}, "next": "Bye"},
            "Bye": BYE,
        }
    )
    result = run_flow(flow)
    assert result.stubs == ["start-media-stream"]
    (entry,) = [e for e in result.trace if e.activity == "Survey"]
    assert entry.output_taken == "error"
    assert entry.error is not None and "stub for Webex 'start-media-stream'" in entry.error
    assert result.prompts == ["sorry"]


def test_the_transcript_says_a_stub_was_reached(make_flow: MakeFlow) -> None:
    from dipflow.runtime.session import StepRecord
    from dipflow.runtime.transcript import build_transcript

    flow = make_flow(
        {
            "Stream": {
                "kind": "unsupported",
                "original_kind": "start-media-stream",
                "original_outputs": ["out"],
                "reason": "forking audio is not supported",
                "on": {"out": "Bye"},
            },
            "Bye": BYE,
        }
    )
    event = CallStarted(call_id="c", ani="+1", dnis="+2")
    _, commands = Engine(flow).start(event, now=0.0)
    steps = [StepRecord(call_id="c", at=0.0, event=event, commands=tuple(commands))]
    (stub,) = [e for e in build_transcript(steps) if e.kind == "stub"]
    assert stub.who == "system"
    assert stub.text == (
        "Stream: stub for Webex 'start-media-stream': forking audio is not supported; takes `out`"
    )


# -- start media stream ---------------------------------------------------------------------


def test_start_media_stream_asks_for_the_stream_and_goes_on(make_flow: MakeFlow) -> None:
    from dipflow.engine.commands import StartMediaStream

    flow = make_flow(
        {
            "Stream": {"kind": "start_media_stream", "destination": "{{ Where }}",
                       "on": {"out": "Say", "error": "Say"}},
            "Say": {"kind": "play_message", "prompt": {"text": "hi"}, "next": "Bye"},
            "Bye": BYE,
        },
        variables=[{"name": "Where", "default": "Cisco AI Assistant"}],
        first="Stream",
    )  # fmt: skip
    result = run_flow(flow)
    (stream,) = [c for c in result.commands if isinstance(c, StartMediaStream)]
    assert stream.destination == "Cisco AI Assistant"
    assert result.prompts == ["hi"]
    empty = run_flow(flow, variables={"Where": ""})
    entry = next(e for e in empty.trace if e.activity == "Stream")
    assert entry.output_taken == "error" and "renders empty" in (entry.error or "")
