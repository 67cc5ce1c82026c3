"""The `dipflow` command line.

Each area owns one module below `dipflow.cli` with a `register(app)` function, so
that the command tree is assembled here and no module edits another's commands.
Layer 7 (command line): the top, the composition root (see docs/architecture.md).
"""

from __future__ import annotations

import typer

from dipflow.cli import call as call_cmd
from dipflow.cli import crm_check, crm_emulator, flow_core, flow_tools, say, serve

app = typer.Typer(
    name="dipflow",
    help="Self-hosted contact-center IVR: call flows, CRM data dips, queues, agent desktop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
flow_app = typer.Typer(
    help="Validate, inspect, import, lint and draw call flows.", no_args_is_help=True
)
crm_app = typer.Typer(help="The Dataverse emulator and connector checks.", no_args_is_help=True)
app.add_typer(flow_app, name="flow")
app.add_typer(crm_app, name="crm")

flow_core.register(flow_app)
flow_tools.register(flow_app)
crm_emulator.register(crm_app)
crm_check.register(crm_app)
call_cmd.register(app)
serve.register(app)
say.register(app)


def main() -> None:  # pragma: no cover - thin wrapper for `python -m dipflow`
    app()
