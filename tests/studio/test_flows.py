"""The studio's flows, driven with Pilot and checked on the app's own messages."""

from __future__ import annotations

import asyncio
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from burststudio.studio.app import make_app
from burststudio.studio.messages import (
    ChartsRedrawn,
    FitCompleted,
    PresetSaved,
    PreviewComputed,
    PreviewFailed,
    RunFinished,
)


async def _until(pilot, predicate, timeout_s: float = 40.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not predicate():
        if loop.time() > end:
            screen = pilot.app.workload_screen
            status = screen.query_one("#source-status").render()
            raise AssertionError(f"timed out waiting for the app (status: {status}; notifications: "
                                 f"{[n.message for n in pilot.app._notifications]})")
        await pilot.pause(0.05)


def test_edit_a_parameter_changes_the_stats(studio_config):
    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: screen.preview_is_current)
            before = screen.preview.stats["rate_rps"]
            rate = screen.query_one("#f-arrivals-rate")
            rate.value = "20"
            await _until(pilot, lambda: screen.values.get("arrivals.rate") == 20 and screen.preview_is_current)
            after = screen.preview.stats["rate_rps"]
            assert before == pytest.approx(5.0, rel=0.1)
            assert after == pytest.approx(20.0, rel=0.1)
            assert screen.query_one("#stats").stats["rate_rps"] == after

    asyncio.run(run())


def test_a_bad_value_shows_its_error_beside_the_field(studio_config):
    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            form = app.workload_screen.query_one("#params")
            app.workload_screen.query_one("#f-arrivals-rate").value = "fast"
            await pilot.pause(0.1)
            assert form.row("arrivals.rate").error == "must be a number"
            # A value the form parses but the generator refuses comes back from synth's validate.
            app.workload_screen.query_one("#f-arrivals-rate").value = "-3"
            await _until(pilot, lambda: any(isinstance(m, PreviewFailed) for m in seen) or
                         form.row("arrivals.rate").error)
            assert form.row("arrivals.rate").error

    asyncio.run(run())


def test_a_bad_trace_is_one_notification(studio_config, tmp_path):
    bad = tmp_path / "traces" / "broken.csv"
    bad.write_text("this,is,not\na,trace,file\n")

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.workload_screen.load_source("trace", str(bad))
            await _until(pilot, lambda: len(app._notifications) > 0)
            note = list(app._notifications)[0]
            assert note.severity == "error"
            assert "\n" not in note.message and "Traceback" not in note.message

    asyncio.run(run())


def test_save_a_preset_and_load_it_back(studio_config):
    from burststudio.presets import load_preset

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            app.workload_screen.query_one("#f-arrivals-cv").value = "3"
            app.workload_screen.query_one("#preset-name").value = "bursty-test"
            await _until(pilot, lambda: app.workload_screen.values.get("arrivals.cv") == 3.0)
            await pilot.click("#save")
            await _until(pilot, lambda: any(isinstance(m, PresetSaved) for m in seen))
            path = [m for m in seen if isinstance(m, PresetSaved)][0].path
            assert path == studio_config.presets_dir / "bursty-test.toml"
            preset = load_preset(path)
            assert preset.workload_spec["arrivals"]["cv"] == 3.0
            assert preset.target.kind == "sim"
            # It loads back into the form through the preset source.
            app.workload_screen.load_source("preset", str(path))
            await _until(pilot, lambda: app.workload_screen.preset is not None
                         and app.workload_screen.preview_is_current)
            assert app.workload_screen.values["arrivals.cv"] == 3.0

    asyncio.run(run())


def _gamma_trace(path: Path) -> None:
    """A trace with known arrivals (Gamma, rate 5/s, CV 2) and lognormal lengths, written as a Parquet table."""
    from burststudio.studio import workload_actions as actions

    spec = {"requests": 5000, "arrivals": {"process": "gamma", "rate": 5.0, "cv": 2.0},
            "prompt": {"dist": "lognormal", "median": 300.0, "sigma": 0.5},
            "output": {"dist": "lognormal", "median": 80.0, "sigma": 0.4}}
    actions.synthesize(spec, seed=3, base_dir=path.parent).to_parquet(path)


