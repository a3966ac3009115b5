"""A target kind that lives outside the package: the test server on a thread, started and stopped as a target.
Registered from a test (tests/unit/test_target_registry.py) to show that a kind is one module plus one line."""

from __future__ import annotations

from pathlib import Path

from burststudio.settings import TargetSettings
from burststudio.targets.base import Progress, Target, TargetError, TargetInfo
from burststudio.targets.registry import TargetKind
from tests.testserver import ServerConfig, TestServer

KIND = TargetKind("echo", "tests.support.echo_target:EchoTarget", "the test server", "echo (test server)",
                  "echo: the test server starts with the run", ("Target: echo", "Replay against the test server"),
                  health_wait_s=5.0)


class EchoTarget(Target):
    kind = "echo"
    last: "EchoTarget | None" = None  # the latest one made, for the test to look at

    def __init__(self, settings: TargetSettings):
        EchoTarget.last = self
        self.settings = settings
        self.server = TestServer(ServerConfig(ttft_s=0.002, token_delay_s=0.001, vocab_size=settings.vocab_size))
        self.started = False
        self.waited_s: float | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        self.server.start()
        self.started = True
        if progress:
            progress(f"echo server on {self.url}")

    def wait_healthy(self, timeout_s: float) -> None:
        self.waited_s = timeout_s
        if not self.started:
            raise TargetError("the echo target was not started")

    def describe(self) -> TargetInfo:
        cfg = self.server.cfg
        return TargetInfo(kind=self.kind, url=self.url, model=cfg.model, max_model_len=cfg.max_model_len,
                          vocab_size=cfg.vocab_size, kv_capacity_tokens=cfg.kv_capacity_tokens,
                          block_size=cfg.block_size, has_metrics=cfg.metrics)

    def stop(self) -> None:
        if self.started:
            self.server.stop()
            self.started = False
