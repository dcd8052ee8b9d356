"""Grad-mode costs side by side with torch: entering modes, tiny ops per mode, and the
multithreaded backward engine on a branchy graph of large ops and on a tiny-op graph.

Usage: python benchmarks/bench_modes.py [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib

from _harness import Report, measure, torch_module

import tapegrad


def branchy(T, x, branches=4):
    outs = []
    for k in range(branches):
        h = (x * (k + 1)).tanh()
        h = (h * h).exp()
        outs.append(h.sum())
    total = outs[0]
    for o in outs[1:]:
        total = total + o
    return total


def tiny_chain(T, x, length=50):
    h = x
    for _ in range(length):
        h = (h * 1.01).tanh()
    return h.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch = torch_module()
    report = Report("grad modes: tapegrad vs torch")

    for name, make in [
        ("enter+exit no_grad", lambda T: T.no_grad),
        ("enter+exit enable_grad", lambda T: T.enable_grad),
        ("enter+exit set_grad_enabled(False)", lambda T: (lambda: T.set_grad_enabled(False))),
        ("enter+exit inference_mode", lambda T: T.inference_mode),
    ]:
        def run(T, make=make):
            factory = make(T)

            def body():
                with factory():
                    pass
            return body
        report.add(name, measure(run(tapegrad)), measure(run(torch)))

    def decorated(T):
        @T.no_grad()
        def f():
            return None
        return f
    report.add("no_grad-decorated call", measure(decorated(tapegrad)), measure(decorated(torch)))

    # Tiny ops on (4,) float32 tensors, per op: graph recorded (a requires grad), inputs that
    # do not require grad, and a requiring-grad input inside no_grad / inference_mode blocks
    # (entered once per 100 ops, so the rows compare the ops, not the mode switches).
    tiny_ops = {"a+b": lambda a, b: a + b, "a*b": lambda a, b: a * b,
                "(a*b).sum()": lambda a, b: (a * b).sum(), "a.relu()": lambda a, b: a.relu()}
    for op_name, op in tiny_ops.items():
        for regime in ("grad recorded", "inputs not requiring grad", "inside no_grad",
                       "inside inference_mode"):
            def tiny(T, op=op, regime=regime):
                a = T.ones(4, requires_grad=regime != "inputs not requiring grad")
                b = T.ones(4)
                modes = {"inside no_grad": T.no_grad, "inside inference_mode": T.inference_mode}
                mode = modes.get(regime, contextlib.nullcontext)

                def body():
                    with mode():
                        for _ in range(100):
                            op(a, b)
                return body
            report.add(f"tiny op {op_name} on (4,), {regime}, per op", measure(tiny(tapegrad),
                       per=100), measure(tiny(torch), per=100))

    for graph, build, size in [("branchy graph of large ops", branchy, (1000, 1000)),
                               ("tiny-op chain", tiny_chain, (4,))]:
        results = {}
        for T in (tapegrad, torch):
            x = T.randn(*size, requires_grad=True)
            for threaded in (True, False):
                def step(T=T, x=x, threaded=threaded, build=build):
                    with T.autograd.set_multithreading_enabled(threaded):
                        y = build(T, x)
                        y.backward()
                results[(T.__name__, threaded)] = measure(step, repeat=5, min_time=0.2)
        unit = "ms" if size[0] > 10 else "us"
        report.add(f"{graph}: fwd+bwd, multithreading on", results[("tapegrad", True)],
                   results[("torch", True)], unit)
        report.add(f"{graph}: fwd+bwd, multithreading off", results[("tapegrad", False)],
                   results[("torch", False)], unit)
        gain = results[("tapegrad", False)][0] / results[("tapegrad", True)][0]
        print(f"   tapegrad {graph}: single-threaded / multithreaded = {gain:.2f}x")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
