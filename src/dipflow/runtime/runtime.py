"""The runtime: calls in, engine steps, commands out to channels, connectors, center, desktop.

One `Runtime` per process. Channels hand it calls (`start_call`); the desktop
drives agents through `agent_accept/agent_decline/agent_hangup` and listens to
`subscribe` (screen pops, call updates) and `center.subscribe` (offers, agent
states). See docs/runtime.md. Layer 5 (runtime).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from dipflow.center.errors import CenterError
from dipflow.center.service import ContactCenter
from dipflow.channels.errors import ChannelError
from dipflow.channels.seam import AgentEndpoint, ChannelCall, OutboundCall, OutboundChannel
from dipflow.connectors.bots import VirtualAgent, build_bot
from dipflow.connectors.org import flow_variables
from dipflow.connectors.registry import Connectors
from dipflow.engine import Engine
from dipflow.engine.commands import Dequeue, Enqueue, HttpRequest, LookupQueue, RequestCallback
from dipflow.engine.events import (
    AgentAnswered,
    AgentDisconnected,
    AniUpdated,
    CallbackFailed,
    HttpCompleted,
    QueueLookedUp,
)
from dipflow.errors import DipflowError
from dipflow.flow.library import goto_names, subflows_needed
from dipflow.flow.loader import load_flow
from dipflow.flow.model import Flow, HttpRequestActivity, VirtualAgentActivity
from dipflow.media.prompts import PromptRenderer
from dipflow.runtime.centerlink import CenterLink, log_center_failure
from dipflow.runtime.config import DipflowConfig, FlowBinding, RedisStoreSettings
from dipflow.runtime.errors import RuntimeStartError
from dipflow.runtime.flowpath import resolve_flow_path
from dipflow.runtime.metrics import RuntimeMetrics
from dipflow.runtime.notices import (
    CallData,
    CallPhase,
    CallSummary,
    CallUpdated,
    RuntimeNotice,
    ScreenPopReady,
)
from dipflow.runtime.parts import make_center_store, make_prompts
from dipflow.runtime.session import CallFacts, CallSession, EngineLike
from dipflow.runtime.store import CallStateStore, CenterCallStore
from dipflow.runtime.tracing import TraceView

__all__ = ["Runtime", "RuntimeStartError", "resolve_flow_path"]

log = logging.getLogger("dipflow.runtime")

RECENT_CALLS_KEPT = 500


class _FlowRoute:
    """A configured binding with its loaded flow and engine."""

    __slots__ = ("binding", "engine", "flow", "trace_view")

    def __init__(self, binding: FlowBinding, flow: Flow, engine: EngineLike) -> None:
        self.binding = binding
        self.flow = flow
        self.engine = engine
        self.trace_view = TraceView(flow)


def _connectors_named(flow: Flow) -> set[str]:
    """Every connector the flow's HTTP requests name (main flow and event flows)."""
    graphs = [flow.activities, *(event_flow.activities for event_flow in flow.event_flows.values())]
    return {
        activity.connector
        for graph in graphs
        for activity in graph.values()
        if isinstance(activity, HttpRequestActivity) and activity.connector is not None
    }


def _load(reference: str, config: DipflowConfig) -> Flow:
    try:
        return load_flow(resolve_flow_path(reference, config.base_dir))
    # DipflowError: a flow that does not load (FlowError); Lookup: no bundled flow of that
    # name; OS: the file cannot be read.
    except (DipflowError, LookupError, OSError) as exc:
        raise RuntimeStartError(f"flow {reference!r}: {exc}") from exc


