"""Interop tests: real SIP software against a real dipflow (see docs/interop.md).

A reproduction of a failure not fixed yet goes into a pending file listed in
`collect_ignore` here (with the issue it belongs to), run by hand to see it fail, and
moves into the suite when it passes. Issue 12's items 1-6 went that way; none is pending.
"""

from __future__ import annotations

collect_ignore: list[str] = []
