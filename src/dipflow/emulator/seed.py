"""A large, realistic CRM database for benchmarks (`crm seed`). Beside the layers (emulator).

The emulator is a CRM peer that dipflow reaches over HTTP; only the command line imports it.

Phones are stored the way real CRMs hold them, typed by hand over years: US
numbers as "+1 415-555-0123", "(415) 555-0123", "4155550123"...; UK numbers as
"+44 20 7946 0958", "020 7946 0958"... `new_phonee164` holds the E.164 form of
the contact's first phone (the custom column a well-kept CRM adds). Rows are
generated from a seeded RNG and inserted with executemany in large
transactions, and indexes are built after the load, which is much faster than
maintaining them row by row. The columns written are the schema's
(`dipflow.emulator.schema`), in its order: a row names its values, and a name that is
not a column of its table is refused.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers

from dipflow.emulator.demo_data import load_demo_data
from dipflow.emulator.odata.values import format_datetime
from dipflow.emulator.records import ticket_number
from dipflow.emulator.schema import (
    ACCOUNTS,
    CONTACTS,
    CUSTOMER_TYPE_COLUMN,
    INCIDENTS,
    Entity,
    index_ddl,
    table_ddl,
)
from dipflow.emulator.store import Store


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Oliver Amelia Harry Isla Jack Ava Noah Mia Leo Freya Arthur Ivy "
    "Muhammad Sofia Jose Maria Wei Mei Hiroshi Yuki Aarav Priya Chloe Lucas Zoe Liam "
    "Siobhan Padraig Niamh Eoin Aoife Søren Zoë José Renée Björn Chiara Łukasz Ørjan"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Patel Khan Evans Hughes Edwards Wood Murphy O'Brien O'Connor McDonald Kowalski "
    "Müller Schmidt Dubois Rossi Tanaka Suzuki Chen Wang Kim Park Singh Das Okafor Mensah "
    "Ivanova Novak Horvat Jensen Larsen Nilsen Fernández Gómez D'Angelo Sinclair"
)
COMPANY_WORDS = _words(
    "Contoso Fabrikam Northwind Tailspin Woodgrove Litware Adventure Proseware Wingtip "
    "Coho Alpine Lucerne Humongous Trey Margie Fourth Blue Yonder Graphic Datum"
)
COMPANY_SUFFIX = ("Ltd", "Inc.", "LLC", "GmbH", "plc", "Group", "& Co.", "Holdings")
CASE_TITLES = (
    "Router keeps rebooting",
    "No internet connection",
    "Invoice shows wrong amount",
    "Cannot log in to the portal",
    "Slow broadband in the evening",
    "Request to cancel contract",
    "Change of address",
    "Modem lights blinking orange",
    "Refund not received",
    "Wi-Fi drops every few minutes",
    "Upgrade to fibre",
    "Password reset does not arrive",
    "Billing address update",
    "Technician missed appointment",
    "Roaming charges dispute",
    "SIM card not recognised",
    "Porting my number",
    "Email not syncing",
)
US_AREAS = (201, 206, 212, 213, 303, 305, 312, 404, 415, 425, 503, 512, 617, 646, 702, 718)
US_FORMATS = (
    "+1 {a}-{e}-{l}",
    "({a}) {e}-{l}",
    "{a}{e}{l}",
    "+1 ({a}) {e}-{l}",
    "{a}.{e}.{l}",
    "+1{a}{e}{l}",
    "{a}-{e}-{l}",
    "1-{a}-{e}-{l}",
)
UK_FORMATS = ("+44 20 {p} {q}", "020 {p} {q}", "+44 (0)20 {p} {q}", "020{p}{q}", "+4420{p}{q}")
UK_MOBILE_FORMATS = ("07{m} {n}", "+44 7{m} {n}", "+447{m}{n}", "07{m}{n}")


@dataclass(frozen=True, slots=True)
class _Table:
    """One table's columns, from the schema, and its INSERT statement."""

    entity: Entity
    columns: tuple[str, ...] = field(init=False)
    known: frozenset[str] = field(init=False)
    sql: str = field(init=False)

    def __post_init__(self) -> None:
        columns = tuple(self.entity.columns)
        if self.entity is INCIDENTS:
            columns += (CUSTOMER_TYPE_COLUMN,)  # the table's hidden column (see schema)
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "known", frozenset(columns))
        object.__setattr__(self, "sql", _insert_sql(self.entity.set_name, columns))

    def row(self, values: dict[str, object]) -> tuple[object, ...]:
        """`values` in column order; a column it does not name is NULL."""
        if not values.keys() <= self.known:
            unknown = sorted(values.keys() - self.known)
            raise ValueError(f"{self.entity.set_name} has no column {', '.join(unknown)}")
        return tuple(values.get(column) for column in self.columns)


BATCH = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedResult:
    contacts: int
    accounts: int
    incidents: int


