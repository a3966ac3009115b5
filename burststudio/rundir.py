"""A run directory as a whole: its name, the checks before a run writes into it, its run.json and its summary.

The replay engine, `simulate`, `report` and the studio go through here, so a replayed run and a simulated one are
described, finished and summarised alike. The file names (the layout in replay/recorder.py's module doc) are
defined in the recorder, which writes the files as the run happens, and read from here by everyone else.

Headless: the standard library at import; numpy (the summary) and pyarrow (the tables) only when a summary is built.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any

from burststudio import figures, json_text
from burststudio.errors import InputFileError, UserError
from burststudio.schema import int_text
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
        info = json_text.loads(info_path.read_bytes())
    except json_text.BadJSON as exc:
        raise InputFileError(str(info_path), f"not a run description: {exc.message}", line=exc.line) from None
    except OSError as exc:
        raise InputFileError(str(info_path), f"cannot be read ({exc.strerror or exc})") from None
    if not isinstance(info, dict):
        raise InputFileError(str(info_path), "not a run description (a JSON object)")
    for key, kind, words in (("settings", dict, "an object"), ("plan", dict, "an object"),
                             ("name", str, "a string"), ("complete", bool, "true or false")):
        if info.get(key) is not None and not isinstance(info[key], kind):
            raise InputFileError(str(info_path), f"{key!r} must be {words}, got {_kind(info[key])}")
    planned = (info.get("plan") or {}).get("planned")
    if planned is not None and not _count(planned):
        raise InputFileError(str(info_path), f"plan.planned must be a whole number >= 0, got {_kind(planned)}")
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
    """summary.json as written, or None when it is missing, cut short or unreadable (then it is rebuilt from the
    journal). A summary of the wrong shape (not an object, a count that is not a whole number, a figure that is not
    a finite number, NaN) is an InputFileError naming the file and key: it was not cut short by a crash, so
    rebuilding it silently would hide what wrote it."""
    path = Path(run_dir) / SUMMARY
    try:
        summary = json_text.loads(path.read_bytes())
    except OSError:
        return None
    except json_text.BadJSON as exc:
        if exc.message.startswith("not valid JSON"):
            return None  # cut short
        raise InputFileError(str(path), f"not a run summary: {exc.message}{_REBUILD}", line=exc.line) from None
    check_summary(str(path), summary)
    return summary


_REBUILD = "; `burststudio report --rebuild RUN_DIR` makes it again from the journal"
# Counts every summary holds, and the parts that are tables of the burst view.
_COUNTS = ("sent", "finished", "failed", "cancelled")


def check_summary(where: str, summary: Any) -> None:
    """The shape `report`, `compare` and the studio read: the counts, and every figure of burststudio.figures a
    finite number (or absent) inside objects."""
    def bad(key: str, what: str, value: Any) -> InputFileError:
        return InputFileError(where, f"{key} must be {what}, got {_kind(value)}{_REBUILD}")

    if not isinstance(summary, dict):
        raise InputFileError(where, f"not a run summary (a JSON object), got {_kind(summary)}{_REBUILD}")
    for key in _COUNTS:
        if not _count(summary.get(key)):
            raise bad(key, "a whole number >= 0", summary.get(key))
    burst = summary.get("burst")
    groups = [g for g in ("busy", "calm") if isinstance(burst, dict) and burst.get(g) is not None]
    paths = [f.path for f in figures.FIGURES] + [("burst", g) + f.path for g in groups for f in figures.BURST_FIGURES]
    paths += [(key, stat) for key in figures.LATENCIES for stat in (*figures.STATS, "count")]
    paths += [("throughput", "duration_s"), ("goodput", "met"), ("goodput", "of"), ("burst", "window_s"),
              ("burst", "top_share")] + [("burst", g, k) for g in groups for k in ("windows", "requests")]
    for path in paths:
        node: Any = summary
        for n, key in enumerate(path):
            if node is None or key not in node:
                break
            node = node[key]
            name = ".".join(path[:n + 1])
            if n < len(path) - 1:
                if node is not None and not isinstance(node, dict):
                    raise bad(name, "an object", node)
            elif node is not None and (isinstance(node, bool) or not isinstance(node, (int, float))):
                raise bad(name, "a number", node)
    for key, kind, words in (("failures_by_class", dict, "an object"), ("limits_broken", list, "an array"),
                             ("name", str, "a string"), ("run_dir", str, "a string"), ("complete", bool,
                                                                                     "true or false")):
        if summary.get(key) is not None and not isinstance(summary[key], kind):
            raise bad(key, words, summary[key])
    for cls, n in (summary.get("failures_by_class") or {}).items():
        if not _count(n):
            raise bad(f"failures_by_class.{cls}", "a whole number >= 0", n)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int_text(value)
    if isinstance(value, float):
        return f"{value:g}"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
