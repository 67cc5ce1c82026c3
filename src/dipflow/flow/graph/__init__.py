"""`dipflow flow graph`: a flow as a diagram, drawn offline. Layer 1 (flow).

Mermaid text, SVG or PNG."""

from dipflow.flow.graph.layout import Layout, layout_flow
from dipflow.flow.graph.mermaid import to_mermaid
from dipflow.flow.graph.render import to_png, to_svg

__all__ = ["Layout", "layout_flow", "to_mermaid", "to_png", "to_svg"]
