"""Testing a flow with `dipflow.testing`: no phone, no CRM, a fake clock.

Run it with pytest (`pytest examples/flows/test_account_lookup.py`). Each test scripts
what the world does (the caller's keys, the CRM's answers) and checks what the caller
hears and where the call went. See docs/testing.md for every helper.
"""

from __future__ import annotations

from pathlib import Path

from dipflow.testing import HttpReply, hang_up, press, run_flow

FLOW = Path(__file__).with_name("account_lookup.yaml")
CONTOSO = HttpReply(json={"value": [{"name": "Contoso Ltd", "accountnumber": "ACC-1001"}]})


def test_a_known_account_is_read_back_digit_by_digit() -> None:
    result = run_flow(FLOW, http={"lookup": CONTOSO}, caller=[press("1001#", when="ask")])
    assert result.prompts[1] == "Account 1 0 0 1 belongs to Contoso Ltd."
    (request,) = result.requests
    assert request.query["$filter"] == "accountnumber eq 'ACC-1001'"
    assert result.disconnected


def test_an_unknown_account_is_said_so() -> None:
    result = run_flow(
        FLOW, http={"lookup": HttpReply(json={"value": []})}, caller=[press("9999#", when="ask")]
    )
    assert result.prompts[1] == "We could not find account 9 9 9 9."


def test_a_crm_outage_still_gets_an_answer() -> None:
    for reply in (HttpReply(status=503), HttpReply.timeout(), HttpReply.failure()):
        result = run_flow(FLOW, http={"lookup": reply}, caller=[press("1001#", when="ask")])
        assert result.prompts[1] == "We cannot look up accounts right now."
        assert result.path[-3:] == ["sorry", "goodbye", "hang_up"]


def test_no_keys_at_all() -> None:
    result = run_flow(FLOW, http={"lookup": CONTOSO})
    assert result.prompts[1] == "We did not get an account number."
    assert result.requests == []  # the CRM is never asked


def test_the_caller_hanging_up_mid_entry_ends_the_call() -> None:
    result = run_flow(FLOW, http={"lookup": CONTOSO}, caller=[press("10", when="ask"), hang_up()])
    assert result.hung_up and result.finished
    assert result.requests == []
