"""What a server answers before a run, read as untrusted input: the one boundary between the `url` target's
preflight (`/v1/models`, `/metrics`, `/health`) and the bytes a peer sends.

`get(address, path, timeout)` ends within `timeout` whatever the peer does (a watchdog cuts the socket at the
deadline, however slowly the peer drips its bytes), follows no redirect and no proxy (the replay's own requests
follow neither), and reads at most MAX_BODY bytes. Anything that goes wrong is one of two TargetErrors (exit 2),
each one line that names the URL and what it answered, escaped and cut short:

  Unreachable  nothing answered: refused, reset, closed before a status line, no whole answer in time, a host that
               does not resolve. `immediate` says the peer said so at once (refused, reset, closed): worth little
               waiting for, unlike a timeout.
  BadAnswer    something answered, but not HTTP as a server speaks it: a first line that is not a status line, a
               header line over 64 KiB, more than 100 headers, a body cut short or over MAX_BODY, a broken chunk,
               a failed TLS handshake; or a body that is not what the path answers (below).

`json_of` reads a body as strict JSON: no NaN or Infinity, every number within a double, nesting the parser can
follow. `models_of` reads `/v1/models`: an object whose `data` is a list of objects, each with a printable string
`id` and an optional `max_model_len` checked as a user's `max_model_len` is (preset_validate.check_value), under an
upper bound no real model reaches.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from burststudio.errors import one_line
from burststudio.preset_validate import Invalid, check_value, key_name
from burststudio.schema import settings_params
from burststudio.settings import VllmSettings
from burststudio.targets.address import Address
from burststudio.targets.base import TargetError

MAX_BODY = 16 * 2**20
MAX_ID_CHARS = 512
# A server's max_model_len: the user's bounds (the managed server's setting), and an upper one no model reaches.
MAX_MODEL_LEN = dataclasses.replace(next(p for p, _ in settings_params(VllmSettings) if p.name == "max_model_len"),
                                    max=10**9)


class Unreachable(TargetError):
    """Nothing answered at the address."""

    def __init__(self, message: str, *, immediate: bool = False):
        super().__init__(message)
        self.immediate = immediate


class BadAnswer(TargetError):
    """The peer answered, but not what an OpenAI-compatible server answers."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    location: str | None = None  # a redirect's target, as sent


@dataclass(frozen=True)
class Model:
    id: str
    max_model_len: int | None


def get(address: Address, path: str, timeout: float, headers: dict[str, str] | None = None,
        max_bytes: int = MAX_BODY) -> Answer:
    """GET `path` under `address`; the status and body whatever the status, or Unreachable / BadAnswer."""
    url = address.base + path
    if address.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            address.hostname, address.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    sockets: list[socket.socket] = []
    cut = threading.Event()

    def watchdog() -> None:
        cut.set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the read blocked on it
            except OSError:
                pass

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if conn.sock is not None:
            sockets.append(conn.sock)
        if cut.is_set():
            raise TimeoutError
        conn.request("GET", address.path + path, headers={"Accept": "application/json", **(headers or {})})
        r = conn.getresponse()
        body = r.read(max_bytes + 1)
        if cut.is_set():
            raise TimeoutError
        if len(body) > max_bytes:
            raise BadAnswer(f"{url} answered more than {max_bytes // 2**20} MiB")
        if r.length:  # the connection closed before the Content-Length the server announced
            raise http.client.IncompleteRead(body, r.length)
        return Answer(r.status, body, r.getheader("Location"))
    except TargetError:
        raise
    except (http.client.HTTPException, OSError, ValueError, UnicodeError, EOFError) as exc:
        raise _failure(url, address, exc, cut.is_set(), timeout) from None
    finally:
        timer.cancel()
        conn.close()


