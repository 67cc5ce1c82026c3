"""Helpers shared by the contact-center tests (a unique module name: no clash across folders)."""

from __future__ import annotations

from dipflow.center import AgentConfig, CenterConfig, Notification, QueueConfig


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sample_config(**overrides: object) -> CenterConfig:
    base: dict[str, object] = {
        "queues": [
            QueueConfig(
                name="sales",
                teams=["blue"],
                max_wait_s=60,
                fallback_queue="overflow",
                ring_timeout_s=15,
            ),
            QueueConfig(name="overflow", teams=["green"], ring_timeout_s=10),
            QueueConfig(name="support", teams=["green", "blue"], max_wait_s=30),
        ],
        "agents": [
            AgentConfig(agent_id="alice", name="Alice", teams=["blue"]),
            AgentConfig(agent_id="bob", name="Bob", teams=["blue", "green"]),
            AgentConfig(agent_id="carol", name="Carol", teams=["green"]),
        ],
        "wrap_up_s": 10,
    }
    base.update(overrides)
    return CenterConfig.model_validate(base)


class Recorder:
    def __init__(self) -> None:
        self.notes: list[Notification] = []

    def __call__(self, note: Notification) -> None:
        self.notes.append(note)

    def of(self, kind: type) -> list[Notification]:
        return [n for n in self.notes if isinstance(n, kind)]

    def clear(self) -> None:
        self.notes.clear()
