"""`dipflow crm seed`: realistic data in mixed phone formats, fast lookups after seeding."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
from typer.testing import CliRunner

from dipflow.cli.main import app
from dipflow.emulator.demo_data import demo_caller
from dipflow.emulator.seed import seed_database
from dipflow.emulator.settings import EmulatorSettings, SeedKind
from dipflow.emulator.testing import running_emulator


def test_seed_command_writes_contacts_cases_and_demo_records(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    result = CliRunner().invoke(app, ["crm", "seed", "--contacts", "300", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "311 contacts" in result.output  # 300 generated + 11 demo contacts
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 311
        cases = conn.execute("SELECT ticketnumber, _customerid_value FROM incidents").fetchall()
        phones = [
            r[0]
            for r in conn.execute("SELECT telephone1 FROM contacts WHERE telephone1 IS NOT NULL")
        ]
        e164 = [r[0] for r in conn.execute("SELECT new_phonee164 FROM contacts")]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert len(cases) > 300
    assert all(re.fullmatch(r"CAS-\d{5}-[A-Z0-9]{6}", t) for t, _ in cases)
    shapes = {re.sub(r"\d", "9", p) for p in phones}
    assert len(shapes) >= 6, shapes  # mixed formats, as real CRMs hold them
    assert any(p.startswith("(") for p in phones) and any(p.startswith("+44") for p in phones)
    assert all(n and re.fullmatch(r"\+\d{8,15}", n) for n in e164)
    assert {
        "ix_contacts_telephone1",
        "ix_contacts_mobilephone",
        "ix_contacts_new_phonee164",
    } <= indexes


def test_seed_refuses_to_overwrite_without_replace(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    db.write_bytes(b"")
    result = CliRunner().invoke(app, ["crm", "seed", "--contacts", "5", "--db", str(db)])
    assert result.exit_code == 2
    result = CliRunner().invoke(
        app, ["crm", "seed", "--contacts", "5", "--db", str(db), "--replace", "--no-demo"]
    )
    assert result.exit_code == 0, result.output


def test_seeded_database_is_served_and_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    seed_database(first, contacts=200, rng_seed=7, with_demo=True)
    seed_database(second, contacts=200, rng_seed=7, with_demo=True)
    query = "SELECT contactid, fullname, telephone1 FROM contacts ORDER BY contactid"
    with sqlite3.connect(first) as a, sqlite3.connect(second) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        some_phone, some_name = a.execute(
            "SELECT telephone1, fullname FROM contacts WHERE telephone1 IS NOT NULL LIMIT 1"
        ).fetchone()
    settings = EmulatorSettings(db=str(first), seed=SeedKind.NONE, require_auth=False)
    with running_emulator(settings=settings) as crm:
        escaped = some_phone.replace("'", "''")
        rows = httpx.get(
            crm.api_url + "contacts", params={"$filter": f"telephone1 eq '{escaped}'"}
        ).json()["value"]
        assert some_name in {r["fullname"] for r in rows}
        ada = demo_caller("ada")
        assert httpx.get(crm.api_url + f"contacts({ada.customer_id})").status_code == 200


def test_seeded_phone_numbers_are_valid_and_match_their_e164() -> None:
    """Every generated number is a real, valid number whose stored text parses back to the
    E.164 form kept beside it: a seeded caller can always be found by their ANI."""
    import random

    import phonenumbers

    from dipflow.emulator.seed import PhoneMaker

    maker = PhoneMaker(random.Random(7))
    for _ in range(2000):
        text, e164 = maker.make()
        parsed = phonenumbers.parse(text, "US" if e164.startswith("+1") else "GB")
        assert phonenumbers.is_valid_number(parsed), (text, e164)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == e164
