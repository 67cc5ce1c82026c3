"""Errors the emulator answers with, shaped like Dataverse's.

Dataverse Web API errors are `{"error": {"code": "0x...", "message": "..."}}`
(Microsoft Learn, "Troubleshoot Dataverse Web API client errors"): an unknown
entity set is 404 `0x8006088a`, an unknown property in `$select` is 400 `0x0`,
a payload error is 400 `0x80048d19`, a missing record is 404 `0x80040217`.
Beside the layers (emulator): the product reaches it only over HTTP.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The hexadecimal codes Dataverse puts in `error.code`."""

    GENERIC = "0x0"
    NO_CODE = ""
    RESOURCE_NOT_FOUND = "0x8006088a"
    QUERY_SYNTAX = "0x80060888"
    RECORD_NOT_FOUND = "0x80040217"
    PAYLOAD = "0x80048d19"
    VERSION_MISMATCH = "0x80060882"
    DUPLICATE_RECORD = "0x80040237"
    THROTTLED = "0x80072322"
    UNEXPECTED = "0x80040216"


class ODataError(Exception):
    """A request the Web API refuses; carries the HTTP status and Dataverse code."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": str(self.code), "message": self.message}}


def bad_query(message: str) -> ODataError:
    """A malformed or unsupported query option (400)."""
    return ODataError(400, ErrorCode.QUERY_SYNTAX, message)


def unknown_property(name: str, logical_name: str) -> ODataError:
    """Dataverse's wording for a property that does not exist (400, code 0x0)."""
    return ODataError(
        400,
        ErrorCode.GENERIC,
        f"Could not find a property named '{name}' on type "
        f"'Microsoft.Dynamics.CRM.{logical_name}'.",
    )


def bad_payload(message: str) -> ODataError:
    return ODataError(400, ErrorCode.PAYLOAD, message)
