"""Server-sent events as an OpenAI-compatible server streams them: `data: {json}` lines, blank separators, and
`data: [DONE]` at the end. The replay client and calibration's measurements both frame a stream with this (a
module of its own, beside neither, so that a target's code need not import the replay's)."""

from __future__ import annotations

DONE = b"[DONE]"


def data_of(line: bytes) -> bytes | None:
    """The payload of one `data:` line; None for separators, comments (": ping") and event/id fields."""
    line = line.strip()
    if not line.startswith(b"data:"):
        return None
    return line[5:].strip()
