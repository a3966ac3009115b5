"""The figures of a run's summary as people read them: label, where summary.json keeps the value, its unit and which
way is better. The studio, `report`, `compare`, `sweep` and `simulate` show these and only these, so one figure reads
the same everywhere.

Each unit has one scale (from the summary's value to what is shown) and one formatting function. Only the standard
library and the vocabulary are imported here.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from burststudio.vocab import (REASON_DONE, REASON_LIMITS, REASON_STOPPED, REASON_TARGET_DIED, REASON_WRITE_FAILED,
                               REPLICA_BY_COUNTERS)

MISSING = "-"


class Unit(NamedTuple):
    scale: float  # summary value -> shown value
    fmt: Callable[[float], str]


def _ms(v: float) -> str:
    # Three significant digits at most below 100 ms (lateness, ITL on a fast engine keep their hundredths); whole
    # milliseconds above, with thousands separated: a tenth of a millisecond says nothing of a 2-second TTFT.
    a = abs(v)
    return f"{v:.2f}" if a < 10 else f"{v:.1f}" if a < 100 else f"{v:,.0f}"


def _count(v: float) -> str:
    return f"{v:,.0f}"


UNITS: dict[str, Unit] = {
    "count": Unit(1.0, _count),
    "share": Unit(100.0, lambda v: f"{v:.1f}%"),  # a 0-1 share of requests
    "usage": Unit(100.0, lambda v: f"{v:.0f}%"),  # a 0-1 fraction of a capacity (the KV cache)
    "ms": Unit(1e3, _ms),  # the summary holds seconds
    "s": Unit(1.0, lambda v: f"{v:,.2f}"),
    "per_s": Unit(1.0, lambda v: f"{v:,.2f}"),  # requests a second
    "tokens_per_s": Unit(1.0, lambda v: f"{v:,.1f}"),
    "ratio": Unit(1.0, lambda v: f"{v:.2f}"),  # busiest over mean (a fleet's imbalance)
}
# Units shown as percentages: a difference between two runs is in percentage points, not a percentage.
POINTS = ("share", "usage")

LOWER, HIGHER = "lower", "higher"


class Figure(NamedTuple):
    key: str
    label: str
    path: tuple[str, ...]  # into summary.json
    unit: str  # a key of UNITS
    better: str  # LOWER | HIGHER


# The latency statistics of the summary (replay.summary.stat): summary key -> name.
LATENCIES: dict[str, str] = {"ttft_s": "TTFT", "itl_s": "ITL", "tpot_s": "TPOT", "e2e_s": "E2E",
                             "dispatch_lateness_s": "lateness"}
STATS = ("mean", "p50", "p90", "p99", "max")


def stats_of(summary: Any) -> tuple[str, ...]:
    """The statistics a summary's latency figures hold, in order: mean, std, every percentile (pNN) rising, max
    (STATS for a summary written before std and `replay.percentiles`)."""
    st = summary.get("ttft_s") if isinstance(summary, dict) else None
    if not isinstance(st, dict) or "std" not in st:
        return STATS
    pcts = sorted((k for k in st if k.startswith("p") and k[1:].replace(".", "", 1).isdigit()),
                  key=lambda k: float(k[1:]))
    return ("mean", "std", *pcts, "max")


def latency(key: str, stat: str, unit: str = "ms") -> Figure:
    """One statistic of one latency (`key` of LATENCIES), e.g. latency("ttft_s", "p99") is "TTFT p99 ms"."""
    short = "lateness" if key == "dispatch_lateness_s" else key[:-2]
    return Figure(f"{short}_{stat}", f"{LATENCIES[key]} {stat} {unit}", (key, stat), unit, LOWER)


FIGURES: tuple[Figure, ...] = (
    Figure("sent", "sent", ("sent",), "count", HIGHER),
    Figure("finished", "finished", ("finished",), "count", HIGHER),
    Figure("failed", "failed", ("failed",), "count", LOWER),
    Figure("cancelled", "cancelled", ("cancelled",), "count", LOWER),
    Figure("goodput", "goodput", ("goodput", "share"), "share", HIGHER),
    Figure("goodput_rate", "goodput req/s", ("goodput", "rate"), "per_s", HIGHER),
    Figure("requests_per_s", "req/s", ("throughput", "requests_per_s"), "per_s", HIGHER),
    Figure("sent_per_s", "sent req/s", ("throughput", "sent_per_s"), "per_s", HIGHER),
    Figure("output_tokens_per_s", "out tok/s", ("throughput", "output_tokens_per_s"), "tokens_per_s", HIGHER),
    latency("ttft_s", "p50"),
    latency("ttft_s", "p99"),
    latency("itl_s", "p50"),
    latency("itl_s", "p99"),
    latency("tpot_s", "p50"),
    latency("tpot_s", "p99"),
    latency("e2e_s", "p50", "s"),
    latency("e2e_s", "p99", "s"),
    latency("dispatch_lateness_s", "p99"),
    Figure("kv_peak", "KV peak", ("kv_cache_usage_peak",), "usage", LOWER),
    Figure("waiting_peak", "waiting peak", ("waiting_peak",), "count", LOWER),
    Figure("preemptions", "preemptions", ("preemptions",), "count", LOWER),
    Figure("rejections", "rejections", ("admission_rejections",), "count", LOWER),
    Figure("prefix_hit_rate", "prefix hit rate", ("prefix_cache_hit_rate",), "share", HIGHER),
)
BY_KEY: dict[str, Figure] = {f.key: f for f in FIGURES}

# Figures of one group of the summary's burst view (summary["burst"]["busy"]: the requests of every burst episode,
# or ["calm"]); paths are inside it.
BURST_FIGURES: tuple[Figure, ...] = (
    Figure("requests", "requests", ("requests",), "count", HIGHER),
    Figure("rate_rps", "req/s", ("rate_rps",), "per_s", HIGHER),
    Figure("failed", "failed", ("failed",), "count", LOWER),
    Figure("failed_share", "failed share", ("failed_share",), "share", LOWER),
    latency("ttft_s", "p50"),
    latency("ttft_s", "p99"),
    latency("tpot_s", "p99"),
    latency("e2e_s", "p99", "s"),
)
BURST_BY_KEY: dict[str, Figure] = {f.key: f for f in BURST_FIGURES}
# Figures of one replica of a fleet (an item of summary["replicas"], replay/fleet_summary.py), and the fleet's
# imbalance (paths inside summary["imbalance"]).
REPLICA_FIGURES: tuple[Figure, ...] = (
    Figure("requests", "requests", ("requests",), "count", HIGHER),
    Figure("failed", "failed", ("failed",), "count", LOWER),
    latency("ttft_s", "p50"),
    latency("ttft_s", "p99"),
    latency("e2e_s", "p50", "s"),
    Figure("kv_peak", "KV peak", ("kv_cache_usage_peak",), "usage", LOWER),
    Figure("waiting_peak", "waiting peak", ("waiting_peak",), "count", LOWER),
    Figure("preemptions", "preemptions", ("preemptions",), "count", LOWER),
    Figure("rejections", "rejections", ("rejections",), "count", LOWER),
)
IMBALANCE_FIGURES: tuple[Figure, ...] = (
    Figure("imbalance", "imbalance", ("overall",), "ratio", LOWER),
    Figure("imbalance_busy", "imbalance in bursts", ("busy",), "ratio", LOWER),
)

# Figures of one burst episode (an item of summary["burst"]["episodes"]).
EPISODE_FIGURES: tuple[Figure, ...] = (
    Figure("requests", "requests", ("requests",), "count", HIGHER),
    Figure("failed", "failed", ("failed",), "count", LOWER),
    Figure("ttft_p50", "TTFT p50 ms", ("ttft_p50_s",), "ms", LOWER),
    Figure("ttft_p99", "TTFT p99 ms", ("ttft_p99_s",), "ms", LOWER),
    Figure("outstanding_peak", "outstanding peak", ("outstanding_peak",), "count", LOWER),
)


def episode_span(episode: dict[str, Any]) -> str:
    """When a burst episode was, as text: "20.0-46.0 s (2.0 s high-rate)", with "not recovered" when the run ended
    first."""
    start, end, high = (episode.get(k) for k in ("start_s", "end_s", "high_s"))
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return MISSING
    text = f"{start:.1f}-{end:.1f} s"
    if isinstance(high, (int, float)):
        text += f" ({high:.1f} s high-rate)"
    return text + ("" if episode.get("recovered", True) else ", not recovered")


def pick(*keys: str) -> tuple[Figure, ...]:
    return tuple(BY_KEY[k] for k in keys)


def in_burst(group: str, key: str) -> Figure:
    """A burst-view figure of one group ("busy" is shown as "burst", "calm" as "calm") as a whole-summary figure."""
    f = BURST_BY_KEY[key]
    name = "burst" if group == "busy" else group
    return f._replace(key=f"{name}_{f.key}", label=f"{name} {f.label}", path=("burst", group) + f.path)


def dig(summary: Any, path: tuple[str, ...]) -> Any:
    node = summary
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def number(summary: Any, fig: Figure) -> float | None:
    """The figure's value in its shown unit, or None when the summary lacks it."""
    v = dig(summary, fig.path)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) * UNITS[fig.unit].scale