def _engine(
    flow: Flow,
    config: DipflowConfig,
    overrides: Mapping[str, object],
    queues: Mapping[str, str],
    by_name: Mapping[str, Flow],
) -> Engine:
    """The engine of `flow`, with the subflows it calls and the flows it may go to."""
    subflows, missing = subflows_needed(flow, by_name)
    for name in sorted(missing):
        log.warning("flow %r calls subflow %r, which flow_library: does not have: "
                    "its Subflow activities will take error", flow.name, name)  # fmt: skip
    for name in sorted(goto_names(flow) - set(by_name)):
        log.warning("flow %r goes to flow %r, which no binding or flow_library: has: "
                    "its GoTo will take error", flow.name, name)  # fmt: skip
    for each in [flow, *subflows.values()]:
        unknown = sorted(_connectors_named(each) - {c.name for c in config.connectors})
        if unknown:
            raise RuntimeStartError(
                f"flow {each.name!r} uses connector(s) {', '.join(unknown)} "
                "that the configuration does not define (connectors:)"
            )
    try:
        variables = flow_variables(flow, config.connectors, dict(overrides))
        return Engine(
            flow,
            variables=variables,
            queues=queues,
            subflows=subflows,
            goto_targets=by_name,
            schedules=config.schedules,
        )
    # DipflowError: an organisation setting the flow does not declare, a variable a
    # subflow declares too (EngineError).
    except DipflowError as exc:
        raise RuntimeStartError(f"flow {flow.name!r}: {exc}") from exc


def _bots_named(flow: Flow) -> set[str]:
    """The virtual agents a flow's activities name."""
    named = set()
    for activities in [flow.activities, *(e.activities for e in flow.event_flows.values())]:
        for activity in activities.values():
            if isinstance(activity, VirtualAgentActivity) and activity.connector:
                named.add(activity.connector)
    return named


