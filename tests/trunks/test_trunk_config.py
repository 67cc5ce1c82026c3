"""Trunk configuration in dipflow.yaml: what a mistake looks like when the file is loaded."""

from __future__ import annotations

from typing import Any

import pytest

from dipflow.channels.sip.trunkconfig import RegistrationAuth
from dipflow.runtime.config import ConfigError, config_from_data


def config(trunks: list[dict[str, Any]], dnis: list[str] | None = None, **sip: Any) -> Any:
    return config_from_data(
        {
            "flows": [{"dnis": dnis or ["+4930123456"], "flow": "x.yaml"}],
            "center": {"queues": [{"name": "Q", "teams": ["t"]}]},
            "sip": {"trunks": trunks, **sip},
        },
        environ={"CARRIER_PASSWORD": "s3cret"},
    )


CARRIER = {
    "name": "carrier",
    "servers": [{"host": "sip.carrier.example"}],
    "auth": {"kind": "registration", "username": "4930123456", "password": "${CARRIER_PASSWORD}"},
    "dids": ["+4930123456"],
}


def test_a_registration_trunk_loads_with_its_secret_from_the_environment() -> None:
    (trunk,) = config([CARRIER]).sip.trunks
    assert isinstance(trunk.auth, RegistrationAuth)
    assert trunk.auth.password.get_secret_value() == "s3cret"
    assert trunk.number_source == "to"  # providers send to our Contact, the DID in To
    assert trunk.dial_string("+1 (555) 123-4567") == "+15551234567"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"srtp": "mandatory"}, "srtp needs transport: tls"),
        ({"srtp": "optional", "transport": "udp"}, "srtp needs transport: tls"),
        ({"dids": ["+49 30 abc"]}, "is not a number"),
        ({"auth": {"kind": "ip", "addresses": ["not-an-ip"]}}, "not an IP address"),
        ({"auth": {"kind": "carrier-pigeon"}}, "does not match any of the expected tags"),
        ({"servers": []}, "at least 1 item"),
        ({"name": "two words"}, "should match pattern"),
        ({"dids": ["+4930999999"]}, "served by no flow"),
        ({"transport": "sctp"}, "Input should be 'udp', 'tcp' or 'tls'"),
    ],
)
def test_mistakes_are_refused_with_a_clear_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config([{**CARRIER, **change}])


def test_a_did_on_two_trunks_is_refused() -> None:
    other = {**CARRIER, "name": "backup", "dids": ["4930123456"]}  # same number without +
    with pytest.raises(ConfigError, match="is on trunks 'carrier' and 'backup'"):
        config([CARRIER, other])


def test_tls_trunk_with_srtp_loads() -> None:
    trunk = {**CARRIER, "transport": "tls", "srtp": "mandatory", "tls": {"ca_file": "/ca.pem"}}
    (loaded,) = config([trunk]).sip.trunks
    assert loaded.srtp == "mandatory" and loaded.tls.verify
