"""The house rules, checked on every test run: the linters and the import contracts of
pyproject.toml report nothing (docs/architecture.md says what each one keeps)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
    "mypy": [sys.executable, "-m", "mypy", "--no-incremental"],
    "import contracts": [str(BIN / "lint-imports"), "--no-cache"],
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_tree_passes(name: str) -> None:
    done = subprocess.run(
        CHECKS[name], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    report = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"{name} found problems:\n{report}"
