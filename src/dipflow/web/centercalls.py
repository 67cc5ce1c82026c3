"""Calls into the contact center that work whether its methods are plain or coroutines.

The center service is built in parallel with the web app; this one helper keeps
the desktop independent of that choice.
"""

from __future__ import annotations

import inspect
from typing import Any


async def center_call(center: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(center, method)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
