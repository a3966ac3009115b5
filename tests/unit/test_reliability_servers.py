"""Servers that are not what they claim, and URLs that are not URLs: `burststudio replay` as a user runs it exits 2
with one line that says which URL answered what (or which setting holds what), never a traceback; a password in
the URL is never shown or written; a /health that answers 503 while requests are served does not end the run.

The servers are tests/support/hostile_server.py (raw sockets on a thread); the command is `burststudio.cli.main`
in this process, and a real subprocess where what the process prints or writes is the point."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.hostile_server import MODES, HostileServer  # noqa: E402
from tests.support.replay import ROOT, workload, write_preset  # noqa: E402

from burststudio.cli import main  # noqa: E402
from burststudio.replay.health import REQUESTS, HealthWatch  # noqa: E402

# mode -> what the error line says (every mode of the hostile server but the working ones)
SAYS = {
    "garbage_banner": "/v1/models answered something that is not HTTP: 'SSH-2.0-OpenSSH_9.6p1 Ubuntu\\r\\n'",
    "binary_banner": "answered something that is not HTTP: '\\x00\\x1b[2J",
    "broken_status": "answered something that is not HTTP: 'HTTP/1.1 abc OK",
    "http2_status": "answered a protocol that is not HTTP/1.x: 'HTTP/2.0'",
    "close_silently": "is not reachable: the server closed the connection without answering",
    "truncated_body": "answered a body cut short or broken (10 bytes read, 990 more expected)",
    "broken_chunk": "answered a body cut short or broken",
    "huge_header": "answered broken HTTP (got more than 65536 bytes when reading header line)",
    "huge_status_line": "answered broken HTTP (got more than 65536 bytes when reading status line)",
    "many_headers": "answered broken HTTP (got more than 100 headers)",
    "huge_body": "/v1/models answered more than 16 MiB",
    "redirect": "/v1/models answered HTTP 301, a redirect to 'http://elsewhere.example/v1/models'",
    "not_found": "/v1/models answered HTTP 404",
    "metrics_garbage": "/metrics answered something that is not HTTP",
    "models_not_json": "/v1/models did not answer JSON (Expecting value: line 1 column 1 (char 0)): '<html>",
    "models_empty": "/v1/models did not answer JSON",
    "models_not_utf8": "did not answer JSON ('utf-8' codec can't decode byte 0xff",
    "models_top_list": "/v1/models answered a list, not an object with a model list (data)",
    "models_top_string": "/v1/models answered a string, not an object",
    "models_strings": "/v1/models data[0] is a string, not a model object",
    "models_data_dict": "answered data = an object, not a list of models",
    "models_data_null": "answered data = null, not a list of models",
    "models_no_data": "answered data = null, not a list of models",
    "models_no_id": "data[0] has no model id (id is missing)",
    "models_id_number": "data[0] has no model id (id is a number)",
    "models_id_empty": "data[0] has no model id (id is empty)",
    "models_id_control": "data[0].id 'm\\n\\x1b[2Jfake: error' is not a model name",
    "models_id_huge": "data[0].id 'mmmm",
    "models_second_bad": "data[1] is a string, not a model object",
    "mml_negative": "data[0].max_model_len must be >= 16, got -6",
    "mml_zero": "data[0].max_model_len must be >= 16, got 0",
    "mml_tiny": "data[0].max_model_len must be >= 16, got 3",
    "mml_nan": "did not answer JSON (NaN is not a JSON number)",
    "mml_infinity": "did not answer JSON (Infinity is not a JSON number)",
    "mml_minus_infinity": "did not answer JSON (-Infinity is not a JSON number)",
    "mml_1e400": "did not answer JSON (1e400 is beyond the range of a number)",
    "mml_huge": "data[0].max_model_len must be <= 1000000000, got 1000000000000000000000000000000",
    "mml_digits": "did not answer JSON (Exceeds the limit (4300 digits)",
    "mml_fraction": "data[0].max_model_len must be an integer, got 4096.5",
    "mml_string": 'data[0].max_model_len must be an integer, got "4096"',
    "mml_bool": "data[0].max_model_len must be an integer, got true",
    "mml_list": "data[0].max_model_len must be an integer, got an array",
    "nan_elsewhere": "did not answer JSON (NaN is not a JSON number)",
    "deep_body": "/v1/models answered JSON nested too deeply to read",
    "deep_data": "/v1/models answered JSON nested too deeply to read",
    "deep_field": "/v1/models answered JSON nested too deeply to read",
}
WORKING = ("ok", "health_503")
PASSWORD = "s3cret-Pw"


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "small.parquet"
    workload(5, gap_s=0.01, output=3).to_parquet(path)
    return path


def error_line(capsys, code: int) -> str:
    """The one error line of a run that could not start (exit 2)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    errors = [ln for ln in lines if ": error: " in ln]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    line = errors[0]
    assert line.isprintable() and len(line) < 400, line
    return line


