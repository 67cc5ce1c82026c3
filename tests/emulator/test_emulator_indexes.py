"""Phone lookups stay on indexes (what keeps them fast at a million contacts)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dipflow.emulator.odata.options import parse_options
from dipflow.emulator.schema import CONTACTS, INCIDENTS
from dipflow.emulator.store import Store


def test_or_of_phone_columns_is_a_multi_index_lookup() -> None:
    store = Store(":memory:")
    try:
        filter_ = " or ".join(
            f"{c} eq '+14155550123'"
            for c in ("telephone1", "mobilephone", "telephone2", "new_phonee164")
        )
        plan = store.explain(CONTACTS, parse_options({"$filter": filter_}, CONTACTS))
        assert "MULTI-INDEX OR" in plan
        assert sum("USING INDEX ix_contacts_" in step for step in plan) == 4
        assert not any(step.startswith("SCAN contacts") for step in plan)
        cases = parse_options(
            {
                "$filter": "_customerid_value eq c0000000-0000-4000-8000-000000000001",
                "$orderby": "createdon desc",
            },
            INCIDENTS,
        )
        assert any(
            "USING INDEX ix_incidents_customer" in step for step in store.explain(INCIDENTS, cases)
        )
    finally:
        store.close()


def test_a_database_from_an_older_emulator_gains_the_new_lookup_columns(tmp_path: Path) -> None:
    """Seeded files (a million contacts take a minute) survive a schema that grew."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE contacts (contactid TEXT PRIMARY KEY, fullname TEXT, telephone1 TEXT, "
        "statecode INTEGER)"
    )
    conn.execute(
        "INSERT INTO contacts VALUES ('c0000000-0000-4000-8000-0000000000aa', 'Old', '+1 555', 0)"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        options = parse_options({"$filter": "_parentcustomerid_value eq null"}, CONTACTS)
        rows, _ = store.query(CONTACTS, options)
        assert [r["fullname"] for r in rows] == ["Old"]
        assert any(
            "ix_contacts_parentcustomer" in line
            for line in store.explain(
                CONTACTS,
                parse_options(
                    {"$filter": "_parentcustomerid_value eq a0000000-0000-4000-8000-000000000003"},
                    CONTACTS,
                ),
            )
        )
    finally:
        store.close()
