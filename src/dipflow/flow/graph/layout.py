"""A layered layout of a flow, shared by the SVG and PNG renderers. Layer 1 (flow).

Small flows (tens of activities) need no general graph-drawing engine, and the
product must draw offline with no system Graphviz, so this is a plain
Sugiyama-style pass written here: back edges found by depth-first search,
longest-path layers, one barycentre sweep to untangle each layer.

Where lines and labels go, so that no label covers another or a node, and no line
crosses a node:

- Each line leaves its source at its own point of the bottom side and arrives at its
  own point of the target's top side (ports, ordered by where the other end lies).
- A line between adjacent layers is one straight segment through the gap between them.
  A line that skips layers (left lane) or goes back up (right lane) drops from its port
  to a track of its own in the gap below its source, runs along it to its lane, along
  the lane to a track of its own in the gap above its target, then drops into the
  target. Gaps hold no node, lanes lie outside the nodes' columns: no line crosses a node.
- Every label sits beside the first segment of its line, in a band at the top of the
  gap below its source. Labels are placed one by one where they cover no other label
  and, if possible, no other line; a gap whose band is full gets another row and the
  graph is laid out again.

Text widths come from `dipflow.flow.graph.metrics` (a wide sans-serif's metrics); the
tests check the PNG's real text against them.
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

from dipflow.flow.graph.metrics import text_width
from dipflow.flow.lint.analysis import FlowGraph, graphs
from dipflow.flow.model import Flow

TITLE_FONT_SIZE = 12.0
"""Node titles, bold; the kind below them is set in `LABEL_FONT_SIZE`."""
LABEL_FONT_SIZE = 11.0
NODE_MIN_WIDTH = 120.0
NODE_PAD = 12.0
"""Inside a node, left and right of its text."""
LABEL_HEIGHT = 15.0
LABEL_PAD = 3.0
"""Inside a label's box, left and right of its text (the box is drawn as a backdrop)."""
LABEL_OFFSET = 3.0
"""Between a line and the label beside it."""
NODE_HEIGHT = 46.0
NODE_GAP = 28.0
PANEL_GAP = 40.0
PANEL_PAD = 24.0
TITLE_HEIGHT = 30.0
LANE_GAP = 10.0
TRACK_GAP = 8.0
BAND_TOP = 4.0
"""Between a node's bottom and the first row of labels below it."""
ARROW_ROOM = 16.0
"""Below the last track of a gap: the arrowheads' straight run into the targets."""
STRICT_ROWS = 4
"""Rows a band may grow to while labels still avoid other lines; beyond, a label may
lie over a line (it is drawn on a backdrop) but never over a label or a node."""
MAX_ROWS = 40


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def intersects(self, other: Box) -> bool:
        """Do the two boxes share area (touching edges do not count)?"""
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )

    def crossed_by(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Does the segment a-b pass through the inside of the box?"""
        if (
            max(a[0], b[0]) <= self.x
            or min(a[0], b[0]) >= self.right
            or max(a[1], b[1]) <= self.y
            or min(a[1], b[1]) >= self.bottom
        ):
            return False  # far apart: most pairs, decided without clipping
        return _clip(a, b, self) is not None


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

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.width, self.height)


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeLine:
    points: tuple[tuple[float, float], ...]
    label: str
    back: bool
    label_box: Box
    """Where the label is drawn: its text centred in the box, on a backdrop."""


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


def label_width(text: str) -> float:
    return text_width(text, LABEL_FONT_SIZE) + 2 * LABEL_PAD


def node_width(title: str, kind: str) -> float:
    text = max(text_width(title, TITLE_FONT_SIZE, bold=True), text_width(kind, LABEL_FONT_SIZE))
    return max(NODE_MIN_WIDTH, text + 2 * NODE_PAD)


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


class _Route(Enum):
    DOWN = "down"
    """To the next layer: one segment."""
    LEFT = "left"
    """Skips layers: down the left lane."""
    BACK = "back"
    """Back up (or to itself): up the right lane."""


@dataclass(frozen=True, slots=True)
class _Link:
    source: str
    target: str
    label: str
    route: _Route


@dataclass(slots=True)
class _Structure:
    """What does not move when a band grows: layers, sizes, links, lanes."""

    graph: FlowGraph
    rows: list[list[str]]
    layer_of: dict[str, int]
    sizes: dict[str, float]
    links: list[_Link]
    left_lanes: list[_Link]
    right_lanes: list[_Link]


def _structure(graph: FlowGraph) -> _Structure:
    reached = graph.reachable()
    order = reached + [a for a in graph.activities if a not in reached]
    back = _back_edges(graph, order)
    rows = _layers(graph, order, back)
    layer_of = {node: depth for depth, row in enumerate(rows) for node in row}
    sizes = {a: node_width(graph.activities[a].label or a, graph.activities[a].kind) for a in order}
    links: list[_Link] = []
    for source in order:
        # Several outputs to one target (a menu's timeout, invalid and error) share a line.
        targets: dict[str, list[str]] = {}
        for output, target in graph.successors(source).items():
            targets.setdefault(target, []).append(output)
        for target, outputs in targets.items():
            if (source, target) in back:
                route = _Route.BACK
            elif layer_of[target] - layer_of[source] > 1:
                route = _Route.LEFT
            else:
                route = _Route.DOWN
            links.append(_Link(source, target, ", ".join(outputs), route))

    def span(link: _Link) -> int:
        return abs(layer_of[link.target] - layer_of[link.source])

    # Shorter spans run on the inner lanes: a line nested in another's span then never
    # crosses it.
    left_lanes = sorted((k for k in links if k.route is _Route.LEFT), key=span)
    right_lanes = sorted((k for k in links if k.route is _Route.BACK), key=span)
    return _Structure(graph, rows, layer_of, sizes, links, left_lanes, right_lanes)


@dataclass(slots=True)
class _Placed:
    nodes: dict[str, NodeBox]
    edges: list[EdgeLine]
    right: float
    bottom: float


class _BandFull(Exception):
    """A gap's band has no room left for a label: it needs another row."""

    def __init__(self, gap: int) -> None:
        super().__init__(gap)
        self.gap = gap


def _layout_graph(graph: FlowGraph, left: float, top: float, out: Layout) -> Panel:
    structure = _structure(graph)
    bands: dict[int, int] = defaultdict(lambda: 1)
    while True:
        try:
            placed = _place(structure, bands, left, top)
            break
        except _BandFull as full:
            bands[full.gap] += 1
    out.nodes.extend(placed.nodes.values())
    out.edges.extend(placed.edges)
    title = "Main flow" if graph.name == "main" else f"Event: {graph.name}"
    return Panel(
        title=title,
        x=left,
        y=top,
        width=placed.right + PANEL_PAD - left,
        height=placed.bottom + PANEL_PAD - top,
    )


def _place(s: _Structure, bands: dict[int, int], left: float, top: float) -> _Placed:
    rows, layer_of, sizes = s.rows, s.layer_of, s.sizes
    # Tracks: in the gap below row g, the lines leaving row g for a lane, then the lines
    # arriving from a lane at row g + 1; gap -1 (above the first row) only has arrivals.
    leaving: dict[int, list[_Link]] = defaultdict(list)
    arriving: dict[int, list[_Link]] = defaultdict(list)
    for link in s.links:
        if link.route is not _Route.DOWN:
            leaving[layer_of[link.source]].append(link)
            arriving[layer_of[link.target] - 1].append(link)
    row_widths = [sum(sizes[n] for n in row) + NODE_GAP * (len(row) - 1) for row in rows]
    inner = max(row_widths, default=120.0)
    content_left = left + PANEL_PAD + LANE_GAP * len(s.left_lanes)
    content_right = content_left + inner

    # Rows and gaps, top to bottom.
    y = top + TITLE_HEIGHT + PANEL_PAD
    if arriving[-1]:
        y += TRACK_GAP * len(arriving[-1]) + ARROW_ROOM
    nodes: dict[str, NodeBox] = {}
    band_top: dict[int, float] = {}
    track_top: dict[int, float] = {}
    for depth, (row, row_width) in enumerate(zip(rows, row_widths, strict=True)):
        x = content_left + (inner - row_width) / 2
        for node in row:
            activity = s.graph.activities[node]
            nodes[node] = NodeBox(
                graph=s.graph.name,
                activity=node,
                title=activity.label or node,
                kind=activity.kind,
                x=x,
                y=y,
                width=sizes[node],
                height=NODE_HEIGHT,
            )
            x += sizes[node] + NODE_GAP
        y += NODE_HEIGHT
        tracks = len(leaving[depth]) + len(arriving[depth])
        has_labels = any(link.source in row for link in s.links)
        if depth == len(rows) - 1 and not has_labels:
            break
        band_top[depth] = y + BAND_TOP
        y = band_top[depth] + bands[depth] * LABEL_HEIGHT
        track_top[depth] = y
        y += TRACK_GAP * tracks + ARROW_ROOM
    bottom = y

    # Ports: each line leaves and arrives at its own point, in the order of the other ends.
    def other_end(link: _Link, at: str) -> tuple[int, float]:
        if link.route is _Route.LEFT:
            return (0, 0.0)
        if link.route is _Route.BACK:
            return (2, 0.0)
        other = nodes[link.target if at == link.source else link.source]
        return (1, other.center_x)

    out_port: dict[_Link, float] = {}
    in_port: dict[_Link, float] = {}
    for name, placed_node in nodes.items():
        outgoing = sorted(
            (k for k in s.links if k.source == name), key=lambda k: other_end(k, name)
        )
        incoming = sorted(
            (k for k in s.links if k.target == name), key=lambda k: other_end(k, name)
        )
        for ports, group in ((out_port, outgoing), (in_port, incoming)):
            for index, link in enumerate(group):
                ports[link] = placed_node.x + placed_node.width * (index + 1) / (len(group) + 1)

    # Track heights. Leaving: left-goers by port left to right, then right-goers right to
    # left, so that no line's drop crosses another's run. Arriving: the mirror image.
    track_y: dict[tuple[_Link, str], float] = {}
    for gap in set(leaving) | set(arriving):
        first = track_top.get(gap, top + TITLE_HEIGHT + PANEL_PAD)
        going = sorted(
            leaving.get(gap, []),
            key=lambda k: (
                k.route is _Route.BACK,
                -out_port[k] if k.route is _Route.BACK else out_port[k],
            ),
        )
        coming = sorted(
            arriving.get(gap, []),
            key=lambda k: (
                k.route is _Route.BACK,
                in_port[k] if k.route is _Route.BACK else -in_port[k],
            ),
        )
        for index, link in enumerate(going + coming):
            track_y[(link, "leave" if index < len(going) else "arrive")] = first + TRACK_GAP * (
                index + 0.5
            )

    lane_x: dict[_Link, float] = {}
    for index, link in enumerate(s.left_lanes):
        lane_x[link] = content_left - LANE_GAP * (index + 1) + 4
    for index, link in enumerate(s.right_lanes):
        lane_x[link] = content_right + LANE_GAP * (index + 1)

    paths: dict[_Link, tuple[tuple[float, float], ...]] = {}
    for link in s.links:
        a, b = nodes[link.source], nodes[link.target]
        start, end = (out_port[link], a.y + a.height), (in_port[link], b.y)
        if link.route is _Route.DOWN:
            paths[link] = (start, end)
        else:
            leave, arrive = track_y[(link, "leave")], track_y[(link, "arrive")]
            lane = lane_x[link]
            paths[link] = (
                start,
                (start[0], leave),
                (lane, leave),
                (lane, arrive),
                (end[0], arrive),
                end,
            )

    boxes = _place_labels(s, nodes, paths, band_top, bands)
    right = max([content_right + LANE_GAP * len(s.right_lanes), *(b.right for b in boxes.values())])
    edges = [
        EdgeLine(
            points=paths[link],
            label=link.label,
            back=link.route is _Route.BACK,
            label_box=boxes[link],
        )
        for link in s.links
    ]
    return _Placed(nodes=nodes, edges=edges, right=right, bottom=bottom)


def _place_labels(
    s: _Structure,
    nodes: dict[str, NodeBox],
    paths: dict[_Link, tuple[tuple[float, float], ...]],
    band_top: dict[int, float],
    bands: dict[int, int],
) -> dict[_Link, Box]:
    placed: dict[_Link, Box] = {}
    node_boxes = [n.box for n in nodes.values()]
    segments = [
        (link, a, b) for link, points in paths.items() for a, b in itertools.pairwise(points)
    ]
    order = sorted(s.links, key=lambda k: (s.layer_of[k.source], paths[k][0][0]))
    for link in order:
        gap = s.layer_of[link.source]
        rows = bands[gap]
        width = label_width(link.label)
        (x1, y1), (x2, y2) = paths[link][0], paths[link][1]
        candidates: list[Box] = []
        for row in range(rows):
            top = band_top[gap] + row * LABEL_HEIGHT
            xs = [_x_at(x1, y1, x2, y2, top), _x_at(x1, y1, x2, y2, top + LABEL_HEIGHT)]
            candidates.append(Box(max(xs) + LABEL_OFFSET, top, width, LABEL_HEIGHT))
            candidates.append(Box(min(xs) - LABEL_OFFSET - width, top, width, LABEL_HEIGHT))

        def free(box: Box, *, lines: bool, link: _Link = link) -> bool:
            if any(box.intersects(other) for other in placed.values()):
                return False
            if any(box.intersects(node) for node in node_boxes):
                return False
            return not lines or not any(
                box.crossed_by(a, b) for owner, a, b in segments if owner is not link
            )

        choice = next((c for c in candidates if free(c, lines=True)), None)
        if choice is None and rows >= STRICT_ROWS:
            choice = next((c for c in candidates if free(c, lines=False)), None)
        if choice is None:
            if rows >= MAX_ROWS:  # pragma: no cover - a row per label always fits
                raise AssertionError(f"no room for label {link.label!r}")
            raise _BandFull(gap)
        placed[link] = choice
    return placed


def _x_at(x1: float, y1: float, x2: float, y2: float, y: float) -> float:
    """x of the line through (x1, y1)-(x2, y2) at height y (clamped to the segment)."""
    if y2 == y1:
        return x1
    t = min(1.0, max(0.0, (y - y1) / (y2 - y1)))
    return x1 + (x2 - x1) * t


def _clip(a: tuple[float, float], b: tuple[float, float], box: Box) -> tuple[float, float] | None:
    """Liang-Barsky: the parameter range of a-b strictly inside the box, or None."""
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    low, high = 0.0, 1.0
    for p, q in (
        (-dx, x1 - box.x),
        (dx, box.right - x1),
        (-dy, y1 - box.y),
        (dy, box.bottom - y1),
    ):
        if p == 0:
            if q <= 0:  # parallel and outside (or on the border)
                return None
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
    return (low, high) if high - low > 1e-9 else None


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