def test_every_mode_is_checked():
    assert set(SAYS) | set(WORKING) == set(MODES)


@pytest.mark.parametrize("mode", sorted(SAYS))
def test_a_server_that_is_not_what_it_claims_exits_2_with_one_line(mode, trace, tmp_path, capsys):
    with HostileServer(mode) as srv:
        code = main(["replay", str(trace), "--target", srv.url, "--out", str(tmp_path / "run")])
        line = error_line(capsys, code)
    assert line.startswith("burststudio replay: error: " + srv.url), line
    assert SAYS[mode] in line, line
    assert not (tmp_path / "run" / "journal.jsonl").exists()  # nothing was sent


def test_the_working_server_runs(trace, tmp_path, capsys):
    with HostileServer("ok") as srv:
        code = main(["replay", str(trace), "--target", srv.url, "--out", str(tmp_path / "run"), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    s = json.loads(out.strip().splitlines()[-1])
    assert s["finished"] == 5 and s["liveness"]["judged_from"] == "health" and s["liveness"]["note"] is None


def test_tls_to_a_plain_http_server_exits_2(trace, tmp_path, capsys):
    with HostileServer("ok") as srv:
        url = srv.url.replace("http://", "https://")
        line = error_line(capsys, main(["replay", str(trace), "--target", url, "--out", str(tmp_path / "r")]))
    assert f"{url}/v1/models: the TLS handshake failed" in line


def test_a_server_that_drips_ends_within_the_timeout():
    import time

    from burststudio.targets import address, answers

    with HostileServer("drip") as srv:
        t0 = time.monotonic()
        with pytest.raises(answers.Unreachable, match="no whole answer within 0.5 s"):
            answers.get(address.parse(srv.url), "/v1/models", 0.5)
        assert time.monotonic() - t0 < 1.5


# URLs ---------------------------------------------------------------------------------------------------------------
BAD_URLS = {
    "http://127.0.0.1:80a": "has a port that is not a number",
    "http://127.0.0.1:99999": "has the port 99999, outside 1-65535",
    "http://127.0.0.1:0": "has the port 0, outside 1-65535",
    "http://[::1:8000": "has an IPv6 address without its closing ]",
    "http://[::g]:8000": "has something in brackets that is not an IPv6 address",
    "http://::1:8000": "has more than one : in its host",
    "http://": "has no host",
    "127.0.0.1:8000": "must start with http:// or https://",
    "ftp://127.0.0.1": "must start with http:// or https://",
    "http://a b:80": "holds a space or a control character",
    "http://h\x1b[2J:80": "holds a space or a control character",
    "http://h:80/?model=x": "must be a base URL, without ? or #",
    "http://h_o$t:80": "has a host that is not a host name or an IPv4 address",
    "http://h:80/a b": "holds a space or a control character",
    "http://h:80/a\"b": "has a path with characters a base URL cannot hold",
}


@pytest.mark.parametrize("url", list(BAD_URLS))
def test_a_bad_target_url_exits_2_naming_the_setting(url, trace, tmp_path, capsys):
    line = error_line(capsys, main(["replay", str(trace), "--target", url, "--out", str(tmp_path / "r")]))
    assert line.startswith("burststudio replay: error: --target: '"), line
    assert BAD_URLS[url] in line


def test_an_empty_url_in_a_preset_names_target_url(trace, tmp_path, capsys):
    preset = write_preset(tmp_path / "p.toml", trace, "")
    line = error_line(capsys, main(["replay", str(preset), "--out", str(tmp_path / "r")]))
    assert "error: target.url: is empty" in line


def test_a_bad_url_in_a_preset_names_target_url(trace, tmp_path, capsys):
    preset = write_preset(tmp_path / "p.toml", trace, f"http://bob:{PASSWORD}@127.0.0.1:80x")
    line = error_line(capsys, main(["replay", str(preset), "--out", str(tmp_path / "r")]))
    assert "error: target.url: 'http://***@127.0.0.1:80x' has a port that is not a number" in line
    assert PASSWORD not in line


@pytest.mark.parametrize("url", [f"http://bob:{PASSWORD}@127.0.0.1:8o", f"http://bob:{PASSWORD}/x@127.0.0.1:1",
                                 f"http://bob:{PASSWORD}#@h:1", f"http://bob:{PASSWORD}@[::1", f"ftp://bob:{PASSWORD}@h",
                                 f"http://bob:{PASSWORD}@h:1/?q", f"http://bob:{PASSWORD}@@h:1"])
def test_a_bad_url_never_shows_its_password(url, trace, tmp_path, capsys):
    line = error_line(capsys, main(["replay", str(trace), "--target", url, "--out", str(tmp_path / "r")]))
    assert PASSWORD not in line and "***" in line


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burststudio", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_a_password_in_the_url_is_sent_and_never_written(trace, tmp_path):
    with HostileServer("ok") as srv:
        url = srv.url.replace("http://", f"http://bob:{PASSWORD}@")
        p = _cli("replay", str(trace), "--target", url, "--out", str(tmp_path / "run"), "--events")
        seen = [h.get("authorization") for _, _, h in srv.requests]
    assert p.returncode == 0, p.stderr
    assert PASSWORD not in p.stdout + p.stderr
    # Every request carried it, as Basic auth: it went to the server, and nowhere else.
    assert seen and all(a == "Basic Ym9iOnMzY3JldC1Qdw==" for a in seen)
    files = [f for f in (tmp_path / "run").rglob("*") if f.is_file()]
    assert {"run.json", "summary.json", "preset.toml", "journal.jsonl"} <= {f.name for f in files}
    for f in files:
        assert PASSWORD.encode() not in f.read_bytes(), f
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["target"]["url"] == srv.url


def test_a_password_is_not_shown_when_the_server_is_hostile(tmp_path, trace):
    with HostileServer("garbage_banner") as srv:
        url = srv.url.replace("http://", f"http://bob:{PASSWORD}@")
        p = _cli("replay", str(trace), "--target", url, "--out", str(tmp_path / "run"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert PASSWORD not in p.stderr and "answered something that is not HTTP" in p.stderr.strip().splitlines()[-1]


def test_a_password_and_an_api_key_together_exit_2(trace, tmp_path):
    preset = write_preset(tmp_path / "p.toml", trace, f"http://bob:{PASSWORD}@127.0.0.1:9")
    preset.write_text(preset.read_text().replace('kind = "url"', 'kind = "url"\napi_key_env = "H1_KEY"'))
    p = subprocess.run([sys.executable, "-m", "burststudio", "replay", str(preset), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ, H1_KEY="k"))
    assert p.returncode == 2 and "give one of them" in p.stderr and PASSWORD not in p.stderr


# /health that disagrees with the requests -----------------------------------------------------------------------
def test_a_health_503_while_requests_are_served_does_not_end_the_run(tmp_path):
    trace = tmp_path / "w.parquet"
    workload(25, gap_s=0.1, output=3).to_parquet(trace)  # 2.5 s: several probes
    with HostileServer("health_503") as srv:
        p = _cli("replay", str(trace), "--target", srv.url, "--out", str(tmp_path / "run"), "--json")
        probes = sum(1 for _, path, _ in srv.requests if path == "/health")
    assert p.returncode == 0, p.stderr
    assert probes >= 2
    s = json.loads(p.stdout.strip().splitlines()[-1])
    assert s["finished"] == 25 and s["reason"] == "done"
    note = f"{srv.url}/health answered HTTP 503 while requests were served; liveness judged from the requests"
    assert s["liveness"] == {"judged_from": "requests", "note": note}
    assert f"burststudio replay: {note}" in p.stderr.splitlines()


class _Target:
    kind = "url"
    url = "http://127.0.0.1:9"


@pytest.mark.parametrize("served, answered, dead", [(True, True, False), (False, True, True),
                                                    (False, False, True)])
def test_an_unhealthy_health_is_judged_from_the_requests(served, answered, dead):
    """/health 5xx: alive while requests are served; dead once none is served for `silent_s`, even while they
    get answers (a server that answers every request 5xx serves nothing)."""
    deaths: list[str] = []
    notes: list[str] = []
    watch = HealthWatch(_Target(), None, deaths.append, interval_s=0.02, fast_s=0.02, silent_s=0.3,
                        on_note=notes.append)

    async def probe(session):
        return "unhealthy", "/health answered HTTP 503"

    watch.probe = probe  # type: ignore[method-assign]

    async def main_():
        done = asyncio.Event()
        task = asyncio.create_task(watch.run(done))
        for _ in range(40):  # 0.8 s
            if served:
                watch.served()
            elif answered:
                watch.life()
            await asyncio.sleep(0.02)
            if task.done():
                break
        done.set()
        await task

    asyncio.run(main_())
    assert bool(deaths) is dead, (deaths, watch.probes)
    assert watch.judged_from == REQUESTS
    if dead:
        assert "/health answered HTTP 503, and no request was served for" in deaths[0]
    else:
        assert len(notes) == 1 and "liveness judged from the requests" in notes[0]
