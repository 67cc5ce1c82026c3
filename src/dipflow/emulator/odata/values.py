"""Conversions between OData literal values and what the SQLite columns hold.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dipflow.emulator.errors import bad_query

_STORED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_datetime(moment: datetime) -> str:
    """The one text form dates are stored in, so that text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(_STORED_FORMAT)


def normalize_datetime(text: str) -> str:
    """Parse an OData date or date-time literal into the stored UTC form."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:
        # Edm.DateTimeOffset allows 7 fractional digits; Python parses 6 at most.
        head, _, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        value = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_query(f"'{text}' is not a valid date or date-time value.") from None
    return format_datetime(moment)


def normalize_guid(text: str) -> str:
    """Lower-case hyphenated form, the form GUIDs are stored in."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise bad_query(f"'{text}' is not a valid GUID.") from None


def is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36
