"""Where a flow binding's `flow:` points. Layer 5 (runtime).

Apart from `dipflow.runtime.runtime` so that a command that only loads a flow
(`dipflow call --fast`, `dipflow crm check`) does not load the runtime's media and
metrics to find it.
"""

from __future__ import annotations

from pathlib import Path

from dipflow.flow.bundled import bundled_path


def resolve_flow_path(reference: str, base_dir: Path) -> Path:
    """A bundled flow name or a path (relative to the configuration file)."""
    looks_like_path = "/" in reference or reference.endswith((".yaml", ".yml", ".json"))
    if not looks_like_path:
        return bundled_path(reference)
    path = Path(reference)
    return path if path.is_absolute() else base_dir / path
