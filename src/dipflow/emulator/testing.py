"""The emulator for tests and benchmarks: `running_emulator`, `RunningEmulator`, `free_port`.

They live in `dipflow.emulator.inprocess` (the demo starts the emulator the same way);
this module keeps the name tests import them by. No product module imports it
(an import-linter contract).
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from dipflow.emulator.inprocess import RunningEmulator, free_port, running_emulator

__all__ = ["RunningEmulator", "free_port", "running_emulator"]
