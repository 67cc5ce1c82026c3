"""`queue_experience`: the in-queue loop a flow configures instead of wiring. Layer 1 (flow).

What a caller hears while queued is nearly always the same loop: music, then the
position and the expected wait, and from some round on an offer to be called back
instead of waiting. Wired by hand it is four activities and a counter; here it is one:

```yaml
waiting:
  kind: queue_experience
  every_s: 30                 # music between announcements (default 30)
  audio: hold                 # the music (default: the bundled hold music)
  announce: "You are number {{ Queue.position }} in line."   # optional: a default is given
  offer_callback_after: 2     # rounds before the offer (none: never offered)
  callback_prompt: "Press 1 to be called back; stay on the line to keep your place."
  on: {callback: take_callback}   # required with an offer
```

It is expanded when the flow is loaded, into activities of kinds the engine already
runs, named after it (`waiting` the music, `waiting__announce`, `waiting__rounds`, a
`loop`, and `waiting__offer`, a one-try menu). The loop ends only when an agent answers
(the engine stops the main flow then), the queue gives up, the caller hangs up, or the
caller takes the offer. `dipflow flow show` lists the expanded activities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KIND = "queue_experience"
DEFAULT_ANNOUNCE = (
    "{% if Queue.position %}You are number {{ Queue.position }} in line. {% endif %}"
    "{% if Queue.estimatedWaitTime and Queue.estimatedWaitTime > 0 %}Your expected wait is"
    " about {{ ((Queue.estimatedWaitTime / 60) | round(0, 'ceil')) | int }} minutes. "
    "{% endif %}Thank you for waiting."
)
DEFAULT_CALLBACK_PROMPT = (
    "To be called back instead of waiting, press 1. To keep your place, stay on the line."
)
_FIELDS = frozenset(
    {"kind", "label", "description", "every_s", "audio", "announce", "offer_callback_after",
     "callback_prompt", "on", "origin"}
)  # fmt: skip


def _problem(raw: Mapping[str, Any]) -> str | None:
    unknown = sorted(str(k) for k in set(raw) - _FIELDS)
    if unknown:
        return f"unknown field `{unknown[0]}` of a queue_experience; fields: " + ", ".join(
            sorted(_FIELDS - {"kind"})
        )
    every = raw.get("every_s", 30)
    if not isinstance(every, int | float) or isinstance(every, bool) or every <= 0:
        return "`every_s` is the seconds of music between announcements: a positive number"
    on = raw.get("on", {})
    if not isinstance(on, Mapping) or set(on) - {"callback"}:
        return "a queue_experience has one output, `callback` (the caller takes the offer)"
    offer_after = raw.get("offer_callback_after")
    if offer_after is not None and (
        not isinstance(offer_after, int) or isinstance(offer_after, bool) or offer_after < 1
    ):
        return "`offer_callback_after` is a number of rounds: 1 or more"
    if offer_after is not None and "callback" not in on:
        return "output `callback` is not wired: where does a caller who takes the offer go?"
    return None


def _expand_one(ident: str, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The activities a well-formed `raw` (see `_problem`) stands for."""
    every = raw.get("every_s", 30)
    offer_after = raw.get("offer_callback_after")
    on = raw.get("on", {})
    label = raw.get("label") or ident
    announce_id, rounds_id, offer_id = f"{ident}__announce", f"{ident}__rounds", f"{ident}__offer"
    after_announce = rounds_id if offer_after is not None else ident
    expanded: dict[str, dict[str, Any]] = {
        ident: {
            "kind": "play_music",
            "label": label,
            "audio": raw.get("audio", "hold"),
            "duration_s": every,
            "origin": f"{KIND}:{ident}",
            "next": announce_id,
        },
        announce_id: {
            "kind": "play_message",
            "label": f"{label}: announcement",
            "prompt": {"text": raw.get("announce") or DEFAULT_ANNOUNCE},
            "origin": f"{KIND}:{ident}",
            "on": {"out": after_announce, "error": ident},
        },
    }
    if offer_after is not None:
        if offer_after == 1:  # offered every round: no counter
            expanded[announce_id]["on"]["out"] = offer_id
        else:  # `times` rounds go round again, the next one is offered the callback
            expanded[rounds_id] = {
                "kind": "loop",
                "label": f"{label}: rounds before the offer",
                "times": offer_after - 1,
                "origin": f"{KIND}:{ident}",
                "on": {"looping": ident, "complete": offer_id},
            }
        expanded[offer_id] = {
            "kind": "menu",
            "label": f"{label}: callback offer",
            "prompt": {"text": raw.get("callback_prompt") or DEFAULT_CALLBACK_PROMPT},
            "choices": {"1": "callback"},
            "max_tries": 1,
            "entry_timeout_s": 4,
            "origin": f"{KIND}:{ident}",
            "on": {"1": on["callback"], "no_input": ident, "invalid": ident, "error": ident},
        }
    return expanded


Problems = list[tuple[tuple[int | str, ...], str]]


def expand(data: Any) -> tuple[Any, Problems]:
    """`data` with every well-formed `queue_experience` activity replaced by the activities
    it stands for (main flow and event flows), and (loc, message) for each malformed one
    (left as written; nothing else is changed)."""
    problems: Problems = []
    if not isinstance(data, Mapping):
        return data, problems
    result = dict(data)
    result["activities"] = _expand_graph(data.get("activities"), ("activities",), problems)
    event_flows = data.get("event_flows")
    if isinstance(event_flows, Mapping):
        result["event_flows"] = {
            name: {
                **flow,
                "activities": _expand_graph(
                    flow.get("activities"), ("event_flows", name, "activities"), problems
                ),
            }
            if isinstance(flow, Mapping)
            else flow
            for name, flow in event_flows.items()
        }
    return result, problems


def _expand_graph(activities: Any, base: tuple[int | str, ...], problems: Problems) -> Any:
    if not isinstance(activities, Mapping):
        return activities
    out: dict[Any, Any] = {}
    for ident, raw in activities.items():
        if isinstance(raw, Mapping) and raw.get("kind") == KIND:
            problem = _problem(raw)
            if problem is None:
                out.update(_expand_one(str(ident), raw))
                continue
            problems.append(((*base, ident), problem))
            out[ident] = {"kind": "end"}  # a stand-in, so that links to it still resolve
            continue
        out[ident] = raw
    return out


def generated_from(ident: str) -> str | None:
    """The `queue_experience` an expanded activity id comes from (`waiting__offer` ->
    `waiting`), for placing problems in the file."""
    base, sep, _ = ident.partition("__")
    return base if sep else None
