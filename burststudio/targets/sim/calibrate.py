"""Calibration: fit the cost model (costmodel.CostProfile) to a real server's measured step times (measure.py
sends the requests and reads /metrics; this module is the pure fit).

Streamed `/v1/completions` requests with token-id prompts of fresh random ids (no prefix-cache hit), and, when the
server has them, vLLM's own step histograms read off `/metrics` before and after each measurement:

- prefill: one request at a time on an idle server, `max_tokens = 1`, prompts of several lengths. The client's time
  to first token is the API server's overhead plus one step prefilling the whole prompt
  (`request_overhead_s + base_s + prefill_seq_s + prefill_token_s * L + prefill_attn_s * L (L + 1) / 2`); the
  engine's `vllm:request_prefill_time_seconds` is that step alone, which separates the two.
- decode: B requests sent together; once all have their first token every step gives each one token, so a step is
  `base_s + decode_seq_s * B + context_token_s * (the B sequences' lengths summed)`. The mean step comes from
  `vllm:inter_token_latency_seconds`, which vLLM stamps in the engine core: on a busy machine the API server may
  deliver a stream in bursts, and the client's gaps between chunks then say little about the engine. Without that
  histogram the client's timings are used: the window where all B decode, cut into segments.

- the API server: vLLM's `/metrics` also carries `process_cpu_seconds_total` of the API server process. Read
  around three stretches (back-to-back scrapes alone; the prefill requests, one token each; the decode batches, many
  tokens each) it gives that process's CPU time per request (`api_request_s`), per streamed token (`api_token_s`)
  and per scrape (which is taken out), the costs of the single-threaded API stage (apiserver.py). The client's time
  to first token of a lone request includes both, so they are taken out of `request_overhead_s`. With the
  engine's own prefill times, that lone request's overhead is measured directly (the median of its time to first
  token less its prefill step); when the API server's CPU per request is more than that overhead, the rest is work
  it does after a request's last token (`api_after_s`).
- waking up: lone requests after the server sat idle for several lengths of time. A stack that was idle answers
  late (vLLM's processes and the CPU build's compute threads sleep or go cold without work); the median time to
  first token after each idle time, less that after the shortest, is the profile's wake-up cost (`wake_s`). These
  requests, sent with no scrape between them, are also the API server's cleanest stretch of one-token requests.

The fit is a non-negative linear least squares on relative residuals (scipy.optimize.least_squares with a soft-L1
loss, so a few steps slowed by other work on a shared machine do not drag the coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from burststudio import vllm_metrics as vm
from burststudio.errors import UserError
from burststudio.targets.sim.costmodel import CostProfile

TERMS = ("base_s", "prefill_token_s", "prefill_attn_s", "prefill_seq_s", "decode_seq_s", "context_token_s",
         "request_overhead_s")
API_TERMS = ("api_request_s", "api_token_s", "api_after_s", "api_scrape_s")


@dataclass(frozen=True)
class ServerLimits:
    """What the server allows: requests must fit max_model_len, a batch must fit the KV cache without preemption."""

    max_model_len: int
    max_batch: int
    max_batched_tokens: int
    block_size: int | None = None
    kv_blocks: int | None = None  # as the server reports them (one is vLLM's null block)
    vocab_size: int = 32000


@dataclass
class Measurements:
    observations: list[Observation] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    engine_timings: bool = False  # step times read off the server's histograms rather than the client's clock
    api_segments: list[CpuSegment] = field(default_factory=list)  # the API server's CPU time (process_cpu_seconds)
    wake: list[tuple[float, float]] = field(default_factory=list)  # (idle seconds before, time to first token)
    overheads: list[float] = field(default_factory=list)  # lone prefills: time to first token less the engine's step


class CalibrationError(UserError):
    """The server answered in a way calibration cannot use (an HTTP error, an error event, no tokens)."""


@dataclass(frozen=True)
class Observation:
    """One measured time and the work it covered, in the cost model's terms."""

    # "prefill": a client's time to first token; "prefill_step": the engine's own time for that prefill step;
    # "decode": one step of a decoding batch
    kind: str
    seconds: float
    prefill_tokens: int = 0
    prefill_attn: int = 0
    decode_seqs: int = 0
    context_tokens: float = 0.0
    overhead: int = 0  # 1 when the time includes the API server's per-request overhead

    def features(self) -> tuple[float, ...]:
        return (1.0, float(self.prefill_tokens), float(self.prefill_attn), float(self.prefill_tokens > 0),
                float(self.decode_seqs), float(self.context_tokens), float(self.overhead))


def predict(profile: CostProfile, obs: Observation) -> float:
    """What the profile says `obs` should have taken (a lone request's time to first token passes through the API
    server's part of the request on its path and one token)."""
    api_path = profile.api_request_s - profile.api_after_s + profile.api_token_s
    return sum(getattr(profile, t) * x for t, x in zip(TERMS, obs.features())) + api_path * obs.overhead


