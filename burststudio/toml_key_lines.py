"""The line of each key in a TOML text, so a preset error can point at it.

tomllib parses without positions. This scanner walks a text that tomllib has already accepted (so it can be
lenient) and records the line of every key path it meets: `[table]` and `[[array]]` headers (array tables by
index), `key = value` lines, dotted keys, inline tables and arrays of inline tables.
"""

from __future__ import annotations

import bisect
import re

_BARE = re.compile(r"[A-Za-z0-9_-]+")

Path = tuple  # key names and, for arrays, indices


class _Scanner:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.lines: dict[Path, int] = {}
        self.array_counts: dict[Path, int] = {}

    # Positions ---------------------------------------------------------------------------------------------------
    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_left(self.newlines, self.i if pos is None else pos) + 1

    def record(self, path: Path, pos: int) -> None:
        self.lines.setdefault(path, self.line(pos))

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def skip_blanks(self, newlines: bool) -> None:
        """Skip spaces, tabs, comments and (when asked) newlines."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                return

    # Tokens ------------------------------------------------------------------------------------------------------
    def string(self) -> str:
        s = self.s
        for quote in ('"""', "'''"):
            if s.startswith(quote, self.i):
                end = self.i + 3
                while True:
                    end = s.find(quote, end)
                    if end < 0:
                        self.i = len(s)
                        return ""
                    if quote == '"""' and _escaped(s, end):
                        end += 1
                        continue
                    break
                # A closing run may hold up to two extra quotes that belong to the string.
                while s.startswith(quote[0], end + 3):
                    end += 1
                value = s[self.i + 3:end]
                self.i = end + 3
                return value
        quote = s[self.i]
        end = self.i + 1
        while end < len(s) and s[end] != quote:
            end += 2 if quote == '"' and s[end] == "\\" else 1
        value = s[self.i + 1:end]
        self.i = end + 1
        return value

    def key(self) -> list[tuple[str, int]]:
        """A (possibly dotted) key as (part, position) pairs."""
        parts = []
        while True:
            self.skip_blanks(newlines=False)
            pos = self.i
            if self.peek() in ('"', "'"):
                parts.append((self.string(), pos))
            else:
                m = _BARE.match(self.s, self.i)
                if not m:
                    break
                parts.append((m.group(), pos))
                self.i = m.end()
            self.skip_blanks(newlines=False)
            if self.peek() != ".":
                break
            self.i += 1
        return parts

    def value(self, path: Path) -> None:
        self.skip_blanks(newlines=False)
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "{":
            self.i += 1
            while True:
                self.skip_blanks(newlines=True)
                if self.peek() == "}":
                    self.i += 1
                    return
                if self.peek() == ",":
                    self.i += 1
                    continue
                if self.i >= len(self.s):
                    return
                self.keyval(path)
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_blanks(newlines=True)
                if self.i >= len(self.s):
                    return
                if self.peek() == "]":
                    self.i += 1
                    return
                if self.peek() == ",":
                    self.i += 1
                    index += 1
                    continue
                self.record(path + (index,), self.i)
                self.value(path + (index,))
        else:
            m = re.compile(r"[^,\]}\n#]*").match(self.s, self.i)
            self.i = m.end() if m and m.end() > self.i else self.i + 1

    def keyval(self, prefix: Path) -> None:
        parts = self.key()
        path = prefix
        for name, pos in parts:
            path = path + (name,)
            self.record(path, pos)
        self.skip_blanks(newlines=False)
        if self.peek() == "=":
            self.i += 1
            self.value(path)
        else:  # not valid TOML; step on so the scan ends
            self.i += 1

    def header(self) -> Path:
        array = self.s.startswith("[[", self.i)
        self.i += 2 if array else 1
        parts = self.key()
        self.skip_blanks(newlines=False)
        self.i += 2 if array else 1
        plain: Path = ()
        path: Path = ()
        for n, (name, pos) in enumerate(parts):
            plain += (name,)
            path += (name,)
            last = n == len(parts) - 1
            if last and array:
                self.array_counts[plain] = self.array_counts.get(plain, -1) + 1
            if plain in self.array_counts:
                self.record(path, pos)
                path += (self.array_counts[plain],)
            self.record(path, pos)
        return path

    def scan(self) -> dict[Path, int]:
        prefix: Path = ()
        while True:
            self.skip_blanks(newlines=True)
            if self.i >= len(self.s):
                return self.lines
            if self.peek() == "[":
                prefix = self.header()
            else:
                start = self.i
                self.keyval(prefix)
                if self.i == start:
                    self.i += 1


def _escaped(s: str, pos: int) -> bool:
    backslashes = 0
    while pos - backslashes - 1 >= 0 and s[pos - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def key_lines(text: str) -> dict[Path, int]:
    """Key path -> 1-based line where it is first written (tables: their header or first dotted use)."""
    scanner = _Scanner(text)
    try:
        return scanner.scan()
    except RecursionError:  # nesting past the recursion limit: the lines found before it
        return scanner.lines


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest written ancestor when the path itself is not in the text."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None
