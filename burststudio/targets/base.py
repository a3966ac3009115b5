"""The one interface the replay engine and the studio use to reach a server.

A target is started (or attached), waited on until healthy, described, and stopped. Everything is synchronous:
starting a process or asking `/v1/models` happens before the replay's event loop runs.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from burststudio.errors import UserError

Progress = Callable[[str], None]


class TargetError(UserError):
    """The target could not be started or reached; the message says why in one line."""


@dataclass
class TargetInfo:
    """What a target says about itself once healthy."""

    kind: str  # url | vllm | sim
    url: str
    model: str
    max_model_len: int | None = None
    vocab_size: int | None = None  # token ids must stay below this
    kv_capacity_tokens: int | None = None
    kv_blocks: int | None = None
    block_size: int | None = None
    engine: str | None = None  # e.g. "vllm 0.32.0"
    build: str | None = None  # cpu | gpu | None when unknown
    has_metrics: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Target(abc.ABC):
    """Start (or attach), wait until healthy, describe, stop. Use as a context manager to always stop."""

    kind: str = "?"

    @abc.abstractmethod
    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        """Launch the server (or do nothing for an attached one). Logs go under `run_dir` when given."""

    @abc.abstractmethod
    def wait_healthy(self, timeout_s: float) -> None:
        """Return once the server answers; raise TargetError with the reason when `timeout_s` passes first."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Base URL, without a trailing slash or `/v1`."""

    @abc.abstractmethod
    def describe(self) -> TargetInfo:
        """Model, limits and KV capacity as far as the server tells them."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop what `start` launched; safe to call twice, and for attached servers a no-op."""

    def alive(self) -> bool:
        """Whether the server still runs (attached targets: whether `/health` answers)."""
        return True

    def api_key(self) -> str | None:
        return None

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
