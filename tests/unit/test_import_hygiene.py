"""The headless core must not pull in the UI or the HTTP stack (DESIGN.md's boundaries, docs/architecture.md).

import-linter (pyproject.toml, run by `make test`) checks the import statements; this test checks what importing each
module really loads, in a fresh interpreter, so an import hidden in a package `__init__` or a plugin hook shows too.
"""

import pkgutil
import subprocess
import sys

import pytest

import burststudio
import burststudio.replay
import burststudio.reports
import burststudio.targets
import burststudio.workload

# What each headless package must never load, whatever it imports.
FORBIDDEN = {
    "burststudio.workload": {"textual", "textual_plot", "aiohttp"},
    "burststudio.replay": {"textual", "textual_plot"},
    "burststudio.targets": {"textual", "textual_plot"},
    "burststudio.reports": {"textual", "textual_plot", "aiohttp", "matplotlib"},
}
# Modules read by the studio and the pure summary: not even the HTTP stack.
PURE = {
    "burststudio.vocab": {"numpy", "pandas", "pyarrow", "scipy", "aiohttp", "textual", "prometheus_client"},
    "burststudio.journal": {"numpy", "pyarrow", "aiohttp", "textual"},
    "burststudio.figures": {"numpy", "pyarrow", "aiohttp", "textual"},
    "burststudio.rundir": {"pyarrow", "aiohttp", "textual"},
    "burststudio.replay.summary": {"aiohttp", "pyarrow", "textual"},
    "burststudio.settings": {"numpy", "aiohttp", "textual"},
    "burststudio.schema": {"numpy", "aiohttp", "textual"},
}


def _modules() -> list[tuple[str, frozenset[str]]]:
    out = []
    for package, forbidden in FORBIDDEN.items():
        pkg = sys.modules[package]
        out.append((package, frozenset(forbidden)))
        for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
            if info.name.endswith("__main__"):
                continue
            out.append((info.name, frozenset(forbidden | PURE.get(info.name, set()))))
    names = {name for name, _ in out}
    out += [(name, frozenset(f)) for name, f in PURE.items() if name not in names]
    return sorted(out)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_the_walk_finds_the_headless_modules():
    names = {name for name, _ in _modules()}
    assert len(names) > 40
    assert {"burststudio.replay.client", "burststudio.workload.fit", "burststudio.targets.vllm"} <= names


@pytest.mark.parametrize(("module", "forbidden"), _modules(), ids=[m for m, _ in _modules()])
def test_a_headless_module_loads_no_ui(module, forbidden):
    loaded = _loaded_after(f"import {module}")
    assert not (forbidden & loaded), f"{module} loads {sorted(forbidden & loaded)}"


def test_cli_help_imports_no_heavy_packages():
    loaded = _loaded_after("import burststudio.cli\nburststudio.cli.build_parser()")
    for heavy in ("numpy", "pandas", "pyarrow", "scipy", "textual", "aiohttp"):
        assert heavy not in loaded, heavy

