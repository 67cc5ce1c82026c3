"""The demo configuration: the bundled Dynamics flow on every number, against the emulator.

Used by `dipflow demo`, by `dipflow call` when no configuration is given, by the
tests and by the bench. Logins (documented in docs/runtime.md): `agent1`/`agent1`,
`agent2`/`agent2`, `agent3`/`agent3` (agents) and `supervisor`/`supervisor`.
Their passwords are hashed (scrypt) in the configuration object like any other.
Layer 5 (runtime): the emulator itself is started, and its demo callers read, by the
command line (`dipflow.cli.demo`), which hands them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dipflow.runtime.config import DipflowConfig, PhoneCaller, config_from_data
from dipflow.runtime.passwords import hash_password

DEMO_FLOW = "ms-dynamics-data-dip"
DEMO_CONNECTOR = "dynamics"
DEMO_QUEUE = "CustomerCare"
"""The bundled flow's default `QueueName`."""
DEMO_TEAM = "support"
DEMO_SIP_DOMAIN = "dipflow"
"""Agents' SIP addresses are `sip:agentN@dipflow`: reachable through the registrar only."""
DEMO_SECRET_ENV = "DIPFLOW_DEMO_CRM_CLIENT_SECRET"  # noqa: S105 - a variable name
"""The emulator's client secret reaches the connector through this environment variable
(the connector reads secrets from the environment only); see `demo_environ`."""


class RunningEmulatorLike(Protocol):
    @property
    def base_url(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def scope(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoLogin:
    username: str
    password: str
    role: str
    agent_id: str | None
    display_name: str


def _login(username: str, role: str, agent_id: str | None, display_name: str) -> DemoLogin:
    # Demo passwords equal the user names, on purpose: they are printed by `dipflow demo`.
    return DemoLogin(
        username=username,
        password=username,
        role=role,
        agent_id=agent_id,
        display_name=display_name,
    )


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    _login("agent1", "agent", "agent1", "Ava"),
    _login("agent2", "agent", "agent2", "Ben"),
    _login("agent3", "agent", "agent3", "Chloé"),
    _login("supervisor", "supervisor", None, "Sam (supervisor)"),
)


def demo_environ(emulator: RunningEmulatorLike) -> dict[str, str]:
    """The environment entries `Runtime.create` needs for the demo connector."""
    return {DEMO_SECRET_ENV: emulator.client_secret}


def demo_config(
    *,
    emulator: RunningEmulatorLike | None,
    web_port: int = 8080,
    web_host: str = "127.0.0.1",
    sip: dict[str, Any] | None = None,
    extra_agents: Sequence[str] = (),
    flow: str = DEMO_FLOW,
    flow_variables: dict[str, Any] | None = None,
    tts: str = "espeak",
    max_wait_s: float | None = None,
    phone_callers: Sequence[PhoneCaller] = (),
    logins: bool = True,
) -> DipflowConfig:
    """The demo deployment as a validated `DipflowConfig`.

    `emulator`: the running CRM emulator behind connector `dynamics`; None for a flow
    that never asks it (`dipflow call` does not start one then: no connector is defined).
    `extra_agents`: more agent ids (no desktop login) for simulations and benchmarks.
    `phone_callers`: the numbers the browser phone offers (the CRM's demo callers).
    `logins`: False leaves out the web logins, whose scrypt hashes cost about a quarter
    of a second each: a command without the web app (`dipflow call`) has no use for them.
    """
    # Each demo agent has a SIP address served by dipflow's registrar: a softphone that
    # registers as agentN (password agentN) gets the caller's audio when agentN accepts.
    # The host is a name, not an address, so an agent with no registered phone is never
    # dialled at a static address (which would be dipflow itself).
    agents: list[dict[str, Any]] = [
        {
            "agent_id": login.agent_id,
            "name": login.display_name,
            "teams": [DEMO_TEAM],
            "sip_uri": f"sip:{login.agent_id}@{DEMO_SIP_DOMAIN}",
        }
        for login in DEMO_LOGINS
        if login.agent_id is not None
    ]
    if sip is not None:
        sip = {
            **sip,
            "registrar_users": {
                login.agent_id: login.password for login in DEMO_LOGINS if login.agent_id
            },
        }
    agents += [{"agent_id": a, "name": a, "teams": [DEMO_TEAM]} for a in extra_agents]
    users = [
        {
            "username": login.username,
            "password_hash": hash_password(login.password),
            "role": login.role,
            "agent_id": login.agent_id,
            "display_name": login.display_name,
        }
        for login in DEMO_LOGINS
        if logins
    ]
    queue: dict[str, Any] = {"name": DEMO_QUEUE, "teams": [DEMO_TEAM]}
    if max_wait_s is not None:
        queue["max_wait_s"] = max_wait_s
    variables: dict[str, Any] = {}
    if flow == DEMO_FLOW and emulator is not None:
        # Screen pops open the emulator's Dynamics-like web client.
        variables["DynamicsUrl"] = emulator.base_url
    variables.update(flow_variables or {})
    data: dict[str, Any] = {
        "flows": [{"dnis": "*", "flow": flow, "variables": variables}],
        "connectors": [] if emulator is None else [_demo_connector(emulator)],
        "center": {"queues": [queue], "agents": agents, "wrap_up_s": 0},
        "users": users,
        # The demo's phone is for anyone on this machine: its customers are made up.
        "web": {
            "host": web_host,
            "port": web_port,
            "phone_public": True,
            "phone_callers": [caller.model_dump() for caller in phone_callers],
        },
        "sip": sip,
        "media": {"tts": tts},
    }
    return config_from_data(data)


def _demo_connector(emulator: RunningEmulatorLike) -> dict[str, Any]:
    return {
        "name": DEMO_CONNECTOR,
        "kind": "dataverse",
        "base_url": emulator.base_url,
        "auth": {
            "type": "oauth2_client_credentials",
            "token_url": emulator.token_url,
            "client_id": emulator.client_id,
            "client_secret_env": DEMO_SECRET_ENV,
            "scope": emulator.scope,
        },
    }
