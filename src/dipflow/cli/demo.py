"""The demo's wiring: the CRM emulator started in-process, and what the demo takes from
its data (the callers the browser phone offers). Layer 7 (command line).

The command line is the composition root, and the only layer allowed to import
`dipflow.emulator` (an import-linter contract): the runtime's demo configuration
(`dipflow.runtime.demo.demo_config`) is handed the running emulator's addresses and
these callers, and reaches the emulator over HTTP like any CRM.
"""

from __future__ import annotations

from dipflow.emulator.demo_data import DEMO_CALLERS
from dipflow.emulator.inprocess import RunningEmulator, running_emulator
from dipflow.runtime.config import PhoneCaller

__all__ = ["RunningEmulator", "demo_phone_callers", "running_emulator"]


def demo_phone_callers() -> list[PhoneCaller]:
    """The demo CRM's callers, for the browser phone's number picker."""
    return [
        PhoneCaller(
            ani=caller.ani,
            name=caller.expected_fullname
            or ("unknown caller" if caller.matches == 0 else "ambiguous"),
        )
        for caller in DEMO_CALLERS
    ]
