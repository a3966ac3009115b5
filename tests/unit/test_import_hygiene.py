"""The headless core must not pull in the UI or the HTTP stack (DESIGN.md's boundaries)."""

import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


@pytest.mark.parametrize("module", ["burststudio.workload", "burststudio.workload.model"])
def test_workload_imports_neither_textual_nor_aiohttp(module):
    loaded = _loaded_after(f"import {module}")
    assert "textual" not in loaded
    assert "aiohttp" not in loaded


def test_cli_help_imports_no_heavy_packages():
    loaded = _loaded_after("import burststudio.cli\nburststudio.cli.build_parser()")
    for heavy in ("numpy", "pandas", "pyarrow", "scipy", "textual", "aiohttp"):
        assert heavy not in loaded, heavy


@pytest.mark.parametrize("module", ["burststudio.vocab", "burststudio.journal", "burststudio.figures",
                                    "burststudio.rundir", "burststudio.replay.summary"])
def test_the_run_vocabulary_and_the_pure_summary_load_neither_aiohttp_nor_pyarrow(module):
    loaded = _loaded_after(f"import {module}")
    for heavy in ("aiohttp", "pyarrow", "textual"):
        assert heavy not in loaded, heavy
