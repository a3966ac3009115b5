import numpy as np
import pytest

from burststudio import cli
from burststudio.workload import formats, transform as tf
from burststudio.workload.model import Workload


def test_convert_applies_transforms_in_order_and_keeps_metadata(traces_dir, tmp_path, capsys):
    src = traces_dir / "burstgpt_1_head42.csv"
    out = tmp_path / "w.parquet"
    rc = cli.main(["convert", str(src), "--out", str(out), "--drop-failed", "--window", "1m:60m",
                   "--rate-scale", "2", "--head", "30", "--seed", "4"])
    assert rc == 0
    w = Workload.from_parquet(out)
    expected = tf.head(tf.rate_scale(tf.window(tf.filter_rows(formats.load(src), failed=False), 60, 3600), 2.0,
                                     seed=4), 30)
    assert w.equals(expected)
    assert w.meta.transforms == ["filter(failed=no)", "window(60:3600 s)", "rate_scale(x2, seed 4)", "head(30)"]
    assert w.meta.origin_format == "burstgpt"
    assert not w.failed.any() and len(w) == 30
    assert "wrote" in capsys.readouterr().out


def test_convert_filters_and_samples(traces_dir, tmp_path):
    src = traces_dir / "burstgpt_1_head42.csv"
    out = tmp_path / "g.parquet"
    assert cli.main(["convert", str(src), "-o", str(out), "--model", "GPT-4", "--sample", "0.5"]) == 0
    w = Workload.from_parquet(out)
    whole = formats.load(src)
    n_gpt4 = whole.table.column("model").to_pylist().count("GPT-4")
    assert len(w) == round(n_gpt4 * 0.5)
    assert set(w.table.column("model").to_pylist()) == {"GPT-4"}


def test_convert_time_scale_on_mooncake(traces_dir, tmp_path):
    src = traces_dir / "mooncake_conversation_trace.jsonl"
    out = tmp_path / "m.parquet"
    assert cli.main(["convert", str(src), "-o", str(out), "--time-scale", "0.5", "--head", "500"]) == 0
    w = Workload.from_parquet(out)
    np.testing.assert_allclose(w.arrival_s, formats.load(src).arrival_s[:500] * 0.5)
    assert w.has("prefix_blocks")


@pytest.mark.parametrize("extra,needle", [
    (["--model", "nope"], "no request has model"),
    (["--window", "5m:1m"], "end must be after"),
    (["--rate-scale", "0"], "--rate-scale: must be > 0, got 0"),
    (["--sample", "abc"], "sample"),
    (["--head", "-2"], "head"),
])
def test_convert_bad_arguments_exit_2_with_one_line(traces_dir, tmp_path, capsys, extra, needle):
    rc = cli.main(["convert", str(traces_dir / "burstgpt_1_head42.csv"), "-o", str(tmp_path / "x.parquet"), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


def test_convert_missing_input_and_bad_output_folder(traces_dir, tmp_path, capsys):
    assert cli.main(["convert", str(tmp_path / "none.csv"), "-o", str(tmp_path / "x.parquet")]) == 2
    assert "none.csv" in capsys.readouterr().err
    assert cli.main(["convert", str(traces_dir / "burstgpt_1_head42.csv"), "-o",
                     str(tmp_path / "no" / "x.parquet")]) == 2
    assert "does not exist" in capsys.readouterr().err
