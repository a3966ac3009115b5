"""A page opened in real headless Chromium, watched over the DevTools protocol: every network request the page makes,
every console error and uncaught exception, values read from its DOM, and a screenshot.

Chromium is Debian's `chromium` package (`make test` installs it where it can); `find_chromium` returns None where
it is missing, and the tests that need it skip saying so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SKIP_REASON = "chromium is not installed (Debian's package: apt-get install chromium; `make test` installs it)"


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, its own included
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    values: dict[str, Any] = field(default_factory=dict)  # what each expression given to `open_page` gave
    screenshot: bytes = b""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _session(ws_url: str, page_url: str, expressions: dict[str, str], width: int, height: int,
                   settle_s: float, load: PageLoad) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url, max_msg_size=0) as ws:
            next_id = 0
            waiting: dict[int, asyncio.Future] = {}

            async def reader() -> None:
                async for msg in ws:
                    obj = json.loads(msg.data)
                    if "id" in obj and obj["id"] in waiting:
                        waiting.pop(obj["id"]).set_result(obj)
                        continue
                    method, params = obj.get("method"), obj.get("params") or {}
                    if method == "Network.requestWillBeSent":
                        load.requests.append(params["request"]["url"])
                    elif method == "Runtime.exceptionThrown":
                        d = params.get("exceptionDetails") or {}
                        load.errors.append((d.get("exception") or {}).get("description") or d.get("text", ""))
                    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                        load.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                    for a in params.get("args", [])))
                    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                        load.errors.append(params["entry"].get("text", ""))

            task = asyncio.create_task(reader())

            async def call(method: str, **params: Any) -> dict[str, Any]:
                nonlocal next_id
                next_id += 1
                fut = asyncio.get_running_loop().create_future()
                waiting[next_id] = fut
                await ws.send_str(json.dumps({"id": next_id, "method": method, "params": params}))
                reply = await asyncio.wait_for(fut, 60)
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result") or {}

            for domain in ("Network", "Runtime", "Log", "Page"):
                await call(f"{domain}.enable")
            await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                       mobile=False)
            await call("Page.navigate", url=page_url)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = await call("Runtime.evaluate", expression="document.readyState === 'complete'",
                               returnByValue=True)
                if r.get("result", {}).get("value"):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(settle_s)
            for key, expr in expressions.items():
                r = await call("Runtime.evaluate", expression=expr, returnByValue=True)
                load.values[key] = r.get("result", {}).get("value")
            shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            load.screenshot = base64.b64decode(shot["data"])
            task.cancel()


def open_page(path: Path, expressions: dict[str, str] | None = None, *, width: int = 1280, height: int = 900,
              settle_s: float = 0.5) -> PageLoad:
    """Open a local file in headless Chromium; report what it requested, the errors it logged, the values of
    `expressions` (JavaScript, evaluated after load) and a full-page screenshot."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError(SKIP_REASON)
    port = _free_port()
    profile = tempfile.mkdtemp(prefix="burststudio-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ws_url = _page_socket(port, proc)
        load = PageLoad()
        asyncio.run(_session(ws_url, Path(path).resolve().as_uri(), expressions or {}, width, height, settle_s,
                             load))
        return load
    finally:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


def _page_socket(port: int, proc: subprocess.Popen) -> str:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before it listened")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("chromium did not open its DevTools port in 30 s")


def distinct_pixels(png: bytes) -> int:
    """How many distinct colours a PNG has (a blank page has one or two)."""
    import io

    import numpy as np
    from matplotlib import image

    img = image.imread(io.BytesIO(png), format="png")
    flat = (np.asarray(img)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    return int(np.unique(flat, axis=0).shape[0])
