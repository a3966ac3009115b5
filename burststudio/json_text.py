"""Parsing JSON that a user's file holds (run.json, summary.json, a cost profile, a trace's lines, a workload file's
metadata): everything the standard library raises besides JSONDecodeError made one exception with a message.

`json.loads` also raises ValueError for an integer of over 4,300 digits, RecursionError for arrays nested past the
interpreter's recursion limit, and UnicodeDecodeError for bytes that are not UTF-8; it takes NaN and Infinity,
which no other JSON reader does. Each caller turns `BadJSON` into an InputFileError naming its file and line.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any file BurstStudio writes (a summary nests 4 levels) by far, and far from the recursion limit of
# whatever walks the value next (copy.deepcopy, json.dumps, repr).
MAX_DEPTH = 64


class BadJSON(ValueError):
    """Not a JSON value BurstStudio can hold; `message` says why in words, `line` is 1-based where known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def _no_constant(name: str) -> Any:
    raise BadJSON(f"{name} is not a number JSON allows")


def loads(text: str | bytes, *, finite: bool = True, max_depth: int = MAX_DEPTH) -> Any:
    """The value of `text`; BadJSON for anything that is not valid JSON, too deep, or (with `finite`) NaN/Infinity."""
    try:
        value = json.loads(text, parse_constant=_no_constant if finite else None)
    except BadJSON:
        raise
    except json.JSONDecodeError as exc:
        raise BadJSON(f"not valid JSON ({exc.msg})", exc.lineno) from None
    except UnicodeDecodeError:
        raise BadJSON("not UTF-8 text") from None
    except RecursionError:
        raise BadJSON(f"nested deeper than {max_depth} levels") from None
    except ValueError:  # int() past its 4,300 digits
        raise BadJSON("an integer of more than 4,300 digits") from None
    if depth_over(value, max_depth):
        raise BadJSON(f"nested deeper than {max_depth} levels")
    return value


def depth_over(value: Any, max_depth: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `max_depth` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                return True
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return False
