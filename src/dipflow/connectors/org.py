"""Organisation settings flow variables read from their connector (`from_connector`).

The org's Dynamics settings (web client URL, app id, phone columns, E.164 column,
account lookup, default region, active records only) are written once, on the
connector. A flow variable declared `from_connector: dynamics.app_id` takes its
value from there; a flow binding's `variables:` may still override it explicitly.
`dipflow crm check` and the screen pops read the same values, so the request the
flow sends and the request `crm check` tests cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dipflow.connectors.config import ORG_SETTINGS, ConnectorConfig
from dipflow.connectors.errors import ConfigError
from dipflow.flow.model import Flow


def org_variables(flow: Flow, connectors: Sequence[ConnectorConfig]) -> dict[str, Any]:
    """Values of `flow`'s `from_connector` variables; `ConfigError` names a wrong reference.

    An unset optional setting (a loopback connector's `app_id`) is left out, so the
    flow's default applies: only the emulator may go without the org's app id, and
    the connector's validation refuses a real org without one.
    """
    by_name = {c.name: c for c in connectors}
    settings: dict[str, Mapping[str, Any]] = {}
    out: dict[str, Any] = {}
    for variable in flow.variables:
        reference = variable.connector_setting
        if reference is None:
            continue
        connector, setting = reference
        config = by_name.get(connector)
        if config is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError(
                f"variable {variable.name} reads from connector {connector!r}, which the "
                f"configuration does not define (connectors: {known})"
            )
        if setting not in ORG_SETTINGS:
            raise ConfigError(
                f"variable {variable.name}: connector setting {setting!r} does not exist "
                f"(one of: {', '.join(ORG_SETTINGS)})"
            )
        if connector not in settings:
            settings[connector] = config.org_settings()
        value = settings[connector][setting]
        if value is None:
            continue
        out[variable.name] = value
    return out


def flow_variables(
    flow: Flow, connectors: Sequence[ConnectorConfig], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """What a flow binding runs with: the connector's org settings, then explicit overrides."""
    return {**org_variables(flow, connectors), **overrides}
