"""The report as CSV for spreadsheets: requests.csv (every request, one row each, the journal's fields; a `run`
column names the run) and summary.csv (one row per summary value, keyed by its dotted path, one column per run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REQUESTS_CSV = "requests.csv"
SUMMARY_CSV = "summary.csv"


def flatten(summary: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to the summary's leaf values; a list of plain values becomes one `;`-joined cell, a list of
    objects one path per element."""
    out: dict[str, Any] = {}
    if isinstance(summary, dict):
        for k, v in summary.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(summary, list) and any(isinstance(x, (dict, list)) for x in summary):
        for k, v in enumerate(summary):
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(summary, list):
        out[prefix[:-1]] = ";".join(str(x) for x in summary)
    else:
        out[prefix[:-1]] = summary
    return out


def requests_table(run_dir: Path, name: str):
    """A run's per-request table as arrow, chunk times as one space-separated text cell (CSV has no lists)."""
    import pyarrow as pa

    from burststudio.replay import recorder

    records, _sent = recorder.read_journal(Path(run_dir))
    table = recorder.records_table(records)
    chunks = table.column("chunks_us").to_pylist()
    text = pa.array([None if c is None else " ".join(map(str, c)) for c in chunks], type=pa.string())
    table = table.set_column(table.schema.get_field_index("chunks_us"), "chunks_us", text)
    return table.add_column(0, "run", pa.array([name] * table.num_rows, type=pa.string()))


def write_all(out_dir: Path, runs: list[str], summaries: list[dict[str, Any]]) -> list[Path]:
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [str(s.get("name") or Path(r).name) for r, s in zip(runs, summaries)]
    if len(set(names)) < len(names):
        names = [f"{k}:{n}" for k, n in enumerate(names)]
    tables = [requests_table(Path(r), n) for r, n in zip(runs, names)]
    req_path = out_dir / REQUESTS_CSV
    pacsv.write_csv(pa.concat_tables(tables), req_path)
    flat = [flatten(s) for s in summaries]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    sum_path = out_dir / SUMMARY_CSV
    with open(sum_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["figure", *names])
        for k in keys:
            w.writerow([k, *("" if f.get(k) is None else f.get(k) for f in flat)])
    return [req_path, sum_path]
