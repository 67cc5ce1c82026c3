"""Diagrams: a golden Mermaid file for the imported template, SVG and PNG that render offline."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.flow.graph import to_mermaid, to_png, to_svg
from dipflow.flow.model import Flow
from dipflow.flow.webex import import_webex_file

GOLDEN = Path(__file__).parent / "golden" / "template.mmd"


def test_mermaid_matches_golden(template_path: Path) -> None:
    text = to_mermaid(import_webex_file(template_path).flow)
    if os.environ.get("DIPFLOW_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_mermaid_escapes_labels() -> None:
    flow = Flow.model_validate({
        "name": "x", "start": "S",
        "activities": {"S": {"kind": "start", "next": "E", "label": 'say "hi" <b>'},
                       "E": {"kind": "end"}},
    })
    text = to_mermaid(flow)
    assert '"say #quot;hi#quot; #lt;b#gt;<br/>start"' in text
    assert "<b>" not in text


def test_svg_is_well_formed_and_labelled(template_path: Path) -> None:
    svg = to_svg(import_webex_file(template_path).flow)
    root = ET.fromstring(svg)
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"GetCustomerInfo", "MainMenu", "Event: agent_answered", "success"} <= texts
    assert "1, no_input, invalid, error" in texts  # parallel outputs share one labelled line


def test_png_renders(template_path: Path) -> None:
    image = Image.open(BytesIO(to_png(import_webex_file(template_path).flow)))
    assert image.format == "PNG"
    assert image.width > 1000 and image.height > 600


def test_cli_graph_formats(tmp_path: Path, template_path: Path) -> None:
    runner = CliRunner()
    mermaid = runner.invoke(app, ["flow", "graph", str(template_path)])
    assert mermaid.exit_code == 0 and mermaid.output.startswith("flowchart TD")
    out = tmp_path / "flow.png"
    png = runner.invoke(app, ["flow", "graph", str(template_path), "-f", "png", "-o", str(out)])
    assert png.exit_code == 0 and out.read_bytes().startswith(b"\x89PNG")
    refused = runner.invoke(app, ["flow", "graph", str(template_path), "-f", "png"])
    assert refused.exit_code == 2
