"""Every target kind in one table: kind -> where its class lives, which settings it takes, how long it may take to
become healthy, and what the studio says about it.

The settings' kind choices, `make_target`, the replay engine's health wait, calibration, the presets' path settings
and the studio's kind list all read this table. Nothing here imports a target: its class is named as
"module:Class" and imported when a target is made, so reading a preset or listing kinds loads no server code.

A new kind is a module with its Target subclass plus one `TargetKind` line in `KINDS` (or `register()` from outside
the package). Its settings are either the `[target]` table itself (`settings = None`) or a sub-table of
`TargetSettings` named by `settings`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from burststudio.settings import TargetSettings
    from burststudio.targets.base import Target

# The kind that attaches to a running server at `target.url` (or the command line's --target URL).
ATTACH = "url"
FLEET_MODULE = "burststudio.targets.fleet"  # several servers of one kind as one target


@dataclass(frozen=True)
class TargetKind:
    name: str
    target: str  # "module:Class" of its Target subclass
    summary: str  # a few words for the settings doc: "url (a running server), ..."
    label: str  # the studio's kind list
    idle: str  # what the studio says before a run
    palette: tuple[str, str]  # the studio's command palette: title, help
    # The TargetSettings field holding its sub-table ([target.<settings>]); None: it takes TargetSettings itself.
    settings: str | None = None
    health_wait_s: float = 15.0  # seconds to wait until it answers, unless `health_wait_setting` says
    health_wait_setting: str | None = None  # a field of its settings holding that wait
    calibrate: bool = True  # a real server that calibration can measure
    path_settings: tuple[str, ...] = ()  # fields of its settings that may name a file beside the preset
    # Requests sent before the run's clock starts when `[replay] warmup` is -1: a server this kind starts pays
    # one-off costs on its first requests (a cold CPU vLLM: TTFT p99 1,037 ms in a 60 s run whose p50 was 34 ms).
    warmup: int = 0

    def target_class(self) -> type["Target"]:
        from burststudio.targets.base import TargetError

        module, _, cls = self.target.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
                raise TargetError(f"the {self.name} target is not available in this installation ({module} is "
                                  "missing)") from None
            raise
        return getattr(mod, cls)

    def settings_of(self, target_settings: "TargetSettings") -> Any:
        return target_settings if self.settings is None else getattr(target_settings, self.settings)

    def health_wait(self, target_settings: "TargetSettings") -> float:
        if self.health_wait_setting:
            return float(getattr(self.settings_of(target_settings), self.health_wait_setting))
        return self.health_wait_s

    def is_fleet(self, target_settings: "TargetSettings") -> bool:
        """Whether the settings ask for several servers: `urls` or `metrics_urls` of the attaching kind, or a
        sub-table's `replicas` above 1 (targets/fleet.py)."""
        if self.settings is None:
            return bool(getattr(target_settings, "urls", None) or getattr(target_settings, "metrics_urls", None))
        return int(getattr(self.settings_of(target_settings), "replicas", 1) or 1) > 1

    def make(self, target_settings: "TargetSettings", url: str | None = None) -> "Target":
        if not url and self.is_fleet(target_settings):
            # Loaded by name like every target module: the fleet module reaches the settings and the servers.
            return importlib.import_module(FLEET_MODULE).make_fleet(self, target_settings)
        cls = self.target_class()
        if self.name == ATTACH:
            return cls(target_settings, url)  # type: ignore[call-arg]
        return cls(self.settings_of(target_settings))  # type: ignore[call-arg]


KINDS: dict[str, TargetKind] = {}
# The kind names in order, as `TargetSettings.kind` offers them; kept in step with KINDS by `register`.
NAMES: list[str] = []


def register(kind: TargetKind) -> TargetKind:
    """Add (or replace) a kind."""
    if kind.name not in KINDS:
        NAMES.append(kind.name)
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)
    if name in NAMES:
        NAMES.remove(name)


def get(name: str) -> TargetKind:
    from burststudio.targets.base import TargetError

    kind = KINDS.get(name)
    if kind is None:
        raise TargetError(f"unknown target kind {name!r} ({choices_text(or_word=True)})")
    return kind


def by_name() -> list[TargetKind]:
    """The kinds in name order, as the studio lists them (the simulator, which needs no server, first)."""
    return sorted(KINDS.values(), key=lambda k: k.name)


def health_wait(name: str, target_settings: "TargetSettings") -> float:
    """Seconds to wait for a target of kind `name` to answer (a kind this table lacks gets the default)."""
    kind = KINDS.get(name)
    return kind.health_wait(target_settings) if kind else TargetKind.health_wait_s


def warmup(name: str, setting: int) -> int:
    """Warm-up requests for a run: the `[replay] warmup` setting, or when it is -1 the kind's default."""
    if setting >= 0:
        return int(setting)
    kind = KINDS.get(name)
    return kind.warmup if kind else TargetKind.warmup


def warmup_text() -> str:
    """"url 0, vllm 8, sim 0": each kind's default warm-up."""
    return ", ".join(f"{k.name} {k.warmup}" for k in KINDS.values())


def path_settings() -> list[tuple[str, ...]]:
    """("target", sub-table, field) of every kind's settings that may name a file."""
    return [("target", kind.settings, name) for kind in KINDS.values() if kind.settings
            for name in kind.path_settings]


def choices_text(or_word: bool = True, with_summary: bool = False) -> str:
    """"url, vllm or sim"; with summaries "url (a running server), vllm (...) or sim (...)"."""
    words = [f"{k.name} ({k.summary})" if with_summary else k.name for k in KINDS.values()]
    if len(words) < 2 or not or_word:
        return ", ".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


for _kind in (
    TargetKind("url", "burststudio.targets.url:UrlTarget", "a running server", "url (running server)",
               "url: the server at the address above must be running",
               ("Target: URL", "Replay against a running OpenAI-compatible server")),
    TargetKind("vllm", "burststudio.targets.vllm:VllmTarget", "started by BurstStudio", "vllm (managed)",
               "vllm: a managed vLLM server starts with the run (loading a model can take minutes)",
               ("Target: managed vLLM", "Start a vLLM server for the replay"),
               settings="vllm", health_wait_setting="startup_timeout_s", path_settings=("model",), warmup=8),
    TargetKind("sim", "burststudio.targets.sim.server:SimTarget", "the simulator", "sim (simulator)",
               "sim: the built-in simulator starts with the run (no server needed)",
               ("Target: simulator", "Replay against the built-in simulator"),
               # No warm-up: the simulator has no one-off costs (its wake-up cost follows every idle stretch, and
               # the run measures that).
               settings="sim", calibrate=False, path_settings=("profile",)),
):
    register(_kind)
