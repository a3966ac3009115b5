"""Any valid spec gives a sane workload: sorted arrivals from 0 on, the asked size, lengths inside their bounds."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from burststudio.workload.synth import synthesize

pos = st.floats(0.05, 50.0)
arrivals = st.one_of(
    st.builds(lambda r: {"process": "poisson", "rate": r}, pos),
    st.builds(lambda r, c: {"process": "gamma", "rate": r, "cv": c}, pos, st.floats(0.1, 5.0)),
    st.builds(lambda a, b: {"process": "gamma", "shape": a, "scale": b}, st.floats(0.05, 5.0), st.floats(0.01, 5.0)),
    st.builds(lambda r, k: {"process": "weibull", "rate": r, "shape": k}, pos, st.floats(0.2, 5.0)),
    st.builds(lambda a, b, c, d: {"process": "onoff", "rate_on": a, "rate_off": b, "mean_on_s": c, "mean_off_s": d},
              pos, st.floats(0.0, 5.0), st.floats(0.1, 100.0), st.floats(0.1, 100.0)),
    st.builds(lambda r, s, u, f, d: {"process": "flash", "rate": r, "start_s": s, "rise_s": u, "peak_factor": f,
                                     "decay_s": d},
              pos, st.floats(0.0, 200.0), st.floats(0.0, 50.0), st.floats(1.0, 100.0), st.floats(0.1, 100.0)),
    st.builds(lambda w: {"process": "windowed_gamma", "windows": w},
              st.lists(st.builds(lambda d, r, c: {"duration_s": d, "rate": r, "cv": c},
                                 st.floats(1.0, 100.0), st.floats(0.5, 20.0), st.floats(0.2, 4.0)),
                       min_size=1, max_size=4)),
)
modulation = st.one_of(
    st.none(),
    st.builds(lambda p, a, k: {"kind": "sinusoid", "period_s": p, "amplitude": a, "peak_s": k},
              st.floats(1.0, 1000.0), st.floats(0.0, 1.0), st.floats(-100.0, 100.0)),
    st.builds(lambda v, p: {"kind": "profile", "values": v, "period_s": p},
              st.lists(st.floats(0.0, 5.0), min_size=1, max_size=30).filter(lambda v: sum(v) > 0.01),
              st.floats(1.0, 1000.0)),
)
bounds = st.tuples(st.integers(1, 5000), st.integers(0, 5000)).map(lambda t: (t[0], t[0] + t[1]))
lengths = st.one_of(
    st.builds(lambda t, b: {"dist": "zipf", "theta": t, "min": b[0], "max": b[1]}, st.floats(0.01, 4.0), bounds),
    st.builds(lambda m, s, b: {"dist": "lognormal", "median": m, "sigma": s, "min": b[0], "max": b[1]},
              st.floats(0.5, 1e5), st.floats(0.01, 4.0), bounds),
    st.builds(lambda b: {"dist": "uniform", "min": b[0], "max": b[1]}, bounds),
    st.builds(lambda w, m1, m2, b: {"dist": "bimodal", "weight": w, "median1": m1, "median2": m2,
                                    "min": b[0], "max": b[1]},
              st.floats(0.0, 1.0), st.floats(0.5, 1e4), st.floats(0.5, 1e4), bounds),
)
size = st.one_of(st.builds(lambda n: {"requests": n}, st.integers(1, 400)),
                 st.builds(lambda d: {"duration_s": d}, st.floats(0.5, 60.0)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals, modulation, lengths, lengths, size, st.integers(0, 2**32))
def test_any_valid_spec_gives_a_sane_workload(arr, mod, prompt, output, size, seed):
    if mod is not None:
        arr = {**arr, "modulation": mod}
    spec = {"arrivals": arr, "prompt": prompt, "output": output, **size}
    w = synthesize(spec, seed=seed)
    a = w.arrival_s
    assert np.all(np.isfinite(a)) and np.all(a >= 0) and np.all(np.diff(a) >= 0)
    if "requests" in size:
        assert len(w) == size["requests"]
    else:
        assert np.all(a < size["duration_s"])
    for col, p in (("prompt_tokens", prompt), ("output_tokens", output)):
        v = w.numpy(col)
        assert np.all(v >= p["min"]) and np.all(v <= p["max"])
    assert synthesize(spec, seed=seed).table.equals(w.table)


sessions = st.builds(
    lambda block, shared, ctx, turns, think: {"block_tokens": block, "shared_prefix_tokens": shared,
                                              "max_context_tokens": ctx, "turns": turns, "think_time": think},
    st.sampled_from([16, 64, 512]), st.integers(0, 2000), st.integers(3000, 20000),
    st.one_of(st.builds(lambda m, x: {"dist": "geometric", "mean": m, "max": x}, st.floats(1.0, 10.0),
                        st.integers(1, 50)),
              st.builds(lambda v: {"dist": "fixed", "value": v}, st.integers(1, 10))),
    st.one_of(st.builds(lambda m: {"dist": "exponential", "mean_s": m}, st.floats(0.01, 100.0)),
              st.builds(lambda v: {"dist": "fixed", "value_s": v}, st.floats(0.0, 10.0))),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals, sessions, st.one_of(st.builds(lambda n: {"requests": n}, st.integers(1, 200)),
                                     st.builds(lambda d: {"duration_s": d}, st.floats(0.5, 30.0))),
       st.integers(0, 2**32))
def test_any_conversation_spec_keeps_the_prefix_rules(arr, sess, size, seed):
    spec = {"arrivals": arr, "prompt": {"dist": "uniform", "min": 1, "max": 300},
            "output": {"dist": "uniform", "min": 1, "max": 300}, "sessions": sess, **size}
    w = synthesize(spec, seed=seed)
    if "requests" in size:
        assert len(w) == size["requests"]
    a = w.arrival_s
    assert np.all(np.diff(a) >= 0)
    block, shared = sess["block_tokens"], sess["shared_prefix_tokens"]
    assert np.all(w.prompt_tokens + w.output_tokens <= sess["max_context_tokens"])
    ids = w.table.column("prefix_blocks").to_pylist()
    owner: dict[int, str] = {}
    for sid, p, b in zip(w.table.column("session_id").to_pylist(), w.prompt_tokens.tolist(), ids):
        assert len(b) == -(-p // block)
        for j, x in enumerate(b):
            if (j + 1) * block <= shared:
                assert x == j  # the shared system prompt
            else:
                assert owner.setdefault(x, sid) == sid  # everything else belongs to one conversation
