"""The Lua half of `RedisCenterStore`: the center's state machine as one script. Layer 3 (center).

The program is `center.lua`, shipped as package data beside this module and read once
with `importlib.resources`, so that it is Lua to editors and linters, not a Python string.

Redis runs a script atomically (no other command of any client interleaves with it),
so each call is one indivisible step, exactly like one `CenterCore` method: that is
the cross-node exactly-once guarantee. It mirrors core.py step for step; the
contract tests run the same scenarios (and random differential runs) on both.

ARGV: [1] configuration JSON (queues, timings, transition table), [2] key prefix,
[3] operation, [4] now (decimal text), [5..] operation arguments. Each script that
changes anything PUBLISHes its notifications on ``<prefix>events`` with the calling
store's `origin`, so that every other node can relay them to its own subscribers.

Numbers: Redis hands Lua numbers to commands through "%.14g", which would drop
digits of a wall-clock timestamp, so every number written goes through `fmt`
("%.17g", exact round trip) and times travel as text.
"""

from __future__ import annotations

from importlib import resources

CENTER_LUA = resources.files("dipflow.center").joinpath("center.lua").read_text(encoding="utf-8")
"""The script's text, as `RedisCenterStore` registers it."""
