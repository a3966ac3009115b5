"""One formatting of each summary figure (burststudio/figures.py), how a run ended and what it ran against, and run
names that say the target kind."""

import re

from burststudio import figures as fg
from burststudio import rundir


def test_each_unit_has_one_formatting():
    ttft = fg.BY_KEY["ttft_p99"]
    assert [fg.show_raw(ttft, s) for s in (2.3609, 0.4684, 0.0579, 0.00344)] == ["2,361", "468", "57.9", "3.44"]
    assert fg.show({"preemptions": 26.0}, fg.BY_KEY["preemptions"]) == "26"
    assert fg.show({"sent": 12345}, fg.BY_KEY["sent"]) == "12,345"
    # KV usage is a percentage in every command and in the studio, never 1.0 or 0.01.
    assert fg.show({"kv_cache_usage_peak": 1.0}, fg.BY_KEY["kv_peak"]) == "100%"
    assert fg.show_raw(fg.BY_KEY["kv_peak"], 0.01) == "1%"
    assert fg.show({"goodput": {"share": 0.792}}, fg.BY_KEY["goodput"]) == "79.2%"
    assert fg.show({}, fg.BY_KEY["goodput"]) == fg.MISSING


def test_differences_are_signed_in_the_figures_unit():
    assert fg.fmt_delta(fg.BY_KEY["ttft_p99"], -1112.1) == "-1,112"
    assert fg.fmt_delta(fg.BY_KEY["sent"], 0) == "+0"
    assert fg.fmt_delta(fg.BY_KEY["goodput"], 20.78) == "+20.8 pp"  # percentage points, not a percentage
    assert fg.fmt_delta(fg.BY_KEY["kv_peak"], None) == fg.MISSING


def test_how_a_run_ended_accounts_for_every_planned_request():
    stopped = {"reason": "stopped", "sent": 1096, "finished": 1096, "failed": 0, "cancelled": 0,
               "plan": {"planned": 1313}, "not_sent": 217, "lost_in_flight": 0}
    assert fg.ended(stopped) == "stopped"
    assert fg.accounting(stopped) == "1,096 of 1,313 sent = 1,096 finished + 0 failed + 0 cancelled; 217 not sent"
    killed = {"complete": False, "sent": 40, "finished": 30, "failed": 0, "cancelled": 10, "lost_in_flight": 10}
    assert fg.ended(killed) == "did not finish"
    assert fg.accounting(killed).endswith("; 10 lost in flight")
    assert fg.ended({"reason": "target_died"}) == "the target died"


def test_the_target_and_the_failures_read_alike_everywhere():
    assert fg.target({"target": {"kind": "url", "url": "http://h:8000", "model": "m"}}) == "url http://h:8000 model m"
    assert fg.target({"target": {"kind": "sim", "url": "", "model": "sim"}}) == "sim model sim"
    assert fg.target({}) == fg.MISSING
    two = [{"name": "0", "url": "http://a:1"}, {"name": "1", "url": "http://b:1"}]
    assert fg.target({"target": {"kind": "url", "url": "http://a:1", "endpoints": two, "model": "m"}}) == \
        "url 2 replicas model m"
    assert fg.target({"target": {"kind": "vllm", "url": "http://a:1", "endpoints": two, "router": "http://r:9"}}) == \
        "vllm 2 replicas behind http://r:9"
    assert fg.failures({"failures_by_class": {"timeout": 9, "http_503": 2800}}) == "http_503 2,800, timeout 9"
    assert fg.failures({"failures_by_class": {}}) == "none"


def test_default_run_names_say_the_target_kind(tmp_path):
    a = rundir.default_run_dir("kv-pressure", tmp_path, kind="sim")
    b = rundir.default_run_dir("kv-pressure", tmp_path, kind="url")
    assert re.fullmatch(r"\d{8}-\d{6}-kv-pressure-sim", a.name) and b.name.endswith("-kv-pressure-url")
    assert rundir.default_run_dir("kv-pressure-sim", tmp_path, kind="sim").name.endswith("-kv-pressure-sim")
    a.mkdir()
    again = rundir.default_run_dir("kv-pressure", tmp_path, kind="sim")
    # Within the same second the name gets -2; a second later, a new stamp.
    assert again.name == a.name + "-2" or (again.name[:15] != a.name[:15] and again.name.endswith("-sim"))


def test_report_and_compare_print_how_a_stopped_run_ended(tmp_path, capsys, monkeypatch):
    from burststudio.commands.compare import compare
    from burststudio.commands.report import print_summary
    from tests.studio.conftest import make_run

    monkeypatch.setenv("COLUMNS", "200")
    done = rundir.read_summary(make_run(tmp_path, "a", requests=300))
    stopped = rundir.read_summary(make_run(tmp_path, "b", requests=300, reason="stopped", not_sent=217,
                                           target={"kind": "url", "url": "http://127.0.0.1:8000", "model": "tiny"}))
    print_summary(stopped)
    out = capsys.readouterr().out
    assert "target: url http://127.0.0.1:8000 model tiny" in out
    assert "stopped: 300 of 517 sent = " in out and "; 217 not sent" in out
    assert "KV peak 100%" in out and ".0 " not in out.split("server:")[1].splitlines()[0]
    rows = {r["figure"]: r for r in compare([done, stopped])["rows"]}
    assert rows["sent"]["values"] == [300, 300]
