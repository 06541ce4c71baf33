"""The import contract in pyproject.toml ([tool.importlinter]) holds: layers from cli down, no cycles.

Runs the real ``lint-imports`` of this environment, so a later change that imports upwards or
closes a cycle (function-local imports included) fails the suite with import-linter's report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    pytest.importorskip("importlinter", reason="import-linter is not installed (pip install -e '.[dev]')")
    beside = Path(sys.executable).parent / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
    found = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if found is None:
        pytest.skip("the lint-imports command is not on this environment's path")
    return found


def _run(config_dir: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [_lint_imports(), "--no-cache"], cwd=config_dir, env=env, capture_output=True, text=True, timeout=300,
    )


def test_import_contract_is_kept() -> None:
    result = _run(ROOT, ROOT)
    assert result.returncode == 0, f"lint-imports: the import contract is broken\n{result.stdout}\n{result.stderr}"
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout, result.stdout


def test_function_local_import_cycle_breaks_the_contract(tmp_path: Path) -> None:
    """The same kind of contract catches a cycle made only by an import inside a function."""
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from . import high\n    return high\n")
    (package / "high.py").write_text("from . import low\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "cyclepkg"

        [[tool.importlinter.contracts]]
        name = "no cycles"
        type = "acyclic_siblings"
        ancestors = ["cyclepkg"]
    """))
    result = _run(tmp_path, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cyclepkg.low -> cyclepkg.high" in result.stdout or ".low -> .high" in result.stdout, result.stdout