def fmt(fig: Figure, value: float | None, missing: str = MISSING) -> str:
    """A value already in the figure's unit (from `number`), as text."""
    return missing if value is None else UNITS[fig.unit].fmt(value)


def show(summary: Any, fig: Figure, missing: str = MISSING) -> str:
    return fmt(fig, number(summary, fig), missing)


def show_raw(fig: Figure, raw: float | None, missing: str = MISSING) -> str:
    """A value as the summary holds it (before the unit's scale), as text."""
    return missing if raw is None else UNITS[fig.unit].fmt(float(raw) * UNITS[fig.unit].scale)


def fmt_delta(fig: Figure, delta: float | None, missing: str = MISSING) -> str:
    """A difference between two values in the figure's unit (from `number`), signed: "+12", "-1,112", "+20.8 pp"."""
    if delta is None:
        return missing
    sign = "-" if delta < 0 else "+"
    if fig.unit in POINTS:
        return f"{sign}{abs(delta):.1f} pp"
    return sign + UNITS[fig.unit].fmt(abs(delta))


# --- how a run ended, and what it ran against -------------------------------------------------------------------------
# summary["reason"] (vocab.REASON_*) as people read it; a summary without one was rebuilt from the journal of a run
# that never ended in order (killed).
REASONS: dict[str, str] = {REASON_DONE: "done", REASON_STOPPED: "stopped", REASON_TARGET_DIED: "the target died",
                           REASON_WRITE_FAILED: "the run directory could not be written",
                           REASON_LIMITS: "a limit was broken"}
