"""The one place where URL text from a user becomes a server's address.

`parse(text, setting)` gives an `Address` or raises a TargetError of one line that names the setting the text came
from (`target.url`, `--target`). A user name and password in the URL (`http://user:pass@host`) are taken out of the
address: they travel only as an `Authorization: Basic` header, so the address that is shown, logged and written to
run.json never holds them, and every message that has to show the user's text shows it through `shown`, which
hides them. `redact` does the same for any text that may hold a URL (the resolved preset a run keeps).

What is accepted is deliberately narrow: http or https, a host name (IDNA for non-ASCII), an IPv4 address or a
bracketed IPv6 address, an optional port 1-65535, and an optional path prefix; no query, no fragment, no @ in the
path, no spaces or control characters. A trailing `/` or `/v1` is dropped: the API paths are added to the base.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from burststudio.errors import one_line
from burststudio.targets.base import TargetError

MAX_LENGTH = 2048
SCHEMES = ("http", "https")

# RFC 3986: what may stand in a user-info part and in a path (percent-escapes allowed in both).
_USERINFO = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*")
# No @ in a path, though RFC 3986 allows it: `http://host/x:pw@...` is far likelier a password with an unencoded /
# than a path, and a path that is refused is never shown as an address.
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:/]|%[0-9A-Fa-f]{2})*")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
# Credentials in free text: a scheme, then anything up to an @ that stays inside the URL's authority.
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@\"'<>\\]*@")
HIDDEN = "***"


@dataclass(frozen=True)
class Address:
    scheme: str  # http | https
    host: str  # as it stands in a URL: lower case, IDNA-encoded, an IPv6 address in brackets
    port: int | None  # None: the scheme's default
    path: str = ""  # "" or a prefix such as "/serving", without a trailing slash
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def base(self) -> str:
        """The URL without credentials: what is connected to, shown and written."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"

    @property
    def hostname(self) -> str:
        """The host as a socket takes it (an IPv6 address without brackets)."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def auth_headers(self) -> dict[str, str]:
        """`Authorization: Basic` from the URL's user name and password; {} without them."""
        if not self.has_credentials:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password}".encode("utf-8")).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def __str__(self) -> str:
        return self.base


def shown(text: object) -> str:
    """User text that may be a URL, fit for a one-line message: credentials hidden, escaped, cut short.

    Text that failed to parse cannot be trusted to split where a parser would, so everything from the scheme (or
    the start, when an `@` comes before any `://`) to the last `@` is hidden."""
    s = str(text)
    at = s.rfind("@")
    if at >= 0:
        start = s.find("://")
        start = start + 3 if 0 <= start < s.find("@") else 0
        s = s[:start] + HIDDEN + s[at:]
    return f"'{one_line(s, 160)}'"


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it hidden (`http://***@host`)."""
    return _CREDENTIALS.sub(lambda m: m.group(1) + HIDDEN + "@", text)


def _fail(setting: str, text: str, problem: str) -> TargetError:
    return TargetError(f"{shown(text)} {problem}", where=setting)


def parse(text: object, setting: str = "target.url") -> Address:
    """The address `text` names, or a TargetError `SETTING: 'TEXT' PROBLEM` (credentials hidden)."""
    if not isinstance(text, str):
        raise TargetError(f"must be a URL (a string), got {type(text).__name__}", where=setting)
    raw = text.strip()
    if not raw:
        raise TargetError("is empty: give the server's URL, such as http://127.0.0.1:8000", where=setting)
    if len(raw) > MAX_LENGTH:
        raise _fail(setting, raw, f"is longer than {MAX_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise _fail(setting, raw, "holds a space or a control character")
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise _fail(setting, raw, "must start with http:// or https://")
    scheme = scheme.lower()
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, hostport = authority.rpartition("@")
    hint = " (a user name or password must percent-encode @ : / ? #)" if "@" in raw else ""
    if "?" in tail or "#" in tail:
        raise _fail(setting, raw, "must be a base URL, without ? or #" + hint)
    if at and not _USERINFO.fullmatch(userinfo):
        raise _fail(setting, raw, "has a user name or password with characters a URL cannot hold" + hint)
    host, port = _host_port(setting, raw, hostport, hint)
    path = tail.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3].rstrip("/")
    if not _PATH.fullmatch(path):
        raise _fail(setting, raw, "has a path with characters a base URL cannot hold (percent-encode them)" + hint)
    user, _, password = userinfo.partition(":")
    return Address(scheme, host, port, path, unquote(user), unquote(password))


def _host_port(setting: str, raw: str, hostport: str, hint: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _fail(setting, raw, "has an IPv6 address without its closing ]")
        inside, after = hostport[1:end], hostport[end + 1:]
        if after and not after.startswith(":"):
            raise _fail(setting, raw, "has characters after its IPv6 address that are not a :port")
        try:
            ip = ipaddress.IPv6Address(inside.replace("%25", "%"))
        except ValueError:
            raise _fail(setting, raw, "has something in brackets that is not an IPv6 address") from None
        host, port_text = f"[{ip.compressed}]", after[1:] if after else None
    else:
        name, colon, port_text_ = hostport.partition(":")
        if ":" in port_text_:
            raise _fail(setting, raw, "has more than one : in its host (an IPv6 address goes in brackets)" + hint)
        port_text = port_text_ if colon else None
        if not name:
            raise _fail(setting, raw, "has no host")
        host = _hostname(setting, raw, name, hint)
    if port_text is None or port_text == "":
        return host, None
    if not _PORT.fullmatch(port_text):
        raise _fail(setting, raw, "has a port that is not a number" + hint)
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise _fail(setting, raw, f"has the port {port}, outside 1-65535")
    return host, port


def _hostname(setting: str, raw: str, name: str, hint: str) -> str:
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise _fail(setting, raw, "has a host name that cannot be written in ASCII (IDNA)") from None
    labels = ascii_name.lower().removesuffix(".").split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _fail(setting, raw, "has a host that is not a host name or an IPv4 address" + hint)
    return ascii_name.lower()
