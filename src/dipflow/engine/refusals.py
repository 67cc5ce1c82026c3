"""The event that answers a command a runtime cannot carry out, so that the engine takes
the activity's failure path at once (never waits on its guard timer, never leaves the
caller in silence)."""

from __future__ import annotations

from dipflow.engine.commands import (
    Command,
    LookupQueue,
    RequestCallback,
    StartVirtualAgent,
    Transfer,
)
from dipflow.engine.events import (
    CallbackFailed,
    Event,
    QueueLookedUp,
    TransferDone,
    VirtualAgentEnded,
    VirtualAgentOutcome,
)


def refused(command: Command, reason: str) -> Event | None:
    """The failure answer to `command`; None for commands that expect no answer."""
    if isinstance(command, LookupQueue):
        return QueueLookedUp(request_id=command.request_id, ok=False, error=reason)
    if isinstance(command, Transfer):
        return TransferDone(transfer_id=command.transfer_id, ok=False, error=reason)
    if isinstance(command, StartVirtualAgent):
        return VirtualAgentEnded(
            session_id=command.session_id, outcome=VirtualAgentOutcome.ERROR, error=reason
        )
    if isinstance(command, RequestCallback):
        return CallbackFailed(reason=reason)
    return None
