"""The run directory: written as the run happens, so a killed run keeps every request that ended.

Layout (docs/replay.md):
  preset.toml        the resolved preset (no secrets: the API key is read from the environment)
  run.json           what the run is: plan counts, target, settings, start time; written before the first request
  journal.jsonl      one line per request as it ends (`"kind": "end"`), and a short `"kind": "sent"` line as each
                     leaves; appended and flushed, never rewritten. The warm-up's requests, sent before the run's
                     clock started, are `"kind": "warmup"` lines (the end record's fields, times in seconds from the
                     warm-up's start): no reader of the run's requests sees them
  metrics.jsonl      one line per /metrics sample
  events.jsonl       the live events, as `--events` prints them
  requests.parquet   every request, one row each (at the end, or by `burststudio report`)
  metrics.parquet    the samples as a table
  summary.json       the summary (at the end, or by `burststudio report`)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from burststudio import json_text

JOURNAL = "journal.jsonl"
METRICS = "metrics.jsonl"
EVENTS = "events.jsonl"
RUN_INFO = "run.json"
PRESET = "preset.toml"
SUMMARY = "summary.json"
REQUESTS_PARQUET = "requests.parquet"
METRICS_PARQUET = "metrics.parquet"
WARMUP = "warmup"  # the journal line kind of a warm-up request


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)


class JsonlWriter:
    """Append-only JSON lines; flushed on demand so a crash loses at most what came after the last flush.

    Lines are kept in memory until `flush` writes them with one `os.write`. When a write fails (disk full, file size
    limit, a file system gone read-only) the file is cut back to its last whole line and the writer refuses any
    further line: what was written before the failure stays readable, and no half line is followed by more.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        self._pending: list[bytes] = []
        self.lines = 0
        self.error: OSError | None = None

    def write(self, obj: dict[str, Any], flush: bool = False) -> None:
        if self.error is not None:
            return
        self._pending.append((_dumps(obj) + "\n").encode("utf-8"))
        self.lines += 1
        if flush:
            self.flush()

    def flush(self) -> None:
        if not self._pending or self._fd is None or self.error is not None:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.error = exc
            try:
                os.ftruncate(self._fd, self._size)  # drop the part of a line that made it
            except OSError:
                pass
            raise
        self._size += len(data)

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = None


class Recorder:
    """Owns the run directory while the run lasts.

    A write that fails does not raise into the run: the first failure is kept in `error`, `on_error` is told once
    (the engine then ends the run), and later writes are dropped.
    """

    def __init__(self, run_dir: Path, on_error: Callable[[OSError], None] | None = None):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.on_error = on_error
        self.error: OSError | None = None
        self.journal = JsonlWriter(self.dir / JOURNAL)
        self.metrics = JsonlWriter(self.dir / METRICS)
        self.events = JsonlWriter(self.dir / EVENTS)

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)

    def write_preset(self, text: str) -> None:
        (self.dir / PRESET).write_text(text, encoding="utf-8")

    def write_run_info(self, info: dict[str, Any]) -> None:
        write_json_atomic(self.dir / RUN_INFO, info)

    def sent(self, i: int, t_s: float) -> None:
        """Written through before the request's bytes leave (the client calls this first): after a SIGKILL, every
        request the server may have received is in the journal, and `report` counts it as lost in flight."""
        try:
            self.journal.write({"kind": "sent", "i": i, "t": round(t_s, 6)}, flush=True)
        except OSError as exc:
            self._failed(exc)

    def warmup(self, record: dict[str, Any]) -> None:
        """A warm-up request's end record, kept apart from the run's (`read_warmup`)."""
        record["kind"] = WARMUP
        try:
            self.journal.write(record, flush=True)
        except OSError as exc:
            self._failed(exc)

    def ended(self, record: dict[str, Any]) -> None:
        record["kind"] = "end"
        try:
            self.journal.write(record, flush=True)
        except OSError as exc:
            self._failed(exc)

    def sample(self, sample: dict[str, Any]) -> None:
        try:
            self.metrics.write(sample, flush=True)
        except OSError as exc:
            self._failed(exc)

    def event(self, event: dict[str, Any]) -> None:
        try:
            self.events.write(event, flush=True)
        except OSError as exc:
            self._failed(exc)

    def flush(self) -> None:
        for w in (self.journal, self.metrics, self.events):
            try:
                w.flush()
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        for w in (self.journal, self.metrics, self.events):
            try:
                w.close()
            except OSError as exc:
                self._failed(exc)


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSON-lines file; a last line cut short by a killed writer is left out, any other bad line
    is an error naming the file and line."""
    from burststudio.errors import InputFileError

    if not path.exists():
        return
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    lines = data.split(b"\n")
    last = max((n for n, raw in enumerate(lines) if raw.strip()), default=-1)
    for n, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            obj = json_text.loads(raw, finite=False)
        except json_text.BadJSON:
            if n == last:
                return  # the writer died mid-line
            raise InputFileError(str(path), "not a JSON line", line=n + 1) from None
        if isinstance(obj, dict):
            yield obj


def read_journal(run_dir: Path) -> tuple[list[dict[str, Any]], set[int]]:
    """(ended request records, indices of requests that were sent) from a run's journal."""
    from burststudio.errors import InputFileError

    ended: dict[int, dict[str, Any]] = {}
    sent: set[int] = set()
    path = Path(run_dir) / JOURNAL
    for obj in read_jsonl(path):
        kind = obj.get("kind")
        if kind not in ("sent", "end"):
            continue
        i = obj.get("i")
        if not isinstance(i, int) or isinstance(i, bool):
            raise InputFileError(str(path), f"a {kind} line without a request index ({str(obj)[:60]})")
        sent.add(i)
        if kind == "end":
            ended[i] = obj
    return list(ended.values()), sent


def read_warmup(run_dir: Path) -> list[dict[str, Any]]:
    """The warm-up's request records from a run's journal (none for a run without a warm-up). They are written
    before the run's first line, so the reading stops at the first other line."""
    out: list[dict[str, Any]] = []
    try:
        with open(Path(run_dir) / JOURNAL, "rb") as f:
            for raw in f:
                if b'"kind":"' + WARMUP.encode() + b'"' not in raw:
                    break
                try:
                    obj = json_text.loads(raw, finite=False)
                except json_text.BadJSON:
                    break  # a line cut short: read_journal names any bad line
                out.append(obj)
    except OSError:
        pass  # read_journal reports what cannot be read
    return out


def records_table(records: list[dict[str, Any]]):
    """The per-request records as an arrow table of the journal's fields (chunk times as a list column)."""
    import pyarrow as pa

    from burststudio.journal import arrow_schema

    schema = arrow_schema()
    records = sorted(records, key=lambda r: r.get("i", 0))
    return pa.table({f.name: pa.array([r.get(f.name) for r in records], type=f.type) for f in schema},
                    schema=schema)


def samples_table(samples: list[dict[str, Any]]):
    import pyarrow as pa

    keys: list[str] = []
    for s in samples:
        for k, v in s.items():
            if k not in keys and not isinstance(v, (dict, list)):
                keys.append(k)
    return pa.table({k: pa.array([s.get(k) for s in samples]) for k in keys}) if keys else pa.table({})


def write_tables(run_dir: Path, records: list[dict[str, Any]], samples: list[dict[str, Any]]) -> None:
    import pyarrow.parquet as pq

    pq.write_table(records_table(records), str(Path(run_dir) / REQUESTS_PARQUET), compression="zstd")
    pq.write_table(samples_table(samples), str(Path(run_dir) / METRICS_PARQUET), compression="zstd")
