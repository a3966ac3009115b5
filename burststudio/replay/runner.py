"""The replay engine: workload -> plan -> dispatch against a target, with the scraper and the recorder running.

It runs in its own process (the `burststudio replay` command is the engine; the studio starts that command and reads
its `--events`), on uvloop where available. Everything is written as it happens (recorder.py); the summary at the end
is rebuilt from the run directory by the same function `burststudio report` uses, so a finished run and a recovered
one are summarised alike.

Exit codes: 0 the run worked, 2 it could not run (UserError before the first request), 3 a limit of the preset was
broken, 4 the target died mid-run, 5 the run directory could not be written (disk full, not writable) mid-run,
130 the run was stopped (SIGINT/SIGTERM) before its end. docs/reliability.md says what each fault does.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from burststudio import rundir
from burststudio.errors import UserError
from burststudio.replay import recorder as rec_mod
from burststudio.replay.events import Events, LiveStats, TargetStatus
from burststudio.replay.health import HealthWatch
from burststudio.replay.interrupts import Interrupts, kill_pids
from burststudio.targets.address import redact
from burststudio.targets.base import auth_headers
from burststudio.settings import ReplaySettings, TargetSettings
from burststudio.targets import registry as target_kinds
from burststudio.vocab import (CANCELLED, CONNECTION, EV_NOTICE, EV_PROGRESS, EV_RUN_FINISHED, EV_RUN_STARTED,
                               EV_SAMPLE, EV_WARMUP, EXIT_LIMITS, EXIT_OK, OK, REASON_DONE, REASON_EXIT,
                               REASON_STOPPED, REASON_TARGET_DIED, REASON_WRITE_FAILED, SHORT_OK, WARMUP_DONE,
                               WARMUP_RUNNING, ProgressEvent, WarmupEvent)

PROGRESS_INTERVAL_S = 0.25
# A schedule that starts this late on the workload's clock is said once: the run waits for its first request.
LEAD_NOTICE_S = 5.0
# The collector's youngest generation, collected every 700 allocations by default, walked every request in flight
# (each holds aiohttp's objects for its response) dozens of times a second: a tenth of the client's CPU at 200
# streams/s. Most of what a request allocates is freed by reference counting long before 20,000 allocations.
GC_THRESHOLDS = (20_000, 20, 20)


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    exit_code: int
    reason: str  # done | stopped | target_died | write_failed
    message: str = ""  # the one line that says why a run ended early


def prepare_workload(workload, replay: ReplaySettings, seed: int | None = None):
    """The workload as it will be sent: scaled by the replay settings, then its first `duration_s` seconds."""
    from burststudio.workload.transform_spec import TransformSpec

    return TransformSpec.from_replay(replay).apply(workload, replay.seed if seed is None else seed)


def _raise_fd_limit(want: int) -> int:
    """Raise the open-file limit toward `want` (one per connection); returns the limit in force."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        return int(soft)
    except (ImportError, ValueError, OSError):
        return 1024


def install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


class _Live:
    """Counters the progress events report, fed by the request callbacks."""

    def __init__(self, planned: int):
        self.planned = planned
        self.sent = 0
        self.finished = 0
        self.failed = 0
        self.cancelled = 0
        self.by_class: dict[str, int] = {}
        self.recent_lateness: list[float] = []
        self.recent_ttft: list[float] = []


