import numpy as np
import pytest

from burststudio.errors import UserError
from burststudio.workload import stats, transform as tf
from burststudio.workload.model import Workload, WorkloadMeta


def _bursty(seed=0, duration=3000.0) -> Workload:
    """Poisson arrivals whose rate follows a strong per-minute profile (so the 10 s counts have a shape)."""
    rng = np.random.default_rng(seed)
    edges = np.arange(0.0, duration + 60, 60.0)
    rates = rng.choice([1.0, 4.0, 20.0], size=len(edges) - 1)
    parts = [np.sort(rng.uniform(lo, lo + 60, rng.poisson(r * 60))) for lo, r in zip(edges[:-1], rates)]
    a = np.concatenate(parts)
    n = a.size
    return Workload.from_columns(
        a - a[0], rng.integers(10, 500, n), rng.integers(0, 200, n),
        WorkloadMeta(name="bursty", start_time_of_day_s=3600.0, start_datetime="2024-01-01T01:00:00"),
        model=rng.choice(["a", "b"], n), source=rng.choice(["api", "chat"], n), failed=rng.random(n) < 0.1)


def test_window_rebases_and_moves_the_start_time():
    w = _bursty()
    a = w.arrival_s
    out = tf.window(w, 600, 1200)
    inside = a[(a >= 600) & (a < 1200)]
    assert len(out) == inside.size
    assert out.arrival_s[0] == 0.0
    np.testing.assert_allclose(out.arrival_s, inside - inside[0])
    assert out.meta.start_time_of_day_s == pytest.approx(3600.0 + inside[0])
    assert out.meta.start_datetime.startswith("2024-01-01T01:1")
    assert out.meta.transforms == ["window(600:1200 s)"]
    assert w.meta.transforms == []  # the original is untouched
    assert len(tf.window(w, 100000, None)) == 0


@pytest.mark.parametrize("start,end", [(-1, 10), (10, 10), (20, 5)])
def test_window_rejects_bad_bounds(start, end):
    with pytest.raises(UserError):
        tf.window(_bursty(), start, end)


def test_filter_rows_by_model_source_and_failed():
    w = _bursty()
    model = np.array(w.table.column("model").to_pylist())
    src = np.array(w.table.column("source").to_pylist())
    out = tf.filter_rows(w, model="a", source=["chat"], failed=False)
    assert len(out) == int(((model == "a") & (src == "chat") & ~w.failed).sum())
    assert set(out.table.column("model").to_pylist()) == {"a"}
    assert not out.failed.any()
    assert tf.filter_rows(w, failed=True).failed.all()
    with pytest.raises(UserError, match="no request has model"):
        tf.filter_rows(w, model="nope")
    with pytest.raises(UserError, match="no model column"):
        tf.filter_rows(Workload.from_columns([0.0], [1], [1]), model="a")


def test_time_scale_stretches_arrivals():
    w = _bursty()
    out = tf.time_scale(w, 2.5)
    np.testing.assert_allclose(out.arrival_s, w.arrival_s * 2.5)
    assert stats.summarize(out)["rate_rps"] == pytest.approx(stats.summarize(w)["rate_rps"] / 2.5)
    with pytest.raises(UserError):
        tf.time_scale(w, 0)


def _profile(w: Workload, duration: float) -> np.ndarray:
    c = stats.counts_per_window(w.arrival_s, 10.0)
    return np.pad(c, (0, int(duration // 10) + 1 - c.size))[: int(duration // 10)]


@pytest.mark.parametrize("factor", [0.5, 2.0, 2.5])
def test_rate_scale_scales_the_count_and_keeps_the_profile(factor):
    w = _bursty(1)
    out = tf.rate_scale(w, factor, seed=3)
    assert len(out) == pytest.approx(factor * len(w), rel=0.03)
    assert out.duration_s <= w.duration_s + 1e-9
    base, scaled = _profile(w, w.duration_s), _profile(out, w.duration_s)
    assert np.corrcoef(base, scaled)[0, 1] > 0.95
    assert np.sum(scaled) / np.sum(base) == pytest.approx(factor, rel=0.03)
    assert tf.rate_scale(w, factor, seed=3).equals(out)  # seeded
    assert out.meta.transforms == [f"rate_scale(x{factor:g}, seed 3)"]


def test_rate_scale_copies_keep_lengths_and_stay_in_their_gap():
    w = Workload.from_columns([0.0, 10.0, 10.5], [1, 2, 3], [4, 5, 6])
    out = tf.rate_scale(w, 3.0, seed=0)
    assert len(out) == 9
    a, p = out.arrival_s, out.prompt_tokens
    assert set(a[p == 1]) - {0.0} and all(0 <= x <= 10 for x in a[p == 1])
    assert all(10 <= x <= 10.5 for x in a[p == 2])
    assert all(10.0 <= x <= 10.5 for x in a[p == 3])  # the last request's copies fill the gap before it
    assert out.duration_s == w.duration_s


def test_merge_overlays_workloads():
    a = Workload.from_columns([0.0, 2.0], [1, 1], [1, 1], WorkloadMeta(name="a"), model=["x", "x"])
    b = Workload.from_columns([1.0], [2], [2], WorkloadMeta(name="b"))
    m = tf.merge([a, b])
    assert list(m.arrival_s) == [0.0, 1.0, 2.0]
    assert m.meta.name == "a+b" and m.meta.transforms == ["merge(a + b)"]
    with pytest.raises(UserError):
        tf.merge([])


def test_sample_and_head():
    w = _bursty()
    s = tf.sample(w, n=100, seed=1)
    assert len(s) == 100 and np.all(np.diff(s.arrival_s) >= 0)
    assert set(s.arrival_s) <= set(w.arrival_s)
    assert tf.sample(w, n=100, seed=1).equals(s)
    assert len(tf.sample(w, fraction=0.25, seed=1)) == round(0.25 * len(w))
    with pytest.raises(UserError):
        tf.sample(w, n=len(w) + 1)
    with pytest.raises(UserError):
        tf.sample(w, n=5, fraction=0.5)
    h = tf.head(w, 7)
    np.testing.assert_array_equal(h.arrival_s, w.arrival_s[:7])
    assert len(tf.head(w, 10**9)) == len(w)
    with pytest.raises(UserError):
        tf.head(w, -1)


def test_parsers():
    assert tf.parse_duration("20m") == 1200.0
    assert tf.parse_duration("1.5h") == 5400.0
    assert tf.parse_duration("250ms") == 0.25
    assert tf.parse_window("10m:20m") == (600.0, 1200.0)
    assert tf.parse_window(":90") == (None, 90.0)
    assert tf.parse_sample("1000") == (1000, None)
    assert tf.parse_sample("10%") == (None, 0.1)
    for bad in ("abc", "-3"):
        with pytest.raises(UserError):
            tf.parse_duration(bad)
    with pytest.raises(UserError):
        tf.parse_window("20m:10m")
    with pytest.raises(UserError):
        tf.parse_sample("1.5")
