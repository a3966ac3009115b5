"""Synthetic workloads from a generator spec (the `[workload]` table of a preset).

`synthesize(spec, seed=...)` gives the same Workload, byte for byte, for the same spec and seed. Each part draws
from its own random stream (spawned from the seed), so changing, say, the output distribution leaves the arrival
times as they were.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from burststudio.workload.model import Workload, WorkloadMeta
from burststudio.workload.synth import size
from burststudio.workload.synth.arrivals import sample_arrivals
from burststudio.workload.synth.lengths import sample_lengths, sample_pairs
from burststudio.workload.synth.sessions import SessionRows, build_sessions, prefix_blocks, sessions_needed
from burststudio.workload.synth.spec import (FAMILIES, REQUIRED, SESSIONS, WORKLOAD, Family, Param, SpecError,
                                             Table, format_path, registry, resolve, validate)

__all__ = [
    "FAMILIES", "REQUIRED", "SESSIONS", "WORKLOAD", "Family", "Param", "SpecError", "Table", "format_path",
    "registry", "resolve", "synthesize", "validate",
]

_STREAMS = ("arrivals", "prompt", "output", "turns", "think")
_SEED_MAX = 2**63 - 1


def _seed_of(spec_seed: Any, seed: int | None) -> int:
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= _SEED_MAX:
            raise SpecError(("seed",), f"the seed must be a whole number from 0 to {_SEED_MAX}, not {seed!r}")
        return int(seed)
    if spec_seed is not None:
        return int(spec_seed)
    # No seed anywhere: draw one and record it, so the workload can be made again.
    return int(np.random.SeedSequence().entropy % _SEED_MAX)


def synthesize(spec: dict[str, Any], *, seed: int | None = None, base_dir: Path | None = None) -> Workload:
    """The workload described by `spec`; `seed` overrides the spec's own; relative trace paths resolve against
    `base_dir` (the preset's folder). Raises SpecError (a UserError) naming the key path of a bad value."""
    r = resolve(spec)
    size.check(r, base_dir)  # before anything is drawn: one line naming the keys, not a minute of growth
    seed = _seed_of(r.get("seed"), seed)
    rngs = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_STREAMS)))))
    extra: dict[str, Any] = {}
    n, horizon = r.get("requests"), r.get("duration_s")
    paired = r["prompt"]["dist"] == "empirical" and r["prompt"].get("pair", False)

    def draw_lengths(k: int) -> tuple[np.ndarray, np.ndarray]:
        if paired:
            return sample_pairs(r["prompt"], rngs["prompt"], k, base_dir=base_dir)
        return (sample_lengths(r["prompt"], rngs["prompt"], k, role="prompt", base_dir=base_dir),
                sample_lengths(r["output"], rngs["output"], k, role="output", base_dir=base_dir))

    meta = WorkloadMeta(name=r["name"], origin_format="synth", generator=copy.deepcopy(spec), seed=seed, extra=extra)
    if "sessions" not in r:
        arrival = sample_arrivals(r["arrivals"], rngs["arrivals"], n=n, horizon=horizon, base_dir=base_dir,
                                  extra=extra)
        prompt, output = draw_lengths(len(arrival))
        return Workload.from_columns(arrival, prompt, output, meta)

    rows = _conversations(r, rngs, n, horizon, base_dir, extra, draw_lengths)
    extra["conversations"] = int(np.count_nonzero(np.bincount(rows.session))) if len(rows) else 0
    ids = pa.array(rows.session)
    session_id = pc.binary_join_element_wise(pa.scalar("c"), ids.cast(pa.string()), "")
    offsets, block_ids = prefix_blocks(rows, r["sessions"]["block_tokens"], r["sessions"]["shared_prefix_tokens"])
    meta.prefix_block_tokens = int(r["sessions"]["block_tokens"])
    blocks = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), pa.array(block_ids, type=pa.int64()))
    return Workload.from_columns(rows.arrival_s, rows.prompt_tokens, rows.output_tokens, meta,
                                 session_id=session_id, prefix_blocks=blocks)


def _conversations(r: dict[str, Any], rngs: dict[str, np.random.Generator], n: int | None, horizon: float | None,
                   base_dir: Path | None, extra: dict[str, Any], draw_lengths) -> SessionRows:
    s = r["sessions"]
    if horizon is not None:
        starts = sample_arrivals(r["arrivals"], rngs["arrivals"], horizon=horizon, base_dir=base_dir, extra=extra)
        rows = build_sessions(s, starts, rngs["turns"], rngs["think"], draw_lengths)
        return rows.mask(rows.arrival_s < horizon)
    count = sessions_needed(n, s["turns"])
    while True:
        starts = sample_arrivals(r["arrivals"], rngs["arrivals"], n=count, base_dir=base_dir, extra=extra)
        rows = build_sessions(s, starts, rngs["turns"], rngs["think"], draw_lengths)
        # The first n rows are final only if every conversation not made would start after the n-th row.
        if len(rows) >= n and rows.arrival_s[n - 1] <= starts[-1]:
            return rows.head(n)
        if len(rows) == 0:
            raise SpecError(("sessions", "max_context_tokens"),
                            f"no turn fits in {s['max_context_tokens']} tokens of context")
        count *= 2
