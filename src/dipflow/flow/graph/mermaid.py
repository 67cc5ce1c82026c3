"""Mermaid `flowchart` text of a flow. Layer 1 (flow).

The main flow and each event flow as a subgraph, outputs labelled."""

from __future__ import annotations

import re

from dipflow.flow.lint.analysis import FlowGraph, graphs
from dipflow.flow.model import ActivityBase, Flow

# Shapes by kind: stadium for start/end, rhombus for decisions, box otherwise.
_SHAPES = {
    "start": ("([", "])"),
    "end": ("([", "])"),
    "disconnect_contact": ("([", "])"),
    "condition": ("{", "}"),
    "menu": ("{", "}"),
    "http_request": ("[(", ")]"),
    "http_start": ("[(", ")]"),
    "http_join": ("[(", ")]"),
}


def _node_id(graph: FlowGraph, activity_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{graph.name}__{activity_id}")


def _label(text: str) -> str:
    # Mermaid labels are quoted strings: entity codes keep quotes and markup inert.
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def _node(graph: FlowGraph, activity_id: str, activity: ActivityBase) -> str:
    opening, closing = _SHAPES.get(activity.kind, ("[", "]"))
    title = activity.label or activity_id
    return f'{_node_id(graph, activity_id)}{opening}"{_label(title)}<br/>{activity.kind}"{closing}'


def to_mermaid(flow: Flow) -> str:
    lines = ["flowchart TD"]
    for graph in graphs(flow):
        title = "Main flow" if graph.name == "main" else f"Event: {graph.name}"
        lines.append(f'  subgraph {re.sub(r"[^A-Za-z0-9_]", "_", graph.name)}["{title}"]')
        lines.append("    direction TB")
        order = graph.reachable() + [a for a in graph.activities if a not in graph.reachable()]
        for activity_id in order:
            lines.append("    " + _node(graph, activity_id, graph.activities[activity_id]))
        for activity_id in order:
            for output, target in graph.successors(activity_id).items():
                source, dest = _node_id(graph, activity_id), _node_id(graph, target)
                lines.append(f'    {source} -->|"{_label(output)}"| {dest}')
        lines.append("  end")
    return "\n".join(lines) + "\n"
