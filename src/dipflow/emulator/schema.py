"""The three Dataverse tables the emulator holds, described as data.

Column names are the real logical names of the `contact`, `account` and
`incident` tables (Microsoft Learn, Web API entity type reference). Everything
that turns a request into SQL looks names up here, so that no identifier from a
request ever reaches an SQL string: only names that exist in this module do.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class ColumnType(Enum):
    """The Edm type of a property (decides which literals it can compare with)."""

    GUID = "Edm.Guid"
    STRING = "Edm.String"
    INT = "Edm.Int32"
    BIGINT = "Edm.Int64"
    DATETIME = "Edm.DateTimeOffset"


class NavKind(Enum):
    COLLECTION = "collection"
    SINGLE = "single"


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    name: str
    type: ColumnType
    writable: bool = True
    options: Mapping[int, str] = field(default_factory=dict)
    """Option-set labels, used for the FormattedValue annotation."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Navigation:
    """A navigation property.

    Incident's `customerid` is a polymorphic "customer" lookup: one column
    (`_customerid_value`) plus the type of the target, exposed as two
    single-valued navigation properties (`customerid_contact`,
    `customerid_account`) and, on the other side, one collection per target
    (`incident_customer_contacts`, `incident_customer_accounts`).
    """

    name: str
    kind: NavKind
    target: str
    """Entity set name of the other side."""
    local_column: str
    remote_column: str
    customer_type: str
    """Logical name the lookup's type column must hold for this relationship."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    set_name: str
    logical_name: str
    key: str
    primary_name: str
    columns: Mapping[str, Column]
    navigations: Mapping[str, Navigation] = field(default_factory=dict)

    def column(self, name: str) -> Column | None:
        return self.columns.get(name)


_STATE = {0: "Active", 1: "Inactive"}
_INCIDENT_STATE = {0: "Active", 1: "Resolved", 2: "Cancelled"}
_INCIDENT_STATUS = {
    1: "In Progress",
    2: "On Hold",
    3: "Waiting for Details",
    4: "Researching",
    5: "Problem Solved",
    1000: "Information Provided",
    6: "Cancelled",
    2000: "Merged",
}
_PRIORITY = {1: "High", 2: "Normal", 3: "Low"}
_ORIGIN = {1: "Phone", 2: "Email", 3: "Web", 2483: "Facebook", 3986: "Twitter", 700610000: "IoT"}


def _cols(*columns: Column) -> dict[str, Column]:
    return {c.name: c for c in columns}


def _system_columns() -> tuple[Column, ...]:
    return (
        Column(name="createdon", type=ColumnType.DATETIME),
        Column(name="modifiedon", type=ColumnType.DATETIME, writable=False),
        Column(name="versionnumber", type=ColumnType.BIGINT, writable=False),
    )


CONTACTS = Entity(
    set_name="contacts",
    logical_name="contact",
    key="contactid",
    primary_name="fullname",
    columns=_cols(
        Column(name="contactid", type=ColumnType.GUID),
        Column(name="fullname", type=ColumnType.STRING),
        Column(name="firstname", type=ColumnType.STRING),
        Column(name="lastname", type=ColumnType.STRING),
        Column(name="telephone1", type=ColumnType.STRING),
        Column(name="mobilephone", type=ColumnType.STRING),
        Column(name="telephone2", type=ColumnType.STRING),
        Column(name="emailaddress1", type=ColumnType.STRING),
        Column(name="new_phonee164", type=ColumnType.STRING),
        Column(name="statecode", type=ColumnType.INT, options=_STATE),
        Column(name="statuscode", type=ColumnType.INT, options={1: "Active", 2: "Inactive"}),
        *_system_columns(),
    ),
    navigations={
        "incident_customer_contacts": Navigation(
            name="incident_customer_contacts",
            kind=NavKind.COLLECTION,
            target="incidents",
            local_column="contactid",
            remote_column="_customerid_value",
            customer_type="contact",
        )
    },
)

ACCOUNTS = Entity(
    set_name="accounts",
    logical_name="account",
    key="accountid",
    primary_name="name",
    columns=_cols(
        Column(name="accountid", type=ColumnType.GUID),
        Column(name="name", type=ColumnType.STRING),
        Column(name="accountnumber", type=ColumnType.STRING),
        Column(name="telephone1", type=ColumnType.STRING),
        Column(name="telephone2", type=ColumnType.STRING),
        Column(name="emailaddress1", type=ColumnType.STRING),
        Column(name="new_phonee164", type=ColumnType.STRING),
        Column(name="statecode", type=ColumnType.INT, options=_STATE),
        Column(name="statuscode", type=ColumnType.INT, options={1: "Active", 2: "Inactive"}),
        *_system_columns(),
    ),
    navigations={
        "incident_customer_accounts": Navigation(
            name="incident_customer_accounts",
            kind=NavKind.COLLECTION,
            target="incidents",
            local_column="accountid",
            remote_column="_customerid_value",
            customer_type="account",
        )
    },
)

INCIDENTS = Entity(
    set_name="incidents",
    logical_name="incident",
    key="incidentid",
    primary_name="title",
    columns=_cols(
        Column(name="incidentid", type=ColumnType.GUID),
        Column(name="title", type=ColumnType.STRING),
        Column(name="ticketnumber", type=ColumnType.STRING),
        Column(name="_customerid_value", type=ColumnType.GUID, writable=False),
        Column(name="description", type=ColumnType.STRING),
        Column(name="statecode", type=ColumnType.INT, options=_INCIDENT_STATE),
        Column(name="statuscode", type=ColumnType.INT, options=_INCIDENT_STATUS),
        Column(name="prioritycode", type=ColumnType.INT, options=_PRIORITY),
        Column(name="caseorigincode", type=ColumnType.INT, options=_ORIGIN),
        *_system_columns(),
    ),
    navigations={
        "customerid_contact": Navigation(
            name="customerid_contact",
            kind=NavKind.SINGLE,
            target="contacts",
            local_column="_customerid_value",
            remote_column="contactid",
            customer_type="contact",
        ),
        "customerid_account": Navigation(
            name="customerid_account",
            kind=NavKind.SINGLE,
            target="accounts",
            local_column="_customerid_value",
            remote_column="accountid",
            customer_type="account",
        ),
    },
)

CUSTOMER_TYPE_COLUMN = "customeridtype"
"""Hidden incident column holding the customer lookup's target (`contact`/`account`)."""

