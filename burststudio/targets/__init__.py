"""Where a workload is sent: one small interface (base.py), the kinds in registry.py (url, vllm, sim)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from burststudio.settings import TargetSettings
    from burststudio.targets.base import Target


def make_target(settings: "TargetSettings", url: str | None = None) -> "Target":
    """The target the settings describe; `url` (the command line's --target) attaches to that server instead."""
    from burststudio.targets import registry

    return registry.get(registry.ATTACH if url else settings.kind).make(settings, url)
