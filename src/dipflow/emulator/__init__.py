"""A Dataverse Web API compatible CRM for demos, tests and benchmarks.

dipflow reaches it over real HTTP exactly as it reaches Dynamics 365. Public API:
`create_app`, `EmulatorSettings`, `dipflow.emulator.inprocess.running_emulator`,
`dipflow.emulator.demo_data.DEMO_CALLERS`.
Beside the layers (emulator): the product reaches it only over HTTP.

The names below are imported when first used (PEP 562): `dipflow crm serve`'s option
defaults come from `settings`, and every other command should not load the web app
(FastAPI, JWT) to print them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dipflow.emulator.app import create_app
    from dipflow.emulator.faults import FaultConfig
    from dipflow.emulator.settings import EmulatorSettings, SeedKind

__all__ = ["EmulatorSettings", "FaultConfig", "SeedKind", "create_app"]

_HOMES = {
    "EmulatorSettings": "dipflow.emulator.settings",
    "FaultConfig": "dipflow.emulator.faults",
    "SeedKind": "dipflow.emulator.settings",
    "create_app": "dipflow.emulator.app",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