ENTITIES: Mapping[str, Entity] = {e.set_name: e for e in (CONTACTS, ACCOUNTS, INCIDENTS)}
BY_LOGICAL_NAME: Mapping[str, Entity] = {e.logical_name: e for e in ENTITIES.values()}

PHONE_COLUMNS = ("telephone1", "mobilephone", "telephone2", "new_phonee164")


def _column_sql(column: Column) -> str:
    if column.type in (ColumnType.INT, ColumnType.BIGINT):
        return f"{column.name} INTEGER"
    # NOCASE: Dataverse compares strings case-insensitively (SQL Server's default
    # collation); declaring it on the column keeps `eq` on an index.
    return f"{column.name} TEXT COLLATE NOCASE"


def ddl() -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for a fresh database."""
    return table_ddl() + index_ddl()


def table_ddl() -> list[str]:
    statements: list[str] = []
    for entity in ENTITIES.values():
        cols = [
            f"{entity.key} TEXT PRIMARY KEY COLLATE NOCASE",
            *(_column_sql(c) for c in entity.columns.values() if c.name != entity.key),
        ]
        if entity is INCIDENTS:
            cols.append(f"{CUSTOMER_TYPE_COLUMN} TEXT")
        statements.append(f"CREATE TABLE IF NOT EXISTS {entity.set_name} ({', '.join(cols)})")
    return statements


def index_ddl() -> list[str]:
    """Indexes; the seeder creates them after a bulk load, which is much faster."""
    statements: list[str] = []
    for entity in (CONTACTS, ACCOUNTS):
        for phone in PHONE_COLUMNS:
            if phone in entity.columns:
                statements.append(
                    f"CREATE INDEX IF NOT EXISTS ix_{entity.set_name}_{phone} "
                    f"ON {entity.set_name} ({phone})"
                )
    statements.append(
        "CREATE INDEX IF NOT EXISTS ix_incidents_customer "
        "ON incidents (_customerid_value, createdon)"
    )
    statements.append(
        "CREATE INDEX IF NOT EXISTS ix_incidents_ticketnumber ON incidents (ticketnumber)"
    )
    statements.append("CREATE INDEX IF NOT EXISTS ix_contacts_fullname ON contacts (fullname)")
    return statements
