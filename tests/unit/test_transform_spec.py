import math
from types import SimpleNamespace

import numpy as np
import pytest

from burststudio.workload import transform as tf
from burststudio.workload.model import Workload, WorkloadMeta
from burststudio.workload.transform_spec import TransformError, TransformSpec


def _workload(n=4000, seed=0) -> Workload:
    rng = np.random.default_rng(seed)
    a = np.cumsum(rng.exponential(0.5, n))
    return Workload.from_columns(a - a[0], rng.integers(10, 500, n), rng.integers(1, 200, n),
                                 WorkloadMeta(name="w"), model=rng.choice(["a", "b"], n),
                                 failed=rng.random(n) < 0.1)


PRESET = {"model": "a", "failed": "drop", "window_s": [60.0, 1500.0], "time_scale": 2.0, "rate_scale": 1.5,
          "sample": 0.5, "head": 300}


def test_a_preset_spec_applies_every_step_in_the_documented_order():
    w = _workload()
    out = TransformSpec.from_preset(PRESET).apply(w, seed=4)
    expected = tf.head(tf.sample(tf.rate_scale(tf.time_scale(tf.window(
        tf.filter_rows(w, model=["a"], failed=False), 60.0, 1500.0), 2.0), 1.5, seed=4), fraction=0.5, seed=4), 300)
    assert out.equals(expected)
    assert [t.split("(")[0] for t in out.meta.transforms] == ["filter", "window", "time_scale", "rate_scale",
                                                              "sample", "head"]


def test_preset_keys_say_the_same_spec():
    spec = TransformSpec.from_preset(PRESET)
    assert spec.preset_keys() == PRESET
    assert TransformSpec.from_preset(spec.preset_keys()) == spec
    assert TransformSpec.from_preset({}) == TransformSpec() and TransformSpec().preset_keys() == {}
    assert TransformSpec().apply(_workload()).meta.transforms == []


def test_replay_settings_scale_then_cut_in_replayed_seconds():
    w = _workload()
    out = TransformSpec.from_replay(SimpleNamespace(time_scale=0.5, rate_scale=1.0, duration_s=100.0)).apply(w)
    assert out.arrival_s[-1] < 100.0
    assert len(out) == int(np.sum(w.arrival_s * 0.5 < 100.0))


def test_a_sample_count_above_the_rows_left_keeps_them_all():
    w = _workload(50)
    assert len(TransformSpec(sample=500).apply(w)) == 50


def test_an_error_names_its_step():
    with pytest.raises(TransformError) as err:
        TransformSpec(rate_scale=0.0).apply(_workload())
    assert err.value.key == "rate_scale"
    with pytest.raises(TransformError) as err:
        TransformSpec(model=("nope",)).apply(_workload())
    assert err.value.key == "filter" and "nope" in str(err.value)
    with pytest.raises(TransformError) as err:
        TransformSpec(window_s=(10.0, 5.0)).apply(_workload())
    assert err.value.key == "window_s"
    assert math.isinf(TransformSpec.from_preset({"window_s": [10.0, math.inf]}).window_s[1])
