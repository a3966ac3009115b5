"""Real text for prompts: exact token counts in a Hugging Face tokenizer (`replay.tokenizer`, `--tokenizer DIR`), and
real content from a prompt dataset (`replay.dataset`, `--dataset FILE`).

With a tokenizer, a prompt is the plan's token ids (the shared prefix blocks, then the row's own ids, exactly as
completions mode lays them out) mapped onto tokens that decode to plain printable text, decoded, and then trimmed or
padded until the tokenizer counts exactly the row's prompt length. Requests that share prefix blocks share the
leading text those blocks decode to.

With a dataset (JSONL: one `{"prompt": ...}` / `{"text": ...}` per line, or ShareGPT-style
`{"conversations": [{"from": ..., "value": ...}, ...]}` / `{"messages": [{"role": ..., "content": ...}]}`):
- a row of a session (the workload's `session_id`) takes the first N tokens of one conversation's messages, the
  same conversation for every turn, so each turn's prompt opens with the one before it;
- a row with shared prefix blocks and no session takes each block's text from a dataset entry chosen by the block's
  id, then its own part as below;
- any other row takes the entry whose length is nearest its own (the shortest at least as long), trimmed to it, or
  padded with tokenizer text when no entry is long enough.
Every prompt is then fitted to its exact count as above. The `tokenizers` library reads `tokenizer.json`.
"""

from __future__ import annotations

import bisect
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from burststudio import json_text

MAX_DATASET_ENTRIES = 50_000
MAX_DATASET_BYTES = 256 * 1024 * 1024
_FIT_STEPS = 12


class TextError(Exception):
    """A tokenizer or dataset that cannot be used: says which file and why (the runner makes it a UserError)."""


class Tokenizer:
    """A Hugging Face tokenizer (tokenizer.json), with the ids that decode to plain printable text on their own."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer as HF

        p = Path(path)
        file = p / "tokenizer.json" if p.is_dir() else p
        if not file.is_file():
            raise TextError(f"{path}: no tokenizer.json (a Hugging Face tokenizer folder, or its tokenizer.json)")
        try:
            self.hf = HF.from_file(str(file))
        except Exception as exc:  # the library raises its own exception types for a bad file
            raise TextError(f"{file}: not a tokenizer the tokenizers library reads ({str(exc)[:120]})") from None
        self.path = str(file)
        special = {t.content for t in self.hf.get_added_tokens_decoder().values()} if hasattr(
            self.hf, "get_added_tokens_decoder") else set()
        clean = []
        for i in range(self.hf.get_vocab_size()):
            tok = self.hf.id_to_token(i)
            if tok is None or tok in special:
                continue
            text = self.hf.decode([i], skip_special_tokens=True)
            if text and text.isascii() and text.isprintable():
                clean.append(i)
        if len(clean) < 16:
            raise TextError(f"{file}: fewer than 16 tokens decode to plain text; cannot build prompts")
        self.clean = np.array(clean, dtype=np.int64)

    def count(self, text: str) -> int:
        return len(self.hf.encode(text, add_special_tokens=False).ids)

    def ids(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=True)

    def plain(self, ids: np.ndarray) -> np.ndarray:
        """Any ids mapped onto the plain-text ids (deterministic, so equal ids stay equal)."""
        return self.clean[np.asarray(ids, dtype=np.int64) % self.clean.size]

    def fit(self, text: str, n: int, pad_seed: int) -> tuple[str, int]:
        """`text` trimmed or padded (with plain tokens seeded by `pad_seed`) until it counts `n` tokens: (text, how
        far the count still is from n: 0 unless no text of exactly n tokens was found)."""
        pad = self.plain(np.random.default_rng([pad_seed, 17]).integers(0, 1 << 30, n + 64))
        best, best_off = text, self.count(text) - n
        for _ in range(_FIT_STEPS):
            m = self.count(text)
            if m == n:
                return text, 0
            if abs(m - n) < abs(best_off):
                best, best_off = text, m - n
            ids = self.ids(text)
            if m > n:
                text = self.decode(ids[:n])
            else:
                text = text + self.decode(pad[: n - m])
        return (best, best_off) if self.count(best) != n else (best, 0)


def _entries(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(single prompts, conversations as their messages) of a JSONL dataset."""
    p = Path(path)
    try:
        if not p.is_file():
            raise TextError(f"{path}: no such dataset file")
        if p.stat().st_size > MAX_DATASET_BYTES:
            raise TextError(f"{path}: over {MAX_DATASET_BYTES >> 20} MiB; use a sample of it")
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise TextError(f"{path}: not UTF-8 text (a JSONL file of prompts or conversations)") from None
    except OSError as exc:
        raise TextError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    prompts: list[str] = []
    convs: list[list[str]] = []
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json_text.loads(line, finite=False)
        except json_text.BadJSON as exc:
            raise TextError(f"{path}:{k}: not a JSON object ({exc.message})") from None
        if not isinstance(obj, dict):
            raise TextError(f"{path}:{k}: not a JSON object")
        text = obj.get("prompt", obj.get("text"))
        msgs = obj.get("conversations", obj.get("messages"))
        if isinstance(text, str):
            prompts.append(text)
        elif isinstance(msgs, list):
            turn = [m.get("value", m.get("content")) for m in msgs if isinstance(m, dict)]
            turn = [t for t in turn if isinstance(t, str) and t]
            if turn:
                convs.append(turn)
                prompts.append(turn[0])
        else:
            raise TextError(f"{path}:{k}: expected a \"prompt\" or \"text\" string, or \"conversations\" / "
                            "\"messages\"")
        if len(prompts) >= MAX_DATASET_ENTRIES:
            break
    if not prompts:
        raise TextError(f"{path}: no prompt in it")
    return prompts, convs


