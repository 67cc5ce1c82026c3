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
class Lookup:
    """A lookup column (`_<attribute>_value`) and the table(s) it points at.

    A polymorphic lookup such as incident's `customerid` ("customer": contact or
    account) keeps the target's logical name in a hidden `type_column`, surfaced as
    the `lookuplogicalname` annotation; a plain lookup has one target.
    """

    attribute: str
    """Logical name of the lookup attribute, e.g. `customerid`."""
    targets: tuple[str, ...]
    """Logical names of the tables it can point at."""

    @property
    def column(self) -> str:
        return f"_{self.attribute}_value"

    @property
    def type_column(self) -> str | None:
        return f"{self.attribute}type" if len(self.targets) > 1 else None

    @property
    def name_column(self) -> str:
        """Computed column holding the target's primary name (FormattedValue)."""
        return f"{self.attribute}name"

    def navigation_name(self, target: str) -> str:
        return f"{self.attribute}_{target}" if len(self.targets) > 1 else self.attribute


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
    type_column: str | None = None
    """Hidden column of the referencing table holding the target type (polymorphic
    lookups); None for a lookup with one target."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entity:
    set_name: str
    logical_name: str
    key: str
    primary_name: str
    columns: Mapping[str, Column]
    navigations: Mapping[str, Navigation] = field(default_factory=dict)
    lookups: tuple[Lookup, ...] = ()

    def column(self, name: str) -> Column | None:
        return self.columns.get(name)

    def lookup(self, column: str) -> Lookup | None:
        return next((lk for lk in self.lookups if lk.column == column), None)

    @property
    def hidden_columns(self) -> tuple[str, ...]:
        """Stored but never served: the target types of polymorphic lookups."""
        return tuple(lk.type_column for lk in self.lookups if lk.type_column)


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


CUSTOMER = Lookup(attribute="customerid", targets=("contact", "account"))
"""incident.customerid: the case's customer, a contact or an account."""
PARENT_CUSTOMER = Lookup(attribute="parentcustomerid", targets=("account", "contact"))
"""contact.parentcustomerid ("Company Name"): the account (or contact) a contact belongs to."""
PRIMARY_CONTACT = Lookup(attribute="primarycontactid", targets=("contact",))
"""account.primarycontactid and incident.primarycontactid (the case's "Contact")."""

_SET_OF = {"contact": "contacts", "account": "accounts", "incident": "incidents"}
_KEY_OF = {"contact": "contactid", "account": "accountid", "incident": "incidentid"}


def _single(lookup: Lookup, target: str) -> Navigation:
    """The many-to-one side: the referencing table's navigation to one target."""
    return Navigation(
        name=lookup.navigation_name(target),
        kind=NavKind.SINGLE,
        target=_SET_OF[target],
        local_column=lookup.column,
        remote_column=_KEY_OF[target],
        customer_type=target,
        type_column=lookup.type_column,
    )


def _collection(name: str, lookup: Lookup, owner: str, referencing: str) -> Navigation:
    """The one-to-many side: rows of `referencing` whose `lookup` points at `owner`."""
    return Navigation(
        name=name,
        kind=NavKind.COLLECTION,
        target=_SET_OF[referencing],
        local_column=_KEY_OF[owner],
        remote_column=lookup.column,
        customer_type=owner,
        type_column=lookup.type_column,
    )


def _navs(*navigations: Navigation) -> dict[str, Navigation]:
    return {n.name: n for n in navigations}


# Relationship (collection-valued navigation) names are Dataverse's: Microsoft Learn,
# Web API EntityType reference for contact, account and incident.
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
        Column(name="_parentcustomerid_value", type=ColumnType.GUID, writable=False),
        Column(name="statecode", type=ColumnType.INT, options=_STATE),
        Column(name="statuscode", type=ColumnType.INT, options={1: "Active", 2: "Inactive"}),
        *_system_columns(),
    ),
    lookups=(PARENT_CUSTOMER,),
    navigations=_navs(
        _collection("incident_customer_contacts", CUSTOMER, "contact", "incident"),
        _collection("contact_as_primary_contact", PRIMARY_CONTACT, "contact", "incident"),
        _collection("account_primary_contact", PRIMARY_CONTACT, "contact", "account"),
        _collection("contact_customer_contacts", PARENT_CUSTOMER, "contact", "contact"),
        _single(PARENT_CUSTOMER, "account"),
        _single(PARENT_CUSTOMER, "contact"),
    ),
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
        Column(name="_primarycontactid_value", type=ColumnType.GUID, writable=False),
        Column(name="statecode", type=ColumnType.INT, options=_STATE),
        Column(name="statuscode", type=ColumnType.INT, options={1: "Active", 2: "Inactive"}),
        *_system_columns(),
    ),
    lookups=(PRIMARY_CONTACT,),
    navigations=_navs(
        _collection("incident_customer_accounts", CUSTOMER, "account", "incident"),
        _collection("contact_customer_accounts", PARENT_CUSTOMER, "account", "contact"),
        _single(PRIMARY_CONTACT, "contact"),
    ),
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
        Column(name="_primarycontactid_value", type=ColumnType.GUID, writable=False),
        Column(name="description", type=ColumnType.STRING),
        Column(name="statecode", type=ColumnType.INT, options=_INCIDENT_STATE),
        Column(name="statuscode", type=ColumnType.INT, options=_INCIDENT_STATUS),
        Column(name="prioritycode", type=ColumnType.INT, options=_PRIORITY),
        Column(name="caseorigincode", type=ColumnType.INT, options=_ORIGIN),
        *_system_columns(),
    ),
    lookups=(CUSTOMER, PRIMARY_CONTACT),
    navigations=_navs(
        _single(CUSTOMER, "contact"),
        _single(CUSTOMER, "account"),
        _single(PRIMARY_CONTACT, "contact"),
    ),
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
        cols += [f"{name} TEXT" for name in entity.hidden_columns]
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
        "CREATE INDEX IF NOT EXISTS ix_incidents_primarycontact "
        "ON incidents (_primarycontactid_value, createdon)"
    )
    statements.append(
        "CREATE INDEX IF NOT EXISTS ix_contacts_parentcustomer "
        "ON contacts (_parentcustomerid_value)"
    )
    statements.append(
        "CREATE INDEX IF NOT EXISTS ix_accounts_primarycontact "
        "ON accounts (_primarycontactid_value)"
    )
    statements.append(
        "CREATE INDEX IF NOT EXISTS ix_incidents_ticketnumber ON incidents (ticketnumber)"
    )
    statements.append("CREATE INDEX IF NOT EXISTS ix_contacts_fullname ON contacts (fullname)")
    return statements
