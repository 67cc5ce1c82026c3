"""The agent state machine, as data. Layer 3 (center).

The one place that says which action is allowed when.

Both stores follow this table: the memory core looks it up directly, and the Redis
store ships it into its Lua scripts as JSON, so the two cannot drift apart.

    state       action           next state
    ----------  ---------------  -------------------------------------------
    logged_out  login            idle ("login")
    idle        logout           logged_out
    available   logout           logged_out
    offered     logout           logged_out (the offer goes back to its queue)
    wrap_up     logout           logged_out
    idle        set_available    available
    wrap_up     set_available    available
    available   set_idle         idle (reason code)
    idle        set_idle         idle (new reason code)
    wrap_up     set_idle         idle (reason code)
    available   offer            offered
    offered     accept           connected
    offered     ring_no_answer   idle ("rona")
    offered     offer_withdrawn  available (caller hung up)
    connected   call_ended       wrap_up
    wrap_up     wrap_up_ended    available

Pairs not listed raise `InvalidTransition`; a few are no-ops (`NO_OPS`: login while
logged in, logout while logged out, set_available while available) so that a
desktop that reconnects, or a double click, is harmless.
"""

from __future__ import annotations

import json
from enum import StrEnum

from dipflow.center.model import AgentState


class AgentAction(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    SET_AVAILABLE = "set_available"
    SET_IDLE = "set_idle"
    OFFER = "offer"
    ACCEPT = "accept"
    RING_NO_ANSWER = "ring_no_answer"
    """The offer timed out or the agent declined it."""
    OFFER_WITHDRAWN = "offer_withdrawn"
    """The caller hung up while the offer rang: not the agent's fault."""
    CALL_ENDED = "call_ended"
    WRAP_UP_ENDED = "wrap_up_ended"


S = AgentState
A = AgentAction

TRANSITIONS: dict[tuple[AgentState, AgentAction], AgentState] = {
    (S.LOGGED_OUT, A.LOGIN): S.IDLE,
    (S.IDLE, A.LOGOUT): S.LOGGED_OUT,
    (S.AVAILABLE, A.LOGOUT): S.LOGGED_OUT,
    (S.OFFERED, A.LOGOUT): S.LOGGED_OUT,
    (S.WRAP_UP, A.LOGOUT): S.LOGGED_OUT,
    (S.IDLE, A.SET_AVAILABLE): S.AVAILABLE,
    (S.WRAP_UP, A.SET_AVAILABLE): S.AVAILABLE,
    (S.AVAILABLE, A.SET_IDLE): S.IDLE,
    (S.IDLE, A.SET_IDLE): S.IDLE,
    (S.WRAP_UP, A.SET_IDLE): S.IDLE,
    (S.AVAILABLE, A.OFFER): S.OFFERED,
    (S.OFFERED, A.ACCEPT): S.CONNECTED,
    (S.OFFERED, A.RING_NO_ANSWER): S.IDLE,
    (S.OFFERED, A.OFFER_WITHDRAWN): S.AVAILABLE,
    (S.CONNECTED, A.CALL_ENDED): S.WRAP_UP,
    (S.WRAP_UP, A.WRAP_UP_ENDED): S.AVAILABLE,
}
"""(state, action) -> next state."""

NO_OPS: frozenset[tuple[AgentState, AgentAction]] = frozenset(
    {(state, A.LOGIN) for state in AgentState if state is not S.LOGGED_OUT}
    | {(S.LOGGED_OUT, A.LOGOUT), (S.AVAILABLE, A.SET_AVAILABLE)}
)
"""Allowed without any change (idempotent desktop actions)."""


def next_state(state: AgentState, action: AgentAction) -> AgentState | None:
    """The state after `action`; None for a no-op. `KeyError` when not allowed."""
    if (state, action) in NO_OPS:
        return None
    return TRANSITIONS[(state, action)]


def transitions_json() -> str:
    """The table as `{"state": {"action": "next" | ""}}` ("" = no-op), for the Lua scripts."""
    table: dict[str, dict[str, str]] = {state.value: {} for state in AgentState}
    for (state, action), target in TRANSITIONS.items():
        table[state.value][action.value] = target.value
    for state, action in NO_OPS:
        table[state.value][action.value] = ""
    return json.dumps(table, sort_keys=True)