def test_fit_fills_the_generator_form_from_the_loaded_trace(studio_config):
    trace = studio_config.traces_dir / "gamma.parquet"
    _gamma_trace(trace)

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            assert screen.query_one("#fit").disabled  # nothing to fit before a trace is loaded
            screen.load_source("trace", str(trace))
            await _until(pilot, lambda: screen.kind == "trace" and screen.preview_is_current)
            assert screen.preview.requests == 5000
            # The inter-arrival histogram carries the fitted curve, named after its family.
            preview = screen.preview
            assert preview.gap_curve_label == "gamma" and len(preview.gap_curve_x) > 0
            assert "gamma fit" in screen.query_one("#gap-chart").border_subtitle
            seen.clear()
            screen.query_one("#fit").press()
            await _until(pilot, lambda: any(isinstance(m, FitCompleted) for m in seen)
                         and screen.kind == "generator" and screen.preview_is_current)
            params = [m for m in seen if isinstance(m, FitCompleted)][0].params
            assert screen.kind == "generator"
            assert screen.query_one("#source-kind").value == "generator"
            values = screen.values
            assert values["arrivals.process"] == params["arrivals.process"] == "gamma"
            assert values["arrivals.rate"] == pytest.approx(5.0, rel=0.1)
            assert values["arrivals.cv"] == pytest.approx(2.0, rel=0.15)
            assert values["prompt.dist"] == "lognormal" and values["prompt.median"] == pytest.approx(300, rel=0.05)
            assert values["output.median"] == pytest.approx(80, rel=0.05)
            assert values["requests"] == 5000
            # The preview now shows the fitted generator, close to the trace it came from.
            assert screen.preview.stats["rate_rps"] == pytest.approx(5.0, rel=0.15)

    asyncio.run(run())


def test_fit_keeps_the_burstiness_of_the_trace_after_its_transforms(studio_config):
    """Azure's code trace at half its rate: the fitted generator's gap CV and rate are the transformed trace's."""
    import shutil

    trace = studio_config.traces_dir / "azure_llm_2023_code.csv"
    shutil.copy(Path(__file__).resolve().parents[2] / "traces" / trace.name, trace)

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            screen.load_source("trace", str(trace))
            await _until(pilot, lambda: screen.kind == "trace" and screen.preview_is_current)
            full = screen.preview.stats
            screen.query_one("#f-rate_scale").value = "0.5"
            await _until(pilot, lambda: screen.values.get("rate_scale") == 0.5 and screen.preview_is_current)
            half = screen.preview.stats
            assert half["rate_rps"] == pytest.approx(full["rate_rps"] / 2, rel=0.05)
            seen.clear()
            screen.query_one("#fit").press()
            await _until(pilot, lambda: any(isinstance(m, FitCompleted) for m in seen)
                         and screen.kind == "generator" and screen.preview_is_current, timeout_s=90)
            # The half-rate trace is no file on disk: its rows were written for the generator to draw on.
            assert screen.values["prompt.dist"] == "empirical"
            fitted = screen.preview.stats
            for key in ("rate_rps", "interarrival_cv"):
                assert fitted[key] == pytest.approx(half[key], rel=0.10), key
            assert fitted["idc"]["10s"] == pytest.approx(half["idc"]["10s"], rel=0.10)
            for col in ("prompt_tokens", "output_tokens"):
                for q in ("p50", "p99"):
                    assert fitted[col][q] == pytest.approx(half[col][q], rel=0.10), (col, q)
            # What the form does not show is kept when the draft is saved; the rows travel beside the preset.
            saved = screen.save_preset(studio_config.presets_dir / "fitted.toml")
        return saved, half

    from burststudio.presets import load_preset
    from burststudio.workload.stats import summarize

    saved, half = asyncio.run(run())
    preset = load_preset(saved)
    rows = saved.parent / "fitted.rows.parquet"
    assert rows.is_file()
    assert preset.workload_spec["prompt"]["trace"] == str(rows.resolve())
    assert 'trace = "fitted.rows.parquet"' in saved.read_text()
    again = summarize(preset.build_workload(seed=0))
    assert again["rate_rps"] == pytest.approx(half["rate_rps"], rel=0.10)


PRESET_WITH_HIDDEN_KEYS = """\
[workload]
name = "kept"
duration_s = 120.0
seed = 7

[workload.arrivals]
process = "poisson"
rate = 2.0

[workload.arrivals.modulation]
kind = "profile"
values = [1.0, 3.0, 1.0, 0.5]
period_s = 60.0

[workload.prompt]
dist = "lognormal"
median = 40.0
sigma = 0.5
min = 4
max = 160

[workload.output]
dist = "fixed"
value = 32

[workload.sessions]
block_tokens = 64
shared_prefix_tokens = 64
max_context_tokens = 512

[workload.sessions.turns]
dist = "geometric"
mean = 3.0

[target]
kind = "vllm"

[target.vllm]
max_num_seqs = 4
kv_cache_memory_bytes = "2M"

[replay]
duration_s = 30.0
scrape_interval_s = 0.2
"""


