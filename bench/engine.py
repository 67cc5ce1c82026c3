"""Engine benchmark: activity steps per second, and one whole data-dip call through the
engine versus a hand-written asyncio coroutine doing the same steps (I/O excluded).

    .venv/bin/python bench/engine.py [--calls 300]

Both contenders get the same recorded event log of one call of the bundled
`ms-dynamics-data-dip` flow (known caller with a case, menu 1, two music segments
with a position announcement, agent answers, caller hangs up). Both render the same
templates with `dipflow.flow.expressions`, parse the response with
`dipflow.flow.jsonpath`, emit the same command objects and note one trace record per
step; the coroutine simply has the flow hard-coded. CPU time is `time.process_time`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from dipflow.engine import Engine
from dipflow.engine.commands import (
    CallFinished,
    CancelTimer,
    Command,
    Enqueue,
    HttpRequest,
    Play,
    PlayMusic,
    ScreenPop,
    SetTimer,
    StopMedia,
)
from dipflow.engine.events import (
    AgentAnswered,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    HttpCompleted,
    QueueUpdated,
)
from dipflow.flow import expressions, jsonpath
from dipflow.flow.bundled import bundled_path
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow
from dipflow.testing import HttpReply, answer, hang_up, press, queue_update, run_flow

BODY = {
    "value": [
        {
            "contactid": "c0000000-0000-4000-8000-000000000001",
            "fullname": "Ada Lovelace",
            "incident_customer_contacts": [
                {
                    "incidentid": "e0000000-0000-4000-8000-000000000002",
                    "title": "Router keeps rebooting",
                    "ticketnumber": "CAS-01003-R7K2QZ",
                    "createdon": "2025-11-18T14:05:00Z",
                }
            ],
        }
    ]
}

EventLog = list[tuple[float, Event]]


def record_call(flow: Flow) -> tuple[EventLog, int]:
    """The event log of one realistic call, and how many activity steps it runs."""
    result = run_flow(
        flow,
        http={"GetCustomerInfo": HttpReply(json=BODY)},
        caller=[press("1", when="MainMenu", after=5.0), hang_up(after=120)],
        agent=[queue_update(after=5, position=2, wait_s=100), answer(after=62)],
    )
    assert result.finished and result.screen_pops, "the recorded call must reach an agent"
    steps = sum(1 for e in result.trace if e.kind not in {"ignored", "event", "global_error"})
    return result.event_log, steps


def engine_call(engine: Engine, log: EventLog) -> int:
    first = log[0][1]
    assert isinstance(first, CallStarted)
    state, commands = engine.start(first, log[0][0])
    count = len(commands)
    for now, event in log[1:]:
        state, commands = engine.step(state, event, now)
        count += len(commands)
    return count


# -- the hand-written contender --------------------------------------------------------------


class _NextEvent:
    """`await _NextEvent()` suspends the coroutine until the driver sends the next event."""

    __slots__ = ()

    def __await__(self) -> Generator[None, Event, Event]:
        event = yield
        return event


async def handwritten_call(
    start: CallStarted, variables: dict[str, Any], out: list[Command], trace: list[Any]
) -> None:
    """The bundled flow's known-caller path, coded by hand (same renders, same commands)."""
    render = expressions.render
    evaluate = expressions.evaluate
    nxt = _NextEvent
    v = dict(variables)
    ctx: dict[str, Any] = {
        "NewPhoneContact": {"ANI": start.ani, "DNIS": start.dnis, "InteractionId": start.call_id}
    }
    seq = 0

    def c() -> dict[str, Any]:
        return {**ctx, **v}

    def step(name: str) -> None:
        trace.append((name, v.get("IVRPath")))

    step("NewPhoneContact")
    v["ANI"] = render("{{ NewPhoneContact.ANI | trim }}", c())
    step("TrimANI")
    seq += 1
    out.append(Play(prompt_id=f"Greeting#{seq}", text=render("{{ WelcomeText }}", c())))
    await nxt()
    step("Greeting")
    seq += 1
    request_id = f"GetCustomerInfo#{seq}"
    query = {
        "$select": "contactid,fullname",
        "$filter": render("{{ ANI | odata_phone_filter(PhoneColumns, DefaultRegion) }}", c()),
        "$top": "2",
        "$expand": "incident_customer_contacts($select=incidentid,title,ticketnumber,createdon;"
        "$orderby=createdon desc;$top=1)",
    }
    out.append(
        HttpRequest(
            request_id=request_id,
            connector="dynamics",
            method="GET",
            path="contacts",
            query=query,
            timeout_s=3.0,
            retries=1,
        )
    )
    out.append(SetTimer(timer_id=f"{request_id}:timer", at=5.0))
    reply = await nxt()
    assert isinstance(reply, HttpCompleted)
    out.append(CancelTimer(timer_id=f"{request_id}:timer"))
    ctx["GetCustomerInfo"] = {"httpStatusCode": reply.status, "httpResponseBody": reply.body}
    v["Matches"] = jsonpath.extract("$.value", reply.body)
    step("GetCustomerInfo")
    if evaluate("{{ Matches | length == 1 }}", c()):
        step("CustomerExists")
        v["CustomerId"] = render("{{ Matches[0].contactid }}", c())
        step("SetCustomerId")
        v["CustomerName"] = render("{{ Matches[0].fullname }}", c())
        step("SetCustomerName")
        v["CustomerType"] = "known"
        step("SetCustomerType")
        if evaluate("{{ Matches[0].incident_customer_contacts | length == 1 }}", c()):
            step("HasCase")
            v["CaseId"] = render("{{ Matches[0].incident_customer_contacts[0].incidentid }}", c())
            step("GetCaseInfo")
            v["CaseNumber"] = render(
                "{{ Matches[0].incident_customer_contacts[0].ticketnumber }}", c()
            )
            step("SetCaseNumber")
            v["CaseTitle"] = render("{{ Matches[0].incident_customer_contacts[0].title }}", c())
            step("SetCaseTitle")
            v["CaseFound"] = True
            step("SetCaseFound")
            seq += 1
            text = render(
                "Hello {{ CustomerName | tts_escape }}. Your latest case, number "
                "{{ CaseNumber | tts_escape }}, {{ CaseTitle | tts_escape }}, was found.",
                c(),
            )
            out.append(Play(prompt_id=f"PlayCaseInfo#{seq}", text=text))
            await nxt()
            step("PlayCaseInfo")
            v["IVRPath"] = render("known caller, case {{ CaseNumber }} read out", c())
            step("PathCase")
    seq += 1
    out.append(
        Play(prompt_id=f"MainMenu#{seq}", text=render("{{ MenuText }}", c()), interruptible=True)
    )
    await nxt()
    seq += 1
    out.append(SetTimer(timer_id=f"MainMenu#{seq}:timer", at=10.0))
    digits = await nxt()
    assert isinstance(digits, DigitsCollected)
    out.append(CancelTimer(timer_id=f"MainMenu#{seq}:timer"))
    step("MainMenu")
    v["IVRPath"] = render("{{ IVRPath }}, pressed 1 for an agent", c())
    step("PathAgent")
    queue = render("{{ QueueName }}", c())
    data = {
        "Customer": str(v["CustomerName"]),
        "Case number": str(v["CaseNumber"]),
        "Case title": str(v["CaseTitle"]),
        "Customer type": str(v["CustomerType"]),
        "IVR path": str(v["IVRPath"]),
    }
    out.append(Enqueue(queue=queue, data=data))
    step("QueueContact")
    while True:
        seq += 1
        out.append(PlayMusic(prompt_id=f"PlayMusic#{seq}"))
        seq += 1
        out.append(SetTimer(timer_id=f"PlayMusic#{seq}:timer", at=30.0))
        event = await nxt()
        while isinstance(event, QueueUpdated):
            ctx["Queue"] = {
                "position": event.position,
                "estimatedWaitTime": event.estimated_wait_s,
            }
            event = await nxt()
        if isinstance(event, AgentAnswered):
            out.append(CancelTimer(timer_id=f"PlayMusic#{seq}:timer"))
            break
        step("PlayMusic")
        if evaluate("{{ Queue.position | default(0) > 0 }}", c()):
            step("KnowsWait")
            seq += 1
            text = render(
                "You are number {{ Queue.position }} in the queue. Your expected wait is about "
                "{{ [1, ((Queue.estimatedWaitTime | default(0)) / 60) | round(0, 'ceil') | int]"
                " | max }} minutes.",
                c(),
            )
            out.append(Play(prompt_id=f"AnnouncePosition#{seq}", text=text))
            event = await nxt()
            if isinstance(event, AgentAnswered):
                break
            step("AnnouncePosition")
    out.append(StopMedia())
    ctx["Agent"] = {"id": event.agent_id, "name": event.agent_name}
    if evaluate("{{ CaseFound }}", c()):
        step("HasCaseForAgent")
        url = render("{{ DynamicsUrl }}/main.aspx", c())
        query = {
            "appid": render("{{ DynamicsAppId }}", c()),
            "pagetype": "entityrecord",
            "etn": "incident",
            "id": render("{{ CaseId }}", c()),
        }
        out.append(ScreenPop(agent_id=event.agent_id, url=f"{url}?{urlencode(query)}", label="x"))
        step("ScreenPopCase")
    event = await nxt()
    assert isinstance(event, CallerHungUp)
    out.append(CallFinished())


