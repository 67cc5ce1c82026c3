"""The web guards' decisions on their own (fast, no server): the throttle's delays, the
session table's expiry, the Host policy, the screen-pop policy's reading of URLs, the
connection budget's sizing. The attacks themselves run against a real server in the
other `test_web_*` modules."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from dipflow.cli.loopguard import RepeatFilter
from dipflow.flow.lint import lint_flow
from dipflow.flow.loader import load_flow_text
from dipflow.runtime.config import config_from_data, web_origin
from dipflow.runtime.websecurity import ConnectionLimits, LoginThrottleSettings, SessionSettings
from dipflow.web.connections import accept_backlog, effective_max_connections
from dipflow.web.hosts import HostPolicy
from dipflow.web.popguard import ScreenPopPolicy
from dipflow.web.sessions import SessionTable
from dipflow.web.throttle import LoginThrottle, source_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_delays_double_and_are_forgotten() -> None:
    clock = Clock()
    settings = LoginThrottleSettings(
        free_attempts_per_user_and_source=2, first_delay_s=1, max_delay_s=8, forget_after_s=60
    )
    throttle = LoginThrottle(settings, clock=clock)
    assert [throttle.admit("198.51.100.7", "ava") for _ in range(2)] == [0, 0]
    waits = []
    for _ in range(6):
        wait = throttle.admit("198.51.100.7", "ava")
        waits.append(wait)
        clock.now += wait  # the guesser waits exactly as long as told
        assert throttle.admit("198.51.100.7", "ava") == 0
    assert waits == [1, 2, 4, 8, 8, 8]  # doubling, capped at max_delay_s
    clock.now += 61
    assert throttle.admit("198.51.100.7", "ava") == 0  # an hour of quiet: start over
    # The right password clears the username's count from that address.
    throttle.succeeded("198.51.100.7", "ava")
    assert throttle.admit("198.51.100.7", "ava") == 0


def test_ipv6_sources_are_counted_per_64() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9")
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_sessions_expire_when_idle_or_old_and_sign_out_wakes_watchers() -> None:
    clock = Clock()
    table = SessionTable(SessionSettings(idle_timeout_s=10, max_age_s=25), clock=clock)
    sid = table.open("ava")
    for _ in range(2):
        clock.now += 9
        assert table.username(sid) == "ava"  # used within the idle timeout
    clock.now += 8  # 26 s after sign-in: too old however active
    assert table.username(sid) is None
    idle = table.open("ben")
    clock.now += 11
    assert table.username(idle) is None

    async def watched() -> bool:
        live = table.open("ava")
        event = table.watch(live)
        assert not event.is_set()
        table.close(live)
        return event.is_set()

    assert asyncio.run(watched())
    assert table.username("forged-session-id") is None


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("10.1.2.3", True),
        ("[::1]:8080", True),
        ("LOCALHOST:8080", True),
        ("dipflow.example.com", True),
        ("dipflow.example.com.", True),
        ("desk.agents.example.net", True),
        ("agents.example.net", False),
        ("evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("dipflow.example.com.evil.example", False),
        ("", False),
        (None, False),
    ],
)
def test_host_policy(host: str | None, allowed: bool) -> None:
    policy = HostPolicy(["localhost", "dipflow.example.com", "*.agents.example.net"])
    assert policy.allows(host) is allowed


def _pop_policy() -> ScreenPopPolicy:
    config = config_from_data(
        {
            "flows": [
                {"dnis": ["100"], "flow": "ms-dynamics-data-dip"},
                {
                    "dnis": ["200"],
                    "flow": "ms-dynamics-data-dip",
                    "screen_pop_origins": ["https://Portal.Example.com:443/anything"],
                },
            ],
            "connectors": [
                {
                    "name": "dynamics",
                    "kind": "dataverse",
                    "base_url": "https://contoso.crm4.dynamics.com/api/data/v9.2",
                    "app_id": "d1f10000-0000-4000-8000-000000000001",
                }
            ],
            "center": {"queues": [{"name": "Q", "teams": ["t"]}], "agents": []},
        }
    )
    return ScreenPopPolicy(config)


@pytest.mark.parametrize(
    ("dnis", "url", "refused"),
    [
        ("100", "https://contoso.crm4.dynamics.com/main.aspx?etn=incident", None),
        ("100", "https://CONTOSO.crm4.dynamics.com:443/main.aspx", None),
        ("100", "http://contoso.crm4.dynamics.com/main.aspx", "not an allowed"),
        ("100", "https://contoso.crm4.dynamics.com@evil.example/", "not an allowed"),
        ("100", "https://evil.example\\@contoso.crm4.dynamics.com/", "not a plain"),
        ("100", "https://contoso.crm4.dynamics.com\t.evil.example/", "not a plain"),
        ("100", "javascript:alert(1)", "not a web address"),
        ("100", "https://user@contoso.crm4.dynamics.com/", "user name"),
        ("200", "https://portal.example.com/case/7", None),
        ("200", "https://contoso.crm4.dynamics.com/main.aspx", "not an allowed"),
        ("999", "https://contoso.crm4.dynamics.com/main.aspx", None),  # no binding: default
    ],
)
def test_screen_pop_policy_reads_urls_as_a_browser_would(
    dnis: str, url: str, refused: str | None
) -> None:
    reason = _pop_policy().refusal(dnis, url)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


def test_web_origin_normalises_and_refuses_non_web_urls() -> None:
    assert web_origin("HTTPS://Example.COM:443/x?y") == "https://example.com"
    assert web_origin("http://[::1]:8080/") == "http://[::1]:8080"
    for bad in ("ftp://example.com/", "example.com", "https://:80/", "http://h:99999/"):
        with pytest.raises(ValueError, match=r"URL|port"):
            web_origin(bad)


def test_connection_budget_leaves_half_the_descriptors_to_the_rest() -> None:
    limits = ConnectionLimits()
    assert effective_max_connections(limits, 256) == 128
    assert effective_max_connections(limits, 1_048_576) == limits.max_connections
    assert effective_max_connections(limits, None) == limits.max_connections
    assert accept_backlog(256) == 32 and accept_backlog(1024) == 128
    assert accept_backlog(None) == 2048


def test_repeated_log_messages_pass_once_per_interval() -> None:
    repeat = RepeatFilter(interval_s=3600)
    records = [
        logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, msg, None, None)
        for msg in ["Invalid HTTP request received."] * 5 + ["Something else."]
    ]
    passed = [r.getMessage() for r in records if repeat.filter(r)]
    assert passed == ["Invalid HTTP request received.", "Something else."]


@pytest.mark.parametrize(
    ("url", "flagged"),
    [
        ("{{ DynamicsUrl }}/main.aspx", False),  # one organisation setting: the whole site
        ("https://contoso.crm4.dynamics.com/main.aspx?id={{ CaseId }}", False),
        ("https://contoso.crm4.dynamics.com/{{ Path }}", False),
        ("http://crm{{ Nickname }}/profile", True),
        ("https://{{ Org }}.crm.dynamics.com/main.aspx", True),
        ("{{ Nickname }}/profile", True),  # a variable the flow sets during the call
        ("{{ DynamicsUrl }}{{ Nickname }}/x", True),
        ("{{ Scheme }}://crm.example/", True),
    ],
)
def test_lint_flags_screen_pops_whose_site_is_templated(url: str, flagged: bool) -> None:
    flow = load_flow_text(
        "\n".join(
            [
                "format: 1",
                "name: pops",
                "variables:",
                "  - {name: DynamicsUrl, default: 'https://contoso.crm4.dynamics.com'}",
                "  - {name: Org, default: contoso}",
                "  - {name: Scheme, default: https}",
                "  - {name: Path, default: main.aspx}",
                "  - {name: CaseId, default: ''}",
                "  - {name: Nickname, default: ''}",
                "start: Start",
                "activities:",
                "  Start: {kind: start, next: Name}",
                "  Name: {kind: set_variable, variable: Nickname, value: x, next: Done}",
                "  Done: {kind: end}",
                "event_flows:",
                "  agent_answered:",
                "    start: Pop",
                "    activities:",
                f"      Pop: {{kind: screen_pop, url: {json.dumps(url)}}}",
            ]
        )
    )
    rules = {finding.rule for finding in lint_flow(flow)}
    assert ("templated-pop-host" in rules) is flagged
