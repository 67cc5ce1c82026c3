"""Everything one running emulator holds: settings, store, faults and counters.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dipflow.emulator.faults import FaultInjector
from dipflow.emulator.settings import EmulatorSettings
from dipflow.emulator.store import Store

_KEY_SEGMENT = re.compile(r"\([^)]*\)")


def path_label(path: str) -> str:
    """Collapse record keys so that per-path counters stay few: `contacts({id})`."""
    return _KEY_SEGMENT.sub("({id})", path)


@dataclass(slots=True)
class Stats:
    requests: int = 0
    tokens_issued: int = 0
    faults_injected: int = 0
    affinity_requests: int = 0
    """Web API requests that sent the `ARRAffinity` cookie back."""
    per_path: Counter[str] = field(default_factory=Counter)
    per_status: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "tokens_issued": self.tokens_issued,
                "faults_injected": self.faults_injected,
                "affinity_requests": self.affinity_requests,
                "per_path": dict(self.per_path),
                "per_status": {str(k): v for k, v in self.per_status.items()},
            }

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.tokens_issued = 0
            self.faults_injected = 0
            self.affinity_requests = 0
            self.per_path.clear()
            self.per_status.clear()


@dataclass(slots=True)
class EmulatorState:
    settings: EmulatorSettings
    store: Store
    faults: FaultInjector
    rng: random.Random
    stats: Stats = field(default_factory=Stats)
