"""The `url` target: attach to an OpenAI-compatible server that already runs.

The model and its `max_model_len` come from `/v1/models` unless the settings name a model; `/health` and
`/metrics` are checked so the run can say up front what it will see. The API key is read from the environment
variable the settings name, and is never written anywhere.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from burststudio.settings import TargetSettings
from burststudio.targets.base import Progress, Target, TargetError, TargetInfo


def _get(url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (the user's own server)
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() if exc.fp else b""


class UrlTarget(Target):
    kind = "url"

    def __init__(self, settings: TargetSettings, url: str | None = None):
        self.settings = settings
        base = (url or settings.url or "").strip().rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        if not base.startswith(("http://", "https://")):
            raise TargetError(f"target URL must start with http:// or https://, got {base!r}")
        self._url = base
        self._info: TargetInfo | None = None

    @property
    def url(self) -> str:
        return self._url

    def api_key(self) -> str | None:
        name = self.settings.api_key_env
        if not name:
            return None
        key = os.environ.get(name)
        if not key:
            raise TargetError(f"the environment variable {name} (target.api_key_env) is not set")
        return key

    def _headers(self) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        if progress:
            progress(f"attaching to {self._url}")

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        refused = False
        while True:
            try:
                status, _ = _get(self._url + "/v1/models", min(5.0, max(0.5, timeout_s)), self._headers())
                if status == 200:
                    return
                last = f"/v1/models answered HTTP {status}"
                if status in (401, 403):
                    raise TargetError(f"{self._url}: {last} (check target.api_key_env)")
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                last = str(reason)
                # Nothing listens there: a server that is starting answers 503 first, so give up soon.
                if isinstance(reason, ConnectionRefusedError):
                    deadline = min(deadline, time.monotonic() + 1.0) if refused else deadline
                    refused = True
            if time.monotonic() >= deadline:
                raise TargetError(f"{self._url} is not reachable: {last}")
            time.sleep(0.25)

    def describe(self) -> TargetInfo:
        if self._info is not None:
            return self._info
        try:
            status, body = _get(self._url + "/v1/models", 10.0, self._headers())
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise TargetError(f"{self._url}/v1/models: {getattr(exc, 'reason', exc)}") from None
        if status != 200:
            raise TargetError(f"{self._url}/v1/models answered HTTP {status}")
        try:
            models: list[dict[str, Any]] = json.loads(body).get("data") or []
        except (ValueError, AttributeError):
            raise TargetError(f"{self._url}/v1/models did not answer a model list") from None
        want = self.settings.model
        entry: dict[str, Any] | None = None
        if want:
            entry = next((m for m in models if m.get("id") == want), None)
            if entry is None and models:
                names = ", ".join(str(m.get("id")) for m in models)
                raise TargetError(f"{self._url} does not serve the model {want!r} (it serves: {names})")
        elif models:
            entry = models[0]
        else:
            raise TargetError(f"{self._url}/v1/models lists no model; name one in target.model")
        model = want or str(entry["id"])  # type: ignore[index]
        max_len = entry.get("max_model_len") if entry else None
        has_metrics = self._probe_metrics()
        info = TargetInfo(kind="url", url=self._url, model=model,
                          max_model_len=int(max_len) if isinstance(max_len, (int, float)) else None,
                          vocab_size=self.settings.vocab_size, has_metrics=has_metrics)
        if has_metrics:
            self.kv_from_metrics(info)
        self._info = info
        return info

    def _probe_metrics(self) -> bool:
        try:
            status, body = _get(self._url + "/metrics", 5.0, self._headers())
        except (urllib.error.URLError, OSError, TimeoutError):
            return False
        if status != 200:
            return False
        if self._info is None:
            from burststudio.vllm_metrics import parse_cache_config

            try:
                self._kv_cache = parse_cache_config(body.decode("utf-8", "replace"))
            except (ValueError, TypeError):
                return True
        return True

    _kv_cache: dict[str, Any] | None = None

    def kv_from_metrics(self, info: TargetInfo) -> None:
        kv = self._kv_cache or {}
        info.block_size = kv.get("block_size")
        info.kv_blocks = kv.get("blocks")
        info.kv_capacity_tokens = kv.get("tokens")

    def alive(self) -> bool:
        try:
            status, _ = _get(self._url + "/health", 2.0, self._headers())
        except (urllib.error.URLError, OSError, TimeoutError):
            return False
        # A server without /health (404) is alive as long as it answers.
        return status != 503 and status < 500

    def stop(self) -> None:
        return None
