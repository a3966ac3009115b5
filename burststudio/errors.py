"""Errors a user can cause, and the exit codes the command line maps them to."""

from __future__ import annotations

from burststudio.vocab import EXIT_USAGE


class UserError(Exception):
    """A problem with what the user gave us; printed as one line, never as a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InputFileError(UserError):
    """A trace or workload file that cannot be read as asked.

    `where` names the file and, when known, the line (1-based, header included) or row.
    """

    def __init__(self, path: str, message: str, *, line: int | None = None, row: int | None = None):
        loc = str(path)
        if line is not None:
            loc += f":{line}"
        elif row is not None:
            loc += f": row {row}"
        super().__init__(message, where=loc)
        self.path = str(path)
        self.line = line
        self.row = row


def one_line(text: object, limit: int | None = 120) -> str:
    """`text` fit to show inside a one-line message: what a server or a user sent may hold line ends (every
    character str.splitlines breaks at is not printable), escape sequences or megabytes. Bytes are read as UTF-8;
    anything not printable is escaped; longer than `limit` characters (None: any length) is cut, and says so."""
    if isinstance(text, (bytes, bytearray)):
        raw = text if limit is None else text[: limit * 4]
        s = bytes(raw).decode("utf-8", "backslashreplace")
        longer = len(raw) < len(text)
    else:
        s = text if isinstance(text, str) else str(text)
        longer = False
    if limit is not None and len(s) > limit:
        s, longer = s[:limit], True
    if not s.isprintable():
        s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    if limit is not None and len(s) > limit:
        s, longer = s[:limit], True
    return s + "..." if longer else s
