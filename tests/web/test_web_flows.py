"""The flows page: supervisors see each served flow with its lint verdict and diagram."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from starlette.testclient import TestClient

from dipflow.flow.webex import import_webex_file
from dipflow.runtime.config import DipflowConfig, FlowBinding
from dipflow.web.app import create_app
from tests.web.web_helpers import FakeRuntime, login


def test_flows_page_shows_the_bundled_flow_clean_with_its_diagram(client: TestClient) -> None:
    login(client, "sue")
    page = client.get("/flows")
    assert page.status_code == 200
    assert "ms-dynamics-data-dip" in page.text
    assert "Lint: no findings." in page.text
    assert '<img src="/flows/0.svg"' in page.text
    svg = client.get("/flows/0.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    texts = {t.text for t in ET.fromstring(svg.text).iter("{http://www.w3.org/2000/svg}text")}
    assert {"GetCustomerInfo", "MainMenu", "Event: agent_answered"} <= texts
    assert "content-security-policy" in svg.headers


def test_flows_are_for_supervisors_only(client: TestClient) -> None:
    assert "login-form" in client.get("/flows").text
    assert client.get("/flows/0.svg").status_code == 403
    login(client, "ava")
    assert client.get("/flows").status_code == 403
    assert client.get("/flows/0.svg").status_code == 403


def test_unknown_flow_diagram_is_404(client: TestClient) -> None:
    login(client, "sue")
    assert client.get("/flows/7.svg").status_code == 404


def test_imported_webex_template_shows_its_findings(
    tmp_path: Path, web_config: DipflowConfig, template_path: Path
) -> None:
    flow_file = tmp_path / "template.yaml"
    flow_file.write_text(
        yaml.safe_dump(import_webex_file(template_path).document), encoding="utf-8"
    )
    config = web_config.model_copy(
        update={"flows": [FlowBinding(dnis="*", flow=str(flow_file))], "base_dir": tmp_path}
    )
    with TestClient(create_app(FakeRuntime(config))) as client:
        login(client, "sue")
        page = client.get("/flows").text
    assert "MSDynamics_HTTP_Template" in page
    for rule in (
        "music-no-exit",
        "menu-no-reprompt",
        "sentinel-comparison",
        "hard-coded-record-id",
        "unquoted-caller-data",
    ):
        assert rule in page
    assert "Lint: no findings." not in page
