"""`dipflow crm check`: the report against the emulator, and the fix hints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from dipflow.cli import crm_check
from dipflow.connectors.check import run_checks
from dipflow.emulator.testing import RunningEmulator, running_emulator
from tests.connectors.fake_crm import ENV, FakeCrm, dataverse_config


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


def cli() -> typer.Typer:
    app = typer.Typer()
    crm_check.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `check` a named subcommand
        pass

    return app


def options(emu: RunningEmulator, secret_env: str = "CRM_SECRET") -> list[str]:
    return [
        "--base-url",
        emu.base_url,
        "--token-url",
        emu.token_url,
        "--client-id",
        emu.client_id,
        "--client-secret-env",
        secret_env,
    ]


def test_all_green_against_the_emulator(emu: RunningEmulator) -> None:
    result = CliRunner().invoke(
        cli(),
        ["check", "crm", *options(emu)],
        env={"CRM_SECRET": emu.client_secret, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    # settings, credentials, three reads, and the one request the flow sends for Ada
    assert result.output.count("✓") == 6
    assert "ms-dynamics-data-dip: GetCustomerInfo (GET contacts)" in result.output
    assert "Ada Lovelace" in result.output and "Router keeps rebooting" in result.output
    assert "All checks passed" in result.output


def test_wrong_secret_says_what_to_fix(emu: RunningEmulator) -> None:
    result = CliRunner().invoke(
        cli(), ["check", "crm", *options(emu)], env={"CRM_SECRET": "wrong", "COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "✗" in result.output and "AADSTS7000215" in result.output
    assert "not its Secret ID" in result.output
    assert "wrong" not in result.output.replace("wrong:", "")  # the secret is never printed


def test_missing_secret_names_the_variable(emu: RunningEmulator) -> None:
    result = CliRunner().invoke(
        cli(), ["check", "crm", *options(emu, "NOT_SET_ANYWHERE")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "NOT_SET_ANYWHERE" in result.output


def test_connector_from_dipflow_yaml(emu: RunningEmulator, tmp_path: Path) -> None:
    config = tmp_path / "dipflow.yaml"
    config.write_text(
        "flows:\n"
        "  - dnis: '*'\n"
        "    flow: ms-dynamics-data-dip\n"
        "center: {}\n"
        "connectors:\n"
        "  - name: dynamics\n"
        "    kind: dataverse\n"
        f"    base_url: {emu.base_url}\n"
        "    auth:\n"
        "      type: oauth2_client_credentials\n"
        f"      token_url: {emu.token_url}\n"
        f"      client_id: {emu.client_id}\n"
        "      client_secret_env: CRM_SECRET\n"
        "    phone:\n"
        "      match_accounts: true\n"
    )
    result = CliRunner().invoke(
        cli(),
        ["check", "dynamics", "--config", str(config), "--ani", "+12065550100"],
        env={"CRM_SECRET": emu.client_secret, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    # the flow finds no contact, then looks in accounts: both requests are checked
    assert "GetCustomerInfo (GET contacts)" in result.output
    assert "GetAccountInfo (GET accounts)" in result.output
    assert "Contoso Ltd, latest case CAS-01005-C0N7S0" in result.output
    missing = CliRunner().invoke(cli(), ["check", "other", "--config", str(config)])
    assert missing.exit_code != 0
    assert "dynamics" in missing.output


async def test_missing_application_user_and_role_hints() -> None:
    crm = FakeCrm()
    crm.script = [
        httpx.Response(401, json={"error": {"code": "0x80072560", "message": "not a member"}}),
        httpx.Response(401),
    ]
    results = await run_checks(dataverse_config(), environ=ENV, transport=httpx.MockTransport(crm))
    contacts = next(r for r in results if r.name == "Read contacts")
    assert contacts.ok is False and contacts.fix and "application user" in contacts.fix

    crm = FakeCrm()
    crm.script = [httpx.Response(200, json={"value": []}), httpx.Response(403)]
    results = await run_checks(dataverse_config(), environ=ENV, transport=httpx.MockTransport(crm))
    accounts = next(r for r in results if r.name == "Read accounts")
    assert accounts.ok is False and accounts.fix and "Read on the account table" in accounts.fix
    assert not any("GetCustomerInfo" in r.name for r in results)


async def test_bad_phone_column_hint() -> None:
    crm = FakeCrm()
    ok = httpx.Response(200, json={"value": []})
    bad = httpx.Response(
        400,
        json={
            "error": {
                "code": "0x80060888",
                "message": "Could not find a property named 'new_phone' on type 'contact'.",
            }
        },
    )
    crm.script = [ok, ok, ok, bad]
    config = dataverse_config(phone={"phone_columns": ["new_phone"]})
    results = await run_checks(config, environ=ENV, transport=httpx.MockTransport(crm))
    lookup = next(r for r in results if "GetCustomerInfo" in r.name)
    assert lookup.ok is False
    assert "new_phone" in lookup.detail
    assert lookup.fix and "phone_columns" in lookup.fix
