"""The parameter tables of docs/generators.md, written from the registry so the page cannot drift from the code.

The page marks each table with `<!-- params: FAMILY.KIND -->` ... `<!-- /params -->` (or `<!-- params: sessions -->`,
`<!-- params: workload -->`); `python -m burststudio.workload.synth.docs docs/generators.md` rewrites what is
between the marks, and a test checks the page is up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from burststudio.workload.synth.spec import FAMILIES, REQUIRED, SESSIONS, WORKLOAD, Param, Table

_BLOCK = re.compile(r"(<!-- params: (?P<name>[\w.]+) -->\n)(?P<body>.*?)(<!-- /params -->)", re.S)


def _default(p: Param) -> str:
    if p.default is REQUIRED:
        return "required"
    if p.default is None:
        return "-"
    if isinstance(p.default, bool):
        return "`true`" if p.default else "`false`"
    return f"`{p.default}`"


def _rows(params: tuple[Param, ...], prefix: str = "") -> list[str]:
    rows = []
    for p in params:
        bounds = p.bounds_text() or "-"
        rows.append(f"| `{prefix}{p.name}` | {p.type} | {_default(p)} | {bounds} | {p.doc} |")
        if p.fields:
            rows += _rows(p.fields, prefix=f"{p.name}[].")
    return rows


def render(table: Table) -> str:
    lines = ["| key | type | default | bounds | meaning |", "|---|---|---|---|---|", *_rows(table.params)]
    for o in table.one_of:
        groups = " / ".join("(" + ", ".join(g) + ")" for g in o.groups)
        tail = f"; when none is given: {', '.join(f'{k} = {v}' for k, v in o.default.items())}" if o.default else ""
        lines.append("")
        lines.append(f"Give exactly one of {groups}{tail}.")
    for lo, hi in table.ordered:
        lines.append("")
        lines.append(f"`{lo}` must not exceed `{hi}`.")
    for key, other in table.needs:
        lines.append("")
        lines.append(f"`{key}` applies only with `{other}`.")
    return "\n".join(lines) + "\n"


def table_named(name: str) -> Table:
    if name == "workload":
        return WORKLOAD
    if name == "sessions":
        return SESSIONS
    family, _, kind = name.partition(".")
    return FAMILIES[family].kinds[kind]


def update(text: str) -> str:
    """`text` with every marked block rewritten from the registry."""
    return _BLOCK.sub(lambda m: m.group(1) + render(table_named(m.group("name"))) + m.group(4), text)


def marked(text: str) -> set[str]:
    return {m.group("name") for m in _BLOCK.finditer(text)}


def every_table() -> set[str]:
    names = {"workload", "sessions"}
    for fam in FAMILIES.values():
        names |= {f"{fam.name}.{k}" for k in fam.kinds}
    return names


if __name__ == "__main__":
    page = Path(sys.argv[1])
    page.write_text(update(page.read_text()))