class PhoneMaker:
    """Random phone numbers in mixed formats, with their E.164 form."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def make(self) -> tuple[str, str]:
        rng = self._rng
        roll = rng.random()
        if roll < 0.7:
            a = rng.choice(US_AREAS)
            e = rng.randrange(200, 1000)
            line = rng.randrange(10000)
            text = rng.choice(US_FORMATS).format(a=a, e=e, l=f"{line:04d}")
            return text, f"+1{a}{e}{line:04d}"
        if roll < 0.85:
            p = rng.randrange(7000, 9000)
            q = rng.randrange(10000)
            return rng.choice(UK_FORMATS).format(p=p, q=f"{q:04d}"), f"+4420{p}{q:04d}"
        # A UK mobile's national number is 7 and nine digits (07mmm nnnnnn), and only
        # some blocks are allocated (076xx is pagers): draw until phonenumbers agrees.
        for _ in range(50):
            m_text = f"{rng.randrange(100, 1000):03d}"
            n_text = f"{rng.randrange(1000000):06d}"
            e164 = f"+447{m_text}{n_text}"
            if phonenumbers.is_valid_number(phonenumbers.parse(e164)):
                break
        text = rng.choice(UK_MOBILE_FORMATS).format(m=m_text, n=n_text)
        return text, e164


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _dates(rng: random.Random, now: datetime, days: int) -> tuple[str, str]:
    created = now - timedelta(seconds=rng.randrange(days * 86400))
    modified = created + timedelta(seconds=rng.randrange(30 * 86400))
    return format_datetime(created), format_datetime(min(modified, now))


def seed_database(
    path: str | Path,
    *,
    contacts: int,
    accounts: int | None = None,
    rng_seed: int = 1,
    with_demo: bool = True,
    on_progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> SeedResult:
    """Fill a new SQLite file with `contacts` contacts, their cases, and some accounts."""
    rng = random.Random(rng_seed)
    moment = now or datetime.now(UTC)
    n_accounts = accounts if accounts is not None else max(1, contacts // 20)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        # The file is being built from scratch: durability during the load buys nothing.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        for statement in table_ddl():
            conn.execute(statement)
        if conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]:
            raise ValueError(f"{path} already holds contacts; seed a new file")
        contacts_table, accounts_table = _Table(CONTACTS), _Table(ACCOUNTS)
        incidents = _Table(INCIDENTS)
        phones = PhoneMaker(rng)
        version = [2000]
        totals = {"incidents": 0}

        def cases_for(customer: str, kind: str, count: int) -> Iterator[tuple[object, ...]]:
            for _ in range(count):
                created, modified = _dates(rng, moment, 730)
                version[0] += 1
                resolved = rng.random() < 0.6
                totals["incidents"] += 1
                # Values in the order they were always drawn: a seed gives the same data.
                yield incidents.row(
                    {
                        "incidentid": _guid(rng),
                        "title": rng.choice(CASE_TITLES),
                        "ticketnumber": ticket_number(rng),
                        "_customerid_value": customer,
                        CUSTOMER_TYPE_COLUMN: kind,
                        "statecode": 1 if resolved else 0,
                        "statuscode": 5 if resolved else rng.choice((1, 2, 3, 4)),
                        "prioritycode": rng.choice((1, 2, 2, 2, 3)),
                        "caseorigincode": rng.choice((1, 1, 1, 2, 3)),
                        "createdon": created,
                        "modifiedon": modified,
                        "versionnumber": version[0],
                    }
                )

        done = 0
        while done < contacts:
            size = min(BATCH, contacts - done)
            contact_rows: list[tuple[object, ...]] = []
            case_rows: list[tuple[object, ...]] = []
            for _ in range(size):
                key = _guid(rng)
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                primary, e164 = phones.make()
                slots: list[str | None] = [None, None, None]
                slots[rng.choice((0, 0, 0, 1, 1, 2))] = primary
                if rng.random() < 0.3:
                    free = [i for i, s in enumerate(slots) if s is None]
                    slots[rng.choice(free)] = phones.make()[0]
                created, modified = _dates(rng, moment, 2000)
                version[0] += 1
                email = f"{first}.{last}{rng.randrange(1000)}@example.com".lower()
                contact_rows.append(
                    contacts_table.row(
                        {
                            "contactid": key,
                            "fullname": f"{first} {last}",
                            "firstname": first,
                            "lastname": last,
                            "telephone1": slots[0],
                            "mobilephone": slots[1],
                            "telephone2": slots[2],
                            "emailaddress1": email.replace("'", "").replace(" ", ""),
                            "new_phonee164": e164,
                            "statecode": 0,
                            "statuscode": 1,
                            "createdon": created,
                            "modifiedon": modified,
                            "versionnumber": version[0],
                        }
                    )
                )
                case_rows.extend(cases_for(key, "contact", rng.choice((0, 0, 1, 1, 2, 3, 4))))
            conn.execute("BEGIN")
            conn.executemany(contacts_table.sql, contact_rows)
            conn.executemany(incidents.sql, case_rows)
            conn.execute("COMMIT")
            done += size
            if on_progress is not None:
                on_progress(size)
        account_rows: list[tuple[object, ...]] = []
        case_rows = []
        for i in range(n_accounts):
            key = _guid(rng)
            phone, e164 = phones.make()
            created, modified = _dates(rng, moment, 2000)
            version[0] += 1
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIX)}"
            account_rows.append(
                accounts_table.row(
                    {
                        "accountid": key,
                        "name": name,
                        "accountnumber": f"ACC-{i + 10000}",
                        "telephone1": phone,
                        "new_phonee164": e164,
                        "statecode": 0,
                        "statuscode": 1,
                        "createdon": created,
                        "modifiedon": modified,
                        "versionnumber": version[0],
                    }
                )
            )
            case_rows.extend(cases_for(key, "account", rng.choice((0, 1, 2))))
        conn.execute("BEGIN")
        conn.executemany(accounts_table.sql, account_rows)
        conn.executemany(incidents.sql, case_rows)
        conn.execute("COMMIT")
        for statement in index_ddl():
            conn.execute(statement)
        conn.execute("ANALYZE")
    finally:
        conn.close()
    added: dict[str, int] = {}
    if with_demo:
        store = Store(path)
        try:
            before = store.counts()
            load_demo_data(store)
            added = {table: count - before[table] for table, count in store.counts().items()}
        finally:
            store.close()
    return SeedResult(
        contacts=contacts + added.get("contacts", 0),
        accounts=n_accounts + added.get("accounts", 0),
        incidents=totals["incidents"] + added.get("incidents", 0),
    )


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    # Table and column names come from the schema, never from input.
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
