"""Where a workload is sent: one small interface (base.py), three kinds (url, vllm, sim)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from burststudio.settings import TargetSettings
    from burststudio.targets.base import Target


def make_target(settings: "TargetSettings", url: str | None = None) -> "Target":
    """The target the settings describe; `url` (the command line's --target) attaches to that server instead."""
    import importlib

    from burststudio.targets.base import TargetError

    kind = "url" if url else settings.kind
    if kind == "url":
        from burststudio.targets.url import UrlTarget

        return UrlTarget(settings, url)
    where = {"vllm": ("burststudio.targets.vllm", "VllmTarget", "vllm"),
             "sim": ("burststudio.targets.sim.server", "SimTarget", "sim")}
    if kind not in where:
        raise TargetError(f"unknown target kind {kind!r} (url, vllm or sim)")
    module, cls, field = where[kind]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise TargetError(f"the {kind} target is not available in this installation ({module} is missing)") \
                from None
        raise
    return getattr(mod, cls)(getattr(settings, field))
