"""Soak the differential fuzzer: run tests/test_fuzz.py's properties for MINUTES.

Usage (from the repository root):

    .venv/bin/python scripts/soak.py --minutes 30
    .venv/bin/python scripts/soak.py --minutes 10 --seed 1 --batch 100
    .venv/bin/python scripts/soak.py --minutes 5 --include-known   # known bugs too

It runs random programs (tests/fuzzing) on tapegrad and on torch 2.13 with fresh hypothesis
seeds, profile after profile, until the time is up. Each new kind of disagreement is shrunk
to a short program and printed with a standalone reproducer script; at the end it prints a
summary (examples, programs, steps, findings) and exits 1 if anything was found.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", "--soak", type=float, default=30.0,
                        help="how long to run (default 30)")
    parser.add_argument("--batch", type=int, default=200,
                        help="programs per hypothesis run (default 200)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the batch seeds (default: random)")
    parser.add_argument("--include-known", action="store_true",
                        help="also generate the known disagreements (KNOWN_BUGS)")
    args = parser.parse_args(argv)

    import warnings

    warnings.simplefilter("ignore")  # programs may warn; the interpreter records its own
    from tests.fuzzing.runner import soak

    report = soak(args.minutes, batch=args.batch, start_seed=args.seed,
                  include_known=args.include_known)
    return 1 if report.failures or report.crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