def run_replay(workload, target_settings: TargetSettings, replay: ReplaySettings, *, name: str,
               resolved_toml: str = "", run_dir: Path | None = None, target_url: str | None = None,
               events_stdout: bool = False, on_progress: Callable[[dict[str, Any]], None] | None = None,
               on_notice: Callable[[str], None] | None = None, seed: int | None = None,
               target=None) -> RunResult:
    """Run one replay and return its summary. Raises UserError when the run cannot start (exit 2)."""
    from burststudio.replay.fleet_run import client_routes
    from burststudio.replay.plan import build_plan
    from burststudio.targets import make_target

    notices: list[str] = []

    def notice(msg: str) -> None:
        notices.append(msg)
        if on_notice:
            on_notice(msg)

    w = prepare_workload(workload, replay, seed)
    if target is None:
        target = make_target(target_settings, target_url)
    run_dir = Path(run_dir) if run_dir else rundir.default_run_dir(name, kind=getattr(target, "kind", None))
    rundir.refuse_existing_run(run_dir)
    rundir.check_writable(run_dir)
    interrupts = Interrupts()
    interrupts.save()
    status = TargetStatus(sys.stdout if events_stdout else None, getattr(target, "kind", "url"), notice)
    try:
        target.start(run_dir, status.progress)
        # From here on a signal stops the run in order (the target's own handlers cover its start-up).
        interrupts.hard_message = "stopped at once; nothing was sent yet"
        interrupts.cleanups.append(lambda: _kill_target(target))
        interrupts.on_first = _interrupt_now  # until the run's loop takes over
        interrupts.install()
        target.wait_healthy(target_kinds.health_wait(getattr(target, "kind", target_kinds.ATTACH), target_settings))
        info = target.describe()
        status.healthy(info)
        vocab = info.vocab_size or target_settings.vocab_size
        plan = build_plan(w, replay, model=info.model, vocab_size=vocab, max_model_len=info.max_model_len, seed=seed)
        if len(plan) == 0:
            raise UserError(f"nothing to send: the workload has {plan.stats.rows} requests after its transforms, "
                            f"{plan.stats.skipped_failed} skipped as failed, {plan.stats.overlong_skipped} as too long")
        headers = {**target_settings.headers, **auth_headers(target)}  # the key's own header wins
        warmup = target_kinds.warmup(getattr(target, "kind", target_kinds.ATTACH), replay.warmup)
        routes = client_routes(target, info, target_settings.route, plan, w, plan.seed)
        return _run(plan, target, info, replay, run_dir, name=name, resolved_toml=resolved_toml,
                    events_stdout=events_stdout, on_progress=on_progress, notice=notice, headers=headers,
                    interrupts=interrupts, warmup=warmup, routes=routes)
    except Exception as exc:
        status.failed(exc)
        raise
    finally:
        try:
            target.stop()
        finally:
            interrupts.restore()


def _interrupt_now() -> None:
    raise KeyboardInterrupt


def _kill_target(target) -> None:
    """Stop a started server with no grace period (the second interrupt)."""
    if hasattr(target, "grace_s"):
        target.grace_s = 0.0
    target.stop()


def _run(plan, target, info, replay: ReplaySettings, run_dir: Path, *, name: str, resolved_toml: str,
         events_stdout: bool, on_progress, notice, headers: dict[str, str],
         interrupts: Interrupts | None = None, warmup: int = 0, routes=None) -> RunResult:
    interrupts = interrupts or Interrupts()
    try:
        recorder = rec_mod.Recorder(run_dir)
        if resolved_toml:
            recorder.write_preset(redact(resolved_toml))  # a password in target.url stays out of the run
    except OSError as exc:
        raise UserError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}") from None
    interrupts.hard_message = (f"stopped at once; the journal keeps every request that ended: "
                               f"`burststudio report {run_dir}` rebuilds the summary")
    run_info = rundir.run_info(name=name, target=info.to_dict(), plan=plan, replay=replay, pid=os.getpid(),
                               warmup={"requests": warmup})
    try:
        recorder.write_run_info(run_info)
    except OSError as exc:
        recorder.close()
        raise UserError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}") from None

    uv = install_uvloop()
    reason = REASON_DONE
    ended: dict[str, str] = {}
    interrupts.cleanups.append(recorder.flush)
    try:
        reason = asyncio.run(_async_run(plan, target, info, replay, recorder, run_info, events_stdout,
                                        on_progress, notice, headers, uv, interrupts=interrupts, ended=ended,
                                        routes=routes))
    finally:
        # The loop's signal handlers are gone with it: a second interrupt while the run winds down still stops it.
        interrupts.on_first = None
        interrupts.install()
        recorder.close()
    rundir.finish_run_info(run_info, reason)
    write_error = recorder.error
    try:
        if write_error is None:
            recorder.write_run_info(run_info)
        summary = rundir.build_summary(run_dir, write=write_error is None)
    except OSError as exc:
        write_error = write_error or exc
        summary = rundir.build_summary(run_dir, write=False)
    if write_error is not None:
        reason = REASON_WRITE_FAILED
    code = REASON_EXIT[reason]
    if code == EXIT_OK and summary["limits_broken"]:
        code = EXIT_LIMITS
    summary["exit_code"] = code
    summary["reason"] = reason
    message = _end_message(reason, summary, run_dir, ended.get("why", ""), write_error)
    if message:
        summary["reason_detail"] = message
    if write_error is None:
        try:
            rundir.write_summary(run_dir, summary)
            ev = Events([lambda e: _append_event(run_dir, e)], stdout=sys.stdout if events_stdout else None)
        except OSError as exc:
            write_error, reason = exc, REASON_WRITE_FAILED
            code = REASON_EXIT[reason]
            summary.update(exit_code=code, reason=reason)
            message = summary["reason_detail"] = _end_message(reason, summary, run_dir, "", exc)
            ev = Events([], stdout=sys.stdout if events_stdout else None)
    else:
        ev = Events([], stdout=sys.stdout if events_stdout else None)
    ev.emit(EV_RUN_FINISHED, exit_code=code, reason=reason, summary=summary)
    return RunResult(run_dir=run_dir, summary=summary, exit_code=code, reason=reason, message=message)


