"""Errors a user can cause, and the exit codes the command line maps them to."""

from __future__ import annotations

from burststudio.vocab import EXIT_USAGE


# What str.splitlines breaks a line at: a value quoted in an error (a file's bytes, a key) must not split it.
_LINE_BREAKS = {c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """`text` with every character that would end a line written as its escape."""
    return text.translate(str.maketrans(_LINE_BREAKS)) if any(c in text for c in _LINE_BREAKS) else text


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
