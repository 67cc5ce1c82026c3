"""Draw a `Layout` as SVG or PNG, offline. Layer 1 (flow).

SVG as escaped text, PNG with Pillow: no network and no system tools."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw, ImageFont

from dipflow.flow.graph.layout import LABEL_FONT_SIZE, TITLE_FONT_SIZE, NodeBox, layout_flow
from dipflow.flow.model import Flow

# Colours by kind family, so that decisions, data dips and media stand apart.
_FILL = {
    "start": "#d9f2e6",
    "end": "#eeeeee",
    "disconnect_contact": "#f6d5d5",
    "condition": "#fff1c9",
    "menu": "#fff1c9",
    "http_request": "#dbe8fb",
    "http_start": "#dbe8fb",
    "http_join": "#dbe8fb",
    "queue_contact": "#e7dcf7",
    "play_music": "#e7dcf7",
    "screen_pop": "#d7f0f4",
    "unsupported": "#f9c4c4",
}
_DEFAULT_FILL = "#ffffff"
_STROKE = "#44546a"
_LABEL = "#1f4e79"
_BACKDROP = "#fafbfc"
"""The panel's colour: a label's backdrop hides the line behind it, not the panel."""


def _fill(node: NodeBox) -> str:
    return _FILL.get(node.kind, _DEFAULT_FILL)


def to_svg(flow: Flow) -> str:
    layout = layout_flow(flow)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" '
        f'height="{layout.height:.0f}" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        'font-family="sans-serif" font-size="12">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        f"markerHeight='7' orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' "
        f"fill='{_STROKE}'/></marker></defs>",
        f"<title>{escape(flow.name)}</title>",
    ]
    for panel in layout.panels:
        parts.append(
            f'<rect x="{panel.x:.1f}" y="{panel.y:.1f}" width="{panel.width:.1f}" '
            f'height="{panel.height:.1f}" rx="8" fill="#fafbfc" stroke="#c8d0da"/>'
            f'<text x="{panel.x + 12:.1f}" y="{panel.y + 20:.1f}" font-weight="bold" '
            f'font-size="14">{escape(panel.title)}</text>'
        )
    for edge in layout.edges:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in edge.points)
        dash = ' stroke-dasharray="5,3"' if edge.back else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{_STROKE}"{dash} '
            'marker-end="url(#arrow)"/>'
        )
    # Labels over every line, each on a backdrop: a line passing behind one stays readable.
    for edge in layout.edges:
        box = edge.label_box
        parts.append(
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" rx="3" fill="{_BACKDROP}" fill-opacity="0.9"/>'
            f'<text x="{box.x + box.width / 2:.1f}" y="{box.y + box.height - 4:.1f}" '
            f'font-size="{LABEL_FONT_SIZE:.0f}" fill="{_LABEL}" text-anchor="middle">'
            f"{escape(edge.label)}</text>"
        )
    for node in layout.nodes:
        rx = 22 if node.kind in ("start", "end", "disconnect_contact") else 6
        parts.append(
            f"<g><title>{escape(node.activity)}</title>"
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" '
            f'height="{node.height:.1f}" rx="{rx}" fill={quoteattr(_fill(node))} '
            f'stroke="{_STROKE}"/>'
            f'<text x="{node.center_x:.1f}" y="{node.y + 19:.1f}" text-anchor="middle" '
            f'font-weight="bold">{escape(node.title)}</text>'
            f'<text x="{node.center_x:.1f}" y="{node.y + 35:.1f}" text-anchor="middle" '
            f'fill="#5b6b7f" font-size="11">{escape(node.kind)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def label_font(scale: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The PNG's edge-label font (the layout's label boxes are checked against it)."""
    return ImageFont.load_default(size=LABEL_FONT_SIZE * scale)


def title_font(scale: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The PNG's node-title font (the layout's node widths are checked against it)."""
    return ImageFont.load_default(size=(TITLE_FONT_SIZE + 1) * scale)


def to_png(flow: Flow, *, scale: float = 1.5) -> bytes:
    layout = layout_flow(flow)
    width, height = int(layout.width * scale) + 1, int(layout.height * scale) + 1
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=LABEL_FONT_SIZE * scale)
    bold = title_font(scale)

    def s(x: float, y: float) -> tuple[float, float]:
        return x * scale, y * scale

    for panel in layout.panels:
        box = (*s(panel.x, panel.y), *s(panel.x + panel.width, panel.y + panel.height))
        draw.rounded_rectangle(box, radius=8 * scale, fill="#fafbfc", outline="#c8d0da")
        draw.text(s(panel.x + 12, panel.y + 8), panel.title, fill="black", font=bold)
    for edge in layout.edges:
        scaled = [s(x, y) for x, y in edge.points]
        draw.line(scaled, fill=_STROKE, width=max(1, int(scale)))
        (x1, y1), (x2, y2) = scaled[-2], scaled[-1]
        _arrow_head(draw, (x1, y1), (x2, y2), 7 * scale)
    for edge in layout.edges:
        label = edge.label_box
        draw.rounded_rectangle(
            (*s(label.x, label.y), *s(label.right, label.bottom)), radius=3 * scale, fill=_BACKDROP
        )
        draw.text(
            s(label.x + label.width / 2, label.y + label.height / 2),
            edge.label,
            fill=_LABEL,
            font=label_font(scale),
            anchor="mm",
        )
    for node in layout.nodes:
        box = (*s(node.x, node.y), *s(node.x + node.width, node.y + node.height))
        draw.rounded_rectangle(box, radius=6 * scale, fill=_fill(node), outline=_STROKE)
        draw.text(s(node.center_x, node.y + 8), node.title, fill="black", font=bold, anchor="mt")
        draw.text(s(node.center_x, node.y + 27), node.kind, fill="#5b6b7f", font=font, anchor="mt")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _arrow_head(
    draw: ImageDraw.ImageDraw, start: tuple[float, float], tip: tuple[float, float], size: float
) -> None:
    dx, dy = tip[0] - start[0], tip[1] - start[1]
    length = max((dx * dx + dy * dy) ** 0.5, 1e-6)
    ux, uy = dx / length, dy / length
    left = (tip[0] - size * ux + size * 0.5 * uy, tip[1] - size * uy - size * 0.5 * ux)
    right = (tip[0] - size * ux - size * 0.5 * uy, tip[1] - size * uy + size * 0.5 * ux)
    draw.polygon([tip, left, right], fill=_STROKE)
