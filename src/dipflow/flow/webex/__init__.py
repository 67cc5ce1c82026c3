"""Import of Webex Contact Center Flow Designer exports into native flows. Layer 1 (flow)."""

from dipflow.flow.webex.errors import ImportProblem, WebexImportError
from dipflow.flow.webex.importer import ImportResult, import_webex_export, import_webex_file

__all__ = [
    "ImportProblem",
    "ImportResult",
    "WebexImportError",
    "import_webex_export",
    "import_webex_file",
]
