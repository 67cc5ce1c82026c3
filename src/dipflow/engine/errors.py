"""The engine's error root. Layer 2 (engine).

The engine raises on purpose only when it is built: `Engine(flow, variables=...)` with an
organisation setting the flow does not declare, or a value that does not convert to its
variable's type. Once built it never raises on an event (anything an activity raises
becomes its `error` output; an engine bug becomes the default global error handler).
"""

from __future__ import annotations

from dipflow.errors import DipflowError


class EngineError(DipflowError):
    """Base of the engine's deliberate errors."""


class VariableOverrideError(EngineError):
    """A variable override names no variable of the flow, or has a value of the wrong type."""