def prefill_observation(prompt_tokens: int, ttft_s: float) -> Observation:
    """A lone request's time to first token: overhead plus one step prefilling the whole prompt."""
    L = int(prompt_tokens)
    return Observation("prefill", float(ttft_s), prefill_tokens=L, prefill_attn=L * (L + 1) // 2, overhead=1)


def decode_observations(streams: Sequence[Sequence[tuple[float, int]]], prompt_tokens: int,
                        segments: int = 3) -> list[Observation]:
    """Decode steps of one batch: `streams` holds, per request, (time, tokens generated so far) at every chunk.

    Only the window where every request is decoding counts: from the last first token to the first last token."""
    streams = [list(s) for s in streams if s]
    if not streams:
        return []
    batch = len(streams)
    start = max(s[0][0] for s in streams)
    end = min(s[-1][0] for s in streams)
    if not end > start:
        return []
    out = []
    width = (end - start) / segments
    for j in range(segments):
        lo, hi = start + j * width, start + (j + 1) * width
        per_token, ctx = [], []
        for s in streams:
            pts = [(t, k) for t, k in s if lo - 1e-12 <= t <= hi + 1e-12]
            if len(pts) < 2:
                continue
            (ta, ka), (tb, kb) = pts[0], pts[-1]
            if kb - ka < 2:
                continue
            per_token.append((tb - ta) / (kb - ka))
            # The steps that made tokens ka+1 .. kb read prompt + ka .. prompt + kb - 1 tokens of KV each.
            ctx.append(prompt_tokens + (ka + kb - 1) / 2)
        if len(per_token) * 2 <= batch:
            continue  # most requests saw too few tokens here: a noisy segment
        out.append(Observation("decode", _median(per_token), decode_seqs=batch,
                               context_tokens=batch * _median(ctx)))
    return out


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# The fit ------------------------------------------------------------------------------------------------------------
@dataclass
class FitReport:
    """How well the fitted profile reproduces what was measured, per kind of observation."""

    observations: dict[str, int]
    rel_error_median: dict[str, float]  # median of |predicted - measured| / measured
    rel_error_p90: dict[str, float]

    def lines(self) -> list[str]:
        return [f"{k}: {n} observations, median error {self.rel_error_median[k] * 100:.1f}%, "
                f"p90 {self.rel_error_p90[k] * 100:.1f}%" for k, n in self.observations.items()]


@dataclass(frozen=True)
class CpuSegment:
    """The API server's CPU time over a stretch of calibration, and the work it did in it."""

    seconds: float
    requests: int
    tokens: int
    scrapes: int


def fit_api_costs(segments: Sequence[CpuSegment]) -> tuple[float, float, float] | None:
    """(api_request_s, api_token_s, seconds per scrape) from the API server's CPU time over several stretches
    (non-negative least squares); None without at least three stretches that differ in their mix of work."""
    import numpy as np
    from scipy.optimize import nnls

    if len(segments) < 3:
        return None
    A = np.array([[s.requests, s.tokens, s.scrapes] for s in segments], dtype=np.float64)
    y = np.array([max(0.0, s.seconds) for s in segments], dtype=np.float64)
    if np.linalg.matrix_rank(A) < 3:
        return None
    x, _ = nnls(A, y)
    return float(x[0]), float(x[1]), float(x[2])


def fit_wake(points: Sequence[tuple[float, float]]) -> list[list[float]]:
    """The wake-up cost per idle time from (idle seconds, time to first token) of lone requests: the median at each
    idle time less the median at the shortest (the baseline the other costs were measured at), never below 0."""
    by_gap: dict[float, list[float]] = {}
    for gap, ttft in points:
        by_gap.setdefault(float(gap), []).append(float(ttft))
    if len(by_gap) < 2:
        return []
    gaps = sorted(by_gap)
    base = _median(by_gap[gaps[0]])
    return [[g, max(0.0, _median(by_gap[g]) - base)] for g in gaps]


def fit_profile(observations: Sequence[Observation], *, name: str = "calibrated", description: str = "",
                sources: Sequence[str] = (), suggested: dict[str, Any] | None = None,
                f_scale: float = 0.1, api_segments: Sequence[CpuSegment] = (),
                wake: Sequence[tuple[float, float]] = (),
                overheads: Sequence[float] = ()) -> tuple[CostProfile, FitReport]:
    """Non-negative coefficients that make the cost model reproduce `observations` (relative least squares); with
    `api_segments` (the API server's CPU time) also the API stage's costs, with `wake` (idle time before a lone
    request, its time to first token) the wake-up cost. `overheads` (a lone request's time to first token less its
    engine step, measured) replace the fitted per-request overhead."""
    import numpy as np
    from scipy.optimize import least_squares, nnls

    kinds = {o.kind for o in observations}
    for needed in ("prefill", "decode"):  # prefill: times to first token, which alone carry the API overhead
        if needed not in kinds:
            raise CalibrationError(f"calibration needs {needed} measurements and has none")
    A = np.array([o.features() for o in observations], dtype=np.float64)
    y = np.array([o.seconds for o in observations], dtype=np.float64)
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise CalibrationError("calibration measured a non-positive or missing time")
    # Relative residuals: a 2 ms decode step weighs as much as a 20 ms prefill. Columns scaled to a max of 1 so that
    # coefficients of 1e-9 and 1e-3 are solved on one footing.
    W = A / y[:, None]
    scale = np.abs(W).max(axis=0)
    used = scale > 0
    if "prefill_step" not in kinds:
        # Without the engine's own prefill times, a prefill's set-up cost cannot be told from the API server's
        # overhead (both come once per request): it all goes to request_overhead_s.
        used[TERMS.index("prefill_seq_s")] = False
    Ws = np.zeros_like(W)
    Ws[:, used] = W[:, used] / scale[used]
    x0, _ = nnls(Ws[:, used], np.ones(len(y)))
    x0 = np.maximum(x0, 1e-12)

    def resid(x):
        return Ws[:, used] @ x - 1.0

    sol = least_squares(resid, x0, bounds=(0.0, np.inf), loss="soft_l1", f_scale=f_scale)
    coef = np.zeros(len(TERMS))
    coef[used] = sol.x / scale[used]
    # A term the solver pushed to the bound comes out as 1e-20-ish: call it zero.
    coef[coef < 1e-15] = 0.0
    values = {t: float(c) for t, c in zip(TERMS, coef)}
    if values["base_s"] <= 0:
        # Zero base cost would make an idle step free; a step always costs something. Nudge from what was measured.
        values["base_s"] = float(min(y) * 1e-3)
    if overheads:
        values["request_overhead_s"] = max(0.0, _median(overheads))
    api = fit_api_costs(api_segments) if api_segments else None
    if api is not None:
        values["api_request_s"], values["api_token_s"], values["api_scrape_s"] = api
        # A lone request's first token passed through the API stage once each way: that time is the stage's now.
        # CPU beyond it cannot lie on the first token's path: the thread spends it after the request's last token.
        path = values["request_overhead_s"]
        values["request_overhead_s"] = max(0.0, path - api[0] - api[1])
        values["api_after_s"] = min(api[0], max(0.0, api[0] + api[1] - path))
    profile = CostProfile(name=name, description=description, sources=list(sources), suggested=dict(suggested or {}),
                          wake_s=fit_wake(wake) if wake else [], **values)
    report = _report(profile, observations)
    return profile, report


def _report(profile: CostProfile, observations: Sequence[Observation]) -> FitReport:
    import numpy as np

    counts: dict[str, int] = {}
    med: dict[str, float] = {}
    p90: dict[str, float] = {}
    order = ("prefill", "prefill_step", "decode")
    for kind in sorted({o.kind for o in observations}, key=lambda k: order.index(k) if k in order else 9):
        errs = np.array([abs(predict(profile, o) - o.seconds) / o.seconds for o in observations if o.kind == kind])
        counts[kind] = len(errs)
        med[kind] = float(np.median(errs))
        p90[kind] = float(np.percentile(errs, 90))
    return FitReport(counts, med, p90)


def profile_sources(limits: "ServerLimits", engine: str | None, measurements: "Measurements", report: FitReport,
                    load: tuple[float, float, float] | None) -> list[str]:
    lines = [f"calibrated with `burststudio calibrate` on {engine or 'an OpenAI-compatible server'}: "
             f"{measurements.requests} requests in {measurements.seconds:.1f} s; step times from "
             + (f"the server's engine-timed histograms ({vm.REQUEST_PREFILL_TIME}, "
                f"{vm.INTER_TOKEN_LATENCY}), times to first token from the client"
                if measurements.engine_timings else "the client's token timings (the server has no step histograms)")]
    if load is not None:
        lines.append(f"machine load average at calibration: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
                     f"({_cores()} cores)")
    lines += ["fit: " + line for line in report.lines()]
    api = fit_api_costs(measurements.api_segments) if measurements.api_segments else None
    if api is not None:
        lines.append("API server: CPU time from its process_cpu_seconds_total over "
                     + "; ".join(f"{s.requests} requests, {s.tokens} tokens, {s.scrapes} scrapes: {s.seconds:.2f} s"
                                 for s in measurements.api_segments)
                     + f"; {api[2] * 1e3:.2f} ms per scrape taken out")
    else:
        lines.append("API server: no CPU time on /metrics (process_cpu_seconds_total); its stage is not modelled")
    wake = fit_wake(measurements.wake) if measurements.wake else []
    if wake:
        reps = len(measurements.wake) // len(wake)
        lines.append(f"wake-up: {len(measurements.wake)} lone requests of one token ({reps} after each idle time); "
                     "median time to first token less that after the shortest: "
                     + ", ".join(f"{g * 1e3:.0f} ms idle +{x * 1e3:.2f} ms" for g, x in wake))
    return lines


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def fmt_profile(profile: CostProfile) -> list[str]:
    return [f"{t} = {getattr(profile, t):.3g}" for t in TERMS + API_TERMS]

