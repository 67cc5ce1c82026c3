"""Subflows (a flow calls another and comes back) and GoTo (the call goes on in another
flow), with the test kit's flow library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dipflow.engine import Engine
from dipflow.engine.errors import VariableOverrideError
from dipflow.flow.model import Flow
from dipflow.testing import answer, press, run_flow

MakeFlow = Callable[..., Flow]


def _flow(name: str, activities: dict[str, Any], **extra: Any) -> Flow:
    first = next(iter(activities))
    return Flow.model_validate(
        {
            "name": name,
            "start": "Start",
            "activities": {"Start": {"kind": "start", "next": first}, **activities},
            **extra,
        }
    )


def verify_pin() -> Flow:
    """A subflow: asks for a PIN, sets PinOk; its menu and prompts run as in any flow."""
    return _flow(
        "VerifyPin",
        {
            "Ask": {"kind": "menu", "prompt": {"text": "Enter your PIN for {{ PinFor }}."},
                    "choices": {"1": "right", "2": "wrong"}, "on": {"1": "Good", "2": "Bad"}},
            "Good": {"kind": "set_variable", "variable": "PinOk", "value": "yes", "next": "Done"},
            "Bad": {"kind": "set_variable", "variable": "PinOk", "value": "no", "next": "Done"},
            "Done": {"kind": "end"},
        },
        variables=[{"name": "PinFor"}, {"name": "PinOk", "default": "unknown"}],
    )  # fmt: skip


def caller_flow(**subflow: Any) -> Flow:
    return _flow(
        "Main",
        {
            "Verify": {"kind": "subflow", "flow": "VerifyPin",
                       "inputs": {"PinFor": "{{ Customer }}"}, "returns": {"Verified": "PinOk"},
                       "on": {"out": "Say", "error": "Sorry"}, **subflow},
            "Say": {"kind": "play_message", "prompt": {"text": "verified: {{ Verified }}"},
                    "next": "Bye"},
            "Sorry": {"kind": "play_message", "prompt": {"text": "sorry"}, "next": "Bye"},
            "Bye": {"kind": "disconnect_contact"},
        },
        variables=[{"name": "Customer", "default": "Ada"}, {"name": "Verified"}],
    )  # fmt: skip


def test_a_subflow_runs_with_its_inputs_and_returns_its_outputs() -> None:
    result = run_flow(
        caller_flow(),
        caller=[press("1", when="Ask")],
        library={"VerifyPin": verify_pin()},
    )
    assert result.prompts == ["Enter your PIN for Ada.", "verified: yes"]
    assert result.variables["Verified"] == "yes"
    kinds = [(e.activity, e.kind, e.output_taken) for e in result.trace if e.activity == "Verify"]
    assert kinds == [("Verify", "subflow", "subflow"), ("Verify", "subflow_return", "out")]
    assert result.disconnected


def test_a_failure_the_subflow_does_not_handle_is_the_subflow_activitys_error() -> None:
    broken = _flow(
        "VerifyPin",
        {"Dip": {"kind": "http_request", "url": "https://crm.example/pin",
                 "on": {"success": "Done"}}, "Done": {"kind": "end"}},
        variables=[{"name": "PinFor"}, {"name": "PinOk"}],
    )  # fmt: skip
    result = run_flow(caller_flow(), library={"VerifyPin": broken})  # the CRM is unreachable
    assert result.prompts == ["sorry"]
    assert any(e.kind == "subflow_error" for e in result.trace)


def test_a_subflow_that_is_not_loaded_takes_error() -> None:
    result = run_flow(caller_flow())
    assert result.prompts == ["sorry"]
    entry = next(e for e in result.trace if e.activity == "Verify")
    assert "no subflow named 'VerifyPin'" in (entry.error or "")


def test_a_subflow_variable_the_flow_also_declares_is_refused() -> None:
    clashing = _flow("VerifyPin", {"Done": {"kind": "end"}}, variables=[{"name": "Customer"}])
    with pytest.raises(VariableOverrideError, match="declares variable 'Customer'"):
        Engine(caller_flow(), subflows={"VerifyPin": clashing})


def spanish() -> Flow:
    return _flow(
        "Spanish",
        {
            "Hola": {"kind": "play_message", "prompt": {"text": "Hola, {{ Nombre }}."},
                     "next": "Cola"},
            "Cola": {"kind": "queue_contact", "queue": "Ventas", "next": "Musica"},
            "Musica": {"kind": "play_music"},
        },
        variables=[{"name": "Nombre", "default": "amigo"}],
    )  # fmt: skip


def language_menu(target: str = "Spanish") -> Flow:
    return _flow(
        "Welcome",
        {
            "Lang": {"kind": "menu", "prompt": {"text": "For Spanish press 2."},
                     "choices": {"2": "Spanish"}, "on": {"2": "ToSpanish"}},
            "ToSpanish": {"kind": "goto", "flow": target, "on": {"error": "Sorry"}},
            "Sorry": {"kind": "play_message", "prompt": {"text": "sorry"}, "next": "Bye"},
            "Bye": {"kind": "disconnect_contact"},
        },
    )  # fmt: skip


def test_goto_continues_the_call_in_the_other_flow_from_its_start() -> None:
    result = run_flow(
        language_menu(),
        caller=[press("2", when="Lang")],
        agent=[answer(after=5)],
        library={"Spanish": spanish()},
    )
    assert result.prompts == ["For Spanish press 2.", "Hola, amigo."]
    assert result.queued == ["Ventas"]
    assert result.state.connected
    assert [e.activity for e in result.trace][:3] == ["Start", "Lang", "ToSpanish"]


def test_goto_to_a_flow_that_does_not_exist_takes_error() -> None:
    result = run_flow(language_menu("Klingon"), caller=[press("2", when="Lang")])
    assert result.prompts == ["For Spanish press 2.", "sorry"]
    entry = next(e for e in result.trace if e.activity == "ToSpanish")
    assert "no flow named 'Klingon'" in (entry.error or "")
