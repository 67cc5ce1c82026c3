"""The SVG as a browser draws it (headless Debian Chromium, its own `sans-serif`): every
edge label's text lies inside the backdrop the layout made for it, and every node's
title and kind inside the node, so the layout's no-overlap guarantee holds for the text
people see, not only for the boxes the layout computed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from dipflow.flow.bundled import bundled_path
from dipflow.flow.graph import to_svg
from dipflow.flow.loader import load_flow
from dipflow.flow.webex import import_webex_file
from tests.web.e2e_support import chromium

pytestmark = pytest.mark.slow

EXPORTS = Path(__file__).resolve().parents[1] / "webex" / "exports"

MEASURE = """() => {
  const outside = [];
  const inside = (t, r, what) => {
    const b = t.getBBox();
    const x = +r.getAttribute("x"), y = +r.getAttribute("y");
    const w = +r.getAttribute("width"), h = +r.getAttribute("height");
    const out = b.x < x - 0.5 || b.x + b.width > x + w + 0.5
      || b.y < y - 0.5 || b.y + b.height > y + h + 0.5;
    if (out) {
      const at = `${b.x.toFixed(1)},${b.y.toFixed(1)} ${b.width.toFixed(1)}x${b.height.toFixed(1)}`;
      outside.push(`${what} ${JSON.stringify(t.textContent)}: ${at} outside ${x},${y} ${w}x${h}`);
    }
  };
  let labels = 0, nodes = 0;
  for (const t of document.querySelectorAll('text[fill="#1f4e79"]')) {
    inside(t, t.previousElementSibling, "label");
    labels += 1;
  }
  for (const g of document.querySelectorAll("g")) {
    const rect = g.querySelector("rect");
    for (const t of g.querySelectorAll("text")) inside(t, rect, "node");
    nodes += 1;
  }
  return { outside, labels, nodes };
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize(
    "name",
    [
        "bundled",
        "ciscolivelabs__CL_1_salesService_lang_treatment_agentRouting",
        "webexsamples-api__CJDS02_Voice",
    ],
)
def test_every_text_the_browser_draws_fits_its_box(browser: Browser, name: str) -> None:
    flow = (
        load_flow(bundled_path("ms-dynamics-data-dip"))
        if name == "bundled"
        else import_webex_file(EXPORTS / f"{name}.json").flow
    )
    page = browser.new_page()
    page.set_content(f"<!doctype html><body style='margin:0'>{to_svg(flow)}</body>")
    result = page.evaluate(MEASURE)
    page.close()
    assert result["labels"] > 5 and result["nodes"] > 5
    assert result["outside"] == []
