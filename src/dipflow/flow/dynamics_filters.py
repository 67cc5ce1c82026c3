"""Expression filters for Dynamics 365 / Dataverse (owned by the connectors area).

`FILTERS` maps a filter name to a function; `dipflow.flow.expressions` registers
them in the sandbox. Pure functions only (this is layer 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FILTERS: dict[str, Callable[..., Any]] = {}
