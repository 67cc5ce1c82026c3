"""A layered layout of a flow, shared by the SVG and PNG renderers. Layer 1 (flow).

Small flows (tens of activities) need no general graph-drawing engine, and the
product must draw offline with no system Graphviz, so this is a plain
Sugiyama-style pass written here: back edges found by depth-first search,
longest-path layers, one barycentre sweep to untangle each layer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from dipflow.flow.lint.analysis import FlowGraph, graphs
from dipflow.flow.model import Flow

CHAR_WIDTH = 7.2
NODE_HEIGHT = 46.0
LAYER_GAP = 44.0
NODE_GAP = 28.0
PANEL_GAP = 40.0
PANEL_PAD = 24.0
TITLE_HEIGHT = 30.0
LANE_GAP = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeBox:
    graph: str
    activity: str
    title: str
    kind: str
    x: float
    y: float
    width: float
    height: float

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeLine:
    points: tuple[tuple[float, float], ...]
    label: str
    back: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    title: str
    x: float
    y: float
    width: float
    height: float


@dataclass(slots=True)
class Layout:
    width: float = 0.0
    height: float = 0.0
    panels: list[Panel] = field(default_factory=list)
    nodes: list[NodeBox] = field(default_factory=list)
    edges: list[EdgeLine] = field(default_factory=list)


def _back_edges(graph: FlowGraph, order: list[str]) -> set[tuple[str, str]]:
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done

    def visit(node: str) -> None:
        state[node] = 1
        for target in graph.successors(node).values():
            if state.get(target) == 1:
                back.add((node, target))
            elif target not in state:
                visit(target)
        state[node] = 2

    for node in order:
        if node not in state:
            visit(node)
    return back


def _layers(graph: FlowGraph, order: list[str], back: set[tuple[str, str]]) -> list[list[str]]:
    layer = dict.fromkeys(order, 0)
    for _ in order:  # longest path by relaxation; the forward graph is acyclic
        changed = False
        for source in order:
            for target in graph.successors(source).values():
                if (source, target) not in back and layer[target] < layer[source] + 1:
                    layer[target], changed = layer[source] + 1, True
        if not changed:
            break
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in order:
        rows[layer[node]].append(node)
    preds = graph.predecessors()
    for depth in range(1, len(rows)):  # barycentre of predecessors' positions
        above = {n: i for i, n in enumerate(rows[depth - 1])}
        rows[depth].sort(key=functools.partial(_barycentre, preds, above))
    return rows


def _barycentre(preds: dict[str, list[str]], above: dict[str, int], node: str) -> float:
    ranks = [above[p] for p in preds.get(node, []) if p in above]
    return sum(ranks) / len(ranks) if ranks else float(len(above))


def _layout_graph(graph: FlowGraph, left: float, top: float, out: Layout) -> Panel:
    reached = graph.reachable()
    order = reached + [a for a in graph.activities if a not in reached]
    back = _back_edges(graph, order)
    rows = _layers(graph, order, back)
    sizes = {
        a: max(120.0, CHAR_WIDTH * max(len(graph.activities[a].label or a), 14) + 24) for a in order
    }
    row_widths = [sum(sizes[n] for n in row) + NODE_GAP * (len(row) - 1) for row in rows]
    inner = max(row_widths, default=120.0)
    layer_of = {node: depth for depth, row in enumerate(rows) for node in row}
    # Several outputs to one target (a menu's timeout, invalid and error) share a line.
    links: list[tuple[str, str, list[str]]] = []
    for source in order:
        targets: dict[str, list[str]] = {}
        for output, target in graph.successors(source).items():
            targets.setdefault(target, []).append(output)
        links += [(source, target, outputs) for target, outputs in targets.items()]
    # Lines that skip layers run down a lane left of the nodes, and lines going back up
    # run up a lane on the right: one lane each, so no line crosses a node or another lane.
    long_links = [
        (s, t) for s, t, _ in links if (s, t) not in back and layer_of[t] - layer_of[s] > 1
    ]
    back_links = [(s, t) for s, t, _ in links if (s, t) in back]
    content_left = left + PANEL_PAD + LANE_GAP * len(long_links)
    boxes: dict[str, NodeBox] = {}
    y = top + TITLE_HEIGHT + PANEL_PAD
    for row, row_width in zip(rows, row_widths, strict=True):
        x = content_left + (inner - row_width) / 2
        for node in row:
            activity = graph.activities[node]
            boxes[node] = NodeBox(
                graph=graph.name,
                activity=node,
                title=activity.label or node,
                kind=activity.kind,
                x=x,
                y=y,
                width=sizes[node],
                height=NODE_HEIGHT,
            )
            x += sizes[node] + NODE_GAP
        y += NODE_HEIGHT + LAYER_GAP
    content_right = content_left + inner
    right = content_right + LANE_GAP * (len(back_links) + 1) + PANEL_PAD
    out.nodes.extend(boxes.values())
    for source, target, outputs in links:
        a, b = boxes[source], boxes[target]
        points: tuple[tuple[float, float], ...]
        if (source, target) in back:
            lane = content_right + LANE_GAP * (back_links.index((source, target)) + 1)
            rise = 8.0 if source == target else 0.0
            points = (
                (a.x + a.width, a.y + a.height / 2 - rise),
                (lane, a.y + a.height / 2 - rise),
                (lane, b.y + b.height / 2 + rise),
                (b.x + b.width, b.y + b.height / 2 + rise),
            )
        elif (source, target) in long_links:
            lane = content_left - LANE_GAP * (long_links.index((source, target)) + 1) + 4
            below, above = a.y + a.height + LAYER_GAP / 3, b.y - LAYER_GAP / 3
            points = (
                (a.center_x, a.y + a.height),
                (a.center_x, below),
                (lane, below),
                (lane, above),
                (b.center_x, above),
                (b.center_x, b.y),
            )
        else:
            points = ((a.center_x, a.y + a.height), (b.center_x, b.y))
        out.edges.append(
            EdgeLine(points=points, label=", ".join(outputs), back=(source, target) in back)
        )
    height = y - top - LAYER_GAP + PANEL_PAD
    title = "Main flow" if graph.name == "main" else f"Event: {graph.name}"
    return Panel(title=title, x=left, y=top, width=right - left, height=height)


def layout_flow(flow: Flow) -> Layout:
    out = Layout()
    left = PANEL_GAP / 2
    for graph in graphs(flow):
        panel = _layout_graph(graph, left, PANEL_GAP / 2, out)
        out.panels.append(panel)
        left = panel.x + panel.width + PANEL_GAP
    out.width = left
    out.height = max((p.y + p.height for p in out.panels), default=0.0) + PANEL_GAP / 2
    return out
