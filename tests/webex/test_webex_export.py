"""`dipflow flow export webex`: a dipflow flow as a Flow Designer export, and the round
trip import -> export -> import, which keeps every flow (and so its behaviour)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.flow.loader import load_flow
from dipflow.flow.webex import import_webex_export, import_webex_file
from dipflow.flow.webex.exporter import WebexExportError, export_webex
from dipflow.testing import answer, press, run_flow

HERE = Path(__file__).parent
EXPORTS = [
    *sorted((HERE / "exports").glob("*.json")),
    HERE / "fixtures" / "MSDynamics_HTTP_Template.json",
]


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_round_trip_keeps_the_flow(path: Path) -> None:
    first = import_webex_file(path)
    exported = json.loads(json.dumps(export_webex(first.flow)))  # as written to a file
    second = import_webex_export(exported, filename=path.name)
    assert second.document == first.document


def test_round_trip_keeps_a_call() -> None:
    """The same caller input gives the same call on the flow and on its round trip."""
    path = HERE / "exports" / "ciscolivelabs__CL_1_readout_2.json"
    flow = import_webex_file(path).flow
    again = import_webex_export(json.loads(json.dumps(export_webex(flow)))).flow
    script = [press("1", when="opt_out"), press("1", when="confirmNumber")]
    calls = [
        run_flow(f, caller=script, agent=[answer(after=300)], max_time=400) for f in (flow, again)
    ]
    assert calls[0].prompts == calls[1].prompts
    assert calls[0].callbacks == calls[1].callbacks


def test_behaviour_flow_designer_cannot_express_fails_the_export() -> None:
    """dipflow's own data-dip flow re-prompts its menu and wires HTTP errors: Flow
    Designer has neither, and the export says so for each activity."""
    flow = load_flow(Path("src/dipflow/flow/bundled/ms-dynamics-data-dip.yaml"))
    with pytest.raises(WebexExportError) as caught:
        export_webex(flow)
    messages = [str(p) for p in caught.value.problems]
    assert any("plays a menu once" in m for m in messages)
    assert any("has one output" in m for m in messages)


def test_cli_export(tmp_path: Path) -> None:
    source = HERE / "exports" / "webexsamples-api__GiftCardVoiceFlow.json"
    native = tmp_path / "gift.yaml"
    runner = CliRunner()
    assert (
        runner.invoke(app, ["flow", "import", "webex", str(source), "-o", str(native)]).exit_code
        == 0
    )
    out = tmp_path / "gift.json"
    result = runner.invoke(app, ["flow", "export", "webex", str(native), "-o", str(out)])
    assert result.exit_code == 0, result.output
    again = import_webex_file(out)
    assert again.document == import_webex_file(source).document