def _failure(url: str, address: Address, exc: BaseException, cut: bool, timeout: float) -> TargetError:
    """The one line for what went wrong reading `url`."""
    if cut or isinstance(exc, TimeoutError):
        return Unreachable(f"{url}: no whole answer within {timeout:g} s")
    if isinstance(exc, http.client.RemoteDisconnected):
        return Unreachable(f"{url}: the server closed the connection without answering", immediate=True)
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable(f"{url}: connection refused", immediate=True)
    if isinstance(exc, ConnectionResetError):
        return Unreachable(f"{url}: connection reset", immediate=True)
    if isinstance(exc, socket.gaierror):
        return Unreachable(f"{url}: the host {address.hostname} does not resolve ({one_line(exc.strerror)})",
                           immediate=True)
    if isinstance(exc, ssl.SSLError):
        return BadAnswer(f"{url}: the TLS handshake failed ({one_line(exc.reason or exc, 80)})")
    if isinstance(exc, http.client.BadStatusLine):
        return BadAnswer(f"{url} answered something that is not HTTP: '{one_line(exc.line, 80)}'")
    if isinstance(exc, http.client.IncompleteRead):
        more = f", {exc.expected} more expected" if exc.expected else ""
        return BadAnswer(f"{url} answered a body cut short or broken ({len(exc.partial)} bytes read{more})")
    if isinstance(exc, http.client.UnknownProtocol):
        return BadAnswer(f"{url} answered a protocol that is not HTTP/1.x: '{one_line(exc.args[0], 40)}'")
    if isinstance(exc, (http.client.HTTPException, ValueError, UnicodeError, EOFError)):
        # LineTooLong, "got more than 100 headers", a chunk size that is not hex...
        return BadAnswer(f"{url} answered broken HTTP ({one_line(exc, 100)})")
    return Unreachable(f"{url}: {one_line(getattr(exc, 'strerror', None) or exc, 100)}")


# JSON ---------------------------------------------------------------------------------------------------------------
def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{one_line(text, 30)} is beyond the range of a number")
    return value


def json_of(body: bytes, url: str) -> Any:
    """`body` as strict JSON, or BadAnswer."""
    try:
        return json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise BadAnswer(f"{url} answered JSON nested too deeply to read") from None
    except ValueError as exc:  # not JSON, not UTF-8, NaN, 1e400, an integer of thousands of digits
        raise BadAnswer(f"{url} did not answer JSON ({one_line(exc, 80)}): '{one_line(body, 60)}'") from None


def kind_of(value: Any) -> str:
    """What a JSON value is, in words (never the value itself: it may be huge or nested deep)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def models_of(doc: Any, url: str) -> list[Model]:
    """The models of a `/v1/models` answer, or BadAnswer saying what is wrong with it."""
    if not isinstance(doc, dict):
        raise BadAnswer(f"{url} answered {kind_of(doc)}, not an object with a model list (data)")
    data = doc.get("data")
    if not isinstance(data, list):
        raise BadAnswer(f"{url} answered data = {kind_of(data)}, not a list of models")
    models = []
    for i, entry in enumerate(data):
        where = f"{url} data[{i}]"
        if not isinstance(entry, dict):
            raise BadAnswer(f"{where} is {kind_of(entry)}, not a model object")
        mid = entry.get("id")
        if not isinstance(mid, str) or not mid.strip():
            what = "missing" if "id" not in entry else "empty" if isinstance(mid, str) else kind_of(mid)
            raise BadAnswer(f"{where} has no model id (id is {what})")
        if len(mid) > MAX_ID_CHARS or not mid.isprintable():
            raise BadAnswer(f"{where}.id '{one_line(mid, 60)}' is not a model name (printable, at most "
                            f"{MAX_ID_CHARS} characters)")
        models.append(Model(mid, server_number(entry.get("max_model_len"), MAX_MODEL_LEN, where)))
    return models


def server_number(value: Any, param, where: str) -> Any:
    """A number a server tells, checked as a user's value of `param` is; None stays None (not told)."""
    if value is None:
        return None
    try:
        return check_value((param.name,), value, param)
    except Invalid as exc:
        raise BadAnswer(f"{where}.{key_name(exc.path)} {one_line(exc.message, 80)}") from None