class Runtime:
    """Implements `dipflow.channels.seam.CallHost`."""

    def __init__(
        self,
        *,
        config: DipflowConfig,
        center: ContactCenter,
        prompts: PromptRenderer,
        connectors: Connectors,
        store: CallStateStore,
        routes: list[_FlowRoute],
        metrics: RuntimeMetrics | None = None,
        bots: Mapping[str, VirtualAgent] | None = None,
        goto: Mapping[str, tuple[EngineLike, TraceView]] | None = None,
    ) -> None:
        self.config = config
        self.center = center
        self.prompts = prompts
        self.connectors = connectors
        self.store = store
        self.metrics = metrics if metrics is not None else RuntimeMetrics()
        self._routes = routes
        self._sessions: dict[str, CallSession] = {}
        self._recent: deque[CallSummary] = deque(maxlen=RECENT_CALLS_KEPT)
        self._subscribers: list[Callable[[RuntimeNotice], None]] = []
        self._center_link = CenterLink(
            center,
            self,
            recovery=config.store if isinstance(config.store, RedisStoreSettings) else None,
        )
        self._started = False
        self._status_sources: dict[str, Callable[[], list[dict[str, Any]]]] = {}
        self.bots: dict[str, VirtualAgent] = dict(bots or {})
        self._goto: dict[str, tuple[EngineLike, TraceView]] = dict(goto or {})
        """Engines by flow name, for GoTo (bound flows by their name, the library's)."""
        """Virtual-agent connectors by name (`virtual_agents:`)."""
        self.outbound: OutboundChannel | None = None
        """Where callbacks are placed (a trunk's outbound channel); None: callbacks fail
        at once with `CallbackFailed`. The composition root sets it (`set_outbound`)."""

    # -- construction -------------------------------------------------------------------------

    @classmethod
    async def create(
        cls, config: DipflowConfig, *, environ: Mapping[str, str] = os.environ
    ) -> Runtime:
        """Load every flow and build the parts (`RuntimeStartError` says which failed)."""
        library = {
            name: _load(reference, config) for name, reference in config.flow_library.items()
        }
        bound = [_load(binding.flow, config) for binding in config.flows]
        by_name = {**{flow.name: flow for flow in bound}, **library}
        routes = []
        goto: dict[str, tuple[EngineLike, TraceView]] = {}
        for binding, flow in zip(config.flows, bound, strict=True):
            engine = _engine(flow, config, binding.variables, binding.queues, by_name)
            route = _FlowRoute(binding, flow, engine)
            routes.append(route)
            goto.setdefault(flow.name, (engine, route.trace_view))
        for name, flow in library.items():
            goto[name] = (_engine(flow, config, {}, {}, by_name), TraceView(flow))
        center_store = make_center_store(config.store)
        center = ContactCenter(config.center, center_store)
        store = CenterCallStore(center_store)
        try:
            connectors = Connectors(config.connectors, environ=environ)
        except DipflowError as exc:  # a missing secret, a duplicate name (ConnectorError)
            raise RuntimeStartError(str(exc)) from exc
        prompts = make_prompts(config.media)
        bots: dict[str, VirtualAgent] = {}
        for settings in config.virtual_agents:
            if settings.name in bots:
                raise RuntimeStartError(f"virtual agent {settings.name!r} is defined twice")
            try:
                bots[settings.name] = build_bot(settings, config.base_dir)
            except DipflowError as exc:  # a rules file that does not load
                raise RuntimeStartError(f"virtual agent {settings.name!r}: {exc}") from exc
        for route in routes:
            for name in sorted(_bots_named(route.flow) - set(bots)):
                log.warning(
                    "flow %r names the virtual agent %r, which virtual_agents: does not "
                    "define: its calls will take the activity's error output",
                    route.binding.flow,
                    name,
                )
        return cls(
            config=config,
            center=center,
            prompts=prompts,
            connectors=connectors,
            store=store,
            routes=routes,
            bots=bots,
            goto=goto,
        )

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        # The render workers import the media stack now, not in the first caller's silence.
        await asyncio.to_thread(self.prompts.start)
        await self._center_link.start()

    async def _close_prompts(self) -> None:
        await asyncio.to_thread(self.prompts.close)  # renderings in progress finish first

    async def stop(self) -> None:
        """End every call (callers hear a disconnect, the center is told) and close clients."""
        sessions = list(self._sessions.values())
        for session in sessions:
            if session.task is not None:
                session.task.cancel()
        for session in sessions:
            if session.task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(session.done.wait()), timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    log.warning("call %s did not stop in time", session.call_id)
        await self._center_link.stop()
        closers = [
            self.connectors.aclose,
            self.store.aclose,
            *(b.aclose for b in self.bots.values()),
            self._close_prompts,
        ]
        for closer in closers:
            try:
                await closer()
            except Exception:
                log.exception("runtime stop: %s failed", closer)
        self._started = False

    def set_outbound(self, channel: OutboundChannel | None) -> None:
        """The channel that places callbacks (built after the runtime, as SIP is)."""
        self.outbound = channel

    # -- calls --------------------------------------------------------------------------------

    def _route_for(self, dnis: str) -> _FlowRoute:
        binding = self.config.binding_for(dnis)
        for route in self._routes:
            if route.binding is binding:
                return route
        raise LookupError(f"no flow is configured for DNIS {dnis!r}")

    def start_call(
        self,
        channel_call: ChannelCall,
        *,
        ani: str,
        dnis: str,
        channel: str,
        call_id: str | None = None,
        ani_verified: bool = True,
    ) -> CallSession:
        """Start the flow bound to `dnis`; `LookupError` when none is. Must run in the loop."""
        route = self._route_for(dnis)
        call_id = call_id or uuid.uuid4().hex
        if call_id in self._sessions:
            raise ValueError(f"call {call_id!r} is already in progress")
        facts = CallFacts(
            call_id=call_id, ani=ani, dnis=dnis, channel=channel, ani_verified=ani_verified
        )
        session = CallSession(
            facts=facts,
            engine=route.engine,
            channel_call=channel_call,
            services=_Services(self),
            trace_view=route.trace_view,
        )
        self._sessions[call_id] = session
        self.metrics.calls_started.labels(channel=channel).inc()
        self.metrics.active_calls.inc()
        session.begin()
        return session

    def call_refused(self, *, ani: str, dnis: str, channel: str, status: int, reason: str) -> None:
        """A call its channel refused before a flow ran: a recent call, ended, in error."""
        now = time.time()
        entry = {
            "flow": "channel", "activity": channel, "kind": "refused", "started_at": now,
            "ended_at": now, "inputs": {"ani": ani, "dnis": dnis},
            "outputs": {"status": status}, "output_taken": None, "error": reason,
        }  # fmt: skip
        summary = CallSummary(
            call_id=uuid.uuid4().hex, ani=ani, dnis=dnis, channel=channel,
            state=CallPhase.ENDED, started_at=now, ended_at=now, error=True, trace=(entry,),
        )  # fmt: skip
        self._recent.append(summary)
        self.metrics.calls_ended.labels(channel=channel, outcome="refused").inc()
        self._notify(CallUpdated(call_id=summary.call_id, summary=summary))

    def session(self, call_id: str) -> CallSession | None:
        """The live session of `call_id` (None once it finished)."""
        return self._sessions.get(call_id)

    def live_sessions(self) -> list[CallSession]:
        return list(self._sessions.values())

    def active_call_count(self) -> int:
        return len(self._sessions)

    def active_calls(self) -> list[CallSummary]:
        return [self.summary(s) for s in self._sessions.values()]

    def add_status_source(self, name: str, source: Callable[[], list[dict[str, Any]]]) -> None:
        """Rows the supervisor view shows under `name` (a channel's trunks...), read on
        each refresh; the composition root wires them (the runtime knows no channel)."""
        self._status_sources[name] = source

    def status(self, name: str) -> list[dict[str, Any]]:
        source = self._status_sources.get(name)
        return source() if source is not None else []

    def recent_calls(self, limit: int = 50) -> list[CallSummary]:
        """Live calls first (newest first), then finished ones (newest first)."""
        live = sorted(self.active_calls(), key=lambda s: s.started_at, reverse=True)
        finished = list(reversed(self._recent))
        return (live + finished)[: max(0, limit)]

    def call_data(self, call_id: str) -> CallData | None:
        session = self._sessions.get(call_id)
        if session is None:
            return None
        view = session.trace_view
        return CallData(
            call_id=call_id,
            ani=session.facts.ani,
            dnis=session.facts.dnis,
            variables=view.agent_data(session.state),
            path=view.path(session.state),
            queue=session.facts.queue,
        )

    def summary(self, session: CallSession) -> CallSummary:
        facts, view = session.facts, session.trace_view
        media = tuple(asdict(q) for q in facts.media)
        return CallSummary(
            call_id=facts.call_id,
            ani=facts.ani,
            dnis=facts.dnis,
            channel=facts.channel,
            state=facts.phase,
            started_at=facts.started_at,
            ended_at=facts.ended_at,
            path=view.path(session.state),
            agent_id=facts.agent_id,
            queue=facts.queue,
            error=view.hit_global_error(session.state),
            trace=_with_media(view.entries(session.state), media, facts.channel),
            media=media,
        )

    # -- notices ------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[RuntimeNotice], None]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _notify(self, notice: RuntimeNotice) -> None:
        for callback in list(self._subscribers):
            try:
                callback(notice)
            except Exception:
                log.exception("runtime subscriber failed")

    # -- agents -------------------------------------------------------------------------------

    def agent_endpoint(self, agent_id: str) -> AgentEndpoint:
        """Who the channel bridges the caller to: name and phone from the center config."""
        agent = self.config.center.agent(agent_id)
        if agent is None:
            return AgentEndpoint(agent_id=agent_id, display_name=agent_id)
        return AgentEndpoint(agent_id=agent_id, display_name=agent.name, sip_uri=agent.sip_uri)

    async def agent_accept(self, agent_id: str, call_id: str) -> bool:
        """The agent takes the offered call: bridge, tell the engine, pop the screen.

        False when the offer is gone (taken back, caller hung up) or the bridge failed.
        """
        session = self._sessions.get(call_id)
        if session is None or session.finished:
            return False
        callback = session.facts.callback
        leg_gone = session.facts.hung_up or session.facts.disconnected
        if leg_gone and callback is None:
            return False
        if not await self._center_link.accept(agent_id, call_id):
            return False
        endpoint = self.agent_endpoint(agent_id)
        if leg_gone and callback is not None and not await self._call_back(session, callback):
            return False
        try:
            connected = await session.channel_call.connect_agent(endpoint)
        except ChannelError as exc:  # the channel could not place the leg: not a bug
            log.warning("call %s: connecting agent %s failed: %s", call_id, agent_id, exc)
            self.metrics.session_errors.labels(where="connect_agent").inc()
            connected = False
        except Exception:  # a bug in the channel: the caller goes back to the queue
            log.exception("call %s: connecting agent %s failed", call_id, agent_id)
            self.metrics.session_errors.labels(where="connect_agent").inc()
            connected = False
        if not connected:
            # Treated as ring-no-answer: the contact goes back to its queue.
            await self._center_link.bridge_failed(agent_id, call_id)
            return False
        queued_at = session.facts.queued_at
        if queued_at is not None and session.facts.queue is not None:
            self.metrics.queue_wait_seconds.labels(
                queue=session.facts.queue, outcome="answered"
            ).observe(max(0.0, asyncio.get_running_loop().time() - queued_at))
        session.post(AgentAnswered(agent_id=agent_id, agent_name=endpoint.display_name))
        return True

    async def _call_back(self, session: CallSession, callback: RequestCallback) -> bool:
        """The agent took a callback whose caller has left: ring the caller's number. The
        answered leg becomes the call's channel; a failure is `CallbackFailed` (the flow's
        callback_failed event flow runs, then the contact ends)."""
        outbound = self.outbound
        reason = "no outbound channel is configured"
        if outbound is not None:
            call = OutboundCall(
                call_id=session.call_id, number=callback.number, caller_id=callback.caller_id
            )
            try:
                leg = await outbound.dial(call, session)
            except ChannelError as exc:  # busy, no answer, refused: not a bug
                reason = f"{callback.number} was not reached: {exc}"
            except Exception as exc:  # a bug in the channel: logged, the flow still goes on
                log.exception("call %s: the callback to %s failed", session.call_id, call.number)
                reason = f"{callback.number} was not reached: {type(exc).__name__}"
            else:
                session.channel_call = leg
                session.facts.hung_up = session.facts.disconnected = False
                session.facts.callback = None
                if callback.number != session.facts.ani:
                    session.post(AniUpdated(ani=callback.number))  # Webex ContactAniUpdated
                return True
        log.info("call %s: callback failed: %s", session.call_id, reason)
        self.metrics.session_errors.labels(where="callback").inc()
        session.post(CallbackFailed(reason=reason))
        return False

    async def agent_decline(self, agent_id: str, call_id: str) -> None:
        await self._center_link.decline(agent_id, call_id)

    async def agent_hangup(self, agent_id: str, call_id: str) -> None:
        session = self._sessions.get(call_id)
        if session is None or session.facts.agent_id != agent_id:
            return
        session.post(AgentDisconnected(agent_id=agent_id))

    # -- what sessions call back ----------------------------------------------------------------

    async def _session_ended(self, session: CallSession) -> None:
        facts = session.facts
        await self._center_link.call_ended(session)
        try:
            await self.store.finished(facts.call_id)
        except CenterError as exc:
            log_center_failure(f"call {facts.call_id}: dropping its saved state", exc)
        summary = self.summary(session)
        self._sessions.pop(facts.call_id, None)
        self._recent.append(summary)
        self.metrics.active_calls.dec()
        if facts.agent_id is None and facts.queued_at is not None and facts.queue is not None:
            self.metrics.queue_wait_seconds.labels(queue=facts.queue, outcome="left").observe(
                max(0.0, asyncio.get_running_loop().time() - facts.queued_at)
            )
        outcome = "error" if summary.error else ("answered" if facts.agent_id else "ivr")
        if facts.hung_up and facts.agent_id is None:
            outcome = "abandoned" if facts.queue else "caller_hung_up"
        self.metrics.calls_ended.labels(channel=facts.channel, outcome=outcome).inc()
        self._notify(CallUpdated(call_id=facts.call_id, summary=summary))


