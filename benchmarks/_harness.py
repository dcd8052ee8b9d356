"""Shared timing harness: run each regime for tapegrad and torch in the same process.

Every regime reports both medians, both minimums and the ratio tapegrad / torch (median).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def torch_module() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - the benchmarks need the test extra
        raise SystemExit("benchmarks compare against torch: pip install -e '.[test]'") from None
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    return torch


def measure(fn: Callable[[], Any], *, repeat: int = 7, min_time: float = 0.05,
            per: int = 1) -> tuple[float, float]:
    """(median, minimum) seconds per call of ``fn`` divided by ``per``, after a warm-up."""
    fn()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - start >= min_time or number >= 1 << 20:
            break
        number *= 2
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number / per)
    return statistics.median(samples), min(samples)


class Report:
    """Collects rows and prints them as a table; optionally writes JSON."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[dict[str, Any]] = []

    def add(self, regime: str, ours: tuple[float, float], theirs: tuple[float, float] | None,
            unit: str = "us") -> None:
        scale = 1e6 if unit == "us" else 1e3 if unit == "ms" else 1.0
        row: dict[str, Any] = {
            "regime": regime,
            "unit": unit,
            "tapegrad_median": ours[0] * scale,
            "tapegrad_min": ours[1] * scale,
        }
        if theirs is not None:
            row["torch_median"] = theirs[0] * scale
            row["torch_min"] = theirs[1] * scale
            if theirs[0]:
                row["ratio"] = ours[0] / theirs[0]
            elif ours[0]:
                row["ratio"] = float("inf")  # both zero (bytes kept under no_grad): no ratio
        self.rows.append(row)
        self._print(row)

    def _print(self, row: dict[str, Any]) -> None:
        if len(self.rows) == 1:
            print(f"# {self.title}  ({platform.processor() or platform.machine()}, "
                  f"numpy {np.__version__}, {os.cpu_count()} cpus)")
            print(f"{'regime':58s} {'tapegrad med/min':>20s} {'torch med/min':>20s} {'ratio':>7s}")
        ours = f"{row['tapegrad_median']:.2f}/{row['tapegrad_min']:.2f}"
        theirs = (f"{row['torch_median']:.2f}/{row['torch_min']:.2f}"
                  if "torch_median" in row else "-")
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        print(f"{row['regime'] + ' (' + row['unit'] + ')':58s} {ours:>20s} {theirs:>20s} "
              f"{ratio:>7s}")

    def write_json(self, path: str | None) -> None:
        if path:
            with open(path, "w") as handle:
                json.dump({"title": self.title, "rows": self.rows}, handle, indent=2)
