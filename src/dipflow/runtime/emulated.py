"""Start the Dataverse emulator in-process (demo data) for `dipflow call` and `dipflow demo`.

The emulator is a separate product piece reached only over HTTP; this helper just
enters its test-server context, whichever of sync or async context manager it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def emulator_running(*, seed: str = "demo", require_auth: bool = True) -> AsyncIterator[Any]:
    from dipflow.emulator.testing import running_emulator

    manager: Any = running_emulator(seed=seed, require_auth=require_auth)
    if hasattr(manager, "__aenter__"):
        async with manager as emulator:
            yield emulator
    else:
        with manager as emulator:
            yield emulator
