"""MLP 784-256-256-10 (ReLU, cross-entropy, SGD): training step and eval forward, side by side
with torch; bytes kept alive by the graph; 1024x1024 matmul forward+backward; a 100-op chain.

Usage: python benchmarks/bench_mlp.py [--json out.json]
"""

from __future__ import annotations

import argparse

import numpy as np
from _harness import Report, measure, torch_module

import tapegrad
from tapegrad.utils.memory import saved_tensor_bytes as graph_bytes


def make_mlp(T, seed=0):
    T.manual_seed(seed)
    return T.nn.Sequential(
        T.nn.Linear(784, 256), T.nn.ReLU(), T.nn.Linear(256, 256), T.nn.ReLU(),
        T.nn.Linear(256, 10),
    )


def copy_weights(source, target, torch):
    with torch.no_grad():
        for p, q in zip(source.parameters(), target.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))


def torch_saved_bytes(torch, model, data):
    """Bytes of the distinct storages torch's graph saves for backward (saved-tensor hooks)."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(data).sum()
    return sum(storages.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch = torch_module()
    report = Report("MLP and large ops: tapegrad vs torch")
    rng = np.random.default_rng(0)
    ours_model = make_mlp(tapegrad)
    theirs_model = make_mlp(torch)
    copy_weights(ours_model, theirs_model, torch)

    for batch in (64, 512):
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        y = rng.integers(0, 10, batch)

        def step(T, model, x=x, y=y):
            data, target = T.from_numpy(x), T.from_numpy(y)
            optimizer = T.optim.SGD(model.parameters(), lr=0.01)
            loss_fn = T.nn.CrossEntropyLoss()

            def body():
                optimizer.zero_grad()
                loss = loss_fn(model(data), target)
                loss.backward()
                optimizer.step()
            return body
        report.add(f"MLP training step, batch {batch}", measure(step(tapegrad, ours_model)),
                   measure(step(torch, theirs_model)), "ms")

    x = rng.standard_normal((512, 784)).astype(np.float32)
    for mode in ("no_grad", "inference_mode"):
        def evaluate(T, model, mode=mode):
            data = T.from_numpy(x)

            def body():
                with getattr(T, mode)():
                    model(data)
            return body
        report.add(f"MLP eval forward, batch 512, {mode}", measure(evaluate(tapegrad, ours_model)),
                   measure(evaluate(torch, theirs_model)), "ms")

    data = tapegrad.from_numpy(x)
    out = ours_model(data).sum()
    kept = graph_bytes(out)
    with tapegrad.no_grad():
        kept_no_grad = graph_bytes(ours_model(data).sum())
    theirs_kept = torch_saved_bytes(torch, theirs_model, torch.from_numpy(x))
    report.add("bytes kept alive by the graph, MLP batch 512, grad on", (kept, kept),
               (theirs_kept, theirs_kept), "bytes")
    report.add("bytes kept alive by the graph, MLP batch 512, no_grad",
               (kept_no_grad, kept_no_grad), (0, 0), "bytes")

    a_np = rng.standard_normal((1024, 1024)).astype(np.float32)

    def matmul(T):
        a = T.from_numpy(a_np.copy()).requires_grad_()
        b = T.from_numpy(a_np.T.copy()).requires_grad_()

        def body():
            (a @ b).sum().backward()
        return body
    report.add("1024x1024 float32 matmul forward+backward", measure(matmul(tapegrad)),
               measure(matmul(torch)), "ms")

    def chain(T):
        x = T.ones(4, requires_grad=True)

        def body():
            h = x
            for _ in range(50):
                h = h * 1.001
                h = h + 0.001
            h.sum().backward()
        return body
    report.add("100-op chain forward+backward, per op", measure(chain(tapegrad), per=100),
               measure(chain(torch), per=100))
    report.write_json(args.json)


if __name__ == "__main__":
    main()