NOT_FINISHED = "did not finish"


def ended(summary: dict[str, Any]) -> str:
    """How the run ended, in a word or three: "done", "stopped", "the target died", "did not finish"."""
    reason = summary.get("reason")
    if isinstance(reason, str) and reason:
        return REASONS.get(reason, reason)
    return NOT_FINISHED if summary.get("complete") is False else REASONS[REASON_DONE]


def accounting(summary: dict[str, Any]) -> str:
    """Every request the plan held, accounted for: "1,096 of 1,313 sent = 1,096 finished + 0 failed + 0 cancelled;
    217 not sent; 3 lost in flight" (the last two only when there are any)."""
    def n(key: str) -> str:
        v = summary.get(key)
        return _count(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else MISSING

    planned = dig(summary, ("plan", "planned"))
    of = f" of {_count(planned)}" if isinstance(planned, (int, float)) and not isinstance(planned, bool) else ""
    text = (f"{n('sent')}{of} sent = {n('finished')} finished + {n('failed')} failed + "
            f"{n('cancelled')} cancelled")
    if summary.get("not_sent"):
        text += f"; {n('not_sent')} not sent"
    if summary.get("lost_in_flight"):
        text += f"; {n('lost_in_flight')} lost in flight"
    return text


def failures(summary: Any) -> str:
    """The failures by class, most first: "http_503 29, stream_error 3", or "none"."""
    by_class = dig(summary, ("failures_by_class",)) or {}
    parts = [f"{k} {_count(v)}" for k, v in sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0])) if v]
    return ", ".join(parts) if parts else "none"


def replica_source(summary: dict[str, Any]) -> str:
    """How a fleet's run knew who served each request (summary["replica_source"]), as people read it."""
    if summary.get("replica_source") == REPLICA_BY_COUNTERS:
        return "from the replicas' counters: the router did not say who served what"
    return "routed by the client"


def target(summary: dict[str, Any]) -> str:
    """What the run ran against: its kind, then its URL and model where it has them ("url http://h:8000 model m");
    a fleet's replicas and the router in front of them instead of a URL ("vllm 2 replicas behind http://r:8000")."""
    t = summary.get("target")
    if not isinstance(t, dict) or not t.get("kind"):
        return MISSING
    parts = [str(t["kind"])]
    endpoints = t.get("endpoints") if isinstance(t.get("endpoints"), list) else []
    if len(endpoints) > 1:  # the first endpoint's URL is one replica's, not where the run went
        parts.append(f"{len(endpoints)} replicas" + (f" behind {t['router']}" if t.get("router") else ""))
    elif t.get("url"):
        parts.append(str(t["url"]))
    if t.get("model"):
        parts.append(f"model {t['model']}")
    return " ".join(parts)
