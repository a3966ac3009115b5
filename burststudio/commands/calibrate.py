"""`burststudio calibrate --target vllm|URL [--preset P] [--out PROFILE.json]`: measure a real server's prefill and
decode step times (burststudio/targets/sim/measure.py) and fit the simulator's cost model to them
(burststudio/targets/sim/calibrate.py). The profile it
writes is what `simulate --profile` and `[target.sim] profile` take.
"""

from __future__ import annotations

import argparse

from burststudio.commands._number_args import check_number_flags

HELP = "measure a real server's step times and write a cost profile for the simulator"


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help=HELP, description=HELP + ". Starts the managed vLLM (--target vllm, "
                              "engine settings from the preset's [target.vllm]) or attaches to a running server "
                              "(--target URL), sends single requests of several prompt lengths (prefill) and batches "
                              "of concurrent requests (decode), and fits the cost model by least squares.")
    p.add_argument("--target", metavar="vllm|URL", default=None,
                   help="vllm: start the managed vLLM; or the base URL of a running OpenAI-compatible server "
                   "(default: the preset's target, else vllm)")
    p.add_argument("--preset", metavar="P", default=None,
                   help="preset whose [target] settings to use (engine flags of the managed vLLM, model name)")
    p.add_argument("--out", "-o", metavar="PROFILE.json", default="calibrated.json",
                   help="cost profile to write (default: calibrated.json)")
    p.add_argument("--name", default=None, help="profile name (default: the file name without .json)")
    p.add_argument("--max-batch", default=None, metavar="N",
                   help="largest decode batch to measure (default: the engine's max_num_seqs; 8 for a URL)")
    p.add_argument("--quick", action="store_true", help="fewer measurements (about a third of the time)")
    p.add_argument("--seed", default=0, metavar="N", help="seed for the prompts' token ids")
    p.add_argument("--json", action="store_true", help="print the profile as JSON on stdout")
    p.set_defaults(func=run)


# Without a preset the managed server gets the kv-pressure engine flags but a cache of 8 MiB (128 blocks of the tiny
# model): room for max_num_seqs sequences of max_model_len tokens, so decode is measured without preemption.
DEFAULT_KV_BYTES = "8M"


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import os
    import sys
    from pathlib import Path

    from burststudio.errors import UserError
    from burststudio.settings import TargetSettings

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise UserError("the profile file must end in .json (that is how --profile tells it from a name)",
                        where=str(out))
    if out.is_dir():
        raise UserError("is a folder; give the profile's file name", where=str(out))
    if not out.parent.is_dir():
        raise UserError("no such folder for the profile", where=str(out.parent))
    check_number_flags(args, {"max_batch": ("target", "vllm", "max_num_seqs"), "seed": ("replay", "seed")})

    if args.preset:
        from burststudio.presets import load_preset

        target_settings = load_preset(args.preset).target
    else:
        target_settings = TargetSettings(kind="vllm")
        target_settings.vllm = dataclasses.replace(target_settings.vllm, kv_cache_memory_bytes=DEFAULT_KV_BYTES)
    from burststudio.targets import registry

    choice = args.target or target_settings.kind
    kind = registry.KINDS.get(choice)
    url = None
    if kind is None:  # a URL on the command line
        kind, url = registry.get(registry.ATTACH), choice
    if not kind.calibrate:
        raise UserError(f"the preset's target is {kind.summary}: calibrate a real server (--target vllm or a URL)")

    def say(msg: str) -> None:
        print(f"burststudio calibrate: {msg}", file=sys.stderr, flush=True)

    from burststudio.targets.sim import calibrate as cal
    from burststudio.targets.sim import measure

    target = kind.make(target_settings, url)
    # The engine flags the preset gives (or the defaults) are what a started server runs with, and the best guess
    # for one attached by URL.
    max_batch = args.max_batch or target_settings.vllm.max_num_seqs
    max_batched = target_settings.vllm.max_num_batched_tokens
    wait_s = kind.health_wait(target_settings)
    label = "" if kind.name == registry.ATTACH else f"{kind.name}: "

    import tempfile

    with tempfile.TemporaryDirectory(prefix="burststudio-calibrate-") as tmp, target:
        target.start(Path(tmp), progress=lambda stage: say(f"{label}{stage}"))
        target.wait_healthy(wait_s)
        info = target.describe()
        limits = measure.limits_from_info(info, max_batch=max_batch, max_batched_tokens=max_batched,
                                      vocab_size=target_settings.vocab_size)
        plan = measure.measurement_plan(limits, quick=args.quick)
        say(f"measuring {info.url} ({info.engine or 'unknown engine'}): {plan.requests} requests, prompts of "
            f"{min(plan.prefill_lengths)}-{max(plan.prefill_lengths)} tokens, decode batches of "
            f"{min(b for b, _, _ in plan.decode_runs)}-{max(b for b, _, _ in plan.decode_runs)}")
        load0 = os.getloadavg()
        measured = measure.measure(info.url, info.model, plan, limits, seed=args.seed)
        load1 = os.getloadavg()

    name = args.name or out.stem
    suggested = {"block_size": info.block_size, "num_blocks": info.kv_blocks, "max_num_seqs": max_batch,
                 "max_num_batched_tokens": max_batched, "max_model_len": info.max_model_len}
    suggested = {k: v for k, v in suggested.items() if v is not None}
    load = tuple(max(a, b) for a, b in zip(load0, load1))
    description = (f"Calibrated on {info.engine or 'a server'} serving {info.model}"
                   + (f" ({info.build} build)" if info.build else "") + ".")
    profile, report = cal.fit_profile(measured.observations, name=name, description=description,
                                      api_segments=measured.api_segments, wake=measured.wake,
                                      overheads=measured.overheads,
                                      suggested=suggested, sources=[])
    profile = dataclasses.replace(profile, sources=cal.profile_sources(limits, info.engine, measured, report, load))
    try:
        profile.save(out)
    except OSError as exc:
        raise UserError(f"cannot write the profile ({exc.strerror or exc})", where=str(out)) from None
    if args.json:
        print(json.dumps(profile.to_dict(), indent=2))
    else:
        lines = [f"wrote {out} ({measured.requests} requests in {measured.seconds:.1f} s)"]
        lines += ["  " + line for line in cal.fmt_profile(profile)]
        lines += ["  " + line for line in report.lines()]
        lines.append(f"  machine load average {load[0]:.2f} (of {os.cpu_count()} cores): "
                     + ("figures may be inflated by other work" if load[0] > (os.cpu_count() or 1) * 0.75
                        else "quiet enough"))
        lines.append(f"  use it: burststudio simulate PRESET --profile {out}")
        print("\n".join(lines))
    return 0
