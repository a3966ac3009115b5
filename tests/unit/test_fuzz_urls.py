"""Fuzzing the URL boundary (burststudio/targets/address.py): any text gives an address or one TargetError line
naming the setting; an address re-reads as itself and holds no credentials; a password is never in a message."""

from __future__ import annotations

import base64
import string
import sys
from pathlib import Path
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, outcome  # noqa: E402

from burststudio.settings import TargetSettings  # noqa: E402
from burststudio.targets import address  # noqa: E402
from burststudio.targets.url import UrlTarget  # noqa: E402

PIECES = ["http://", "https://", "HTTP://", "ftp://", "://", "[", "]", "::1", "fe80::1%25eth0", ":", "@", "/", "/v1",
          "?", "#", "%", "%2", "%40", "127.0.0.1", "localhost", "bücher.de", "xn--", "-", ".", "..", "8000", "0",
          "65536", "99999999999", "+1", " ", "\t", "\n", "\x00", "\x1b[2J", "\u202e", "a" * 70, "user", "pass"]
urlish = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=12).map("".join)
hosts = st.sampled_from(["127.0.0.1", "localhost", "example.com", "a-b.c_d.example.", "[::1]", "[fe80::1]",
                         "[2001:db8::8a2e:370:7334]", "bücher.de", "10.0.0.1"])
paths = st.lists(st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=8),
                 max_size=3).filter(lambda parts: parts[-1:] != ["v1"]).map(lambda parts: "".join("/" + p for p in parts))
secret = st.text(min_size=1, max_size=16).map(lambda s: "PW" + s)


def check_error(text: str) -> str:
    assert text.startswith("--target: "), text
    return text


@FUZZ
@given(urlish | st.text(max_size=80))
def test_any_text_is_an_address_or_one_line(text):
    kind, value = outcome(lambda: address.parse(text, "--target"))
    if kind == "error":
        check_error(value)
        return
    again = address.parse(value.base, "--target")
    assert again.base == value.base and not again.has_credentials
    assert value.base.startswith(("http://", "https://")) and value.base.isascii()
    assert not set("?#@ ") & set(value.base)


@FUZZ
@given(st.sampled_from(["http", "https", "HTTP"]), hosts, st.none() | st.integers(1, 65535), paths,
       st.sampled_from(["", "/", "/v1", "/v1/"]))
def test_a_well_formed_url_reads_back_as_written(scheme, host, port, path, tail):
    text = f"{scheme}://{host}{'' if port is None else f':{port}'}{path}{tail}"
    a = address.parse(text)
    assert a.scheme == scheme.lower() and a.port == port and a.path == path
    assert address.parse(a.base) == a
    target = UrlTarget(TargetSettings(url=text))
    assert target.url == a.base


@FUZZ
@given(st.text(max_size=12), secret, hosts, st.none() | st.integers(1, 65535), paths)
def test_credentials_go_to_the_header_and_nowhere_else(user, password, host, port, path):
    text = f"http://{quote(user, safe='')}:{quote(password, safe='')}@{host}{'' if port is None else f':{port}'}{path}"
    a = address.parse(text)
    assert (a.username, a.password) == (user, password)
    assert password not in a.base and "@" not in a.base.split("/", 3)[2] and password not in repr(a)
    token = a.auth_headers()["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(token).decode("utf-8") == f"{user}:{password}"
    assert quote(password, safe="") not in address.redact(f'url = "{text}"')


@FUZZ
@given(st.text(max_size=8), secret, urlish, st.sampled_from(["http://", "https://", "ftp://", ""]))
def test_a_password_is_never_in_a_message(user, password, rest, scheme):
    """Whatever follows the credentials, and however broken, the password (raw or encoded) is not shown."""
    for pw in (password, quote(password, safe="")):
        text = f"{scheme}{user}:{pw}@{rest}"
        kind, value = outcome(lambda: address.parse(text, "--target"))
        if kind == "error":
            assert pw not in check_error(value), (text, value)
        else:
            assert pw not in value.base and pw not in repr(value)
