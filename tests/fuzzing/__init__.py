"""Differential fuzzing of tapegrad against torch 2.13: random programs, run on both.

A *program* (``generator.programs``, a hypothesis strategy) is a list of steps: leaf
creations, ops over random shapes (broadcasting, 0-d, empty, non-contiguous views),
in-place ops on views and leaves, mode blocks (``no_grad``, ``enable_grad``,
``inference_mode``, ``set_grad_enabled``), ``detach``, hooks, ``retain_grad``,
``backward`` / ``autograd.grad`` with ``retain_graph`` and ``create_graph``.
``interpreter.run`` executes a program with ``T`` bound to a library and returns what a
user could observe after every step; ``interpreter.first_difference`` compares two such
traces. ``runner`` holds the property shared by ``tests/test_fuzz.py`` (bounded, in CI) and
``scripts/soak.py`` (long runs).
"""

from __future__ import annotations

from tests.fuzzing.generator import PROFILES, Program, Step, programs
from tests.fuzzing.interpreter import first_difference, render, run

__all__ = ["PROFILES", "Program", "Step", "first_difference", "programs", "render", "run"]
