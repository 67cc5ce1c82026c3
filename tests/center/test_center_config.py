"""Configuration validation, the notification codec, the transition table as data."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from dipflow.center import (
    AgentState,
    AgentStateChanged,
    CenterConfig,
    ContactCenter,
    ContactOffered,
    InvalidArgument,
    MemoryCenterStore,
    QueuePositionChanged,
)
from dipflow.center.estimator import estimate_wait_s
from dipflow.center.model import notification_from_dict, notification_to_dict
from dipflow.center.transitions import (
    NO_OPS,
    TRANSITIONS,
    AgentAction,
    next_state,
    transitions_json,
)
from tests.center.center_helpers import FakeClock, sample_config


def test_config_from_yaml_shaped_dict() -> None:
    config = CenterConfig.model_validate(
        {
            "queues": [
                {
                    "name": "sales",
                    "teams": ["blue"],
                    "max_wait_s": 120,
                    "fallback_queue": "general",
                },
                {"name": "general", "teams": ["blue"]},
            ],
            "agents": [
                {"agent_id": "a1", "name": "Ann", "teams": ["blue"], "sip_uri": "sip:ann@127.0.0.1"}
            ],
            "wrap_up_s": 5,
        }
    )
    assert config.queue("sales") is not None and config.queue("sales").ring_timeout_s == 15.0  # type: ignore[union-attr]
    assert config.queues_for_teams(["blue"]) == ("sales", "general")
    assert CenterConfig().queues == []  # an empty center loads (no queues yet)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"queues": [{"name": "a", "fallback_queue": "nope"}]}, "not a queue"),
        ({"queues": [{"name": "a", "fallback_queue": "a"}]}, "the queue itself"),
        ({"queues": [{"name": "a"}, {"name": "a"}]}, "duplicate queue"),
        (
            {"agents": [{"agent_id": "x", "name": "X"}, {"agent_id": "x", "name": "Y"}]},
            "duplicate agent",
        ),
        ({"queues": [{"name": "a", "ring_timeout_s": 0}]}, "greater than 0"),
        ({"queues": [{"name": "a", "max_wait_s": -5}]}, "greater than 0"),
        ({"queues": [{"name": "a", "colour": "red"}]}, "Extra inputs"),
        ({"wrap_up_s": -1}, "greater than or equal"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(patch: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CenterConfig.model_validate(patch)


def test_notifications_round_trip_through_json() -> None:
    notes = [
        ContactOffered(call_id="c1", agent_id="a", queue="q", data={"Case": "CAS-1"}),
        AgentStateChanged(
            agent_id="a", state=AgentState.IDLE, reason="rona", since=1_732_550_000.123456
        ),
        QueuePositionChanged(call_id="c1", queue="q", position=3, estimated_wait_s=None),
    ]
    for note in notes:
        raw = json.loads(json.dumps(notification_to_dict(note)))
        assert notification_from_dict(raw) == note
    with pytest.raises(ValueError, match="unknown notification"):
        notification_from_dict({"type": "Nope"})


def test_transition_table_is_complete_data() -> None:
    # every state can log in (or no-op) and every action appears somewhere
    assert {action for _, action in TRANSITIONS} == set(AgentAction)
    assert all(
        next_state(s, AgentAction.LOGIN) is None
        for s in AgentState
        if s is not AgentState.LOGGED_OUT
    )
    assert not NO_OPS.intersection(TRANSITIONS)
    with pytest.raises(KeyError):
        next_state(AgentState.CONNECTED, AgentAction.LOGOUT)
    table = json.loads(transitions_json())
    assert table["offered"]["ring_no_answer"] == "idle"
    assert table["available"]["set_available"] == ""


def test_estimator() -> None:
    assert estimate_wait_s(1, 120, 0) is None
    assert estimate_wait_s(3, 120, 2) == 180.0
    assert estimate_wait_s(1, 0.25, 1) == 0.3  # half-up, like the Lua script


async def test_idle_codes_are_checked() -> None:
    center = ContactCenter(sample_config(), MemoryCenterStore(), clock=FakeClock())
    await center.login("alice")
    with pytest.raises(InvalidArgument, match="unknown idle reason"):
        await center.set_idle("alice", "napping")
    anything = ContactCenter(sample_config(idle_codes=None), MemoryCenterStore(), clock=FakeClock())
    await anything.login("alice")
    await anything.set_idle("alice", "napping")
    assert (await anything.snapshot()).agents[0].reason == "napping"
