"""A Dataverse Web API compatible CRM for demos, tests and benchmarks.

dipflow reaches it over real HTTP exactly as it reaches Dynamics 365. Public API:
`create_app`, `EmulatorSettings`, `dipflow.emulator.inprocess.running_emulator`,
`dipflow.emulator.demo_data.DEMO_CALLERS`.
"""

from __future__ import annotations

from dipflow.emulator.app import create_app
from dipflow.emulator.faults import FaultConfig
from dipflow.emulator.settings import EmulatorSettings, SeedKind

__all__ = ["EmulatorSettings", "FaultConfig", "SeedKind", "create_app"]
