"""Live run state for the Replay screen, fed by the engine's events and read by the charts at 4-5 Hz."""

from __future__ import annotations

from collections import deque
from typing import Any

from burststudio.studio.series import RingBuffer
from burststudio.targets.registry import ATTACH
from burststudio.vocab import (EV_NOTICE, EV_PROGRESS, EV_RUN_FINISHED, EV_RUN_STARTED, EV_SAMPLE, EV_TARGET,
                               EV_WARMUP, EVENT_TIME, EVENT_TYPE, KV_CACHE_USAGE, OK, PREEMPTIONS_TOTAL, REPLICA,
                               RUNNING, WAITING, WARMUP_DONE, ProgressEvent, WarmupEvent)

RATE_WINDOW_S = 1.0
FLEET_RECENT = 12  # the latest requests whose replica the fleet line shows
SERIES = ("sent_rps", "finished_rps", "scheduled_rps", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms",
          "kv_pct", "running", "waiting", "preemptions", "lateness_p99_ms", "failed")


class LiveRun:
    def __init__(self, capacity: int = 4096):
        self.series = {name: RingBuffer(capacity) for name in SERIES}
        self.failures: dict[str, int] = {}
        self.progress: ProgressEvent = {}
        self.target: str = ""
        # The target's state from the engine's `target` events: starting (with its stage), healthy, failed.
        self.target_state: dict[str, Any] = {}
        # The latest `warmup` event: the requests sent before the run's clock starts (a stage of its own).
        self.warmup: WarmupEvent = {}
        # The latest finished requests (replay.events' request rows), newest last; the table shows them.
        self.requests: list[list[Any]] = []
        self.notices: list[str] = []
        self.summary: dict[str, Any] | None = None
        self.run_dir: str | None = None
        self.points_received = 0
        self._recent: deque[ProgressEvent] = deque()  # progress events of the last RATE_WINDOW_S
        self.schedule = None  # arrival_s of the workload, to chart the scheduled rate
        self.mode: str = "open"
        self.behind_since: float | None = None  # when the run last fell behind its schedule (None: keeping up)
        # A fleet's latest sample of each replica, and the replicas of the latest finished requests (newest last).
        self.replicas: dict[str, dict[str, Any]] = {}
        self.recent_replicas: deque[str] = deque(maxlen=FLEET_RECENT)

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get(EVENT_TYPE)
        t = event.get(EVENT_TIME)
        if kind == EV_TARGET:
            self.target_state = event
        elif kind == EV_WARMUP:
            self.warmup = event  # type: ignore[assignment]
        elif kind == EV_RUN_STARTED:
            self.run_dir = event.get("run_dir")
            self.mode = str(event.get("mode") or "open")
            target = event.get("target")
            self.target = target if isinstance(target, str) else (target or {}).get("url", "") if isinstance(target, dict) else ""
        elif kind == EV_NOTICE:
            self.notices.append(str(event.get("message", "")))
        elif kind == EV_PROGRESS and t is not None:
            self._progress(float(t), event)  # type: ignore[arg-type]
        elif kind == EV_SAMPLE and t is not None:
            self._sample(float(t), event)
        elif kind == EV_RUN_FINISHED:
            self.summary = event.get("summary")

    def _add(self, name: str, t: float, value: Any) -> None:
        if value is None:
            return
        self.series[name].append(t, float(value))
        self.points_received += 1

    def _progress(self, t: float, e: ProgressEvent) -> None:
        self.progress = e
        for row in e.get("requests") or ():
            if len(row) > 8 and row[8] is not None:
                self.recent_replicas.append(str(row[8]))
        self.failures = dict(e.get("by_class") or {})
        self.failures.pop(OK, None)
        # Rates over the last RATE_WINDOW_S, not over one 0.25 s tick: at a few requests a second a tick holds 0 or 1
        # of them and the line would only jump between 0 and 4/s.
        self._recent.append(e)
        while len(self._recent) > 2 and self._recent[1][EVENT_TIME] <= t - RATE_WINDOW_S:
            self._recent.popleft()
        last = self._recent[0] if len(self._recent) > 1 else None
        if last is not None and t > last[EVENT_TIME]:
            dt = t - last[EVENT_TIME]
            self._add("sent_rps", t, (e.get("sent", 0) - last.get("sent", 0)) / dt)
            done = e.get("finished", 0) + e.get("failed", 0)
            self._add("finished_rps", t, (done - last.get("finished", 0) - last.get("failed", 0)) / dt)
            if self.schedule is not None:
                import numpy as np

                n = np.searchsorted(self.schedule, [last[EVENT_TIME], t])
                self._add("scheduled_rps", t, (n[1] - n[0]) / dt)
        self._track_behind(t)
        self._add("failed", t, e.get("failed"))
        self.requests.extend(e.get("requests") or ())
        del self.requests[:-200]
        for key, name in (("ttft_p50_s", "ttft_p50_ms"), ("ttft_p99_s", "ttft_p99_ms"), ("itl_p50_s", "itl_p50_ms"),
                          ("itl_p99_s", "itl_p99_ms"), ("lateness_p99_s", "lateness_p99_ms")):
            if e.get(key) is not None:
                self._add(name, t, e[key] * 1000.0)

    def overload(self) -> dict[str, Any] | None:
        """Is the run keeping its schedule, now: requests due and not yet sent, the planned and the achieved rate
        over the last RATE_WINDOW_S, how fast the requests in flight grow, and `behind` (more than
        replay.overload.BEHIND_S of the schedule is waiting on the client: the summary's threshold, live).
        None before the first progress event, and in closed loop (no schedule to keep)."""
        p = self.progress
        t = p.get(EVENT_TIME)
        if not p or t is None or self.mode == "closed":
            return None
        from burststudio.replay.overload import BEHIND_S

        out: dict[str, Any] = {"t": float(t), "sent": p.get("sent", 0), "in_flight": p.get("in_flight", 0),
                               "due": None, "waiting": None, "planned_rps": None, "sent_rps": None,
                               "in_flight_growth_per_s": None, "lateness_p99_s": p.get("lateness_p99_s"),
                               "behind": False}
        first = self._recent[0] if len(self._recent) > 1 else None
        if first is not None and t > first[EVENT_TIME]:
            dt = t - first[EVENT_TIME]
            out["sent_rps"] = (p.get("sent", 0) - first.get("sent", 0)) / dt
            out["in_flight_growth_per_s"] = (p.get("in_flight", 0) - first.get("in_flight", 0)) / dt
        if self.schedule is not None:
            import numpy as np

            planned = p.get("planned")
            due = int(np.searchsorted(self.schedule, t, side="right"))
            out["due"] = min(due, planned) if isinstance(planned, int) else due
            out["waiting"] = max(0, out["due"] - out["sent"])
            if first is not None and t > first[EVENT_TIME]:
                n = np.searchsorted(self.schedule, [first[EVENT_TIME], t], side="right")
                out["planned_rps"] = float(n[1] - n[0]) / (t - first[EVENT_TIME])
            # Waiting for more than BEHIND_S of the schedule's rate (at least one request): the sends run late.
            rate = out["planned_rps"] or 0.0
            out["behind"] = out["waiting"] > max(1.0, rate * BEHIND_S)
        out["behind_since"] = self.behind_since if out["behind"] else None
        return out

    def _track_behind(self, t: float) -> None:
        """Keep when the run fell behind, at every progress event (the screen reads them in batches)."""
        o = self.overload()
        if o is None or not o["behind"]:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = t

    def overload_line(self, ended: bool = False) -> str:
        """The schedule as it is kept, in one line of markup ("" when there is nothing to say yet); `ended`: as it
        was kept at the run's last progress event."""
        o = self.overload()
        if o is None:
            return ""
        parts = []
        if o["planned_rps"] is not None and o["sent_rps"] is not None:
            parts.append(f"sent {o['sent_rps']:.1f}/s of {o['planned_rps']:.1f}/s planned")
        if o["waiting"] is not None:
            parts.append(f"{o['waiting']:,} due, not sent")
        growth = o["in_flight_growth_per_s"]
        parts.append(f"in flight {o['in_flight']:,}" + (f" ({growth:+.0f}/s)" if growth is not None else ""))
        if o["lateness_p99_s"] is not None:
            parts.append(f"lateness p99 {o['lateness_p99_s'] * 1000:.0f} ms")
        if o["behind"]:
            head = (f"[b red]fell behind schedule[/] at {o['behind_since']:.1f} s" if ended
                    else f"[b red]behind schedule[/] since {o['behind_since']:.1f} s")
        elif o["due"] is None:
            head = "[dim]schedule[/]"
        else:
            head = f"[green]{'kept its schedule' if ended else 'on schedule'}[/]"
        return ("[dim]at the end:[/] " if ended else "") + head + ": " + ", ".join(parts)

    def _sample(self, t: float, e: dict[str, Any]) -> None:
        name = e.get(REPLICA)
        if name is not None:
            # A fleet: the charts show the fleet (the fullest replica's KV cache, the sums of running, waiting and
            # preemptions over every replica's latest sample); the fleet line shows each replica.
            self.replicas[str(name)] = e
            latest = list(self.replicas.values())
            kvs = [s[KV_CACHE_USAGE] for s in latest if s.get(KV_CACHE_USAGE) is not None]
            e = {KV_CACHE_USAGE: max(kvs) if kvs else None,
                 **{k: sum(s[k] for s in latest if s.get(k) is not None) for k in (RUNNING, WAITING,
                                                                                   PREEMPTIONS_TOTAL)}}
        kv = e.get(KV_CACHE_USAGE)  # a 0-1 fraction
        if kv is not None:
            self._add("kv_pct", t, float(kv) * 100.0)
        self._add("running", t, e.get(RUNNING))
        self._add("waiting", t, e.get(WAITING))
        self._add("preemptions", t, e.get(PREEMPTIONS_TOTAL))

    def fleet_line(self) -> str:
        """Each replica's KV %, running and waiting, then the replicas of the latest requests (empty: one server)."""
        if not self.replicas:
            return ""
        cells = []
        for name in sorted(self.replicas, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n)):
            s = self.replicas[name]
            kv = s.get(KV_CACHE_USAGE)
            cells.append(f"[b]{name}[/] KV {'-' if kv is None else f'{kv * 100:.0f}%'} "
                         f"r{int(s.get(RUNNING) or 0)} w{int(s.get(WAITING) or 0)}")
        latest = " ".join(self.recent_replicas)
        return " | ".join(cells) + (f"  [dim]latest →[/] {latest}" if latest else "")

    def target_line(self, ended: bool = False) -> str:
        """The target's state in one line: what it is doing while it starts, its model and KV capacity once up;
        `ended`: what it was when the run ended (a managed server is stopped with its run, a running one is not)."""
        s = self.target_state
        state = s.get("state")
        if not state:
            return ""
        kind = s.get("kind") or "target"
        managed = kind != ATTACH
        if state == "starting":
            if ended:
                return f"[dim]{kind} stopped during start-up ({s.get('stage') or 'starting'})[/]"
            return f"[yellow]{kind}: {s.get('stage') or 'starting'}…[/]"
        if state == "failed":
            return f"[red]{kind} failed[/]: {s.get('message', '')}"
        if not ended:
            head = f"[green]{kind} healthy[/]"
        elif managed:
            head = f"[dim]{kind} stopped with the run[/]"
        else:
            head = f"[green]{kind} healthy[/] [dim]at the run's end[/]"
        parts = [head, f"model {s.get('model') or '?'}"]
        if s.get("kv_capacity_tokens"):
            parts.append(f"KV {int(s['kv_capacity_tokens']):,} tokens")
        if s.get("max_model_len"):
            parts.append(f"max len {int(s['max_model_len']):,}")
        return "  ".join(parts)

    def warmup_line(self) -> str:
        """The warm-up stage in one line: how far it is, then that it is done (its requests count in no figure)."""
        w = self.warmup
        if not w:
            return ""
        n, ended, failed = w.get("requests", 0), w.get("ended", 0), w.get("failed", 0)
        fails = f", {failed} failed" if failed else ""
        if w.get("state") == WARMUP_DONE:
            return (f"warm-up done: {n:,} requests in {w.get('elapsed_s') or 0:.1f} s{fails} (not measured); "
                    "starting the run…")
        return f"[yellow]warming up: {ended:,}/{n:,} requests ended{fails} (not measured)…[/]"

    def progress_line(self) -> str:
        p = self.progress
        if not p:
            return "waiting for the engine…"
        planned = p.get("planned")
        total = f"/{planned:,}" if isinstance(planned, int) else ""
        return (f"t {p.get('t') or 0:6.1f} s  sent {p.get('sent', 0):,}{total}  finished {p.get('finished', 0):,}  "
                f"failed {p.get('failed', 0):,}  in flight {p.get('in_flight', 0):,}")
