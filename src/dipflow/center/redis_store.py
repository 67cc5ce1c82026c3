"""`RedisCenterStore`: the center's state in Redis, shared by dipflow nodes. Layer 3 (center).

Why a Lua script and not WATCH/MULTI: an assignment reads the head of a queue and
the longest-available agent, then writes both. With WATCH/MULTI each node would
read, decide in Python and retry on every conflict, and under load (many agents
going available at once) the retries pile up. A script runs inside Redis as one
atomic step, with no round trips and no retries: two nodes racing to offer the
same caller are simply serialised, and the second sees the caller already offered.
Every state change (not only the assignment) is the same script, so every
invariant of `CenterCore` holds across nodes. The script is `center.lua` (see
`redis_lua.py` for its arguments).

Keys (prefix default ``dipflow:{center}:``; the hash tag keeps them in one slot):
``c:<call>`` contact hash, ``a:<agent>`` agent hash, ``w:<queue>`` waiting contacts
(sorted set, score = -priority * 2**32 + arrival), ``av:<queue>`` available agents
(sorted set, score = available since), ``st:<queue>`` staffed agents (set), ``aht``
average handle time per queue, ``t`` timers (sorted set by deadline), ``seq``
arrival counter, ``cs:<call>`` per-call state documents.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from dipflow.center import reporting
from dipflow.center.config import CenterConfig
from dipflow.center.errors import (
    AgentUnavailable,
    CenterError,
    CenterStoreError,
    ContactExists,
    InvalidTransition,
)
from dipflow.center.model import (
    AgentSnapshot,
    AgentState,
    CenterSnapshot,
    ContactState,
    Notification,
    QueueStatistics,
    QueueStatus,
    notification_from_dict,
)
from dipflow.center.redis_lua import CENTER_LUA
from dipflow.center.skills import (
    RelaxationStep,
    SkillRequirement,
    requirements_from_json,
    requirements_to_json,
)
from dipflow.center.transitions import transitions_json
from dipflow.center.validation import Validator

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "dipflow:{center}:"
TIMER_BATCH = 200
"""Timers fired per script call, so that one call never blocks Redis for long."""

CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
"""A Redis that stops answering (stopped, partitioned) fails an operation in bounded time
instead of holding it forever: the runtime then treats it as an outage (music, then the
flow's failure path). Pub/sub's blocking read is exempt: redis-py reads it without one."""


def _reconnecting() -> Retry:
    """Retry a command once or twice on a *connection* error, on a fresh connection.

    After Redis restarts, every idle connection in the pool is stale: its first command
    reads "Connection closed by server". `Redis.from_url` gives its connections no retry
    at all, so each stale connection failed one operation (a snapshot, a call's saved
    state) after the server was back. A timeout is not retried: the command may have run.
    A connection lost after the script ran is retried, and the script's guards make the
    second run a no-op or a clean error (`exists`, `accept` of a contact no longer offered).
    """
    return Retry(
        ExponentialWithJitterBackoff(base=0.01, cap=0.1),
        retries=2,
        supported_errors=(RedisConnectionError,),
    )


class RedisCenterStore:
    durable = True

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._script: AsyncScript | None = None
        self._config_json = ""
        self._validator: Validator | None = None
        self._origin = uuid.uuid4().hex
        """Tags the notifications this store's scripts publish, to skip our own echo."""

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisCenterStore:
        """A store on its own connection pool, e.g. ``redis://127.0.0.1:6379/0``."""
        client = aioredis.Redis.from_url(
            url,
            retry=_reconnecting(),
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
        )
        return cls(client, prefix=prefix)

    def bind(self, config: CenterConfig) -> None:
        self._validator = Validator(config)
        self._config_json = json.dumps(
            {
                "queues": {
                    q.name: {
                        "ring": repr(q.ring_timeout_s),
                        "max_wait": "" if q.max_wait_s is None else repr(q.max_wait_s),
                        "fallback": q.fallback_queue or "",
                    }
                    for q in config.queues
                },
                "wrap_up": repr(config.wrap_up_s),
                "aht0": repr(config.default_handle_time_s),
                "alpha": repr(config.handle_time_weight),
                "npos": config.position_updates,
                "tr": json.loads(transitions_json()),
                "stype": {d.name: d.type.value for d in config.skills},
                "askills": {a.agent_id: config.agent_skills(a) for a in config.agents},
                "origin": self._origin,
            }
        )
        self._script = self._client.register_script(CENTER_LUA)

    @property
    def validator(self) -> Validator:
        if self._validator is None:
            raise CenterError("the store is not bound to a configuration yet (call bind)")
        return self._validator

    async def _run(self, op: str, now: float, *args: str) -> Any:
        if self._script is None:
            raise CenterError("the store is not bound to a configuration yet (call bind)")
        try:
            raw = await self._script(
                keys=[], args=[self._config_json, self._prefix, op, repr(now), *args]
            )
        except RedisError as exc:
            raise CenterStoreError(f"redis: {op} failed: {exc}") from exc
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        result = json.loads(text)
        if isinstance(result, dict) and "error" in result:
            if result["error"] == "invalid_transition":
                agent_id = args[0]
                raise InvalidTransition(agent_id, str(result["state"]), str(result["action"]))
            if result["error"] == "exists":
                raise ContactExists(args[0])
            if result["error"] == "agent_unavailable":
                raise AgentUnavailable(str(args[-2]), str(result["state"]))
            raise CenterStoreError(f"redis: {op}: {result['error']}")
        return result

    async def _notes(self, op: str, now: float, *args: str) -> list[Notification]:
        return _decode_notes(await self._run(op, now, *args))

    # ------------------------------------------------------------- operations

    async def enqueue(
        self,
        call_id: str,
        queue: str,
        *,
        priority: int,
        max_wait_s: float | None,
        fallback_queue: str | None,
        data: Mapping[str, str],
        skills: Sequence[SkillRequirement] = (),
        relaxation: Sequence[RelaxationStep] = (),
        agent: str | None = None,
        park: bool = False,
        now: float,
    ) -> list[Notification]:
        effective = self.validator.enqueue(call_id, queue, priority, max_wait_s, fallback_queue)
        self.validator.skills(skills, relaxation)
        wait, fallback = effective
        if agent is not None:
            self.validator.named_agent(agent, skills, relaxation)
            wait, fallback = None, None  # see CenterCore.enqueue
        return await self._notes(
            "enqueue",
            now,
            call_id,
            queue,
            str(priority),
            "" if wait is None else repr(wait),
            fallback or "",
            json.dumps({str(k): str(v) for k, v in data.items()}),
            _requirements_text(skills),
            json.dumps([[repr(s.after_s), _requirements_text(s.requirements)] for s in relaxation]),
            agent or "",
            "1" if park else "0",
        )

    async def abandon(self, call_id: str, *, now: float) -> list[Notification]:
        return await self._notes("abandon", now, call_id)

    async def login(
        self, agent_id: str, *, teams: Sequence[str] | None, now: float
    ) -> list[Notification]:
        chosen, queues = self.validator.login(agent_id, teams)
        return await self._notes("login", now, agent_id, json.dumps(chosen), json.dumps(queues))

    async def logout(self, agent_id: str, *, now: float) -> list[Notification]:
        self.validator.agent(agent_id)
        return await self._notes("logout", now, agent_id)

    async def set_available(self, agent_id: str, *, now: float) -> list[Notification]:
        self.validator.agent(agent_id)
        return await self._notes("set_available", now, agent_id)

    async def set_idle(self, agent_id: str, reason: str, *, now: float) -> list[Notification]:
        self.validator.agent(agent_id)
        self.validator.idle_reason(reason)
        return await self._notes("set_idle", now, agent_id, reason)

    async def accept(
        self, agent_id: str, call_id: str, *, now: float
    ) -> tuple[bool, list[Notification]]:
        self.validator.agent(agent_id)
        result = await self._run("accept", now, agent_id, call_id)
        return bool(result["ok"]), _decode_notes(result["notes"])

    async def decline(self, agent_id: str, call_id: str, *, now: float) -> list[Notification]:
        self.validator.agent(agent_id)
        return await self._notes("decline", now, agent_id, call_id)

    async def end_contact(self, call_id: str, *, now: float) -> list[Notification]:
        return await self._notes("end_contact", now, call_id)

    async def end_wrap_up(self, agent_id: str, *, now: float) -> list[Notification]:
        self.validator.agent(agent_id)
        return await self._notes("end_wrap_up", now, agent_id)

    async def restore_connected(
        self, call_id: str, queue: str, agent_id: str, *, data: Mapping[str, str], now: float
    ) -> list[Notification]:
        self.validator.enqueue(call_id, queue, 0, None, None)
        teams, queues = self.validator.login(agent_id, None)
        return await self._notes(
            "restore_connected", now, call_id, queue, agent_id, json.dumps(teams),
            json.dumps(queues), json.dumps({str(k): str(v) for k, v in data.items()}),
        )  # fmt: skip

    async def epoch(self) -> str:
        """The value of `<prefix>epoch`, set to a new random token when it is missing: a
        restarted, empty Redis has none, so the next reader makes one and every node sees
        a change. SET NX then GET in one script, so two nodes cannot both make one."""
        try:
            raw = await self._client.eval(
                "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])",
                1, self._prefix + "epoch", uuid.uuid4().hex,
            )  # fmt: skip
        except RedisError as exc:
            raise CenterStoreError(f"redis: epoch failed: {exc}") from exc
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def handle_timers(self, now: float) -> list[Notification]:
        notes: list[Notification] = []
        while True:
            result = await self._run("timers", now, str(TIMER_BATCH))
            notes.extend(_decode_notes(result["notes"]))
            if not result["more"]:
                return notes

    async def next_deadline(self) -> float | None:
        try:
            head = await self._client.zrange(self._prefix + "t", 0, 0, withscores=True)
        except RedisError as exc:
            raise CenterStoreError(f"redis: next_deadline failed: {exc}") from exc
        return float(head[0][1]) if head else None

    # -------------------------------------------------------------- reporting

    async def queue_status(self, call_id: str, now: float) -> QueueStatus | None:
        raw = await self._run("status", now, call_id)
        if not raw:
            return None
        return reporting.queue_status(
            call_id=call_id,
            queue=str(raw["queue"]),
            state=ContactState(raw["state"]),
            position=int(raw["position"]),
            aht_s=float(raw["aht"]),
            staffed=int(raw["staffed"]),
            entered_at=float(raw["entered_at"]),
            now=now,
        )

    async def queue_statistics(self, queue: str, call_id: str, now: float) -> QueueStatistics:
        self.validator.queue(queue)
        raw = await self._run("stats", now, queue, call_id)
        return reporting.queue_statistics(
            queue=queue,
            waiting=int(raw["waiting"]),
            staffed=int(raw["staffed"]),
            available=int(raw["available"]),
            oldest_entered_at=float(raw["oldest"]) if raw["oldest"] else None,
            position=int(raw["position"]),
            aht_s=float(raw["aht"]),
            now=now,
        )

    async def snapshot(self, now: float) -> CenterSnapshot:
        config = self.validator.config
        raw = await self._run(
            "snapshot",
            now,
            json.dumps([q.name for q in config.queues]),
            json.dumps([a.agent_id for a in config.agents]),
        )
        queues = tuple(
            reporting.queue_snapshot(
                name=str(name),
                waiting=(
                    (
                        str(call_id),
                        int(priority),
                        float(entered_at),
                        requirements_from_json(json.loads(req) if req else []),
                    )
                    for call_id, priority, entered_at, req in _as_list(waiting_raw)
                ),
                offered=int(offered),
                available=int(available),
                staffed=int(staffed),
                aht_s=float(aht),
                now=now,
            )
            for name, waiting_raw, offered, available, staffed, aht in _as_list(raw["queues"])
        )
        names = {a.agent_id: a.name for a in config.agents}
        agents = tuple(
            AgentSnapshot(
                agent_id=str(agent_id),
                name=names[str(agent_id)],
                state=AgentState(state),
                reason=str(reason) or None,
                since=float(since),
                call_id=str(call) or None,
                teams=tuple(json.loads(teams)),
                parked=tuple(str(p) for p in _as_list(parked)),
            )
            for agent_id, state, reason, since, call, teams, parked in _as_list(raw["agents"])
        )
        return CenterSnapshot(taken_at=now, queues=queues, agents=agents)

    # ------------------------------------------------------------ call states

    async def save_call_state(self, call_id: str, document: str) -> None:
        await self._plain(self._client.set(self._prefix + "cs:" + call_id, document))

    async def load_call_state(self, call_id: str) -> str | None:
        raw = await self._plain(self._client.get(self._prefix + "cs:" + call_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def delete_call_state(self, call_id: str) -> None:
        await self._plain(self._client.delete(self._prefix + "cs:" + call_id))

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ relay

    async def remote_notifications(self) -> AsyncIterator[list[Notification]] | None:
        """Notifications caused by other nodes, in commit order (subscribed before return)."""
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._prefix + "events")
        except RedisError as exc:
            await _close(pubsub)
            raise CenterStoreError(f"redis: subscribe failed: {exc}") from exc
        return self._relay(pubsub)

    async def _relay(self, pubsub: PubSub) -> AsyncIterator[list[Notification]]:
        try:
            async for message in _listen(pubsub):
                if message.get("type") != "message":
                    continue
                try:
                    payload = json.loads(message["data"])
                    if payload.get("origin") == self._origin:
                        continue
                    notes = _decode_notes(payload.get("notes"))
                except (ValueError, TypeError, KeyError):
                    log.warning("contact center: unreadable relay message %r", message)
                    continue
                yield notes
        finally:
            await _close(pubsub)

    @staticmethod
    async def _plain(awaitable: Any) -> Any:
        try:
            return await awaitable
        except RedisError as exc:
            raise CenterStoreError(f"redis: {exc}") from exc


async def _listen(pubsub: PubSub) -> AsyncIterator[dict[str, Any]]:
    """`pubsub.listen()` with Redis's errors translated: a connection lost mid-listen is an
    outage (`CenterStoreError`, logged at warning level and retried), not a bug."""
    try:
        async for message in pubsub.listen():
            yield cast(dict[str, Any], message)
    except RedisError as exc:
        raise CenterStoreError(f"redis: relay lost its connection: {exc}") from exc


async def _close(pubsub: PubSub) -> None:
    # Leaving the context is `PubSub.aclose()`, which redis-py does not annotate: this
    # way strict mypy needs no exception for it.
    async with pubsub:
        pass


def _as_list(value: Any) -> list[Any]:
    """Lua's cjson encodes an empty table as ``{}``; read that as an empty list."""
    if isinstance(value, dict) and not value:
        return []
    return cast(list[Any], value)


def _decode_notes(raw: Any) -> list[Notification]:
    return [notification_from_dict(item) for item in _as_list(raw)]


def _requirements_text(requirements: Sequence[SkillRequirement]) -> str:
    """As the script keeps them: '' for none (matched without decoding), else JSON."""
    return json.dumps(requirements_to_json(requirements)) if requirements else ""
