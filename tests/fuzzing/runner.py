"""The differential property and the soak loop shared by tests/test_fuzz.py and scripts/soak.py.

``check(program)`` runs a program on tapegrad and on torch and returns the first
difference (or None). ``soak(minutes)`` runs the same property under hypothesis with fresh
seeds until the time is up, shrinks every new finding to a short program, prints a
reproducer for it and a summary at the end.
"""

from __future__ import annotations

import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

import tapegrad
from tests.fuzzing.generator import PROFILES, Program, programs
from tests.fuzzing.interpreter import Difference, first_difference, render, run

__all__ = ["CI_SETTINGS", "FuzzFailure", "SoakReport", "check", "soak"]

CI_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)


class FuzzFailure(AssertionError):
    """tapegrad and torch disagreed on a program."""


def check(program: Program) -> Difference | None:
    """Run ``program`` on both libraries; the first difference, or None when they agree.

    Also fails (``FuzzFailure``) when the run leaks a mode out of the program.
    """
    import torch

    ours = run(program, tapegrad)
    if tapegrad.is_grad_enabled() is not True or tapegrad.is_inference_mode_enabled():
        raise FuzzFailure("tapegrad's modes leaked out of the program")
    theirs = run(program, torch)
    return first_difference(ours, theirs, program)


def describe(program: Program, difference: Difference) -> str:
    return (f"tapegrad and torch disagree at {difference}\n\nreproducer:\n"
            f"{render(program)}\nprogram: {program!r}")


def assert_agrees(program: Program) -> None:
    difference = check(program)
    if difference is not None:
        raise FuzzFailure(describe(program, difference))


@dataclass
class SoakReport:
    """What a soak run did."""

    minutes: float
    examples: int = 0  # property evaluations (generation and shrinking)
    programs: int = 0  # distinct programs generated (not counting shrinking)
    steps: int = 0  # program steps executed (per library)
    batches: int = 0
    families: Counter[str] = field(default_factory=Counter)
    known: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    failures: list[tuple[tuple[str, str, str], str]] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"soak: {self.minutes:.1f} min, {self.batches} batches, {self.examples} examples "
            f"({self.programs} generated programs, {self.steps} steps each on tapegrad and "
            f"torch), {len(self.failures)} distinct failures, {len(self.crashes)} crashes",
            "steps by family: " + ", ".join(f"{k}={v}" for k, v in sorted(self.families.items())),
        ]
        for signature, count in self.known.most_common():
            lines.append(f"  repeated finding {signature}: {count} more programs")
        return "\n".join(lines)


def _batch(report: SoakReport, profile: str, batch_seed: int, batch: int, deadline: float,
           include_known: bool) -> tuple[Program, Difference] | None:
    """One hypothesis run of ``batch`` programs; the shrunk new finding, if any."""
    failing: list[tuple[Program, Difference]] = []
    generating = [True]

    @seed(batch_seed)
    @settings(CI_SETTINGS, derandomize=False, max_examples=batch,
              phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False)
    @given(programs(profile, include_known=include_known))
    def prop(program: Program) -> None:
        report.examples += 1
        if generating[0]:
            report.programs += 1
            report.steps += len(program.steps)
            report.families.update(step.family for step in program.steps)
        if time.monotonic() > deadline + 120:  # stop shrinking well past the deadline
            return
        difference = check(program)
        if difference is None:
            return
        if any(signature == difference.signature for signature, _ in report.failures):
            if generating[0]:
                report.known[difference.signature] += 1
            return
        generating[0] = False
        failing.append((program, difference))
        raise FuzzFailure(str(difference))

    try:
        prop()
    except FuzzFailure:
        return failing[-1]
    return None


def soak(minutes: float, batch: int = 200, start_seed: int | None = None,
         include_known: bool = False, out: Any = sys.stdout) -> SoakReport:
    """Run the fuzz properties for ``minutes`` with fresh seeds; print findings as they come.

    Profiles take turns, ``batch`` programs each. A new finding is shrunk by hypothesis and
    printed with a standalone reproducer; later programs that fail the same way (same
    ``Difference.signature``) are only counted.
    """
    report = SoakReport(minutes)
    deadline = time.monotonic() + 60 * minutes
    rnd = random.Random(start_seed)
    profiles = list(PROFILES)
    while time.monotonic() < deadline:
        profile = profiles[report.batches % len(profiles)]
        batch_seed = rnd.getrandbits(32)
        report.batches += 1
        try:
            found = _batch(report, profile, batch_seed, batch, deadline, include_known)
        except Exception:
            report.crashes.append(traceback.format_exc())
            print(f"\n=== crash (profile {profile}, seed {batch_seed}) ===\n"
                  f"{traceback.format_exc()}", file=out, flush=True)
            found = None
        if found is not None:
            program, difference = found
            report.failures.append((difference.signature, describe(program, difference)))
            print(f"\n=== finding {len(report.failures)} (profile {profile}, seed {batch_seed}) "
                  f"===\n{describe(program, difference)}", file=out, flush=True)
        print(f"[{time.strftime('%H:%M:%S')}] batch {report.batches} ({profile}): "
              f"{report.examples} examples, {report.programs} programs, "
              f"{len(report.failures)} failures", file=out, flush=True)
    print(report.summary(), file=out, flush=True)
    return report
