"""The small, fixed demo CRM: known callers with fixed GUIDs.

The demo, the flow tests and the browser tests rely on these records, so they
never change silently: tests assert screen-pop URLs built from these GUIDs.
Phones are stored the way real CRMs hold them (mixed national/international
formats); `new_phonee164` holds the E.164 form a well-kept CRM would add.

`ORG_CALLERS` are callers only a lookup that follows a real org's rules greets
correctly: a customer whose merged duplicate was deactivated (Dataverse merge keeps
the losing record, inactive, with its phone numbers), and B2B callers: contacts of
an account whose cases name the account as customer. They are kept apart from
`DEMO_CALLERS`, which every flow handles.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dipflow.emulator.schema import ACCOUNTS, CONTACTS, CUSTOMER_TYPE_COLUMN, INCIDENTS
from dipflow.emulator.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoCaller:
    label: str
    """Short name for test ids and the demo's caller picker."""
    ani: str
    """Caller number in E.164, as the carrier presents it."""
    expected_fullname: str | None
    """The name the flow should greet with (contact fullname or account name); None when
    the caller is unknown or ambiguous."""
    customer_id: str | None
    """GUID of the matching contact/account; None when unknown or ambiguous."""
    customer_type: str | None
    """`contact` or `account`."""
    matches: int
    """How many CRM records hold this number (0 unknown, 2 ambiguous)."""
    latest_case_ticket: str | None
    latest_case_title: str | None
    latest_case_id: str | None


ADA_ID = "c0000000-0000-4000-8000-000000000001"
GRACE_ID = "c0000000-0000-4000-8000-000000000002"
SAM_A_ID = "c0000000-0000-4000-8000-000000000003"
SAM_B_ID = "c0000000-0000-4000-8000-000000000004"
HOSTILE_ID = "c0000000-0000-4000-8000-000000000005"
ALAN_ID = "c0000000-0000-4000-8000-000000000006"
LINUS_ID = "c0000000-0000-4000-8000-000000000007"
CONTOSO_ID = "a0000000-0000-4000-8000-000000000001"
FABRIKAM_ID = "a0000000-0000-4000-8000-000000000002"
MARGARET_ID = "c0000000-0000-4000-8000-000000000008"
MARGARET_MERGED_ID = "c0000000-0000-4000-8000-000000000009"
NANCY_ID = "c0000000-0000-4000-8000-00000000000a"
ANDREW_ID = "c0000000-0000-4000-8000-00000000000b"
NORTHWIND_ID = "a0000000-0000-4000-8000-000000000003"

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_CASE_TITLE = "O'Brien's \"router\" & <b>modem</b>"
UNKNOWN_ANI = "+15005550006"


def _contact(
    key: str, first: str | None, last: str | None, full: str, e164: str | None, **phones: str
) -> dict[str, Any]:
    return {
        "contactid": key,
        "firstname": first,
        "lastname": last,
        "fullname": full,
        "new_phonee164": e164,
        "emailaddress1": None,
        "telephone1": phones.get("telephone1"),
        "mobilephone": phones.get("mobilephone"),
        "telephone2": phones.get("telephone2"),
    }


CONTACT_ROWS: tuple[dict[str, Any], ...] = (
    _contact(
        ADA_ID,
        "Ada",
        "Lovelace",
        "Ada Lovelace",
        "+14155550123",
        telephone1="+1 (415) 555-0123",
        mobilephone="+44 7700 900123",
    ),
    _contact(
        GRACE_ID, "Grace", "Hopper", "Grace Hopper", "+442079460958", mobilephone="020 7946 0958"
    ),
    _contact(SAM_A_ID, "Sam", "Taylor", "Sam Taylor", "+14155550199", telephone1="+1 415 555 0199"),
    _contact(SAM_B_ID, "Sam", "Tailor", "Sam Tailor", "+14155550199", telephone1="+1 415 555 0199"),
    _contact(HOSTILE_ID, None, None, HOSTILE_NAME, "+14155550166", telephone1="(415) 555-0166"),
    _contact(
        ALAN_ID, "Alan", "Turing", "Alan Turing", "+442071234567", telephone2="+44 20 7123 4567"
    ),
    _contact(
        LINUS_ID, "Linus", "Torvalds", "Linus Torvalds", "+358401234567", telephone1="040 123 4567"
    ),
    _contact(
        MARGARET_ID,
        "Margaret",
        "Hamilton",
        "Margaret Hamilton",
        "+16175550142",
        telephone1="617-555-0142",
    ),
    # The duplicate a merge deactivated: Dataverse keeps it (statecode 1, statuscode 2)
    # with its phone numbers, so a lookup without `statecode eq 0` finds two people.
    {
        **_contact(
            MARGARET_MERGED_ID,
            "Margaret",
            "Hamilton",
            "Margaret Hamilton",
            "+16175550142",
            telephone1="+1 617 555 0142",
        ),
        "statecode": 1,
        "statuscode": 2,
    },
    {
        **_contact(
            NANCY_ID,
            "Nancy",
            "Davolio",
            "Nancy Davolio",
            "+13125550178",
            telephone1="(312) 555-0178",
        ),
        "_parentcustomerid_value": NORTHWIND_ID,
        "parentcustomeridtype": "account",
    },
    {
        **_contact(
            ANDREW_ID,
            "Andrew",
            "Fuller",
            "Andrew Fuller",
            "+13125550179",
            mobilephone="312-555-0179",
        ),
        "_parentcustomerid_value": NORTHWIND_ID,
        "parentcustomeridtype": "account",
    },
)

