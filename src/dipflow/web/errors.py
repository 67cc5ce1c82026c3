"""The web app's error root. Layer 6 (web).

    DipflowError (dipflow.errors)
    └── WebError          the web app's own deliberate errors
        └── ActionError   a desktop WebSocket message that is malformed or not allowed

A refusal by the contact center (an agent in the wrong state, the store unreachable) is a
`CenterError` and reaches the desktop as an `error` message; anything else raised while
serving a page or a socket is a bug, left to the server's logged boundary.
"""

from __future__ import annotations

from dipflow.errors import DipflowError


class WebError(DipflowError):
    """Base of the web app's deliberate errors."""


class ActionError(WebError, ValueError):
    """A desktop action that is malformed or not allowed (the desktop is told why)."""
