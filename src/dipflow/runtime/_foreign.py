"""Types the runtime configuration borrows from other areas, with stand-ins until they land.

The connectors, center and SIP packages are built in parallel with the runtime.
When a module is not there yet, a permissive stand-in keeps the configuration
loadable; once every module has landed this file only re-exports.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dipflow.center.config import CenterConfig
from dipflow.connectors.config import ConnectorConfig

try:
    from dipflow.channels.sip import SipSettings  # type: ignore[attr-defined, unused-ignore]
except ImportError:  # pragma: no cover - until the SIP package lands

    class SipSettings(BaseModel):  # type: ignore[no-redef, unused-ignore]
        model_config = ConfigDict(extra="allow", frozen=True)
        host: str = "127.0.0.1"
        port: int = 5060


__all__ = ["CenterConfig", "ConnectorConfig", "SipSettings"]
