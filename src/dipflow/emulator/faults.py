"""Fault injection: latency, errors, throttling, hangs and broken bodies on demand.

Settable while running through `/_emulator/faults`, so a test or a benchmark can
turn a healthy CRM into a slow or failing one between two calls. Rates are
probabilities per request drawn from one seeded RNG; 1.0 means every request.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import random
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class LatencyDistribution(StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    """Between `latency_ms` and `latency_max_ms`."""
    NORMAL = "normal"
    """Mean `latency_ms`, standard deviation `latency_stddev_ms`, clipped at 0."""


class FaultConfig(BaseModel):
    """What to inject; the JSON body of `POST /_emulator/faults`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(default=0.0, ge=0, le=600_000)
    latency_distribution: LatencyDistribution = LatencyDistribution.FIXED
    latency_max_ms: float = Field(default=0.0, ge=0, le=600_000)
    latency_stddev_ms: float = Field(default=0.0, ge=0, le=600_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=503, ge=400, le=599)
    throttle_rate: float = Field(default=0.0, ge=0, le=1)
    """Share of requests answered 429 with `Retry-After: retry_after_s`."""
    retry_after_s: int = Field(default=1, ge=0, le=3600)
    hang_rate: float = Field(default=0.0, ge=0, le=1)
    """Share of requests that sleep `hang_s` before being served normally."""
    hang_s: float = Field(default=30.0, ge=0, le=3600)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    """Share of successful responses whose JSON body is cut in half."""
    apply_to_token: bool = False
    """Also inject faults into the token endpoint."""
    only_paths: tuple[str, ...] = ()
    """Entity sets (`contacts`, `incidents`...) and/or `token` the faults hit; empty: all.
    E.g. `("incidents",)` makes the case lookup fail while the contact lookup works."""
    max_faults: int | None = Field(default=None, ge=0)
    """Stop after injecting this many faults (1: the first request fails, its retry works)."""


class FaultKind(StrEnum):
    NONE = "none"
    ERROR = "error"
    THROTTLE = "throttle"


class FaultInjector:
    """Holds the current fault configuration and draws decisions from a seeded RNG."""

    def __init__(self, seed: int | None = None) -> None:
        self.config = FaultConfig()
        self._rng = random.Random(seed)
        self._injected = 0

    def set(self, config: FaultConfig) -> None:
        self.config = config
        self._injected = 0

    def clear(self) -> None:
        self.set(FaultConfig())

    def applies(self, target: str) -> bool:
        """Whether faults hit requests for `target` (an entity set name, or `token`)."""
        only = self.config.only_paths
        return not only or target in only

    def latency_s(self) -> float:
        c = self.config
        if c.latency_distribution is LatencyDistribution.UNIFORM:
            high = max(c.latency_ms, c.latency_max_ms)
            ms = self._rng.uniform(c.latency_ms, high)
        elif c.latency_distribution is LatencyDistribution.NORMAL:
            ms = max(0.0, self._rng.gauss(c.latency_ms, c.latency_stddev_ms))
        else:
            ms = c.latency_ms
        return ms / 1000.0

    def hang_s(self) -> float:
        return self.config.hang_s if self._hit(self.config.hang_rate) else 0.0

    def failure(self) -> FaultKind:
        if self._hit(self.config.throttle_rate):
            return FaultKind.THROTTLE
        if self._hit(self.config.error_rate):
            return FaultKind.ERROR
        return FaultKind.NONE

    def malformed(self) -> bool:
        return self._hit(self.config.malformed_rate)

    def _hit(self, rate: float) -> bool:
        """Draw one fault; each hit spends one unit of the `max_faults` budget."""
        if rate <= 0:
            return False
        limit = self.config.max_faults
        if limit is not None and self._injected >= limit:
            return False
        hit = rate >= 1 or self._rng.random() < rate
        if hit:
            self._injected += 1
        return hit
