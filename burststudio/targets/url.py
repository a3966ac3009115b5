"""The `url` target: attach to an OpenAI-compatible server that already runs.

The model and its `max_model_len` come from `/v1/models` unless the settings name a model; `/health` and
`/metrics` are checked so the run can say up front what it will see. The URL is read by targets/address.py and
every answer by targets/answers.py: a URL or a server that is not what it should be ends the run before it starts
with one line (exit 2). The API key is read from the environment variable the settings name, and a user name and
password in the URL travel only as a header: neither is ever shown or written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from burststudio.errors import one_line
from burststudio.settings import TargetSettings
from burststudio.targets import address as addresses
from burststudio.targets import answers
from burststudio.targets.base import Progress, Target, TargetError, TargetInfo, bearer

# While a server starts it refuses connections or answers 5xx; these answers will not change by waiting.
_RETRY_STATUS = frozenset({408, 425, 429})


class UrlTarget(Target):
    kind = "url"

    def __init__(self, settings: TargetSettings, url: str | None = None):
        self.settings = settings
        self.address = addresses.parse(url or settings.url, "--target" if url else "target.url")
        self._url = self.address.base
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
        if not key.isprintable():
            raise TargetError(f"the environment variable {name} (target.api_key_env) holds a line break or a "
                              "control character")
        return key

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key()
        if key and self.address.has_credentials:
            raise TargetError("the target URL holds a user name or password and target.api_key_env names a key: "
                              "give one of them")
        return bearer(key) if key else self.address.auth_headers()

    def _get(self, path: str, timeout: float) -> answers.Answer:
        return answers.get(self.address, path, timeout, self.auth_headers())

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        if progress:
            progress(f"attaching to {self._url}")

    def wait_healthy(self, timeout_s: float) -> None:
        """Until /v1/models answers 200. Refusals and 5xx are waited on (a server that starts answers them first);
        an answer that is not HTTP, or a status that waiting will not change, ends the wait at once."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        immediate = False
        while True:
            try:
                answer = self._get("/v1/models", min(5.0, max(0.5, timeout_s)))
                if answer.status == 200:
                    return
                last = f"/v1/models answered HTTP {answer.status}"
                if answer.status in (401, 403):
                    raise TargetError(f"{self._url}: {last} (check target.api_key_env)")
                if 300 <= answer.status < 400:
                    to = f" to {addresses.shown(answer.location)}" if answer.location else ""
                    raise TargetError(f"{self._url}: {last}, a redirect{to}: give the URL it points to")
                if answer.status < 500 and answer.status not in _RETRY_STATUS:
                    raise TargetError(f"{self._url}: {last}: not an OpenAI-compatible server at this URL?")
            except answers.Unreachable as exc:
                last = str(exc).removeprefix(self._url + "/v1/models: ")
                # Nothing listens there, or it hangs up at once: a server that is starting answers 503 first, so
                # give up soon.
                if exc.immediate:
                    deadline = min(deadline, time.monotonic() + 1.0) if immediate else deadline
                    immediate = True
            if time.monotonic() >= deadline:
                raise TargetError(f"{self._url} is not reachable: {last}")
            time.sleep(0.25)

    def describe(self) -> TargetInfo:
        if self._info is not None:
            return self._info
        where = self._url + "/v1/models"
        answer = self._get("/v1/models", 10.0)
        if answer.status != 200:
            raise TargetError(f"{where} answered HTTP {answer.status}")
        models = answers.models_of(answers.json_of(answer.body, where), where)
        want = self.settings.model
        entry: answers.Model | None = None
        if want:
            entry = next((m for m in models if m.id == want), None)
            if entry is None and models:
                names = one_line(", ".join(m.id for m in models), 200)
                raise TargetError(f"{self._url} does not serve the model {one_line(want, 80)!r} (it serves: "
                                  f"{names})")
        elif models:
            entry = models[0]
        else:
            raise TargetError(f"{where} lists no model; name one in target.model")
        model = want or entry.id  # type: ignore[union-attr]
        has_metrics = self._probe_metrics()
        info = TargetInfo(kind="url", url=self._url, model=model,
                          max_model_len=entry.max_model_len if entry else None,
                          vocab_size=self.settings.vocab_size, has_metrics=has_metrics)
        if has_metrics:
            self.kv_from_metrics(info)
        self._info = info
        return info

    def _probe_metrics(self) -> bool:
        answer = self._get("/metrics", 5.0)
        if answer.status != 200:
            return False
        if self._info is None:
            from burststudio.vllm_metrics import parse_cache_config

            try:
                self._kv_cache = parse_cache_config(answer.body.decode("utf-8", "replace"))
            except (ValueError, TypeError, KeyError, IndexError, OverflowError):
                return True  # a page the parser cannot read tells no cache: the scraper says so during the run
        return True

    _kv_cache: dict[str, Any] | None = None

    def kv_from_metrics(self, info: TargetInfo) -> None:
        kv = self._kv_cache or {}
        info.block_size = kv.get("block_size")
        info.kv_blocks = kv.get("blocks")
        info.kv_capacity_tokens = kv.get("tokens")

    def alive(self) -> bool:
        try:
            status = self._get("/health", 2.0).status
        except TargetError:
            return False
        # A server without /health (404) is alive as long as it answers.
        return status != 503 and status < 500

    def stop(self) -> None:
        return None
