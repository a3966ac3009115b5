"""A replay against a managed server, as `burststudio replay` runs one with `target.kind = "vllm"`, where the server
is the fault server instead of vLLM (same supervision: own process group, reaper, signal handling).

    python -m tests.support.managed_replay TRACE OUT [--grace S] [--stubborn-child] [--token-delay S]

Prints `pgid N` once the server runs, exits with the replay's exit code and its one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from burststudio.settings import TargetSettings, VllmSettings  # noqa: E402
from burststudio.targets.vllm import VllmTarget  # noqa: E402


class FaultServerTarget(VllmTarget):
    def __init__(self, grace_s: float, server_args: list[str]):
        super().__init__(VllmSettings(), grace_s=grace_s)
        self.server_args = server_args

    def command_line(self) -> list[str]:
        return [self.python, "-m", "tests.support.faults", "--port", str(self.port), *self.server_args]

    def _check_installed(self) -> None:
        pass

    def _environment(self) -> dict[str, str]:
        env = super()._environment()
        env["PYTHONPATH"] = str(ROOT)
        return env

    def start(self, run_dir=None, progress=None) -> None:
        super().start(run_dir, progress)
        print(f"pgid {self.pgid}", flush=True)


def main() -> int:
    from burststudio.errors import UserError
    from burststudio.replay.runner import run_replay
    from burststudio.workload.formats import load
    from tests.support.replay import quick_settings

    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("out")
    p.add_argument("--grace", type=float, default=5.0)
    p.add_argument("--stubborn-child", action="store_true")
    p.add_argument("--token-delay", type=float, default=0.05)
    a = p.parse_args()
    args = ["--config", json.dumps({"ttft_s": 0.05, "token_delay_s": a.token_delay})]
    if a.stubborn_child:
        args.append("--stubborn-child")
    target = FaultServerTarget(a.grace, args)
    settings = quick_settings()
    settings.timeouts.first_token_s = 5.0
    settings.timeouts.idle_s = 5.0
    try:
        result = run_replay(load(a.trace), TargetSettings(kind="vllm"), settings, name="managed", run_dir=Path(a.out),
                            target=target)
    except UserError as exc:
        print(f"burststudio replay: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("burststudio replay: interrupted", file=sys.stderr)
        return 130
    if result.message:
        print(f"burststudio replay: {result.message}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