def test_saving_a_loaded_preset_keeps_what_the_form_does_not_show(studio_config):
    from burststudio.presets import load_preset

    source = studio_config.presets_dir / "kept.toml"
    source.write_text(PRESET_WITH_HIDDEN_KEYS)
    original = load_preset(source)

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            screen.load_source("preset", str(source))
            await _until(pilot, lambda: screen.preset is not None and screen.preview_is_current)
            assert screen.query_one("#preset-name").value == "kept"
            assert app.replay_screen.target_kind == "vllm"  # the preset's target shows on the Replay screen
            await pilot.press("f2")
            assert app.replay_screen.query_one("#duration").value == "30"  # and its replay duration
            await pilot.press("f1")
            seen.clear()
            screen.query_one("#f-arrivals-rate").value = "4"
            await _until(pilot, lambda: screen.values.get("arrivals.rate") == 4.0)
            screen.query_one("#preset-name").value = "kept-edited"
            await pilot.pause()
            saved = screen.save_preset()
            assert saved is not None
        return saved

    saved = asyncio.run(run())
    again = load_preset(saved)
    spec, before = again.workload_spec, original.workload_spec
    assert spec["arrivals"]["rate"] == 4.0
    for key in ("sessions", "prompt", "output", "duration_s", "seed"):
        assert spec[key] == before[key], key
    assert spec["arrivals"]["modulation"] == before["arrivals"]["modulation"]
    assert again.target == original.target
    assert again.replay == original.replay


def test_help_and_screens_from_the_keyboard(studio_config):
    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f2")
            assert app.screen.id == "replay-screen"
            await pilot.press("f3")
            assert app.screen.id == "results-screen"
            await pilot.press("question_mark")
            assert type(app.screen).__name__ == "HelpScreen"
            await pilot.press("escape")
            assert app.screen.id == "results-screen"
            await pilot.press("f1")
            assert app.screen.id == "workload-screen"

    asyncio.run(run())


@asynccontextmanager
async def _on_the_replay_screen(studio_config):
    """A studio at 120x40 on its Replay screen once the first preview is in: (app, pilot, messages seen)."""
    seen: list = []
    app = make_app(studio_config)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
        await pilot.press("f2")
        yield app, pilot, seen


def _replay_available() -> bool:
    try:
        import burststudio.commands.replay  # noqa: F401
        from tests.testserver import TestServer  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _replay_available(), reason="the replay command is not installed yet")
def test_replay_against_the_test_server_fills_charts_and_results(studio_config):
    from tests.testserver import ServerConfig, TestServer

    async def run(url: str):
        seen: list = []
        studio_config.target_kind = "url"
        studio_config.target_url = url
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            screen = app.workload_screen
            screen.query_one("#f-requests").value = "60"
            screen.query_one("#f-arrivals-rate").value = "40"
            await _until(pilot, lambda: screen.values.get("requests") == 60 and screen.values.get("arrivals.rate") == 40)
            await pilot.press("f2")
            await app.run_action("start_replay")
            await _until(pilot, lambda: any(isinstance(m, RunFinished) for m in seen), timeout_s=60)
            await pilot.pause()
            finished = [m for m in seen if isinstance(m, RunFinished)][0]
            assert finished.error is None, finished.error
            replay = app.replay_screen
            assert sum(m.points for m in seen if isinstance(m, ChartsRedrawn)) > 0
            # The target's state came from the engine's events.
            target_line = str(replay.query_one("#target-state").render())
            assert "url healthy" in target_line and "model tiny" in target_line
            # The schedule as it was kept: 40 requests/s against a fast server end on schedule, all sent.
            overload = str(replay.query_one("#overload-state").render())
            assert "at the end:" in overload and "kept its schedule" in overload and "0 due, not sent" in overload
            # The server is not managed: it stays up after the run, and the line says when it was seen healthy.
            assert "at the run's end" in target_line
            # Rolling latency percentiles reached the charts (the server answers its first token after 20 ms).
            ttft_p99 = replay.live.series["ttft_p99_ms"].arrays()[1]
            assert len(ttft_p99) and ttft_p99.min() >= 20.0
            assert len(replay.live.series["itl_p99_ms"]) > 0
            # The latest-requests table shows real requests: their index, outcome and token counts.
            table = replay.query_one("#latest")
            assert len(table.rows) > 0
            last = table.rows[-1]
            assert last[1] == "ok" and int(last[0]) < 60 and last[3] == str(_output_tokens_of(finished.run_dir, int(last[0])))
            await pilot.press("f3")
            names = [r.name for r in app.results_screen.query_one("#run-list").runs]
            assert finished.run_dir.name in names

    with TestServer(ServerConfig(ttft_s=0.02, token_delay_s=0.002)) as server:
        asyncio.run(run(server.url))