ACCOUNT_ROWS: tuple[dict[str, Any], ...] = (
    {
        "accountid": CONTOSO_ID,
        "name": "Contoso Ltd",
        "accountnumber": "ACC-1001",
        "telephone1": "+1 206 555 0100",
        "new_phonee164": "+12065550100",
        "emailaddress1": "support@contoso.example",
    },
    {
        "accountid": FABRIKAM_ID,
        "name": "Fabrikam, Inc.",
        "accountnumber": "ACC-1002",
        "telephone1": "425-555-0142",
        "new_phonee164": "+14255550142",
        "emailaddress1": "help@fabrikam.example",
    },
    {
        "accountid": NORTHWIND_ID,
        "name": "Northwind Traders",
        "accountnumber": "ACC-1003",
        "telephone1": "+1 312 555 0177",
        "new_phonee164": "+13125550177",
        "emailaddress1": "it@northwind.example",
        "_primarycontactid_value": NANCY_ID,
    },
)


def _case(
    n: int, title: str, ticket: str, customer: str, kind: str, created: str, **extra: Any
) -> dict[str, Any]:
    row = {
        "incidentid": f"e0000000-0000-4000-8000-{n:012d}",
        "title": title,
        "ticketnumber": ticket,
        "_customerid_value": customer,
        CUSTOMER_TYPE_COLUMN: kind,
        "createdon": created,
        "modifiedon": created,
        "statecode": 0,
        "statuscode": 1,
        "prioritycode": 2,
        "caseorigincode": 1,
        "description": None,
    }
    row.update(extra)
    return row


INCIDENT_ROWS: tuple[dict[str, Any], ...] = (
    _case(
        1,
        "Cannot log in to the portal",
        "CAS-01001-A1B2C3",
        ADA_ID,
        "contact",
        "2025-09-02T08:15:00Z",
        statecode=1,
        statuscode=5,
    ),
    _case(
        2,
        "Router keeps rebooting",
        "CAS-01003-R7K2QZ",
        ADA_ID,
        "contact",
        "2025-11-18T14:05:00Z",
        prioritycode=1,
        description="Router reboots every few minutes since the firmware update.",
    ),
    _case(
        3,
        "Invoice shows wrong address",
        "CAS-01002-D4E5F6",
        ADA_ID,
        "contact",
        "2025-10-21T10:30:00Z",
        caseorigincode=2,
    ),
    _case(
        4,
        HOSTILE_CASE_TITLE,
        "CAS-01004-X9Y8Z7",
        HOSTILE_ID,
        "contact",
        "2025-11-01T12:00:00Z",
        description="<script>alert('x')</script>",
    ),
    _case(
        5,
        "Invoice dispute for October",
        "CAS-01005-C0N7S0",
        CONTOSO_ID,
        "account",
        "2025-11-10T16:45:00Z",
        caseorigincode=2,
    ),
    _case(
        6,
        "Enigma machine needs new rotors",
        "CAS-01006-T1U2V3",
        ALAN_ID,
        "contact",
        "2025-08-14T09:00:00Z",
        statecode=1,
        statuscode=5,
    ),
    _case(
        7,
        "Bombe calculation too slow",
        "CAS-01007-T4U5V6",
        ALAN_ID,
        "contact",
        "2025-11-20T11:20:00Z",
        prioritycode=1,
    ),
    _case(
        8,
        "Flight software review",
        "CAS-01008-M8H4N1",
        MARGARET_ID,
        "contact",
        "2025-11-05T15:00:00Z",
    ),
    # B2B: the customer is the account; the case's Contact is the person who called.
    _case(
        9,
        "Pallet scanners offline at the depot",
        "CAS-01009-N0R7W1",
        NORTHWIND_ID,
        "account",
        "2025-11-21T07:40:00Z",
        prioritycode=1,
        _primarycontactid_value=NANCY_ID,
    ),
    _case(
        10,
        "Quarterly invoice copy",
        "CAS-01010-N0R7W2",
        NORTHWIND_ID,
        "account",
        "2025-10-02T13:10:00Z",
        statecode=1,
        statuscode=5,
    ),
)


