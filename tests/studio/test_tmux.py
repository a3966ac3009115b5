"""Open `burststudio` in a real terminal (tmux, 120x40) and read the screen as a person would."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def _capture(server: str) -> str:
    return subprocess.run(["tmux", "-L", server, "capture-pane", "-p", "-t", "studio"], capture_output=True,
                          text=True).stdout


def _wait_for(server: str, *words: str, timeout_s: float = 30.0) -> str:
    """The screen once every word is on it (or as it is when the time runs out)."""
    screen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screen = _capture(server)
        if all(w in screen for w in words):
            break
        time.sleep(0.2)
    return screen


def test_burststudio_opens_the_studio_in_a_terminal(tmp_path):
    server = f"bs-test-{tmp_path.name}"
    exe = Path(sys.executable).with_name("burststudio")
    cmd = f"cd {tmp_path} && TERM=xterm-256color {exe}"
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "studio", "-x", "120", "-y", "40", cmd],
                   check=True)
    try:
        screen = _wait_for(server, "requests", "rate /s")
        for word in ("Workload", "Replay", "Results", "target: sim", "arrivals / s", "rate /s", "Help"):
            assert word in screen, f"{word!r} not on screen:\n{screen}"
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "studio", "F3"], check=True)
        screen = _wait_for(server, "no run selected", timeout_s=15.0)
        assert "no run selected" in screen, screen
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "studio", "C-q"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = subprocess.run(["tmux", "-L", server, "has-session", "-t", "studio"], capture_output=True)
            if alive.returncode != 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("ctrl+q did not quit the studio")
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
