"""Smoke test of ``python -m tapegrad.demo`` with tiny settings (needs the ``demo`` extra)."""

from __future__ import annotations

import builtins
import re
from typing import Any

import pytest

import tapegrad
from tapegrad import demo
from tapegrad.utils.memory import saved_tensor_bytes


def test_demo_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    assert demo.main(["--epochs", "1", "--width", "4", "--batch-size", "128", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", out).group(1))  # type: ignore[union-attr]
    assert accuracy > 50.0  # one short epoch of a tiny model
    assert re.search(r"seconds per epoch: [\d.]+", out)
    grad_on = int(re.search(r"grad on: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert grad_on > 0
    assert "no_grad: 0 (0 B)" in out
    assert "inference_mode: 0 (0 B)" in out


def test_demo_without_the_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def no_sklearn(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("sklearn", "tqdm"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    assert demo.main(["--epochs", "1"]) == 1
    assert "pip install 'tapegrad[demo]'" in capsys.readouterr().err


def test_saved_tensor_bytes_counts_saved_arrays_once() -> None:
    x = tapegrad.ones(100, requires_grad=True)  # float32: 400 bytes
    y = x.exp()  # saves its output (400 B)
    z = (y * y).sum()  # mul saves y twice: the same array, counted once
    assert saved_tensor_bytes(z) == 400
    model = demo.build_model(2)
    out = model(tapegrad.ones(3, 1, 8, 8)).sum()
    assert saved_tensor_bytes(out) > 0
    with tapegrad.inference_mode():
        assert saved_tensor_bytes(model(tapegrad.ones(3, 1, 8, 8)).sum()) == 0
    out.backward()  # the graph releases what it saved
    assert saved_tensor_bytes(out) == 0
