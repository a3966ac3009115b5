import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from burststudio.workload.model import Workload, WorkloadMeta, concat


def test_from_columns_sorts_stably_and_rebases():
    w = Workload.from_columns([5.0, 3.0, 3.0, 7.0], [1, 2, 3, 4], [10, 20, 30, 40], rebase=True,
                              model=["a", "b", "c", "d"])
    assert list(w.arrival_s) == [0.0, 0.0, 2.0, 4.0]
    assert list(w.prompt_tokens) == [2, 3, 1, 4]
    assert w.table.column("model").to_pylist() == ["b", "c", "a", "d"]
    assert w.duration_s == 4.0


def test_missing_required_column_is_an_error():
    with pytest.raises(ValueError, match="prompt_tokens"):
        Workload(pa.table({"arrival_s": [0.0], "output_tokens": [1]}))


def test_failed_mask_defaults_to_false():
    w = Workload.from_columns([0.0, 1.0], [1, 2], [3, 4])
    assert not w.failed.any()


def test_concat_fills_missing_optional_columns_with_nulls():
    a = Workload.from_columns([0.0, 2.0], [1, 1], [1, 1], model=["x", "x"])
    b = Workload.from_columns([1.0], [2], [2])
    m = concat([a, b], WorkloadMeta(name="m"))
    assert list(m.arrival_s) == [0.0, 1.0, 2.0]
    assert m.table.column("model").to_pylist() == ["x", None, "x"]


rows = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1e7, allow_nan=False),
        st.integers(min_value=0, max_value=2**40),
        st.integers(min_value=0, max_value=2**40),
        st.one_of(st.none(), st.text(max_size=12)),
        st.booleans(),
        st.lists(st.integers(min_value=0, max_value=2**40), max_size=5),
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e5, allow_nan=False)),
    ),
    max_size=40,
)
metas = st.builds(
    WorkloadMeta,
    name=st.text(max_size=20),
    origin_path=st.one_of(st.none(), st.text(max_size=20)),
    origin_format=st.one_of(st.none(), st.sampled_from(["burstgpt", "azure", "mooncake"])),
    generator=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.floats(allow_nan=False), max_size=4)),
    seed=st.one_of(st.none(), st.integers(min_value=0, max_value=2**31)),
    start_time_of_day_s=st.one_of(st.none(), st.floats(min_value=0, max_value=86400, allow_nan=False)),
    transforms=st.lists(st.text(max_size=10), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(rows=rows, meta=metas)
def test_any_workload_round_trips_through_parquet(tmp_path_factory, rows, meta):
    cols = list(zip(*rows)) if rows else [[]] * 7
    w = Workload.from_columns(
        cols[0], cols[1], cols[2], meta,
        model=pa.array(list(cols[3]), type=pa.string()),
        failed=pa.array(list(cols[4]), type=pa.bool_()),
        prefix_blocks=pa.array([list(x) for x in cols[5]], type=pa.list_(pa.int64())),
        recorded_latency_s=pa.array(list(cols[6]), type=pa.float64()),
    )
    path = tmp_path_factory.mktemp("rt") / "w.parquet"
    w.to_parquet(path)
    back = Workload.from_parquet(path)
    assert back.equals(w)
    assert back.meta == meta
    assert np.all(np.diff(back.arrival_s) >= 0)
