"""The import DAG of the architecture (§4): core modules never import upward."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tapegrad"

# module -> tapegrad modules it may import (prefix match)
ALLOWED = {
    "_state": set(),
    "_dtype": set(),
    "_backend": set(),
    "_engine": {"tapegrad._state"},
    "ops": {"tapegrad._engine", "tapegrad._backend", "tapegrad._dtype",
            "tapegrad.tensor"},  # tensor: for typing only
    "tensor": {"tapegrad._dtype", "tapegrad._engine", "tapegrad._state", "tapegrad.ops",
               "tapegrad._backend"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tapegrad"):
            if node.module == "tapegrad":
                found.update(f"tapegrad.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tapegrad"))
    return found


def test_core_modules_import_only_downward():
    for name, allowed in ALLOWED.items():
        for imported in imports_of(PACKAGE / f"{name}.py"):
            assert imported in allowed, f"{name}.py must not import {imported}"


def test_core_never_imports_the_public_facades():
    for path in PACKAGE.glob("*.py"):
        if path.name in ("__init__.py", "demo.py", "serialization.py", "_functional.py"):
            continue
        for imported in imports_of(path):
            facades = ("tapegrad.autograd", "tapegrad.nn", "tapegrad.optim")
            assert not imported.startswith(facades), f"{path.name} imports {imported}"


def test_core_line_budget():
    script = PACKAGE.parent / "scripts" / "loc.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
