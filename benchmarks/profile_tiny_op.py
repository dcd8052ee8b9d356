"""Where the time of one tiny recorded op goes: the NumPy floor, tapegrad's layers, and the
Python work per op (calls and bytecodes), beside torch's time for the same op.

Usage: python benchmarks/profile_tiny_op.py [--op "a*b"]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys

import numpy as np
from _harness import measure, torch_module

import tapegrad


def python_work(fn) -> tuple[float, float]:
    """(bytecodes, Python calls) per call of ``fn``, counted with sys.settrace."""
    counts = [0, 0]

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "call":
            counts[1] += 1
        elif event == "opcode":
            counts[0] += 1
        return tracer

    fn()
    sys.settrace(tracer)
    for _ in range(10):
        fn()
    sys.settrace(None)
    return counts[0] / 10, counts[1] / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--op", default="a*b", help="an expression in a and b (default a*b)")
    args = parser.parse_args()
    torch = torch_module()
    x, y = np.ones(4, np.float32), np.ones(4, np.float32)
    expr = compile(args.op, "<op>", "eval")

    def op_of(T, requires_grad):
        env = {"a": T.ones(4, requires_grad=requires_grad), "b": T.ones(4)}
        return lambda: eval(expr, env)

    rows = [
        ("NumPy alone (same expression on arrays)",
         measure(lambda: eval(expr, {"a": x, "b": y}))[0]),
        ("tapegrad, inputs not requiring grad", measure(op_of(tapegrad, False))[0]),
        ("tapegrad, graph recorded", measure(op_of(tapegrad, True))[0]),
        ("torch, inputs not requiring grad", measure(op_of(torch, False))[0]),
        ("torch, graph recorded", measure(op_of(torch, True))[0]),
    ]
    print(f"# {args.op} on (4,) float32")
    for name, seconds in rows:
        print(f"{name:45s} {seconds * 1e6:6.2f} us")
    for requires_grad in (False, True):
        codes, calls = python_work(op_of(tapegrad, requires_grad))
        print(f"tapegrad Python work, requires_grad={requires_grad!s:5s}: "
              f"{codes:.0f} bytecodes, {calls:.0f} Python calls per op")
    profile = cProfile.Profile()
    fn = op_of(tapegrad, True)
    profile.runcall(lambda: [fn() for _ in range(20000)])
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:4000])


if __name__ == "__main__":
    main()
