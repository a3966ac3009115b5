"""Target kinds come from one registry: a kind defined outside the package runs a replay once registered, and
every reader of kinds (settings, make_target, the health wait, presets, the studio) sees it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support import echo_target  # noqa: E402
from tests.support.replay import quick_settings, workload  # noqa: E402

from burststudio.replay.runner import run_replay  # noqa: E402
from burststudio.settings import TargetSettings  # noqa: E402
from burststudio.targets import make_target, registry  # noqa: E402
from burststudio.targets.base import TargetError  # noqa: E402


@pytest.fixture
def echo_kind():
    registry.register(echo_target.KIND)
    try:
        yield echo_target.KIND
    finally:
        registry.unregister("echo")


def test_builtin_kinds_and_their_settings():
    assert list(registry.KINDS) == ["url", "vllm", "sim"]
    ts = TargetSettings()
    assert registry.get("vllm").settings_of(ts) is ts.vllm
    assert registry.get("sim").settings_of(ts) is ts.sim
    assert registry.get("url").settings_of(ts) is ts
    assert registry.health_wait("vllm", ts) == ts.vllm.startup_timeout_s
    assert registry.health_wait("sim", ts) == 15.0 == registry.health_wait("url", ts)
    assert not registry.get("sim").calibrate and registry.get("vllm").calibrate
    for kind in registry.KINDS.values():
        assert kind.target_class().kind == kind.name  # what a target reports is the name it is registered under
        assert kind.settings is None or kind.settings in TargetSettings.__dataclass_fields__
    assert registry.path_settings() == [("target", "vllm", "model"), ("target", "sim", "profile")]


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(TargetError, match=r"unknown target kind 'nope' \(url, vllm or sim\)"):
        make_target(TargetSettings(kind="nope"))


def test_listing_kinds_and_reading_a_preset_load_no_server_code():
    import subprocess

    code = ("import sys\nfrom burststudio.presets import load_preset\nfrom burststudio.targets import registry\n"
            "load_preset('presets/steady-poisson.toml')\nregistry.by_name()\n"
            "print(' '.join(sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    loaded = set(out.split())
    for module in ("aiohttp", "burststudio.targets.vllm", "burststudio.targets.url", "burststudio.targets.sim.server"):
        assert module not in loaded, module


def test_a_kind_registered_from_outside_runs_a_replay(echo_kind, tmp_path):
    from burststudio.presets import preset_from_dict
    from burststudio.studio.commands import _commands
    from burststudio.studio.screens.replay_screen import _idle_target, _targets

    ts = TargetSettings(kind="echo")
    assert "echo" in TargetSettings.__dataclass_fields__["kind"].metadata["choices"]
    assert isinstance(make_target(ts), echo_target.EchoTarget)
    result = run_replay(workload(8, gap_s=0.002, output=3), ts, quick_settings(), name="echo", run_dir=tmp_path / "r")
    target = echo_target.EchoTarget.last
    assert result.exit_code == 0
    assert result.summary["finished"] == 8 and result.summary["metrics_samples"] >= 1
    assert target.waited_s == 5.0  # the kind's own health wait
    import json

    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["target"]["kind"] == "echo" and run["target"]["endpoints"][0]["url"] == run["target"]["url"]
    assert not target.started  # the engine stopped it
    # Presets, the studio's kind list, its idle line and its command palette know the kind too.
    import tomllib

    doc = tomllib.loads((Path(__file__).resolve().parents[2] / "presets" / "steady-poisson.toml").read_text())
    doc["target"] = {"kind": "echo"}
    assert preset_from_dict(doc, path=tmp_path / "p.toml", base_dir=tmp_path).target.kind == "echo"
    assert ("echo (test server)", "echo") in _targets()
    assert _idle_target("echo") == echo_kind.idle
    assert any(action == "set_target('echo')" for _, _, action in _commands())


def test_targets_do_not_import_the_replay():
    import re

    root = Path(__file__).resolve().parents[2] / "burststudio" / "targets"
    upward = re.compile(r"^\s*(?:from burststudio\.replay\b|import burststudio\.replay\b|"
                        r"from burststudio import replay)", re.M)
    for path in root.rglob("*.py"):
        assert not upward.search(path.read_text()), path
