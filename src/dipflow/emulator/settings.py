"""Typed settings of one emulator instance.

Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_TENANT = "00000000-0000-4000-8000-00000000d1f0"
DEFAULT_CLIENT_ID = "11111111-2222-4333-8444-555555555555"
DEFAULT_CLIENT_SECRET = "dipflow-emulator-secret"  # noqa: S105 - a public demo credential


class SeedKind(StrEnum):
    DEMO = "demo"
    """Load `dipflow.emulator.demo_data` (fixed GUIDs) when the database is empty."""
    NONE = "none"
    """Leave the database as it is."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorSettings:
    db: str = ":memory:"
    """SQLite file path, or `:memory:`."""
    seed: SeedKind = SeedKind.DEMO
    """What to load into an empty database at start-up."""
    require_auth: bool = True
    """Refuse data API requests without valid credentials (401)."""
    tenant: str = DEFAULT_TENANT
    """Azure AD tenant id the token endpoint answers for (`/{tenant}/oauth2/v2.0/token`)."""
    client_id: str = DEFAULT_CLIENT_ID
    """The one registered confidential client."""
    client_secret: str = DEFAULT_CLIENT_SECRET
    token_lifetime_s: int = 3600
    """`expires_in` of issued tokens; tests use a few seconds to exercise refresh."""
    signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """HS256 key for access tokens; random per instance unless given."""
    audience: str | None = None
    """Expected `aud` (the resource, e.g. `https://org.crm.dynamics.com`). None: the
    base URL the request arrived at, which is what `scope=<base url>/.default` yields."""
    basic_users: Mapping[str, str] = field(default_factory=dict)
    """username → password accepted with HTTP Basic auth (empty: Basic is refused)."""
    api_keys: frozenset[str] = frozenset()
    """Keys accepted in `api_key_header` (empty: API keys are refused)."""
    api_key_header: str = "x-api-key"
    rng_seed: int | None = None
    """Seed of the fault-injection RNG, for reproducible fault sequences."""
    app_id: str = "d1f10000-0000-4000-8000-000000000001"
    """Model-driven app id used in the main.aspx links the pages render."""
    extra_app_ids: frozenset[str] = frozenset()
    """Further model-driven app ids this org has (e.g. the app id of a real-shaped
    configuration under test). `main.aspx` with any other `appid` is an error page."""

    def knows_app(self, app_id: str) -> bool:
        wanted = app_id.strip().strip("{}").strip().lower()
        return wanted in {a.lower() for a in (self.app_id, *self.extra_app_ids)}
