"""GoTo (`hand-off`), Subflow (`subflow-handoff`) and Start Media Stream, both ways. Layer 1.

No public export uses them; the properties come from Cisco's Flow Designer registry as a
public FlowIR reference tested against Webex records them: GoTo has `handOffFlow` (the
target entry point's id), Subflow has `subflowVersion: {id, tag}`,
`subflowInputVariables: [{src, target, type}]` and `subflowOutputVariables:
[{outputVariable, target, type}]`. Flows are named by the `:name`/`_name` companion Flow
Designer writes beside a selection when there is one, else by the id: the deployment's
`flow_library` maps either to a flow file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dipflow.flow.webex.activities import Converted, ImportOptions

_VARIABLE = re.compile(r"^(?:\{\{\s*)?([A-Za-z_][A-Za-z0-9_.]*)(?:\s*\}\})?$")


def _template(source: str) -> str:
    """A Flow Designer variable reference as a template (`x` and `{{x}}` both give
    `{{ x }}`, so that a round trip keeps it); anything else is a template as written."""
    text = source.strip()
    match = _VARIABLE.match(text)
    return "{{ " + match.group(1) + " }}" if match else text


def goto(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    target = (
        props.get("handOffFlow:name") or props.get("handOffFlow_name") or props.get("handOffFlow")
    )
    if not target:
        return Converted({}, unsupported=["handOffFlow (no flow is chosen)"])
    out = Converted({"kind": "goto", "flow": str(target)})
    out.notes.append(f"GoTo {target!r}: the deployment's flow_library names that flow")
    return out


def subflow(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    version = props.get("subflowVersion")
    name = (
        props.get("subflowVersion:name")
        or props.get("subflowVersion_name")
        or props.get("subflowName")
    )
    if not name and isinstance(version, Mapping):
        name = version.get("name") or version.get("id")
    if not name:
        return Converted({}, unsupported=["subflowVersion (no subflow is chosen)"])
    unsupported: list[str] = []
    inputs: dict[str, str] = {}
    for row in props.get("subflowInputVariables") or []:
        if not isinstance(row, Mapping) or not row.get("target") or row.get("src") is None:
            unsupported.append(f"subflowInputVariables row {row!r}")
            continue
        inputs[str(row["target"])] = _template(str(row["src"]))
    returns: dict[str, str] = {}
    for row in props.get("subflowOutputVariables") or []:
        if not isinstance(row, Mapping) or not row.get("target") or not row.get("outputVariable"):
            unsupported.append(f"subflowOutputVariables row {row!r}")
            continue
        returns[str(row["outputVariable"])] = str(row["target"])
    fields: dict[str, Any] = {"kind": "subflow", "flow": str(name)}
    if inputs:
        fields["inputs"] = inputs
    if returns:
        fields["returns"] = returns
    out = Converted(fields, unsupported)
    out.notes.append(f"Subflow {name!r}: the deployment's flow_library names that flow")
    return out


def export_goto(flow: str) -> dict[str, Any]:
    return {"activityName": "hand-off", "handOffFlow": flow}


def export_subflow(
    flow: str, inputs: Mapping[str, str], returns: Mapping[str, str]
) -> dict[str, Any]:
    def source(template: str) -> str:
        match = re.fullmatch(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}", template.strip())
        return match.group(1) if match else template

    return {
        "activityName": "subflow-handoff",
        "subflowVersion": {"id": flow, "tag": "Latest"},
        "subflowInputVariables": [
            {"src": source(template), "target": target, "type": "STRING"}
            for target, template in inputs.items()
        ],
        "subflowOutputVariables": [
            {"outputVariable": mine, "target": theirs, "type": "STRING"}
            for mine, theirs in returns.items()
        ],
    }


def media_stream(props: Mapping[str, Any], options: ImportOptions) -> Converted:
    """`mediaDestinationId` is a display name ("Cisco AI Assistant", Cisco's registry):
    the deployment's `media_streams:` maps it to a WebSocket URL."""
    destination = props.get("mediaDestinationId:name") or props.get("mediaDestinationId")
    if not destination:
        return Converted({}, unsupported=["mediaDestinationId (no destination is chosen)"])
    out = Converted({"kind": "start_media_stream", "destination": str(destination)})
    out.notes.append(
        f"media stream {destination!r}: map it to a WebSocket URL in media_streams: of the "
        "configuration"
    )
    return out


def export_media_stream(destination: str) -> dict[str, Any]:
    return {"activityName": "start-media-stream", "mediaDestinationId": destination}