def test_a_stopped_run_on_the_simulator_says_so_on_every_line(studio_config):
    """Stop says it is stopping until the engine ends (progress keeps coming meanwhile), then every status line
    speaks of the run as it was at its end: the managed simulator stopped with it, the schedule as it was kept."""
    async def run():
        async with _on_the_replay_screen(studio_config) as (app, pilot, seen):
            replay = app.replay_screen
            await app.run_action("start_replay")
            await _until(pilot, lambda: "healthy" in str(replay.query_one("#target-state").render())
                         and replay.live.progress, timeout_s=60)
            await app.run_action("stop_replay")
            states = []
            while not any(isinstance(m, RunFinished) for m in seen):
                states.append(str(replay.query_one("#run-state").render()))
                await pilot.pause(0.02)
            assert states and all("stopping" in s for s in states), states
            await pilot.pause()
            assert str(replay.query_one("#run-state").render()).startswith("stopped: ")
            target = str(replay.query_one("#target-state").render())
            assert "sim stopped with the run" in target and "healthy" not in target
            # Stop leaves requests due and not sent on purpose: the line keeps the schedule as it was when Stop came.
            assert str(replay.query_one("#overload-state").render()).startswith("at the end: kept its schedule")

    asyncio.run(run())


def test_a_failed_url_line_goes_when_the_url_is_edited(studio_config):
    async def run():
        studio_config.target_kind = "url"
        studio_config.target_url = "http://127.0.0.1:9"
        async with _on_the_replay_screen(studio_config) as (app, pilot, seen):
            replay = app.replay_screen
            await app.run_action("start_replay")
            await _until(pilot, lambda: any(isinstance(m, RunFinished) for m in seen), timeout_s=60)
            await pilot.pause()
            assert "url failed" in str(replay.query_one("#target-state").render())
            replay.query_one("#target-url").value = "http://127.0.0.1:8000"
            await pilot.pause()
            line = str(replay.query_one("#target-state").render())
            assert "failed" not in line and line.startswith("url")

    asyncio.run(run())


def _output_tokens_of(run_dir: Path, i: int) -> int:
    """The completion tokens the run's journal recorded for request `i`."""
    import pyarrow.parquet as pq

    table = pq.read_table(run_dir / "requests.parquet").to_pandas()
    row = table[table["i"] == i].iloc[0]
    for col in ("usage_completion_tokens", "completion_tokens", "chunk_tokens"):
        if col in table.columns and row[col] == row[col]:
            return int(row[col])
    raise AssertionError(f"no token count column in {list(table.columns)}")


FAKE_ENGINE = """\
import json, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(sys.argv[2:]) + "\\n")
print(json.dumps({"event": "run_finished", "t": 0.0, "exit_code": 0, "summary": {}, "reason": "done"}), flush=True)
"""


def test_the_duration_field_reaches_the_engine_and_a_bad_value_shows_beside_it(studio_config, tmp_path):
    """The engine's command line carries the Replay screen's duration (60 s untouched, 0 when blank: the whole
    workload); a value it cannot take shows its error under the field and starts nothing."""
    import json

    engine = tmp_path / "fake_engine.py"
    engine.write_text(FAKE_ENGINE)
    calls = tmp_path / "calls.jsonl"
    studio_config.engine_command = (sys.executable, str(engine), str(calls))

    def argvs() -> list[list[str]]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    def duration_of(argv: list[str]) -> str:
        return argv[argv.index("--duration") + 1]

    async def run():
        async with _on_the_replay_screen(studio_config) as (app, pilot, seen):
            replay = app.replay_screen
            field = replay.query_one("#duration")
            error = replay.query_one("#duration-error")
            assert field.value == "60" and not error.display

            async def start_and_wait(n: int) -> list[str]:
                await app.run_action("start_replay")
                # A message reaches the hook at each node it bubbles through: count each run once.
                await _until(pilot, lambda: len({id(m) for m in seen if isinstance(m, RunFinished)}) >= n)
                return argvs()[-1]

            argv = await start_and_wait(1)
            assert argv[:2] == ["replay", argv[1]] and argv[1].endswith(".toml")
            assert float(duration_of(argv)) == 60.0

            for text, expected in (("2.5", 2.5), ("", 0.0), ("0", 0.0)):
                field.value = text
                await pilot.pause()
                argv = await start_and_wait(len(argvs()) + 1)
                assert float(duration_of(argv)) == expected, text

            for text, message in (("-3", "must be >= 0"), ("soon", "must be a number")):
                field.value = text
                await pilot.pause()
                assert error.display and str(error.render()) == message
                assert field.has_class("-invalid")
                # The error is beside the field: on the line under it, its text under the field's text.
                assert error.region.y == field.region.y + 1
                assert error.content_region.x == field.content_region.x
                before = len(argvs())
                await app.run_action("start_replay")
                await pilot.pause(0.3)
                assert len(argvs()) == before
                assert "duration" in str(replay.query_one("#run-state").render())

            field.value = "1"
            await pilot.pause()
            assert not error.display and not field.has_class("-invalid")

    asyncio.run(run())
