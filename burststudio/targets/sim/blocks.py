"""The simulated paged KV cache: blocks held by requests, and cached contents that survive in released blocks."""

from __future__ import annotations

from typing import Any


class BlockPool:
    """The KV blocks: how many are referenced, and which cached contents survive in released blocks."""

    __slots__ = ("capacity", "n_ref", "refs", "lru", "peak")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.n_ref = 0  # blocks held by at least one request
        self.refs: dict[Any, int] = {}  # content key -> requests holding its block (0: cached, free, evictable)
        self.lru: dict[Any, None] = {}  # released cached blocks, least recently released first
        self.peak = 0

    @property
    def free(self) -> int:
        return self.capacity - self.n_ref

    def take(self, n: int) -> None:
        """Hand out `n` blocks, reusing never-cached ones first, then the least recently released cached ones."""
        evict = n - (self.capacity - self.n_ref - len(self.lru))
        lru, refs = self.lru, self.refs
        for _ in range(evict):
            key = next(iter(lru))
            del lru[key]
            del refs[key]
        self.n_ref += n
        if self.n_ref > self.peak:
            self.peak = self.n_ref

    def touch(self, key: Any) -> None:
        rc = self.refs[key]
        if rc == 0:
            del self.lru[key]
            self.n_ref += 1
            if self.n_ref > self.peak:
                self.peak = self.n_ref
        self.refs[key] = rc + 1

    def register(self, key: Any) -> bool:
        """Record that a held block now holds `key`; False when another block already does (kept anonymous)."""
        if key in self.refs:
            return False
        self.refs[key] = 1
        return True

    def release(self, held: list) -> None:
        """Release a request's blocks, last first, so that its tail is evicted before its head."""
        refs, lru = self.refs, self.lru
        for key in reversed(held):
            if key is None:
                self.n_ref -= 1
                continue
            rc = refs[key] - 1
            refs[key] = rc
            if rc == 0:
                self.n_ref -= 1
                lru[key] = None