def _end_message(reason: str, s: dict[str, Any], run_dir: Path, why: str, write_error: OSError | None) -> str:
    """One line for a run that ended early: what happened, and that every request is accounted for."""
    counts = (f"{s['sent']} of {(s.get('plan') or {}).get('planned', s['sent'])} requests sent: {s['finished']} "
              f"finished, {s['failed']} failed, {s['cancelled']} cancelled")
    if reason == REASON_WRITE_FAILED:
        err = f"{write_error.strerror or write_error}" if write_error is not None else "write failed"
        return (f"cannot write the run directory {run_dir}: {err}; the run stopped ({counts}); what was written "
                f"stays readable: `burststudio report {run_dir}`")
    if reason == REASON_TARGET_DIED:
        return f"the target died mid-run ({why}); {counts}; summary in {run_dir}"
    if reason == REASON_STOPPED:
        return f"stopped; {counts}; summary in {run_dir}"
    return ""


def _append_event(run_dir: Path, event: dict[str, Any]) -> None:
    # The summary is saved by now: a last event that finds the disk full is not worth failing the run for.
    try:
        w = rec_mod.JsonlWriter(run_dir / rundir.EVENTS)
        try:
            w.write(event)
        finally:
            w.close()
    except OSError:
        pass


async def _async_run(plan, target, info, replay: ReplaySettings, recorder: rec_mod.Recorder,
                     run_info: dict[str, Any], events_stdout: bool, on_progress, notice, headers, uv: bool, *,
                     interrupts: Interrupts | None = None, ended: dict[str, str] | None = None,
                     routes=None) -> str:
    from burststudio.replay.pool import make_session, warm_pool
    from burststudio.replay.dispatch import Dispatcher, auto_shards, expected_concurrency
    from burststudio.replay.shard import ShardedDispatcher, make_jobs
    from burststudio.replay.scrape import Scraper
    from burststudio.replay import fleet_run

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reason = [REASON_DONE]

    def request_stop(why: str) -> None:
        if not stop.is_set():
            reason[0] = why
            stop.set()

    interrupts = interrupts or Interrupts()
    ended = {} if ended is None else ended
    interrupts.on_first = lambda: request_stop(REASON_STOPPED)
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, interrupts.signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    if interrupts.count:  # interrupted while the run was being set up
        request_stop(REASON_STOPPED)
    recorder.on_error = lambda exc: request_stop(REASON_WRITE_FAILED)

    live = _Live(len(plan))
    fd_limit = _raise_fd_limit(len(plan) + 256)
    cap = replay.max_concurrency if replay.max_concurrency > 0 else (replay.users if replay.mode == "closed" else 0)
    limit = min(cap or len(plan), max(64, fd_limit - 128))
    # Client routing keeps every request's replica in one process: a fleet is dispatched unsharded.
    n_shards = 1 if replay.mode == "closed" or routes is not None else auto_shards(plan.scheduled_s)
    session = make_session(limit, replay.timeouts.connect_s, -(-replay.connections_opening // n_shards))
    await _warm_up(session, target.url, headers)
    short_ok = replay.short_answers == SHORT_OK
    n_warm = (run_info.get("warmup") or {}).get("requests", 0)
    if n_warm and not stop.is_set():
        await _send_warmup(plan, n_warm, session, target.url, headers, replay, recorder, stop, events_stdout,
                           short_ok, fleet=fleet_run.warmup_routes(routes))
    # Connections, and above one process's rate the dispatch shards, are opened before the clock starts.
    warm = expected_concurrency(plan.scheduled_s)
    sharded = None
    if n_shards > 1:
        sharded = ShardedDispatcher(make_jobs(plan, target.url, headers, replay.timeouts, n_shards, limit=limit,
                                              warm=warm, max_concurrency=replay.max_concurrency, uvloop=uv,
                                              drain_s=replay.drain_s, opening_max=replay.connections_opening),
                                    on_sent=lambda r: on_sent(r), on_end=lambda r: on_end(r))
        await sharded.start()
    elif routes is not None:
        for u in {e.url for e in info.endpoints}:
            await warm_pool(session, u, headers, -(-min(warm, limit) // len(info.endpoints)))
    else:
        await warm_pool(session, target.url, headers, min(warm, limit))
    run_info["dispatch_shards"] = n_shards
    # Everything built so far (plan, workload, imports) lives for the whole run: moved out of the collector's sight, it
    # is not walked again by every full collection, which at high rates would stall the loop for tens of ms.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    # The schedule starts a little after setup so the first requests are not late by the setup itself.
    t0_ns = time.perf_counter_ns() + 50_000_000
    events = Events([recorder.event], stdout=sys.stdout if events_stdout else None, t0_ns=t0_ns,
                    stats=LiveStats(t0_ns))
    # perf_counter is CLOCK_MONOTONIC on Linux: other processes on this machine can line their times up with it.
    run_info["t0_perf_ns"] = t0_ns
    recorder.write_run_info(run_info)

    def say(msg: str) -> None:
        events.emit(EV_NOTICE, message=msg)
        notice(msg)

    events.emit(EV_RUN_STARTED, run_dir=str(recorder.dir), name=run_info["name"], plan=run_info["plan"],
                target=run_info["target"], mode=replay.mode, uvloop=uv, planned=len(plan))
    if plan.stats.skipped_failed:
        say(f"{plan.stats.skipped_failed} rows the trace recorded as failed are not sent (replay.failed_rows = skip)")
    if plan.stats.overlong_clipped or plan.stats.overlong_skipped:
        say(f"prompt + output over max_model_len {plan.stats.max_model_len}: {plan.stats.overlong_clipped} clipped, "
            f"{plan.stats.overlong_skipped} skipped")

    lead = float(plan.scheduled_s[0]) if len(plan) else 0.0
    if lead >= LEAD_NOTICE_S:
        say(f"the first request is at {lead:.1f} s of the workload's clock: the run keeps that clock (its times line "
            f"up with the preview), so nothing is sent before then")

    def on_sent(r) -> None:
        live.sent += 1
        recorder.sent(r.i, (r.sent_ns - t0_ns) / 1e9)

    def on_end(r) -> None:
        if short_ok:
            r.accept_short()
        recorder.ended(r.to_json_dict(t0_ns))
        events.request_ended(r)
        o = r.outcome
        if o == OK or r.first_ns:
            watch.served()
        elif r.status is not None:
            watch.life()
        elif o == CONNECTION:
            watch.kick()
        if o == OK:
            live.finished += 1
            if r.first_ns:
                live.recent_ttft.append((r.first_ns - r.sent_ns) / 1e9)
        elif o == CANCELLED:
            live.cancelled += 1
        else:
            live.failed += 1
            live.by_class[o] = live.by_class.get(o, 0) + 1
        if r.sent_ns:
            live.recent_lateness.append((r.sent_ns - r.scheduled_ns) / 1e9)

    if sharded is not None:
        sharded.t0_ns = t0_ns
        interrupts.cleanups.insert(0, lambda: kill_pids(p.pid for p in sharded.procs))
    dispatcher = sharded or Dispatcher(plan, session, target.url, headers, replay.timeouts, t0_ns=t0_ns,
                                       on_sent=on_sent, on_end=on_end, max_concurrency=replay.max_concurrency,
                                       drain_s=replay.drain_s, fleet=routes)

    def progress() -> dict[str, Any]:
        lat = sorted(live.recent_lateness)
        ttft = sorted(live.recent_ttft)
        live.recent_lateness.clear()
        live.recent_ttft.clear()
        ev = events.emit(EV_PROGRESS, **ProgressEvent(
            planned=live.planned, sent=live.sent, finished=live.finished, failed=live.failed,
            cancelled=live.cancelled, in_flight=dispatcher.in_flight, by_class=dict(live.by_class),
            lateness_p99_s=lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None,
            ttft_p50_s=ttft[len(ttft) // 2] if ttft else None))
        recorder.flush()
        if on_progress:
            on_progress(ev)
        return ev

    async def progress_loop() -> None:
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), PROGRESS_INTERVAL_S)
            except asyncio.TimeoutError:
                pass
            progress()

    def on_dead(why: str) -> None:
        ended["why"] = why
        # The command says it in one line at the end; the live view hears it now.
        events.emit(EV_NOTICE, message=f"the target died: {why}; ending the run")
        request_stop(REASON_TARGET_DIED)

    fleet = fleet_run.is_fleet(target)
    replica_watch = None
    if fleet and target.members:
        replica_watch = fleet_run.ReplicaWatches(target, routes, headers, say, on_dead)
    watch = replica_watch if routes is not None else HealthWatch(target, headers, on_dead, on_note=say)

    def on_sample(s: dict[str, Any]) -> None:
        watch.life()
        recorder.sample(s)
        events.emit(EV_SAMPLE, **s)

    done = asyncio.Event()
    scrape_stop = asyncio.Event()
    aux = [asyncio.create_task(progress_loop()), asyncio.create_task(watch.run(done))]
    if replica_watch is not None and replica_watch is not watch:
        aux.append(asyncio.create_task(replica_watch.run(done)))
    scraper = None
    if replay.scrape_interval_s > 0 and fleet:
        fleet_scrapers = fleet_run.scrapers(session, info, replay.scrape_interval_s, t0_ns, on_sample, say, headers)
        # A baseline from every replica before the first request: its counters' run deltas then miss nothing.
        await asyncio.gather(*(sc.sample_once() for sc in fleet_scrapers))
        aux += [asyncio.create_task(sc.run(scrape_stop)) for sc in fleet_scrapers]
        scraper = fleet_scrapers[0] if fleet_scrapers else None
    elif replay.scrape_interval_s > 0:
        scraper = Scraper(session, target.url, replay.scrape_interval_s, t0_ns, on_sample, say, headers,
                          metrics_url=info.metrics_url)
        aux.append(asyncio.create_task(scraper.run(scrape_stop)))
    try:
        if replay.mode == "closed":
            await dispatcher.run_closed(replay.users, replay.think_time_s, stop)
        else:
            await dispatcher.run_open(stop)
    finally:
        if dispatcher.tasks:
            await dispatcher.cancel_all()
        scrape_stop.set()
        done.set()
        await asyncio.gather(*aux, return_exceptions=True)
        if scraper is not None and scraper.cache_config:
            run_info["cache_config"] = scraper.cache_config
        run_info["liveness"] = {"judged_from": watch.judged_from, "note": watch.note}
        progress()
        await session.close()
    return reason[0]


async def _send_warmup(plan, n: int, session, url: str, headers: dict[str, str], replay: ReplaySettings,
                       recorder: rec_mod.Recorder, stop: asyncio.Event, events_stdout: bool, short_ok: bool,
                       fleet=None) -> None:
    """`n` requests shaped like the plan's first ones (plan.warmup_plan), all at once (within max_concurrency),
    before the run's clock starts: a server's first requests pay one-off costs that no figure should hold. Their
    records go to the journal apart (`Recorder.warmup`); `warmup` events tell the live view how far it is. `fleet`
    (a client-routed fleet's) spreads them over the replicas."""
    from burststudio.replay.dispatch import Dispatcher
    from burststudio.replay.plan import warmup_plan

    events = Events([recorder.event], stdout=sys.stdout if events_stdout else None)
    start = time.perf_counter_ns()
    counts = {"ended": 0, "failed": 0}

    def emit(state: str) -> None:
        events.emit(EV_WARMUP, **WarmupEvent(state=state, requests=n, ended=counts["ended"], failed=counts["failed"],
                                             elapsed_s=round((time.perf_counter_ns() - start) / 1e9, 6)))

    def on_end(r) -> None:
        if short_ok:
            r.accept_short()
        recorder.warmup(r.to_json_dict(start))
        counts["ended"] += 1
        counts["failed"] += r.outcome != OK
        emit(WARMUP_RUNNING)

    emit(WARMUP_RUNNING)
    wplan = warmup_plan(plan, n)
    d = Dispatcher(wplan, session, url, headers, replay.timeouts, t0_ns=start, on_sent=lambda r: None,
                   on_end=on_end, max_concurrency=replay.max_concurrency, fleet=fleet)
    sending = asyncio.ensure_future(d.run_closed(min(n, replay.max_concurrency or n), 0.0, stop))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({sending, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not sending.done():  # the run was stopped during its warm-up
        d.why_cancelled = "the run stopped during its warm-up"
        await d.cancel_all()
        sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    emit(WARMUP_DONE)


async def _warm_up(session, url: str, headers: dict[str, str]) -> None:
    """One request before the clock starts: the first request of a session pays for imports and a connection."""
    import aiohttp

    try:
        async with session.get(url.rstrip("/") + "/v1/models", headers=headers,
                               timeout=aiohttp.ClientTimeout(total=5)) as r:
            await r.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        pass
