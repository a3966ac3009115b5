"""Workload rows -> the requests a replay sends.

A request reproduces its row exactly: a `/v1/completions` call with a token-id prompt of `prompt_tokens` ids and
`max_tokens == min_tokens == output_tokens` with `ignore_eos`, streamed with usage. Every id lies in
`[0, vocab_size)`: vLLM's engine dies on an id outside its vocabulary.

Rows that share `prefix_blocks` ids share the same leading token ids (`block_tokens` per id, as the workload's
metadata says: Mooncake's are 512, a synthesised workload's its sessions' `block_tokens`; the ids derived from the
block id and the seed), so the server's prefix cache hits as it did in the trace. The rest of a prompt is the row's
own (it opens with the row's number), so unrelated rows share nothing by accident.

Chat mode sends text instead: one word per token id (the word of each id, from a short list of common words that
are about one token each), so two chat prompts share exactly the leading words that their completions prompts share
as ids, and the server's tokenizer makes an equal text prefix an equal token prefix.

Prompt + output must fit the server's `max_model_len` (a `min_tokens` above what is left is a 400): rows that do
not fit are clipped (prompt first, then output) or skipped, as the settings say, and counted either way.

Bodies are built when a request is sent (`Plan.body(i)`), not up front, so a million-row plan stays small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from burststudio.settings import ReplaySettings
from burststudio.workload.model import DEFAULT_PREFIX_BLOCK_TOKENS, Workload

# Words for text prompts (chat mode); about one token each with common tokenizers.
_WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
          "number group problem fact water room mother area money story month lot right study book job word "
          "business issue side kind head house service friend father power hour game line end member law car "
          "city name team minute idea kid body back parent face others level office door health art war history "
          "party result change morning reason research girl guy moment air teacher force education").split()


@dataclass
class PlanStats:
    """What became of the workload's rows; nothing is dropped without a count here."""

    rows: int = 0  # rows in the workload handed to the plan (after duration/scale transforms)
    planned: int = 0  # requests the replay will send
    skipped_failed: int = 0  # rows the trace recorded as failed, not sent
    sent_failed: int = 0  # rows recorded as failed, sent as recorded
    overlong_clipped: int = 0  # rows shortened to fit max_model_len
    overlong_skipped: int = 0  # rows not sent because they do not fit max_model_len
    lengths_raised: int = 0  # rows with a zero prompt or output length, sent with 1 token instead
    max_model_len: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _IdText:
    """Token ids rendered once as JSON text, with the byte offset of each id, so a run of ids is a bytes slice.

    Encoding a 500-id prompt with json.dumps costs about as much as sending it; slicing costs almost nothing, and the
    dispatch loop builds each body just before its send time.
    """

    __slots__ = ("blob", "starts", "size")

    def __init__(self, ids: np.ndarray):
        text = [str(x) for x in ids.tolist()]
        self.size = len(text)
        self.blob = (",".join(text) + ",").encode()
        self.starts = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum([len(t) + 1 for t in text], out=self.starts[1:])

    def slice(self, start: int, n: int) -> bytes:
        """`n` ids from `start`, wrapping around; no trailing comma."""
        parts = []
        while n > 0:
            take = min(n, self.size - start)
            parts.append(self.blob[self.starts[start]:self.starts[start + take] - 1])
            n -= take
            start = 0
        return b",".join(parts)


_POOL_TOKENS = 1 << 16


def _words_of(ids: np.ndarray) -> list[str]:
    """The chat word of each token id."""
    return [_WORDS[k] for k in (ids % len(_WORDS)).tolist()]


