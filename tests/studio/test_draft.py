"""The app's draft preset: what both screens edit, and the one preset Save and Start write from it."""

from __future__ import annotations

import math

from burststudio.presets import load_preset
from burststudio.studio.config import StudioConfig
from burststudio.studio.draft import Draft
from burststudio.workload.transform_spec import TransformSpec

TRACE_PRESET = """\
[workload]
trace = "{trace}"
model = "a"
sample = 0.5
rate_scale = 0.25

[target]
kind = "url"
url = "http://127.0.0.1:9999"

[replay]
duration_s = 12.0
"""


def _preset(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens,model\n0,1,1,a\n1,2,2,b\n")
    path = tmp_path / "p.toml"
    path.write_text(TRACE_PRESET.format(trace=trace))
    return load_preset(path)


def test_a_loaded_preset_sets_the_target_and_duration_and_keeps_its_own_transforms(tmp_path):
    preset = _preset(tmp_path)
    draft = Draft.from_config(StudioConfig(root=tmp_path))
    assert (draft.target_kind, draft.duration_s) == ("sim", 60.0)
    draft.use_preset_settings(preset)
    draft.use_trace(preset.workload_spec["trace"], preset)
    assert (draft.name, draft.target_kind, draft.target_url, draft.duration_s) == \
        ("p", "url", "http://127.0.0.1:9999", 12.0)
    loaded = {"window.start_s": 0.0, "window.end_s": 0.0, "time_scale": 1.0, "rate_scale": 0.25}
    draft.set_values(loaded, loaded=True)
    draft.set_values({**loaded, "window.start_s": 10.0})
    assert draft.transforms() == TransformSpec(model=("a",), sample=0.5, window_s=(10.0, math.inf),
                                               rate_scale=0.25)
    spec = draft.workload_spec()
    assert spec["window_s"] == [10.0, math.inf] and spec["model"] == "a" and spec["rate_scale"] == 0.25
    saved = load_preset(draft.save(tmp_path / "out.toml"))
    assert saved.target.url == "http://127.0.0.1:9999" and saved.replay.duration_s == 12.0


def test_a_preset_without_a_duration_leaves_the_draft_s(tmp_path):
    preset = _preset(tmp_path)
    preset.replay.duration_s = 0.0
    draft = Draft(duration_s=30.0)
    draft.use_preset_settings(preset)
    assert draft.duration_s == 30.0
