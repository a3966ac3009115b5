"""Trace files a generator draws on (empirical lengths, real arrivals, hourly profiles, fitted windows)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from burststudio.errors import InputFileError, UserError
from burststudio.workload.model import Workload
from burststudio.workload.synth.spec import KeyPath, SpecError


def resolve_path(value: str, base_dir: Path | None) -> Path:
    p = Path(value).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def load_trace(value: str, fmt: str | None, base_dir: Path | None, path: KeyPath) -> Workload:
    """The workload of the trace named at key `path`; a missing file is a SpecError at that key."""
    p = resolve_path(value, base_dir)
    if not p.is_file():
        raise SpecError(path, f"no such trace file: {p}")
    st = p.stat()
    try:
        # Several keys often name the same trace (prompt, output, profile): read it once per content version.
        return _load(str(p.resolve()), st.st_mtime_ns, st.st_size, fmt)
    except InputFileError:
        raise  # names the file and its line: more use than the key
    except UserError as exc:  # e.g. an unknown format name
        raise SpecError((*path[:-1], "format"), str(exc)) from None


@lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int, fmt: str | None) -> Workload:
    from burststudio.workload.formats import load

    w = load(path, format=fmt)
    if len(w) == 0:
        raise InputFileError(path, "the trace has no requests")
    return w
