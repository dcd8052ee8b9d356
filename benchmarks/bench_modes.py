"""Grad-mode costs side by side with torch: entering modes, tiny ops per mode, and the
multithreaded backward engine on a branchy graph of large ops and on a tiny-op graph.

Usage: python benchmarks/bench_modes.py [--json out.json]
"""

from __future__ import annotations

import argparse

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

    for mode_name, mode in [("grad recorded", None), ("no_grad", "no_grad"),
                            ("inference_mode", "inference_mode")]:
        def tiny(T, mode=mode):
            a = T.ones(4, requires_grad=True)
            b = T.ones(4)

            def body():
                if mode is None:
                    return a * b
                with getattr(T, mode)():
                    return a * b
            return body
        report.add(f"tiny op (4,) a*b, {mode_name} (incl. mode enter)", measure(tiny(tapegrad)),
                   measure(tiny(torch)))

    for mode_name, mode in [("no_grad", "no_grad"), ("inference_mode", "inference_mode")]:
        def per_op(T, mode=mode):
            a = T.ones(4, requires_grad=True)
            b = T.ones(4)

            def body():
                with getattr(T, mode)():
                    for _ in range(100):
                        a * b
            return body
        report.add(f"tiny op (4,) a*b inside {mode_name}, per op", measure(per_op(tapegrad),
                   per=100), measure(per_op(torch), per=100))

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