def _stable(key: Any) -> int:
    return zlib.crc32(str(key).encode())


class TextPrompts:
    """The text of each request of a plan (module doc)."""

    def __init__(self, tokenizer: Tokenizer, *, dataset: str | Path | None = None,
                 sessions: list[str | None] | None = None):
        self.tok = tokenizer
        self.sessions = sessions
        self.off = 0  # prompts whose count could not be made exact (none expected; said in the run's notices)
        self.prompts: list[list[int]] = []
        self.lengths: list[int] = []
        self.convs: list[list[int]] = []
        if dataset is not None:
            prompts, convs = _entries(dataset)
            enc = sorted((tokenizer.ids(t) for t in prompts), key=len)
            self.prompts = enc
            self.lengths = [len(e) for e in enc]
            self.convs = [tokenizer.ids("\n".join(c)) for c in convs]

    def _nearest(self, n: int) -> list[int]:
        k = bisect.bisect_left(self.lengths, n)
        return self.prompts[min(k, len(self.prompts) - 1)][:n]

    def _block_ids(self, block: int, take: int) -> list[int]:
        src = self.prompts[_stable(("block", block)) % len(self.prompts)]
        reps = -(-take // max(1, len(src)))
        return (src * reps)[:take]

    def text(self, plan, i: int) -> str:
        n = int(plan.prompt_tokens[i])
        row = int(plan.rows[i])
        session = self.sessions[i] if self.sessions is not None else None
        if not self.prompts:
            ids = self.tok.plain(np.asarray(plan.prompt_ids(i), dtype=np.int64)).tolist()
        elif self.convs and session is not None:
            # One conversation per session, continued by the next ones when a late turn outgrows it: every turn
            # reads the same stream, so each opens with the one before.
            j = _stable(("session", session)) % len(self.convs)
            ids = []
            for k in range(len(self.convs)):
                if len(ids) >= n:
                    break
                ids.extend(self.convs[(j + k) % len(self.convs)] + self.tok.ids("\n"))
            ids = ids[:n]
            row = _stable(("session-pad", session))
        else:
            ids = []
            for b, take in plan._shared(i, n):
                ids.extend(self._block_ids(b, take))
            if len(ids) < n:
                ids.extend(self._nearest(n - len(ids)))
        text, off = self.tok.fit(self.tok.decode(ids), n, pad_seed=row)
        self.off += off != 0
        return text