def coroutine_call(variables: dict[str, Any], log: EventLog) -> int:
    first = log[0][1]
    assert isinstance(first, CallStarted)
    out: list[Command] = []
    trace: list[Any] = []
    coro = handwritten_call(first, variables, out, trace)
    coro.send(None)
    for _, event in log[1:]:
        try:
            coro.send(event)
        except StopIteration:
            break
    return len(out)


def chain_flow(length: int = 200) -> Flow:
    """`length` literal set_variable steps, then a prompt: the interpreter's own ceiling."""
    activities: dict[str, Any] = {"Start": {"kind": "start", "next": "S0"}}
    for i in range(length):
        nxt = f"S{i + 1}" if i + 1 < length else "Say"
        activities[f"S{i}"] = {"kind": "set_variable", "variable": "N", "value": i, "next": nxt}
    activities["Say"] = {"kind": "play_message", "prompt": {"text": "done"}}
    return Flow.model_validate(
        {
            "name": "chain",
            "start": "Start",
            "variables": [{"name": "N", "type": "integer", "default": 0}],
            "activities": activities,
        }
    )


def _cpu(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of one call of `fn` over `repeat` rounds of 20 calls."""
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(20):
            fn()
        samples.append((time.process_time() - start) / 20)
    return statistics.median(samples)


def _coroutine_log(log: EventLog) -> EventLog:
    """The coroutine has no agent_offered flow: drop the AgentOffered it would ignore."""
    return [(t, e) for t, e in log if type(e).__name__ != "AgentOffered"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="calls per measurement")
    args = parser.parse_args()
    flow = load_flow(bundled_path("ms-dynamics-data-dip"))
    engine = Engine(flow)
    log, steps = record_call(flow)
    variables = {var.name: var.default for var in flow.variables}
    coroutine_log = _coroutine_log(log)

    # Warm the template caches on both sides first.
    engine_call(engine, log)
    coroutine_call(variables, coroutine_log)
    repeat = max(3, args.calls // 20)
    engine_s = _cpu(lambda: engine_call(engine, log), repeat)
    coroutine_s = _cpu(lambda: coroutine_call(variables, coroutine_log), repeat)

    table = Table(title="dipflow engine: one ms-dynamics-data-dip call (CPU, I/O excluded)")
    table.add_column("contender")
    table.add_column("events", justify="right")
    table.add_column("activity steps", justify="right")
    table.add_column("CPU per call", justify="right")
    table.add_column("activity steps/s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_row(
        "engine (Engine.start/step)",
        str(len(log)),
        str(steps),
        f"{engine_s * 1e6:,.0f} µs",
        f"{steps / engine_s:,.0f}",
        f"{engine_s / coroutine_s:.2f}x",
    )
    table.add_row(
        "hand-written asyncio coroutine",
        str(len(coroutine_log)),
        str(steps),
        f"{coroutine_s * 1e6:,.0f} µs",
        f"{steps / coroutine_s:,.0f}",
        "1.00x",
    )
    chain = Engine(chain_flow(200))
    started = CallStarted(call_id="b", ani="+14155550123", dnis="+18005550100")
    chain_s = _cpu(lambda: chain.start(started, 0.0), repeat)
    table.add_row(
        "engine, 200 literal set_variable steps",
        "1",
        "201",
        f"{chain_s * 1e6:,.0f} µs",
        f"{201 / chain_s:,.0f}",
        "",
    )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