@dataclass
class Plan:
    """The requests to send, in schedule order, as parallel arrays."""

    model: str
    endpoint: str  # completions | chat
    vocab_size: int
    seed: int
    scheduled_s: np.ndarray  # seconds from the start of the run: the workload's clock (its arrival_s)
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    rows: np.ndarray  # index of the workload row each request comes from
    prefix_blocks: list[list[int] | None] | None = None
    block_tokens: int = DEFAULT_PREFIX_BLOCK_TOKENS  # tokens per prefix_blocks id (the workload's metadata)
    stats: PlanStats = field(default_factory=PlanStats)
    _block_cache: dict[int, _IdText] = field(default_factory=dict, repr=False)
    _pool: _IdText | None = field(default=None, repr=False)
    _word_cache: dict[int, list[str]] = field(default_factory=dict, repr=False)
    _pool_words: list[str] | None = field(default=None, repr=False)
    # Real text (replay/texts.py): exact counts in the user's tokenizer, content from a dataset.
    texts: Any = field(default=None, repr=False)
    extra_body: dict = field(default_factory=dict)  # replay.extra_body: more fields of every body

    def __len__(self) -> int:
        return int(self.scheduled_s.size)

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions"

    # Token ids ------------------------------------------------------------------------------------------------------
    def _block_ids(self, block: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1, int(block) & 0xFFFFFFFFFFFF])
        return rng.integers(0, self.vocab_size, self.block_tokens, dtype=np.int64)

    def _block(self, block: int) -> _IdText:
        ids = self._block_cache.get(block)
        if ids is None:
            ids = _IdText(self._block_ids(block))
            if len(self._block_cache) > 4096:  # bound memory on traces with many distinct blocks
                self._block_cache.clear()
            self._block_cache[block] = ids
        return ids

    def _block_words(self, block: int) -> list[str]:
        words = self._word_cache.get(block)
        if words is None:
            words = _words_of(self._block_ids(block))
            if len(self._word_cache) > 4096:
                self._word_cache.clear()
            self._word_cache[block] = words
        return words

    def _pool_ids(self) -> np.ndarray:
        return np.random.default_rng([self.seed, 2]).integers(0, self.vocab_size, _POOL_TOKENS, dtype=np.int64)

    @staticmethod
    def _marker(row: int, base: int) -> list[int]:
        """A row's number in base `base`, lowest digit first, at least two digits: no two rows open alike."""
        digits = []
        rest = row
        while len(digits) < 2 or rest:
            rest, digit = divmod(rest, base)
            digits.append(digit)
        return digits

    def _row_tail(self, row: int, n: int) -> bytes:
        """`n` ids of a row's own: its number in base vocab_size first, so that no two rows share a leading block
        (a prefix cache would count that as a hit the trace never had), then a stretch of the seeded pool."""
        if self._pool is None:
            self._pool = _IdText(self._pool_ids())
        marker = [str(d) for d in self._marker(row, self.vocab_size)][:n]
        head = ",".join(marker).encode()
        if n == len(marker):
            return head
        start = (row * 40503 + 7) % _POOL_TOKENS
        return head + b"," + self._pool.slice(start, n - len(marker))

    def _row_words(self, row: int, n: int) -> list[str]:
        """The chat form of `_row_tail`: the row's number in base len(_WORDS) as words, then the pool's words."""
        if self._pool_words is None:
            self._pool_words = _words_of(self._pool_ids())
        out = [_WORDS[d] for d in self._marker(row, len(_WORDS))][:n]
        start = (row * 40503 + 7) % _POOL_TOKENS
        pool = self._pool_words
        while len(out) < n:
            take = min(n - len(out), _POOL_TOKENS - start)
            out.extend(pool[start:start + take])
            start = 0
        return out

    def _shared(self, i: int, n: int):
        """(block id, tokens taken) for each shared prefix block of request i within its `n` prompt tokens."""
        blocks = self.prefix_blocks[i] if self.prefix_blocks is not None else None
        have = 0
        for b in blocks or ():
            if have >= n:
                break
            take = min(self.block_tokens, n - have)
            yield b, take
            have += take

    def prompt_bytes(self, i: int) -> bytes:
        """Exactly `prompt_tokens[i]` ids, all in [0, vocab_size), as JSON array content: the shared prefix blocks,
        then the row's own ids."""
        n = int(self.prompt_tokens[i])
        parts: list[bytes] = []
        have = 0
        for b, take in self._shared(i, n):
            parts.append(self._block(b).slice(0, take))
            have += take
        if have < n:
            parts.append(self._row_tail(int(self.rows[i]), n - have))
        return b",".join(parts)

    def prompt_ids(self, i: int) -> list[int]:
        return json.loads(b"[" + self.prompt_bytes(i) + b"]")

    def prompt_text(self, i: int) -> str:
        """`prompt_tokens[i]` words (chat mode: the server's tokenizer decides the exact token count): the words of
        the shared prefix blocks, then the row's own, as `prompt_bytes` lays out ids. With a tokenizer: exactly
        `prompt_tokens[i]` tokens in it (replay/texts.py)."""
        if self.texts is not None:
            return self.texts.text(self, i)
        n = int(self.prompt_tokens[i])
        words: list[str] = []
        for b, take in self._shared(i, n):
            words.extend(self._block_words(b)[:take])
        if len(words) < n:
            words.extend(self._row_words(int(self.rows[i]), n - len(words)))
        return " ".join(words)

    # Bodies ---------------------------------------------------------------------------------------------------------
    def body_bytes(self, i: int) -> bytes:
        out = int(self.output_tokens[i])
        if self.endpoint == "chat":
            return json.dumps({
                **self.extra_body,
                "model": self.model,
                "messages": [{"role": "user", "content": self.prompt_text(i)}],
                "max_completion_tokens": out,
                "min_tokens": out,
                "ignore_eos": True,
                "stream": True,
                "stream_options": {"include_usage": True},
            }, separators=(",", ":")).encode()
        # A dataset's content goes out as text; otherwise the exact ids.
        prompt = (json.dumps(self.prompt_text(i)).encode() if self.texts is not None and self.texts.prompts
                  else b"[" + self.prompt_bytes(i) + b"]")
        extra = json.dumps(self.extra_body, separators=(",", ":")).encode()[1:-1] + b"," if self.extra_body else b""
        return b"".join((
            b'{', extra, b'"model":', json.dumps(self.model).encode(), b',"prompt":', prompt,
            b',"max_tokens":%d,"min_tokens":%d' % (out, out),
            b',"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}',
        ))

    def body(self, i: int) -> dict[str, Any]:
        return json.loads(self.body_bytes(i))


