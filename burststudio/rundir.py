"""A run directory as a whole: its name, the checks before a run writes into it, its run.json and its summary.

The replay engine, `simulate`, `report` and the studio go through here, so a replayed run and a simulated one are
described, finished and summarised alike. The file names (the layout in replay/recorder.py's module doc) are
defined in the recorder, which writes the files as the run happens, and read from here by everyone else.

Headless: the standard library at import; numpy (the summary) and pyarrow (the tables) only when a summary is built.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from pathlib import Path
from typing import Any

from burststudio.errors import InputFileError, UserError
from burststudio.replay import recorder
from burststudio.replay.recorder import (EVENTS, JOURNAL, METRICS, METRICS_PARQUET, PRESET,  # noqa: F401
                                         REQUESTS_PARQUET, RUN_INFO, SUMMARY, write_json_atomic)
from burststudio.vocab import REASON_DONE

RUN_INFO_FORMAT = 1
DEFAULT_ROOT = "runs"


# --- naming and checks ---------------------------------------------------------------------------------------------
def default_run_dir(name: str, root: Path | str = DEFAULT_ROOT, kind: str | None = None) -> Path:
    """runs/<YYYYmmdd-HHMMSS>-<name>-<kind>, with -2, -3, ... when that exists already. `kind` (the target's kind:
    sim, url, vllm) tells apart two runs of one preset against different targets."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if kind and not name.endswith(f"-{kind}"):
        name = f"{name}-{kind}" if name else kind
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "run"
    path = Path(root) / f"{stamp}-{safe}"
    k = 1
    while path.exists():
        k += 1
        path = Path(root) / f"{stamp}-{safe}-{k}"
    return path


def refuse_existing_run(run_dir: Path) -> None:
    """A replay never appends to another run's journal."""
    if (Path(run_dir) / JOURNAL).exists():
        raise UserError(f"{run_dir} already holds a run; choose another --out")


def check_writable(run_dir: Path) -> None:
    """Make the run directory and prove it takes a file, before anything starts (exit 2, one line, if not)."""
    probe = run_dir / ".write-test"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"x")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}") from None


