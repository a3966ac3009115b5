"""No module of BurstStudio imports, at its top or inside a function, one that imports it back: an import circle
hidden in a function works until someone moves the import, and makes the modules one unit in disguise."""

import ast
from pathlib import Path

import burststudio

ROOT = Path(burststudio.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:` (imports for annotations only, never executed)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", "")) == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")
                    base = ".".join(up[: len(up) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                # the deepest module the name reaches (an imported name inside a module counts as that module)
                while t and t not in paths:
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):
                    out.add(t)
        graph[name] = out
    return graph


def test_the_walk_sees_the_package():
    graph = _graph()
    assert "burststudio.targets.sim.apiserver" in graph and "burststudio.replay.client" in graph
    assert "burststudio.vocab" in graph["burststudio.replay.summary"]


def test_no_module_imports_one_that_imports_it_back():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(m: str, path: list[str]) -> None:
        if state.get(m) == 2:
            return
        if state.get(m) == 1:
            cycles.append(" -> ".join(path[path.index(m):] + [m]))
            return
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            visit(n, path + [m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])
    assert not cycles, "\n".join(cycles)
