"""Multi-turn conversations and their shared prefixes.

A conversation is one append-only token stream: an optional system prompt shared by every conversation, then for
each turn a new user message and the answer. Turn k's prompt is the stream up to and including its new message, so
it carries every earlier turn as a prefix. The stream is cut into blocks of `block_tokens`; a prompt's
`prefix_blocks` lists one id per block it covers, as Mooncake's `hash_ids` do:
- a full block inside the system prompt has the same id in every conversation;
- a full block of the conversation has an id of that conversation and position, so turn k+1 repeats turn k's ids;
- a prompt's last, partial block gets an id of its own (its content differs from the full block it later becomes).
Equal ids therefore mean an equal prefix, and a prefix cache sees the reuse a chat service sees.

Turn k+1 is sent a think time after turn k was sent (the think time includes the time the answer took: an open-loop
workload cannot know it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from burststudio import limits
from burststudio.workload.synth.spec import SpecError, format_path


@dataclass
class SessionRows:
    """Rows in arrival order, before their prefix blocks are listed (a run is cut first, then blocks are made)."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    session: np.ndarray  # conversation index
    turn: np.ndarray  # 0-based turn index within the conversation
    longest_blocks: np.ndarray  # per conversation: full blocks of its longest prompt (its range of block ids)

    def __len__(self) -> int:
        return len(self.arrival_s)

    def _rows(self, sel) -> "SessionRows":
        return SessionRows(self.arrival_s[sel], self.prompt_tokens[sel], self.output_tokens[sel], self.session[sel],
                           self.turn[sel], self.longest_blocks)

    def head(self, n: int) -> "SessionRows":
        return self._rows(slice(0, n))

    def mask(self, keep: np.ndarray) -> "SessionRows":
        return self._rows(keep)


def mean_turns(t: dict[str, Any]) -> float:
    if t["dist"] == "geometric":
        q = 1.0 - 1.0 / t["mean"]
        return (1.0 - q ** t["max"]) / (1.0 - q) if q > 0 else 1.0  # the mean of min(Geometric, max)
    if t["dist"] == "fixed":
        return float(t["value"])
    return (t["min"] + t["max"]) / 2.0


def sample_turns(t: dict[str, Any], rng: np.random.Generator, n: int) -> np.ndarray:
    if t["dist"] == "geometric":
        return np.minimum(rng.geometric(1.0 / t["mean"], n), t["max"]).astype(np.int64)
    if t["dist"] == "fixed":
        return np.full(n, t["value"], dtype=np.int64)
    return rng.integers(t["min"], t["max"] + 1, n, dtype=np.int64)


def sample_think(t: dict[str, Any], rng: np.random.Generator, n: int) -> np.ndarray:
    if t["dist"] == "exponential":
        return rng.exponential(t["mean_s"], n)
    if t["dist"] == "lognormal":
        return t["median_s"] * np.exp(t["sigma"] * rng.standard_normal(n))
    if t["dist"] == "fixed":
        return np.full(n, float(t["value_s"]))
    return rng.uniform(t["min_s"], t["max_s"], n)


def _within(x: np.ndarray, first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group (groups are consecutive runs of `counts` rows)."""
    cs = np.cumsum(x)
    return cs - np.repeat(cs[first] - x[first], counts)


def build_sessions(s: dict[str, Any], starts: np.ndarray, turns_rng: np.random.Generator,
                   think_rng: np.random.Generator,
                   draw_lengths: Callable[[int], tuple[np.ndarray, np.ndarray]]) -> SessionRows:
    """Every turn of the conversations starting at `starts`, as rows sorted by arrival."""
    turns = sample_turns(s["turns"], turns_rng, len(starts))
    rows = int(turns.sum())
    first = (np.cumsum(turns) - turns).astype(np.int64)
    session = np.repeat(np.arange(len(starts), dtype=np.int64), turns)
    turn = np.arange(rows, dtype=np.int64) - np.repeat(first, turns)
    think = sample_think(s["think_time"], think_rng, rows)
    think[first[turns > 0]] = 0.0
    arrival = np.repeat(starts, turns) + _within(think, first, turns)

    new, out = draw_lengths(rows)
    grown = new + out
    prompt = s["shared_prefix_tokens"] + _within(grown, first, turns) - out
    # Prompt plus answer grows turn over turn, so this drops the tail of a conversation that outgrows the context.
    keep = prompt + out <= s["max_context_tokens"]
    arrival, prompt, out, session, turn = arrival[keep], prompt[keep], out[keep], session[keep], turn[keep]

    # Rows are still grouped by conversation, turns in order: a conversation's last row has its longest prompt.
    longest = np.zeros(len(starts), dtype=np.int64)
    last = np.concatenate((session[1:] != session[:-1], [True])) if len(session) else np.zeros(0, dtype=bool)
    longest[session[last]] = prompt[last] // s["block_tokens"]

    order = np.argsort(arrival, kind="stable")
    return SessionRows(arrival[order], prompt[order], out[order], session[order], turn[order], longest)


def prefix_blocks(rows: SessionRows, block: int, shared_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, ids): each row's block ids are ids[offsets[i]:offsets[i + 1]], by the rules in the module
    docstring."""
    prompt, session, longest = rows.prompt_tokens, rows.session, rows.longest_blocks
    full = prompt // block
    partial = (prompt % block) > 0
    shared_blocks = shared_tokens // block
    base = shared_blocks + np.concatenate(([0], np.cumsum(longest)[:-1]))
    next_free = shared_blocks + int(longest.sum())

    counts = full + partial  # >= 1: every prompt has a token
    offsets = np.zeros(len(prompt) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    # Each conversation's prompts list every block again, so the ids grow with turns squared: counted before one
    # is made.
    limits.check(len(prompt), total * 16.0, what="the prefix-block ids of the workload",
                 keys=[format_path(("sessions", "block_tokens")), format_path(("sessions", "max_context_tokens"))])
    if total >= 2**31:
        raise SpecError(("sessions", "block_tokens"),
                        f"{total:,} prefix blocks are more than one table holds; use larger blocks")
    # ids run base, base + 1, ... within a row: one cumulative sum of steps of 1 that jump at each row's start
    # (faster than repeating each row's base and position).
    row_base = base[session]
    steps = np.ones(total, dtype=np.int64)
    starts = offsets[:-1]
    steps[starts[1:]] = row_base[1:] - (row_base[:-1] + counts[:-1] - 1)
    if total:
        steps[0] = row_base[0]
    ids = np.cumsum(steps, out=steps)
    for j in range(shared_blocks):
        ids[starts[full > j] + j] = j
    last = offsets[1:][partial] - 1
    ids[last] = next_free + np.arange(len(last), dtype=np.int64)
    return offsets.astype(np.int32), ids


def sessions_needed(requests: int, turns: dict[str, Any]) -> int:
    """A first guess at how many conversations give `requests` rows."""
    return int(math.ceil(requests / mean_turns(turns) * 1.25)) + 16
