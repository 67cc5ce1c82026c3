"""The pure flow engine: `(state, event, now) -> (state, commands)`. Layer 2 (engine).

See docs/engine.md for the state machine and the event/command contract.
"""

from dipflow.engine.core import Engine
from dipflow.engine.errors import EngineError, VariableOverrideError
from dipflow.engine.state import CallState, TraceEntry, Wait

__all__ = ["CallState", "Engine", "EngineError", "TraceEntry", "VariableOverrideError", "Wait"]