class _Services:
    """The runtime as one session sees it (`dipflow.runtime.session.SessionServices`)."""

    __slots__ = ("_runtime",)

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def http(self, request: HttpRequest) -> HttpCompleted:
        result: HttpCompleted = await self._runtime.connectors.execute(request)
        return result

    async def enqueue(self, session: CallSession, command: Enqueue) -> None:
        await self._runtime._center_link.enqueue(session, command)

    async def dequeue(self, session: CallSession, command: Dequeue) -> None:
        await self._runtime._center_link.dequeue(session, command)

    async def lookup_queue(self, session: CallSession, command: LookupQueue) -> QueueLookedUp:
        return await self._runtime._center_link.lookup(session, command)

    def virtual_agent(self, name: str) -> VirtualAgent | None:
        return self._runtime.bots.get(name)

    def engine_for(self, flow: str) -> tuple[EngineLike, TraceView] | None:
        return self._runtime._goto.get(flow)

    def media_stream_url(self, destination: str) -> str | None:
        configured = self._runtime.config.media_streams.get(destination)
        if configured is not None:
            return configured
        return destination if destination.startswith(("ws://", "wss://")) else None

    def request_callback(self, session: CallSession, command: RequestCallback) -> str | None:
        outbound = self._runtime.outbound
        if outbound is None:
            return "no outbound channel is configured (a callback needs a trunk to call out)"
        if not outbound.can_dial(command.number):
            return f"the outbound channel has no route to {command.number!r}"
        session.facts.callback = command
        return None

    async def session_ended(self, session: CallSession) -> None:
        try:
            await self._runtime._session_ended(session)
        except Exception:
            log.exception("call %s: end bookkeeping failed", session.call_id)

    async def save_state(self, session: CallSession, state_json: str) -> None:
        await self._runtime.store.save(session.call_id, state_json)

    def screen_pop(self, notice: ScreenPopReady) -> None:
        self._runtime.metrics.screen_pops.inc()
        self._runtime._notify(notice)

    def call_updated(self, session: CallSession) -> None:
        runtime = self._runtime
        if session.call_id in runtime._sessions:
            runtime._notify(CallUpdated(call_id=session.call_id, summary=runtime.summary(session)))

    def count_error(self, where: str) -> None:
        self._runtime.metrics.session_errors.labels(where=where).inc()

    def observe_http(self, request: HttpRequest, result: HttpCompleted) -> None:
        self._runtime.metrics.http_dip_seconds.labels(
            connector=request.connector or "-", outcome=result.outcome.value
        ).observe(result.elapsed_ms / 1000.0)


def _with_media(
    entries: tuple[dict[str, Any], ...], media: tuple[dict[str, Any], ...], channel: str
) -> tuple[dict[str, Any], ...]:
    """The trace, then each leg's media quality as an entry of the channel's, stamped on
    the engine's clock at the last step (the trace's times are the engine's)."""
    last = entries[-1] if entries else {}
    at = last.get("ended_at") or last.get("started_at")
    return entries + tuple(
        {
            "flow": "channel",
            "activity": f"{channel} {quality['leg']} media",
            "kind": "media_quality",
            "started_at": at,
            "ended_at": at,
            "inputs": {},
            "outputs": dict(quality),
            "output_taken": None,
            "error": None,
        }
        for quality in media
    )
