"""The transform pipeline as one value: what a preset's trace keys, `convert`'s flags, the studio's transform fields
and the replay settings ask of a workload, applied by one `apply`.

The steps run in one fixed order whatever asked for them: filter (model, source, failed), window, time scale, rate
scale, sample, head, and last the replay's duration (the first `duration_s` seconds of what the steps before made,
so a duration counts in replayed seconds; it keeps the workload's clock, leading idle time included). Time and rate
scaling commute (rate scaling places its copies inside gaps, and time scaling stretches gaps and copies alike), so
the order of those two changes no arrival.

A bad value raises TransformError, a UserError that also names the step's key, so a form can show it beside the
field that holds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from burststudio.errors import UserError
from burststudio.workload import transform
from burststudio.workload.model import Workload

FAILED_WORDS = {"keep": None, "drop": False, "only": True}


class TransformError(UserError):
    """A transform that cannot run as asked; `key` is the TransformSpec field at fault."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class TransformSpec:
    """Every transform a workload takes before it is sent; the defaults change nothing."""

    model: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    failed: bool | None = None  # None keeps every row, False drops the failed ones, True keeps only them
    window_s: tuple[float, float] | None = None  # [start, end) in seconds; end may be inf
    time_scale: float = 1.0
    rate_scale: float = 1.0
    sample: int | float | None = None  # a row count (int) or a fraction in (0, 1] (float)
    head: int | None = None  # None: every row
    duration_s: float = 0.0  # 0: all of it

    # Building ------------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, spec: Mapping[str, Any]) -> "TransformSpec":
        """From the trace keys of a preset's [workload] table (presets.TRACE_KEYS)."""
        start, end = spec.get("window_s", (0.0, math.inf))
        sample = spec.get("sample", 1.0)
        return cls(model=_names(spec.get("model")), source=_names(spec.get("source")),
                   failed=FAILED_WORDS[spec.get("failed", "keep")],
                   window_s=(float(start), float(end)) if start > 0 or math.isfinite(end) else None,
                   time_scale=float(spec.get("time_scale", 1.0)), rate_scale=float(spec.get("rate_scale", 1.0)),
                   sample=None if sample == 1.0 and not isinstance(sample, int) else sample,
                   head=int(spec["head"]) if spec.get("head") else None)

    @classmethod
    def from_replay(cls, replay: Any) -> "TransformSpec":
        """From replay settings (burststudio.settings.ReplaySettings: time_scale, rate_scale, duration_s)."""
        return cls(time_scale=float(replay.time_scale), rate_scale=float(replay.rate_scale),
                   duration_s=float(replay.duration_s))

    def preset_keys(self) -> dict[str, Any]:
        """The [workload] trace keys that say this spec, defaults left out (the inverse of `from_preset`)."""
        out: dict[str, Any] = {}
        for key, value in (("model", self.model), ("source", self.source)):
            if value:
                out[key] = value[0] if len(value) == 1 else list(value)
        if self.failed is not None:
            out["failed"] = "only" if self.failed else "drop"
        if self.window_s is not None:
            out["window_s"] = [float(self.window_s[0]), float(self.window_s[1])]
        for key in ("time_scale", "rate_scale"):
            if getattr(self, key) != 1.0:
                out[key] = float(getattr(self, key))
        if self.sample is not None:
            out["sample"] = self.sample
        if self.head is not None:
            out["head"] = int(self.head)
        return out

    # Applying ------------------------------------------------------------------------------------------------------
    def apply(self, w: Workload, seed: int | None = 0) -> Workload:
        """The workload after every step this spec asks for, in the module's order; `seed` drives rate scaling and
        sampling."""
        steps = (
            ("filter", self.model or self.source or self.failed is not None,
             lambda x: transform.filter_rows(x, model=self.model or None, source=self.source or None,
                                             failed=self.failed)),
            ("window_s", self.window_s is not None, lambda x: transform.window(x, *self.window_s)),
            ("time_scale", self.time_scale != 1.0, lambda x: transform.time_scale(x, self.time_scale)),
            ("rate_scale", self.rate_scale != 1.0, lambda x: transform.rate_scale(x, self.rate_scale, seed=seed)),
            ("sample", self.sample is not None, self._sample(seed)),
            ("head", self.head is not None, lambda x: transform.head(x, self.head)),
            # On the workload's own clock: a replay of the first 5 s sends what the preview shows at 0-5 s, leading
            # idle time included (docs/replay.md, "The run's clock").
            ("duration_s", self.duration_s > 0,
             lambda x: transform.window(x, 0.0, self.duration_s, rebase=False) if len(x) else x),
        )
        for key, wanted, step in steps:
            if not wanted:
                continue
            try:
                w = step(w)
            except TransformError:
                raise
            except UserError as exc:
                raise TransformError(str(exc), key) from None
        return w

    def _sample(self, seed: int | None):
        def step(x: Workload) -> Workload:
            if isinstance(self.sample, int) and not isinstance(self.sample, bool):
                # A count above the rows left keeps them all: a filter or window may leave fewer than asked.
                return transform.sample(x, n=min(self.sample, len(x)), seed=seed)
            if self.sample < 1.0:
                return transform.sample(x, fraction=self.sample, seed=seed)
            return x

        return step