def _incident_id(n: int) -> str:
    return INCIDENT_ROWS[n - 1]["incidentid"]  # type: ignore[no-any-return]


DEMO_CALLERS: tuple[DemoCaller, ...] = (
    DemoCaller(
        label="ada",
        ani="+14155550123",
        expected_fullname="Ada Lovelace",
        customer_id=ADA_ID,
        customer_type="contact",
        matches=1,
        latest_case_ticket="CAS-01003-R7K2QZ",
        latest_case_title="Router keeps rebooting",
        latest_case_id=_incident_id(2),
    ),
    DemoCaller(
        label="grace",
        ani="+442079460958",
        expected_fullname="Grace Hopper",
        customer_id=GRACE_ID,
        customer_type="contact",
        matches=1,
        latest_case_ticket=None,
        latest_case_title=None,
        latest_case_id=None,
    ),
    DemoCaller(
        label="ambiguous",
        ani="+14155550199",
        expected_fullname=None,
        customer_id=None,
        customer_type=None,
        matches=2,
        latest_case_ticket=None,
        latest_case_title=None,
        latest_case_id=None,
    ),
    DemoCaller(
        label="hostile",
        ani="+14155550166",
        expected_fullname=HOSTILE_NAME,
        customer_id=HOSTILE_ID,
        customer_type="contact",
        matches=1,
        latest_case_ticket="CAS-01004-X9Y8Z7",
        latest_case_title=HOSTILE_CASE_TITLE,
        latest_case_id=_incident_id(4),
    ),
    DemoCaller(
        label="contoso",
        ani="+12065550100",
        expected_fullname="Contoso Ltd",
        customer_id=CONTOSO_ID,
        customer_type="account",
        matches=1,
        latest_case_ticket="CAS-01005-C0N7S0",
        latest_case_title="Invoice dispute for October",
        latest_case_id=_incident_id(5),
    ),
    DemoCaller(
        label="alan",
        ani="+442071234567",
        expected_fullname="Alan Turing",
        customer_id=ALAN_ID,
        customer_type="contact",
        matches=1,
        latest_case_ticket="CAS-01007-T4U5V6",
        latest_case_title="Bombe calculation too slow",
        latest_case_id=_incident_id(7),
    ),
    DemoCaller(
        label="unknown",
        ani=UNKNOWN_ANI,
        expected_fullname=None,
        customer_id=None,
        customer_type=None,
        matches=0,
        latest_case_ticket=None,
        latest_case_title=None,
        latest_case_id=None,
    ),
)

ORG_CALLERS: tuple[DemoCaller, ...] = (
    DemoCaller(
        label="merged",
        ani="+16175550142",
        expected_fullname="Margaret Hamilton",
        customer_id=MARGARET_ID,
        customer_type="contact",
        matches=1,  # active records; the merged duplicate is inactive
        latest_case_ticket="CAS-01008-M8H4N1",
        latest_case_title="Flight software review",
        latest_case_id=_incident_id(8),
    ),
    DemoCaller(
        label="b2b",
        ani="+13125550178",
        expected_fullname="Nancy Davolio",
        customer_id=NANCY_ID,
        customer_type="contact",
        matches=1,
        latest_case_ticket="CAS-01009-N0R7W1",
        latest_case_title="Pallet scanners offline at the depot",
        latest_case_id=_incident_id(9),
    ),
    DemoCaller(
        label="b2b-colleague",
        ani="+13125550179",
        expected_fullname="Andrew Fuller",
        customer_id=ANDREW_ID,
        customer_type="contact",
        matches=1,
        # named on no case: the account's latest case (which may be closed)
        latest_case_ticket="CAS-01009-N0R7W1",
        latest_case_title="Pallet scanners offline at the depot",
        latest_case_id=_incident_id(9),
    ),
)

DEMO_CREATED = "2025-01-06T09:00:00Z"


def demo_caller(label: str) -> DemoCaller:
    """The demo (or org) caller with this label (KeyError if there is none)."""
    for caller in (*DEMO_CALLERS, *ORG_CALLERS):
        if caller.label == label:
            return caller
    raise KeyError(label)


def load_demo_data(store: Store) -> None:
    """Insert the demo records (into an empty database)."""
    for entity, rows in (
        (CONTACTS, CONTACT_ROWS),
        (ACCOUNTS, ACCOUNT_ROWS),
        (INCIDENTS, INCIDENT_ROWS),
    ):
        full_rows = []
        for version, row in enumerate(rows, start=1):
            values = {
                "createdon": DEMO_CREATED,
                "modifiedon": DEMO_CREATED,
                "statecode": 0,
                "statuscode": 1,
                **row,
                "versionnumber": 1000 + version,
            }
            full_rows.append(values)
        columns = sorted({c for r in full_rows for c in r})
        store.bulk_insert(entity, columns, [[r.get(c) for c in columns] for r in full_rows])
