"""The trace view in headless Debian Chromium: a real call of the demo flow by the caller
whose CRM name is markup (`<img src=x onerror=alert(1)>`), then the supervisor reads its
trace on the supervisor page and on the call's own page. The name, which the trace holds
in the CRM's answer and in the variable set from it, is shown as those characters: no
element is made from it, no script runs.

The call is placed with the simulated caller (`run_sim_call`) on the demo runtime's own
loop: prompts take no time, everything else (flow, CRM over HTTP, center) is real.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Dialog, Error, Page, expect

from dipflow.emulator.demo_data import DEMO_CALLERS, HOSTILE_NAME
from dipflow.emulator.testing import running_emulator
from dipflow.runtime.simcall import run_sim_call
from tests.web.e2e_support import (
    SCREENSHOTS,
    RunningDipflow,
    chromium,
    running_dipflow,
)

pytestmark = pytest.mark.slow

HOSTILE = next(c for c in DEMO_CALLERS if c.label == "hostile")


@pytest.fixture(scope="module")
def served() -> Iterator[RunningDipflow]:
    with running_emulator(seed="demo") as crm, running_dipflow(crm, tts="silent") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _supervisor(browser: Browser, base_url: str) -> tuple[Page, list[str]]:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_error(error: Error) -> None:
        dialogs.append(f"script error: {error.message}")

    page.on("dialog", on_dialog)
    page.on("pageerror", on_error)  # the trace view's own script must not fail either
    page.goto(f"{base_url}/supervisor")
    page.fill("#username", "supervisor")
    page.fill("#password", "supervisor")
    page.click("#sign-in")
    expect(page).to_have_url(re.compile(r"/supervisor$"))
    return page, dialogs


def _no_markup_from_data(page: Page, dialogs: list[str]) -> None:
    # The only images on the page are the logo in the top bar; no handler ever fired.
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []


def test_a_hostile_crm_value_in_a_trace_is_shown_as_text(
    served: RunningDipflow, browser: Browser
) -> None:
    # Menu 2 ends the call at once: the trace holds the lookup and the name it set.
    result = served.call(
        run_sim_call(served.runtime, ani=HOSTILE.ani, dnis="+18005550100", presses=["2"]),
        timeout=30,
    )
    assert not result.timed_out
    page, dialogs = _supervisor(browser, served.base_url)

    row = page.locator(f'#calls details[data-call-id="{result.call_id}"]')
    row.locator("summary").click()
    name_row = row.locator('.trace tr[data-activity="SetCustomerName"]')
    expect(name_row).to_be_visible(timeout=10_000)
    expect(name_row.locator("td.outputs dd")).to_have_text(HOSTILE_NAME)
    expect(name_row.locator("td.output")).to_have_text("out")
    _no_markup_from_data(page, dialogs)

    with page.expect_navigation():
        row.get_by_text("Open this trace on its own page").click()
    expect(page).to_have_url(f"{served.base_url}/supervisor/calls/{result.call_id}")
    lookup = page.locator('#trace tr[data-activity="WaitCustomerInfo"]')
    expect(lookup.locator("td.output")).to_have_text("success", timeout=10_000)
    # The CRM's answer as it came, the hostile name inside it as characters.
    expect(lookup.locator("td.outputs pre")).to_contain_text(f'"fullname": "{HOSTILE_NAME}"')
    menu = page.locator('#trace tr[data-activity="MainMenu"]')
    expect(menu.locator("td.inputs")).to_contain_text("Press 1")
    expect(page.locator("#call-meta")).to_contain_text(HOSTILE.ani)
    expect(page.locator("#trace-updated")).to_have_text("The call has ended.")
    _no_markup_from_data(page, dialogs)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "supervisor-trace.png"), full_page=True)
    page.context.close()
