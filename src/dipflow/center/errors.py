"""The contact center's one exception tree. Layer 3 (center).

Every error the center raises is a `CenterError`; callers (the runtime, the web
layer) catch that one class and turn it into a clear message. Redis errors are
translated at the store boundary into `CenterStoreError` (``raise ... from exc``).
"""

from __future__ import annotations

from dipflow.errors import DipflowError


class CenterError(DipflowError):
    """Base class of every contact-center error. The center layer's root."""


class UnknownQueue(CenterError, LookupError):
    """A queue name that is not in the configuration."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"unknown queue {queue!r}")
        self.queue = queue


class UnknownAgent(CenterError, LookupError):
    """An agent id that is not in the configuration."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id!r}")
        self.agent_id = agent_id


class UnknownTeam(CenterError, LookupError):
    """A team that the agent is not configured to belong to."""

    def __init__(self, agent_id: str, team: str) -> None:
        super().__init__(f"agent {agent_id!r} is not a member of team {team!r}")
        self.agent_id = agent_id
        self.team = team


class InvalidTransition(CenterError):
    """The agent's current state does not allow the requested action."""

    def __init__(self, agent_id: str, state: str, action: str) -> None:
        super().__init__(f"agent {agent_id!r} cannot {action} while {state}")
        self.agent_id = agent_id
        self.state = state
        self.action = action


class ContactExists(CenterError):
    """`enqueue` for a call the center already holds (queued, offered or connected)."""

    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} is already in the contact center")
        self.call_id = call_id


class AgentUnavailable(CenterError):
    """A contact for one named agent who is logged out, or busy when the flow does not
    park the contact (Webex Queue To Agent): the flow takes its recovery queue."""

    def __init__(self, agent_id: str, state: str) -> None:
        super().__init__(f"agent {agent_id!r} cannot take a contact while {state}")
        self.agent_id = agent_id
        self.state = state


class InvalidArgument(CenterError, ValueError):
    """A value outside what the center accepts (e.g. a priority out of range)."""


class CenterStoreError(CenterError):
    """The state store failed (e.g. Redis unreachable); the operation did not happen."""
