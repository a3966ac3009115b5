"""The peers' flags on the commands that run a preset: each one a `--set` of the preset in other words, so it is
checked as a line of the preset would be and recorded in the run's resolved preset.

  --goodput ttft:200 tpot:50 itl:100 e2el:5000   objectives in milliseconds, as vLLM writes them
  --percentiles 50,90,95,99,99.9                 percentiles of every latency figure
  --slice 10s                                    time slices (slices.parquet)
  --model NAME, --endpoint completions|chat, --api-key-env NAME, --header K:V, --extra-body JSON
  --tokenizer DIR, --dataset FILE                real text of exact token counts, real content
  --request-rate R                               the workload's mean rate, its shape kept (replay.rate_scale)

Only argparse at import time.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

# --goodput's names (vLLM's, with ours) -> the replay setting, seconds.
GOODPUT_KEYS = {"ttft": "slo_ttft_s", "tpot": "slo_tpot_s", "itl": "slo_itl_s", "e2el": "slo_e2e_s",
                "e2e": "slo_e2e_s"}
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def add_replay_arguments(p: argparse.ArgumentParser, *, target: bool = True, rate: bool = True) -> None:
    p.add_argument("--goodput", metavar="NAME:MS", nargs="+", default=None,
                   help="goodput objectives per request in milliseconds: ttft, tpot, itl (every gap), e2el, e.g. "
                        "--goodput ttft:200 tpot:50 e2el:5000 (replay.slo_*_s)")
    p.add_argument("--percentiles", metavar="P,P,...", default=None,
                   help="percentiles of every latency figure, e.g. 50,90,95,99,99.9 (p50, p90, p99 always)")
    p.add_argument("--slice", metavar="DURATION", default=None,
                   help="write slices.parquet: rate, latency percentiles and failures per slice, e.g. 10s, 1m")
    if rate:
        p.add_argument("--request-rate", metavar="R", default=None,
                       help="send the workload at a mean of R requests/s, its burst shape kept (sets "
                            "replay.rate_scale)")
    p.add_argument("--endpoint", choices=("completions", "chat"), default=None, help="the API to call")
    p.add_argument("--tokenizer", metavar="DIR", default=None,
                   help="a Hugging Face tokenizer folder (or tokenizer.json): text prompts of exactly each row's "
                        "token count in it (replay.tokenizer)")
    p.add_argument("--dataset", metavar="FILE", default=None,
                   help="JSONL of prompts or ShareGPT-style conversations: real content fitted to each row's length "
                        "(replay.dataset; needs --tokenizer)")
    p.add_argument("--extra-body", metavar="JSON", default=None,
                   help='more fields of every request body, e.g. \'{"temperature": 0.7}\' (replay.extra_body)')
    if target:
        p.add_argument("--header", metavar="NAME:VALUE", action="append", default=[],
                       help="one more HTTP header on every request (repeatable; target.headers; put keys in "
                            "--api-key-env, not here: headers are stored in the run)")
        p.add_argument("--model", metavar="NAME", default=None,
                       help="the model name to request (target.model; default: the first /v1/models lists)")
        p.add_argument("--api-key-env", metavar="NAME", default=None,
                       help="environment variable holding the API key (target.api_key_env; never stored)")


def duration_s(text: str, flag: str) -> float:
    """`10s`, `500ms`, `1m`, `2h` or plain seconds."""
    from burststudio.errors import UserError

    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(ms|s|m|min|h)?\s*", text)
    try:
        value = float(m.group(1)) * _UNITS[m.group(2) or "s"] if m else None
    except ValueError:
        value = None
    if value is None:
        raise UserError(f"{flag} {text}: not a duration (e.g. 10s, 500ms, 1m)")
    return value


def set_items(args: argparse.Namespace) -> list[str]:
    """The `--set` items the flags stand for, in the flags' order."""
    from burststudio.errors import UserError

    items: list[str] = []
    for part in getattr(args, "goodput", None) or []:
        name, sep, value = part.partition(":")
        key = GOODPUT_KEYS.get(name.strip().lower())
        if not sep or key is None:
            raise UserError(f"--goodput {part}: expected NAME:MS with NAME one of ttft, tpot, itl, e2el")
        try:
            ms = float(value)
        except ValueError:
            raise UserError(f"--goodput {part}: {value!r} is not a number of milliseconds") from None
        items.append(f"replay.{key}={ms / 1e3!r}")
    if getattr(args, "percentiles", None):
        parts = [p.strip() for p in args.percentiles.split(",") if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise UserError(f"--percentiles {args.percentiles}: expected numbers, e.g. 50,90,95,99,99.9") from None
        if not values:
            raise UserError("--percentiles: give at least one percentile")
        items.append(f"replay.percentiles=[{', '.join(repr(v) for v in values)}]")
    if getattr(args, "slice", None):
        items.append(f"replay.slice_s={duration_s(args.slice, '--slice')!r}")
    for flag in ("tokenizer", "dataset"):
        value = getattr(args, flag, None)
        if value:
            from pathlib import Path

            items.append(f"replay.{flag}={_toml_string(str(Path(value).resolve()))}")
    if getattr(args, "endpoint", None):
        items.append(f'replay.endpoint="{args.endpoint}"')
    if getattr(args, "extra_body", None):
        import json

        try:
            extra = json.loads(args.extra_body)
        except ValueError:
            raise UserError(f"--extra-body {args.extra_body}: not JSON (e.g. '{{\"temperature\": 0.7}}')") from None
        if not isinstance(extra, dict):
            raise UserError(f"--extra-body {args.extra_body}: must be a JSON object")
        items += [f"replay.extra_body.{_toml_key(k)}={json.dumps(v)}" for k, v in extra.items()]
    for header in getattr(args, "header", None) or []:
        name, sep, value = header.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
            raise UserError(f"--header {header}: expected NAME:VALUE, e.g. X-Tenant:team-a")
        items.append(f"target.headers.{_toml_key(name.strip())}={_toml_string(value.strip())}")
    for flag, key in (("model", "target.model"), ("api_key_env", "target.api_key_env")):
        value = getattr(args, flag, None)
        if value is not None:
            items.append(f"{key}={_toml_string(value)}")
    return items


def _toml_key(name: str) -> str:
    return _toml_string(name)  # a quoted key holds any name


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a TOML basic string


def apply_replay_arguments(preset: Any, args: argparse.Namespace) -> Any:
    """The preset with the flags applied (as `--set` items after the command's own `--set`s), its request limit
    adopted (`apply_sets`)."""
    from burststudio.commands._number_args import check_number_flags
    from burststudio.commands._preset_args import apply_sets
    from burststudio.schema import Param

    check_number_flags(args, {"request_rate": Param("request_rate", "float", "Requests per second.", min=0,
                                                    min_open=True)})
    preset = apply_sets(preset, [*(getattr(args, "sets", None) or []), *set_items(args)])
    rate = getattr(args, "request_rate", None)
    if rate is not None:
        preset = with_request_rate(preset, rate, seed=getattr(args, "seed", None))
    return preset


def with_request_rate(preset: Any, rate: float, *, seed: int | None = None) -> Any:
    """The preset at a mean of `rate` requests/s: its workload's own mean rate (as built, before the replay's
    transforms) scaled by replay.rate_scale, so every arrival process and trace keeps its shape. `rate` is finite
    and above 0 (checked where the flag is read)."""
    from burststudio.errors import UserError
    from burststudio.presets import PresetError, with_sets
    from burststudio.workload.stats import rate_rps

    own = rate_rps(preset.build_workload(seed=seed).arrival_s)
    if not own:
        raise UserError("--request-rate: the workload has no mean rate to scale (fewer than two requests)")
    scale = rate / own
    try:
        return with_sets(preset, [*preset.sets, f"replay.rate_scale={scale!r}"])
    except PresetError as exc:  # the scale the rate asks for is out of the key's bounds: said as the flag's
        raise UserError(f"--request-rate: {rate:g} requests/s is {scale:.4g} times the workload's own rate "
                        f"({own:.4g}/s); {exc.key} {exc.reason}") from None
