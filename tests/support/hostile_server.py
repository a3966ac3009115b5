"""A server that is not what it claims: raw sockets on a thread, answering each request with the bytes its mode says.

    with HostileServer("garbage_banner") as srv:
        ... srv.url ...

`MODES` names every mode and what it does; a mode is a function of the request (method, path, headers, body) that
returns the raw bytes to send (status line and headers included), or None to close without a byte. The `ok`
family serves a working OpenAI-compatible server: `/v1/models`, `/health`, and completions streamed as SSE with
the asked number of tokens; every other mode spoils one thing of it. Mode `bytes` sends `srv.payload` whatever was
asked (for the property tests), and `drip` sends a status line a byte at a time.

    python -m tests.support.hostile_server MODE [--port P]    # prints `ready PORT`, serves until killed
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
import time
from typing import Callable

MODEL = "hostile"
GOOD_MODELS = {"object": "list", "data": [{"id": MODEL, "object": "model", "max_model_len": 4096}]}


def response(status: str = "200 OK", body: bytes = b"", headers: dict[str, str] | None = None,
             length: int | None = None) -> bytes:
    head = {"Content-Type": "application/json", "Content-Length": str(len(body) if length is None else length),
            "Connection": "close", **(headers or {})}
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + body


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _stream(body: bytes) -> bytes:
    """A completion streamed as vLLM does: one chunk per token, usage, [DONE]."""
    try:
        req = json.loads(body)
        n = int(req.get("max_tokens") or 1)
        prompt = req.get("prompt")
        p = len(prompt) if isinstance(prompt, list) else 1
    except (ValueError, TypeError, AttributeError):
        return response("400 Bad Request", b'{"error": "bad body"}')
    chunk = b'data: {"id":"c","object":"text_completion","model":"%s","choices":[{"index":0,"text":"x",' \
            b'"finish_reason":null}]}\n\n' % MODEL.encode()
    usage = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,' \
            b'"total_tokens":%d}}\n\n' % (p, n, p + n)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Connection: close\r\n\r\n")
    return head + chunk * n + usage + b"data: [DONE]\n\n"


Handler = Callable[[str, str, dict[str, str], bytes], "bytes | None"]


def ok_server(models: bytes | None = None, health: bytes | None = None, metrics: bytes | None = None) -> Handler:
    """A working server, with any of its three GET answers replaced by raw bytes."""
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes | None:
        if method == "POST":
            return _stream(body)
        if path.endswith("/v1/models"):
            return response(body=_json(GOOD_MODELS)) if models is None else models
        if path.endswith("/health"):
            return response() if health is None else health
        if path.endswith("/metrics"):
            return response("404 Not Found") if metrics is None else metrics
        return response("404 Not Found")
    return handle


def models_body(body: bytes | str) -> Handler:
    """A server whose /v1/models answers 200 with this body."""
    raw = body.encode() if isinstance(body, str) else body
    return ok_server(models=response(body=raw))


def everywhere(raw: bytes | None) -> Handler:
    return lambda method, path, headers, body: raw


DEEP = 100_000
# mode -> (what it does, its handler)
MODES: dict[str, tuple[str, Handler]] = {
    "ok": ("a working server", ok_server()),
    "health_503": ("/health answers 503 while every completion succeeds", ok_server(health=response(
        "503 Service Unavailable"))),
    # not HTTP at all
    "garbage_banner": ("an SSH banner instead of a status line", everywhere(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu\r\n")),
    "binary_banner": ("binary bytes and a terminal escape", everywhere(b"\x00\x1b[2J\x1b[31m\xff\xfe\x07boom\r\n\r\n")),
    "broken_status": ("a status line whose code is not a number", everywhere(b"HTTP/1.1 abc OK\r\n\r\n")),
    "http2_status": ("a status line of a protocol that is not HTTP/1.x", everywhere(b"HTTP/2.0 200 OK\r\n\r\n")),
    "close_silently": ("reads the request and closes without a byte", everywhere(None)),
    # broken HTTP
    "truncated_body": ("Content-Length 1000, ten bytes, then the connection closes",
                       everywhere(response(body=b'{"data": [', length=1000))),
    "broken_chunk": ("a chunked body whose chunk size is not hex", everywhere(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")),
    "huge_header": ("a header line of 70,000 bytes", everywhere(response(headers={"X-Big": "a" * 70_000}))),
    "huge_status_line": ("a status line of 70,000 bytes", everywhere(b"HTTP/1.1 200 " + b"O" * 70_000 + b"\r\n\r\n")),
    "many_headers": ("150 headers", everywhere(response(headers={f"X-H{i}": "v" for i in range(150)}))),
    "huge_body": ("a /v1/models body of 20 MiB", lambda *req: response(body=b" " * (20 * 2**20) + b"{}")),
    "redirect": ("/v1/models answers 301 to elsewhere", ok_server(models=response(
        "301 Moved Permanently", headers={"Location": "http://elsewhere.example/v1/models"}))),
    "not_found": ("404 to everything", everywhere(response("404 Not Found"))),
    "metrics_garbage": ("a good /v1/models, and an SSH banner on /metrics", ok_server(metrics=b"SSH-2.0-x\r\n")),
    # /v1/models bodies of the wrong shape
    "models_not_json": ("an HTML page", models_body("<html><body>Welcome to nginx!</body></html>")),
    "models_empty": ("an empty body", models_body(b"")),
    "models_not_utf8": ("bytes that are not UTF-8", models_body(b'{"data": [{"id": "\xff\xfe"}]}')),
    "models_top_list": ("a list instead of an object", models_body('["tiny", "other"]')),
    "models_top_string": ("a JSON string", models_body('"tiny"')),
    "models_strings": ("data is a list of strings", models_body('{"data": ["tiny", "other"]}')),
    "models_data_dict": ("data is an object", models_body('{"data": {"id": "tiny"}}')),
    "models_data_null": ("data is null", models_body('{"data": null}')),
    "models_no_data": ("no data key", models_body('{"models": [{"id": "tiny"}]}')),
    "models_no_id": ("an entry without id", models_body('{"data": [{"max_model_len": 4096}]}')),
    "models_id_number": ("an id that is a number", models_body('{"data": [{"id": 7}]}')),
    "models_id_empty": ("an empty id", models_body('{"data": [{"id": ""}]}')),
    "models_id_control": ("an id with a line break and escapes", models_body(json.dumps(
        {"data": [{"id": "m\n\x1b[2Jfake: error"}]}))),
    "models_id_huge": ("an id of 100,000 characters", models_body(json.dumps({"data": [{"id": "m" * 100_000}]}))),
    "models_second_bad": ("a good entry, then a string", models_body('{"data": [{"id": "tiny"}, "x"]}')),
    # numbers a server should not be believed
    "mml_negative": ("max_model_len -6", models_body('{"data": [{"id": "tiny", "max_model_len": -6}]}')),
    "mml_zero": ("max_model_len 0", models_body('{"data": [{"id": "tiny", "max_model_len": 0}]}')),
    "mml_tiny": ("max_model_len 3", models_body('{"data": [{"id": "tiny", "max_model_len": 3}]}')),
    "mml_nan": ("max_model_len NaN", models_body('{"data": [{"id": "tiny", "max_model_len": NaN}]}')),
    "mml_infinity": ("max_model_len Infinity", models_body('{"data": [{"id": "tiny", "max_model_len": Infinity}]}')),
    "mml_minus_infinity": ("max_model_len -Infinity",
                           models_body('{"data": [{"id": "tiny", "max_model_len": -Infinity}]}')),
    "mml_1e400": ("max_model_len 1e400 (beyond a double)",
                  models_body('{"data": [{"id": "tiny", "max_model_len": 1e400}]}')),
    "mml_huge": ("max_model_len 10**30", models_body('{"data": [{"id": "tiny", "max_model_len": %d}]}' % 10**30)),
    "mml_digits": ("max_model_len of 5,000 digits", models_body('{"data": [{"id": "tiny", "max_model_len": %s}]}'
                                                                % ("9" * 5000))),
    "mml_fraction": ("max_model_len 4096.5", models_body('{"data": [{"id": "tiny", "max_model_len": 4096.5}]}')),
    "mml_string": ('max_model_len "4096"', models_body('{"data": [{"id": "tiny", "max_model_len": "4096"}]}')),
    "mml_bool": ("max_model_len true", models_body('{"data": [{"id": "tiny", "max_model_len": true}]}')),
    "mml_list": ("max_model_len [4096]", models_body('{"data": [{"id": "tiny", "max_model_len": [4096]}]}')),
    "nan_elsewhere": ("NaN in a field BurstStudio does not read",
                      models_body('{"data": [{"id": "tiny", "created": NaN, "max_model_len": 4096}]}')),
    # nesting
    "deep_body": ("the whole body nested 100,000 deep", models_body("[" * DEEP + "]" * DEEP)),
    "deep_data": ("data nested 100,000 deep", models_body('{"data": ' + "[" * DEEP + "]" * DEEP + "}")),
    "deep_field": ("max_model_len nested 100,000 deep", models_body(
        '{"data": [{"id": "tiny", "max_model_len": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}]}")),
}


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if data.startswith(b"\x16"):  # a TLS ClientHello: answer as a plain HTTP server does
            return "TLS", "", {}, data
        if len(data) > 1 << 20:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length") or 0)
    while len(body) < want:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path, headers, body


class HostileServer:
    """A raw-socket server on a thread; `requests` keeps (method, path, headers) of each request it read."""

    def __init__(self, mode: str = "ok", handler: Handler | None = None, port: int = 0):
        self.mode = mode
        self.payload = b""
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self
        if mode == "bytes":
            handler = lambda *_: outer.payload  # noqa: E731
        elif mode == "drip":
            handler = None
        self.handler = handler or (MODES[mode][1] if mode in MODES else None)

        class Handle(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(30)
                try:
                    req = _read_request(conn)
                    if req is None:
                        return
                    outer.requests.append(req[:3])
                    if outer.mode == "drip":
                        for b in b"HTTP/1.1 200 OK\r\n" * 1000:
                            conn.sendall(bytes([b]))
                            time.sleep(0.05)
                        return
                    tls = req[0] == "TLS"
                    raw = response("400 Bad Request") if tls else outer.handler(*req)  # type: ignore[misc]
                    if raw:
                        conn.sendall(raw)
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(1.0)
                    try:  # let the peer read everything before the close (no reset on unread request bytes)
                        while conn.recv(65536):
                            pass
                    except OSError:
                        pass
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handle)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "HostileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args(argv)
    with HostileServer(a.mode, port=a.port) as srv:
        print(f"ready {srv.port}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv[1:])
