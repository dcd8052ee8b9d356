"""Lint and type checks are part of the suite, so CI keeps them clean (ruff, mypy)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    result = run(ruff, "check", "tapegrad", "tests", "benchmarks", "scripts")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_is_clean() -> None:
    result = run(sys.executable, "-m", "mypy", "tapegrad")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
