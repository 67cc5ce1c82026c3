"""Generate a large, realistic CRM database for benchmarks (`dipflow crm seed`).

Phones are stored the way real CRMs hold them, typed by hand over years: US
numbers as "+1 415-555-0123", "(415) 555-0123", "4155550123"...; UK numbers as
"+44 20 7946 0958", "020 7946 0958"... `new_phonee164` holds the E.164 form of
the contact's first phone (the custom column a well-kept CRM adds). Rows are
generated from a seeded RNG and inserted with executemany in large
transactions, and indexes are built after the load, which is much faster than
maintaining them row by row.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers

from dipflow.emulator.demo_data import load_demo_data
from dipflow.emulator.odata.values import format_datetime
from dipflow.emulator.records import ticket_number
from dipflow.emulator.schema import index_ddl, table_ddl
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

CONTACT_COLUMNS = (
    "contactid",
    "fullname",
    "firstname",
    "lastname",
    "telephone1",
    "mobilephone",
    "telephone2",
    "emailaddress1",
    "new_phonee164",
    "statecode",
    "statuscode",
    "createdon",
    "modifiedon",
    "versionnumber",
)
ACCOUNT_COLUMNS = (
    "accountid",
    "name",
    "accountnumber",
    "telephone1",
    "telephone2",
    "emailaddress1",
    "new_phonee164",
    "statecode",
    "statuscode",
    "createdon",
    "modifiedon",
    "versionnumber",
)
INCIDENT_COLUMNS = (
    "incidentid",
    "title",
    "ticketnumber",
    "_customerid_value",
    "customeridtype",
    "description",
    "statecode",
    "statuscode",
    "prioritycode",
    "caseorigincode",
    "createdon",
    "modifiedon",
    "versionnumber",
)
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
        phones = PhoneMaker(rng)
        version = [2000]
        totals = {"incidents": 0}

        def cases_for(customer: str, kind: str, count: int) -> Iterator[tuple[object, ...]]:
            for _ in range(count):
                created, modified = _dates(rng, moment, 730)
                version[0] += 1
                resolved = rng.random() < 0.6
                totals["incidents"] += 1
                yield (
                    _guid(rng),
                    rng.choice(CASE_TITLES),
                    ticket_number(rng),
                    customer,
                    kind,
                    None,
                    1 if resolved else 0,
                    5 if resolved else rng.choice((1, 2, 3, 4)),
                    rng.choice((1, 2, 2, 2, 3)),
                    rng.choice((1, 1, 1, 2, 3)),
                    created,
                    modified,
                    version[0],
                )

        contact_sql = _insert_sql("contacts", CONTACT_COLUMNS)
        account_sql = _insert_sql("accounts", ACCOUNT_COLUMNS)
        incident_sql = _insert_sql("incidents", INCIDENT_COLUMNS)
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
                    (
                        key,
                        f"{first} {last}",
                        first,
                        last,
                        slots[0],
                        slots[1],
                        slots[2],
                        email.replace("'", "").replace(" ", ""),
                        e164,
                        0,
                        1,
                        created,
                        modified,
                        version[0],
                    )
                )
                case_rows.extend(cases_for(key, "contact", rng.choice((0, 0, 1, 1, 2, 3, 4))))
            conn.execute("BEGIN")
            conn.executemany(contact_sql, contact_rows)
            conn.executemany(incident_sql, case_rows)
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
                (
                    key,
                    name,
                    f"ACC-{i + 10000}",
                    phone,
                    None,
                    None,
                    e164,
                    0,
                    1,
                    created,
                    modified,
                    version[0],
                )
            )
            case_rows.extend(cases_for(key, "account", rng.choice((0, 1, 2))))
        conn.execute("BEGIN")
        conn.executemany(account_sql, account_rows)
        conn.executemany(incident_sql, case_rows)
        conn.execute("COMMIT")
        for statement in index_ddl():
            conn.execute(statement)
        conn.execute("ANALYZE")
    finally:
        conn.close()
    extra = (0, 0, 0)
    if with_demo:
        store = Store(path)
        try:
            before = store.counts()
            load_demo_data(store)
            after = store.counts()
            extra = tuple(after[k] - before[k] for k in ("contacts", "accounts", "incidents"))  # type: ignore[assignment]
        finally:
            store.close()
    return SeedResult(
        contacts=contacts + extra[0],
        accounts=n_accounts + extra[1],
        incidents=totals["incidents"] + extra[2],
    )


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    # Table and column names are the constants above, never input.
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
