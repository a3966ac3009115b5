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
class Endpoint:
    """One server of a target: where it answers, where its /metrics are, and its KV cache as far as it tells."""

    name: str
    url: str  # base URL, without a trailing slash or `/v1`
    metrics_url: str = ""  # empty: `url` + "/metrics"
    kv_capacity_tokens: int | None = None
    kv_blocks: int | None = None
    block_size: int | None = None

    def __post_init__(self) -> None:
        if not self.metrics_url and self.url:
            self.metrics_url = self.url.rstrip("/") + "/metrics"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(init=False)
class TargetInfo:
    """What a target says about itself once healthy: the model and its limits, and its endpoints (one per
    server; a fleet has several, targets/fleet.py). `url`, `metrics_url`, `kv_capacity_tokens`, `kv_blocks` and
    `block_size` are the first endpoint's."""

    kind: str  # a kind of targets.registry
    model: str
    max_model_len: int | None
    vocab_size: int | None  # token ids must stay below this
    engine: str | None  # e.g. "vllm 0.32.0"
    build: str | None  # cpu | gpu | None when unknown
    has_metrics: bool
    endpoints: list[Endpoint]

    def __init__(self, kind: str, url: str = "", model: str = "", max_model_len: int | None = None,
                 vocab_size: int | None = None, kv_capacity_tokens: int | None = None, kv_blocks: int | None = None,
                 block_size: int | None = None, engine: str | None = None, build: str | None = None,
                 has_metrics: bool = False, endpoints: list[Endpoint] | None = None):
        self.kind = kind
        self.model = model
        self.max_model_len = max_model_len
        self.vocab_size = vocab_size
        self.engine = engine
        self.build = build
        self.has_metrics = has_metrics
        self.router: str | None = None  # a fleet's router URL, where the requests go (targets/fleet.py)
        self.replica_source: str | None = None  # a fleet's: who knows each request's replica (vocab REPLICA_BY_*)
        self.endpoints = list(endpoints) if endpoints else [
            Endpoint("0", url, kv_capacity_tokens=kv_capacity_tokens, kv_blocks=kv_blocks, block_size=block_size)]

    @property
    def url(self) -> str:
        return self.endpoints[0].url

    @url.setter
    def url(self, value: str) -> None:
        self.endpoints[0].url = value

    @property
    def metrics_url(self) -> str:
        return self.endpoints[0].metrics_url

    @property
    def kv_capacity_tokens(self) -> int | None:
        return self.endpoints[0].kv_capacity_tokens

    @kv_capacity_tokens.setter
    def kv_capacity_tokens(self, value: int | None) -> None:
        self.endpoints[0].kv_capacity_tokens = value

    @property
    def kv_blocks(self) -> int | None:
        return self.endpoints[0].kv_blocks

    @kv_blocks.setter
    def kv_blocks(self, value: int | None) -> None:
        self.endpoints[0].kv_blocks = value

    @property
    def block_size(self) -> int | None:
        return self.endpoints[0].block_size

    @block_size.setter
    def block_size(self, value: int | None) -> None:
        self.endpoints[0].block_size = value

    def to_dict(self) -> dict[str, Any]:
        """run.json's `target`: the single-server keys as before, then every endpoint."""
        keys = ("kind", "url", "model", "max_model_len", "vocab_size", "kv_capacity_tokens", "kv_blocks",
                "block_size", "engine", "build", "has_metrics")
        out = {k: getattr(self, k) for k in keys}
        out["endpoints"] = [e.to_dict() for e in self.endpoints]
        if self.router or self.replica_source:
            out["router"] = self.router
            out["replica_source"] = self.replica_source
        return out


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

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate every request to this target (a bearer token from `api_key`)."""
        return bearer(self.api_key())

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def auth_headers(target: Any) -> dict[str, str]:
    """A target's `auth_headers()`, also for an object that only has `api_key()`."""
    own = getattr(target, "auth_headers", None)
    return own() if own is not None else bearer(target.api_key())