def make_empty(run_dir: Path) -> None:
    """Create `run_dir`, which must not exist or be an empty folder (a simulation writes everything at once)."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UserError("exists and is not an empty folder; choose another --out", where=str(run_dir))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run directory ({exc.strerror or exc})", where=str(run_dir)) from None


# --- run.json ----------------------------------------------------------------------------------------------------------
def _now() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


def _stamp(t: _dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def summary_settings(replay) -> dict[str, Any]:
    """The replay settings the summary needs (objectives, burst view, the concurrency cap, limits), as run.json
    keeps them."""
    return {"slo_ttft_s": replay.slo_ttft_s, "slo_tpot_s": replay.slo_tpot_s, "slo_itl_s": replay.slo_itl_s,
            "slo_e2e_s": replay.slo_e2e_s, "percentiles": list(replay.percentiles), "slice_s": replay.slice_s,
            "burst_window_s": replay.burst_window_s, "burst_rate_factor": replay.burst_rate_factor,
            "max_concurrency": replay.max_concurrency, "short_answers": replay.short_answers,
            "limits": dataclasses.asdict(replay.limits)}


def run_info(*, name: str, target: dict[str, Any], plan, replay, mode: str | None = None,
             started: _dt.datetime | None = None, **extra: Any) -> dict[str, Any]:
    """What a run is, written before its first request: `plan` a replay.plan.Plan, `replay` its ReplaySettings;
    `extra` keys follow (the replay's pid, the simulator's settings)."""
    return {
        "format": RUN_INFO_FORMAT,
        "name": name,
        "started_at": _stamp(started or _now()),
        "complete": False,
        "target": target,
        "plan": plan.stats.to_dict(),
        "mode": mode or replay.mode,
        "endpoint": plan.endpoint,
        "settings": summary_settings(replay),
        "replay": dataclasses.asdict(replay),
        **extra,
    }


def finish_run_info(info: dict[str, Any], reason: str = REASON_DONE) -> dict[str, Any]:
    info.update(complete=True, reason=reason, ended_at=_stamp(_now()))
    return info


def read_run_info(run_dir: Path) -> dict[str, Any]:
    info_path = Path(run_dir) / RUN_INFO
    if not info_path.exists():
        raise InputFileError(str(run_dir), "not a run directory (no run.json)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except ValueError:
        raise InputFileError(str(info_path), "not valid JSON") from None
    except OSError as exc:
        raise InputFileError(str(info_path), f"cannot be read ({exc.strerror or exc})") from None
    if not isinstance(info, dict):
        raise InputFileError(str(info_path), "not a run description (a JSON object)")
    return info


# --- the summary -------------------------------------------------------------------------------------------------------
def build_summary(run_dir: Path, *, write: bool = False) -> dict[str, Any]:
    """The summary of a run directory from its journal and samples (finished or not); with `write`, also the
    Parquet tables and summary.json."""
    from burststudio.replay.summary import summarize, warmup_view

    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    records, sent = recorder.read_journal(run_dir)
    samples = list(recorder.read_jsonl(run_dir / METRICS))
    summary = summarize(records, samples, sent=len(sent), settings=info.get("settings"), plan=info.get("plan"),
                        run_dir=str(run_dir), complete=bool(info.get("complete")))
    summary = {"name": info.get("name"), "started_at": info.get("started_at"), **summary,
               "target": info.get("target"), "cache_config": info.get("cache_config"),
               "warmup": warmup_view(recorder.read_warmup(run_dir), (info.get("warmup") or {}).get("requests", 0)),
               "liveness": info.get("liveness")}
    if info.get("complete") and info.get("reason"):
        summary["reason"] = info["reason"]  # how it ended; a run killed before it could say has none
    planned = (info.get("plan") or {}).get("planned")
    if planned is not None:
        summary["not_sent"] = max(0, int(planned) - summary["sent"])  # the run ended before their time
    from burststudio.replay import timeline

    slice_s = float((info.get("settings") or {}).get("slice_s") or 0)
    if slice_s > 0:
        summary["slices"] = {"width_s": slice_s, "file": timeline.SLICES}
    if write:
        recorder.write_tables(run_dir, records, samples)
        if slice_s > 0:
            import pyarrow.parquet as pq

            table = timeline.slice_table(records, samples, slice_s)
            summary["slices"]["count"] = table.num_rows
            pq.write_table(table, str(run_dir / timeline.SLICES), compression="zstd")
        write_summary(run_dir, summary)
    return summary


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    write_json_atomic(Path(run_dir) / SUMMARY, summary)


def is_being_written(run_dir: Path) -> bool:
    """Whether the replay that writes this run still runs: run.json says it is not complete and its pid is a live
    BurstStudio process (a pid reused by another program does not count)."""
    try:
        info = read_run_info(run_dir)
    except InputFileError:
        return False
    pid = info.get("pid")
    if info.get("complete") or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            zombie = f.read().rsplit(b")", 1)[-1].split()[:1] == [b"Z"]
    except OSError:
        return False
    return b"burststudio" in cmdline and not zombie


def summary_is_current(run_dir: Path) -> bool:
    """Whether summary.json was written after the last journal and metrics line: a summary older than its journal
    (written by `report` during the run, which then went on, or was killed) describes fewer requests than it has."""
    run_dir = Path(run_dir)
    try:
        written = (run_dir / SUMMARY).stat().st_mtime_ns
    except OSError:
        return False
    for name in (JOURNAL, METRICS):
        try:
            if (run_dir / name).stat().st_mtime_ns > written:
                return False
        except OSError:
            continue
    return True


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json as written, or None when it is missing, cut short or unreadable."""
    try:
        summary = json.loads((Path(run_dir) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None
