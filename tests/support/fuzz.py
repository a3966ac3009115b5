"""Shared settings of the property-based (fuzz) tests.

The unit suite runs a modest number of examples per property (the `ci` count); `bench/fuzz_long.py` runs the same
tests with many more by setting BURSTSTUDIO_FUZZ_EXAMPLES. Every property says the same thing: any input gives a
result or one clear UserError line, never another exception and never a hang.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from hypothesis import HealthCheck, settings

from burststudio.errors import UserError

CI_EXAMPLES = 40
EXAMPLES = int(os.environ.get("BURSTSTUDIO_FUZZ_EXAMPLES", CI_EXAMPLES))
HANG_S = float(os.environ.get("BURSTSTUDIO_FUZZ_HANG_S", 20))

FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


class Hang(Exception):
    """An input kept the code busy past HANG_S."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_S):
    """Fail the example (instead of blocking the suite) when it runs past `seconds`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise Hang(f"still running after {seconds:g} s")

    prev = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, prev)


def check_user_error(exc: UserError) -> str:
    """The error as the command line prints it: one non-empty line."""
    text = str(exc)
    assert text.strip(), "an empty error message"
    assert "\n" not in text and "\r" not in text, f"the error is not one line: {text!r}"
    return text


def outcome(call):
    """Run `call` under the hang guard: ('ok', value) or ('error', message); anything else propagates."""
    with no_hang():
        try:
            return "ok", call()
        except UserError as exc:
            return "error", check_user_error(exc)