def fit_lengths(prompt: np.ndarray, output: np.ndarray, max_model_len: int | None,
                overlong: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Make each (prompt, output) fit: returns prompt, output, keep-mask, clipped count, skipped count.

    Clipping shortens the prompt first (to at least 1 token), then the output: the response length is what the
    trace's load is mostly made of, so it is kept whole where it can be.
    """
    prompt = prompt.copy()
    output = output.copy()
    keep = np.ones(prompt.size, dtype=bool)
    if not max_model_len:
        return prompt, output, keep, 0, 0
    over = prompt + output > max_model_len
    n_over = int(over.sum())
    if not n_over:
        return prompt, output, keep, 0, 0
    if overlong == "skip":
        keep &= ~over
        return prompt, output, keep, 0, n_over
    cap = int(max_model_len)
    output[over] = np.minimum(output[over], cap - 1)
    prompt[over] = np.maximum(1, np.minimum(prompt[over], cap - output[over]))
    return prompt, output, keep, n_over, 0


def build_plan(workload: Workload, settings: ReplaySettings, *, model: str, vocab_size: int,
               max_model_len: int | None = None, endpoint: str | None = None, seed: int | None = None) -> Plan:
    """The requests for `workload` (already cut and scaled to what is to be sent), in arrival order."""
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
    n = len(workload)
    stats = PlanStats(rows=n, max_model_len=max_model_len)
    arrival = workload.arrival_s.astype(np.float64) if n else np.empty(0)
    prompt = workload.prompt_tokens.astype(np.int64) if n else np.empty(0, np.int64)
    output = workload.output_tokens.astype(np.int64) if n else np.empty(0, np.int64)
    keep = np.ones(n, dtype=bool)

    failed = workload.failed if n else np.zeros(0, bool)
    if settings.failed_rows == "skip":
        stats.skipped_failed = int(failed.sum())
        keep &= ~failed
    else:
        stats.sent_failed = int(failed.sum())

    # A zero-length prompt or output cannot be sent as such (vLLM rejects both); failed rows often carry zeros.
    low = keep & ((prompt < 1) | (output < 1))
    stats.lengths_raised = int(low.sum())
    prompt = np.maximum(prompt, 1)
    output = np.maximum(output, 1)

    sub_p, sub_o, fits, clipped, skipped = fit_lengths(prompt[keep], output[keep], max_model_len, settings.overlong)
    prompt[keep] = sub_p
    output[keep] = sub_o
    idx_keep = np.flatnonzero(keep)
    keep[idx_keep[~fits]] = False
    stats.overlong_clipped = clipped
    stats.overlong_skipped = skipped

    rows = np.flatnonzero(keep)
    stats.planned = int(rows.size)
    prefix = None
    if workload.has("prefix_blocks") and rows.size:
        col = workload.table.column("prefix_blocks").take(rows).to_pylist()
        if any(col):
            prefix = col
    return Plan(
        texts=_texts(settings, workload, rows),
        extra_body=dict(settings.extra_body),  # checked against the body's own fields with the preset
        model=model,
        endpoint=endpoint or settings.endpoint,
        vocab_size=int(vocab_size),
        seed=int(settings.seed if seed is None else seed),
        # The workload's own clock, leading idle time kept: the run's times line up with the preview's.
        scheduled_s=arrival[rows],
        prompt_tokens=prompt[rows],
        output_tokens=output[rows],
        rows=rows,
        prefix_blocks=prefix,
        block_tokens=workload.prefix_block_tokens,
        stats=stats,
    )


def _texts(settings: ReplaySettings, workload: Workload, rows: np.ndarray):
    """The real-text source of `replay.tokenizer` / `replay.dataset`, or None (module doc of replay/texts.py)."""
    from burststudio.errors import UserError

    if not settings.tokenizer:
        if settings.dataset:
            raise UserError("replay.dataset needs replay.tokenizer (--tokenizer DIR): a dataset's prompts are fitted "
                            "to each row's token count in it")
        return None
    from burststudio.replay.texts import TextError, TextPrompts, Tokenizer

    sessions = (workload.table.column("session_id").take(rows).to_pylist()
                if workload.has("session_id") and rows.size else None)
    try:
        return TextPrompts(Tokenizer(settings.tokenizer), dataset=settings.dataset or None, sessions=sessions)
    except TextError as exc:
        raise UserError(str(exc)) from None


def warmup_plan(plan: Plan, n: int) -> Plan:
    """`n` requests shaped like the plan's first ones (their prompt and output lengths, cycling through the plan when
    it has fewer), sent before the run's clock starts. Their prompts are fresh: no shared prefix blocks, and row
    numbers past every row of the workload, so none leaves a cached prefix that a measured request would then hit."""
    if n < 1 or len(plan) == 0:
        raise ValueError("a warm-up needs at least one request and a plan to shape it")
    k = np.arange(n) % len(plan)
    first_row = max(int(plan.stats.rows), int(plan.rows.max()) + 1)
    return Plan(model=plan.model, endpoint=plan.endpoint, vocab_size=plan.vocab_size, seed=plan.seed,
                extra_body=plan.extra_body, scheduled_s=np.zeros(n), prompt_tokens=plan.prompt_tokens[k].copy(),
                output_tokens=plan.output_tokens[k].copy(), rows=first_row + np.arange(n, dtype=np.int64),
                block_tokens=plan.block_tokens,
                stats=PlanStats(rows=n, planned=n, max_model_len=plan.stats.max_model_len))
