"""Diagrams a person can read: on the bundled flow, the examples, every real Webex export
and a crowded flow made for it, no edge label covers another label or a node, no line
runs through a node, and the PNG's real text fits the boxes the layout made for it.

The geometry here is the test's own (boxes as coordinates, lines sampled point by point),
not the layout's helpers: a mistake there must not hide a mistake in the layout.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dipflow.flow.bundled import bundled_path
from dipflow.flow.graph import layout_flow, to_png, to_svg
from dipflow.flow.graph.layout import Layout
from dipflow.flow.graph.render import label_font, title_font
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow
from dipflow.flow.webex import import_webex_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    p for p in (ROOT / "examples" / "flows").glob("*.yaml") if "beginner" not in p.name
)
EXPORTS = sorted((ROOT / "tests" / "webex" / "exports").glob("*.json"))
Rect = tuple[float, float, float, float]


def _crowded() -> Flow:
    """A menu with nine long-named outputs to nine targets, lines back up to the menu and
    lines that skip layers: the layout's worst day."""
    choices = {str(n): f"choice{n}" for n in range(1, 10)}
    on = {str(n): f"branch_with_a_long_name_{n}" for n in range(1, 10)}
    activities: dict[str, object] = {
        "start": {"kind": "start", "next": "menu"},
        "menu": {
            "kind": "menu",
            "prompt": {"text": "Pick one."},
            "choices": choices,
            "on": {**on, "no_input": "menu", "invalid": "bye", "error": "bye"},
        },
        "bye": {"kind": "disconnect_contact"},
    }
    for n in range(1, 10):
        activities[f"branch_with_a_long_name_{n}"] = {
            "kind": "condition",
            "expression": "{{ true }}",
            "on": {"true": "menu" if n % 2 else "bye", "false": "bye", "error": "start_over"},
        }
    activities["start_over"] = {
        "kind": "play_message",
        "prompt": {"text": "Again."},
        "next": "menu",
    }
    return Flow.model_validate({"name": "crowded", "start": "start", "activities": activities})


def _flows() -> list[tuple[str, Flow]]:
    flows = [("bundled", load_flow(bundled_path("ms-dynamics-data-dip"))), ("crowded", _crowded())]
    flows += [(p.stem, load_flow(p)) for p in EXAMPLES]
    flows += [(p.stem, import_webex_file(p).flow) for p in EXPORTS]
    return flows


FLOWS = _flows()
IDS = [name for name, _ in FLOWS]


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _through(rect: Rect, start: tuple[float, float], end: tuple[float, float]) -> bool:
    """Does the line pass through the inside of rect (sampled every half pixel)?"""
    (x1, y1), (x2, y2) = start, end
    steps = max(2, int(2 * max(abs(x2 - x1), abs(y2 - y1))))
    for i in range(steps + 1):
        x, y = x1 + (x2 - x1) * i / steps, y1 + (y2 - y1) * i / steps
        if rect[0] + 0.01 < x < rect[2] - 0.01 and rect[1] + 0.01 < y < rect[3] - 0.01:
            return True
    return False


def _rects(layout: Layout) -> tuple[list[tuple[str, Rect]], list[tuple[str, Rect]]]:
    labels = [
        (f"{e.label!r} at {e.points[0]}", (b.x, b.y, b.x + b.width, b.y + b.height))
        for e in layout.edges
        for b in [e.label_box]
    ]
    nodes = [(n.activity, (n.x, n.y, n.x + n.width, n.y + n.height)) for n in layout.nodes]
    return labels, nodes


@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=IDS)
def test_no_label_covers_another_label_or_a_node(name: str, flow: Flow) -> None:
    labels, nodes = _rects(layout_flow(flow))
    clashes = [
        f"{a} / {b}"
        for i, (a, ra) in enumerate(labels)
        for b, rb in labels[i + 1 :]
        if _overlap(ra, rb)
    ]
    clashes += [f"{a} / node {b}" for a, ra in labels for b, rb in nodes if _overlap(ra, rb)]
    assert clashes == []


@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=IDS)
def test_no_line_runs_through_a_node(name: str, flow: Flow) -> None:
    layout = layout_flow(flow)
    _, nodes = _rects(layout)
    through = [
        f"{edge.label!r} {a}->{b} through {node}"
        for edge in layout.edges
        for a, b in zip(edge.points, edge.points[1:], strict=False)
        for node, rect in nodes
        if _through(rect, a, b)
    ]
    assert through == []


@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=IDS)
def test_the_pngs_text_fits_the_boxes_made_for_it(name: str, flow: Flow) -> None:
    scale = 1.5
    layout = layout_flow(flow)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels, titles = label_font(scale), title_font(scale)
    too_wide = []
    for edge in layout.edges:
        left, top, right, bottom = draw.textbbox((0, 0), edge.label, font=labels)
        if (
            right - left > edge.label_box.width * scale
            or bottom - top > edge.label_box.height * scale
        ):
            too_wide.append(edge.label)
    for node in layout.nodes:
        left, _, right, _ = draw.textbbox((0, 0), node.title, font=titles)
        if right - left > node.width * scale:
            too_wide.append(node.title)
    assert too_wide == []
    image = Image.open(BytesIO(to_png(flow, scale=scale)))
    assert image.width >= layout.width * scale and image.height >= layout.height * scale


@pytest.mark.parametrize(("name", "flow"), FLOWS[:3], ids=IDS[:3])
def test_the_svg_centres_each_label_in_its_box(name: str, flow: Flow) -> None:
    layout = layout_flow(flow)
    root = ET.fromstring(to_svg(flow))
    svg = "{http://www.w3.org/2000/svg}"
    drawn = [
        (t.text, float(t.attrib["x"]), float(t.attrib["y"]))
        for t in root.iter(f"{svg}text")
        if t.attrib.get("font-size") == "11" and t.attrib.get("fill") != "#5b6b7f"
    ]
    assert len(drawn) == len(layout.edges)
    for (text, x, y), edge in zip(drawn, layout.edges, strict=True):
        box = edge.label_box
        assert text == edge.label
        assert abs(x - (box.x + box.width / 2)) < 0.1
        assert box.y < y <= box.y + box.height  # the baseline, inside the box
