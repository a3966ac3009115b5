"""The simulator's modules import one another in one direction: no module, at its top or inside a function, imports
one that imports it back."""

import ast
from pathlib import Path

import burststudio.targets.sim as sim_pkg

PKG = "burststudio.targets.sim"
ROOT = Path(sim_pkg.__file__).parent


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PKG + "."):
            out.add(node.module[len(PKG) + 1:].split(".")[0])
        elif isinstance(node, ast.Import):
            out.update(a.name[len(PKG) + 1:].split(".")[0] for a in node.names if a.name.startswith(PKG + "."))
    return out


def test_the_simulator_has_no_import_cycle():
    graph = {p.stem: _imports(p) for p in ROOT.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        if state.get(m) == 2:
            return
        assert state.get(m) != 1, " -> ".join(path + [m])
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            visit(n, path + [m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])
    assert "engine" in graph["run"] and "engine" not in graph["apiserver"]


def test_no_simulator_module_is_over_600_lines():
    for p in ROOT.glob("*.py"):
        if p.stem in ("engine", "scheduler", "request", "blocks", "apiserver", "run"):
            assert len(p.read_text().splitlines()) <= 600, p.name
