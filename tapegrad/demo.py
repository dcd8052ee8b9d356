"""Train a small CNN on scikit-learn's bundled 8x8 handwritten digits: ``python -m tapegrad.demo``.

Needs the ``demo`` extra (scikit-learn for the bundled data set, tqdm for progress bars):
``pip install tapegrad[demo]`` (or ``pip install -e ".[demo]"`` in a checkout). It prints the
test accuracy, the seconds per epoch and how many bytes the autograd graph of one batch keeps
alive with grad on, under ``no_grad`` and under ``inference_mode``.

Flags: ``--epochs``, ``--seed``, ``--width`` (channels of the first conv), ``--batch-size``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import tapegrad
from tapegrad import nn, optim
from tapegrad.optim import lr_scheduler
from tapegrad.utils.data import DataLoader, TensorDataset
from tapegrad.utils.memory import saved_tensor_bytes

__all__ = ["build_model", "main"]

MISSING_EXTRA = (
    "The tapegrad demo needs the optional 'demo' extra (scikit-learn for its bundled digits "
    "data set, tqdm for progress bars). Install it with:\n"
    "    pip install 'tapegrad[demo]'\n"
    "or, in a source checkout:\n"
    "    pip install -e '.[demo]'"
)


def build_model(width: int = 16) -> nn.Module:
    """The demo's CNN for 1x8x8 images: two 3x3 convs with BatchNorm, max-pool, a linear head.

    Example:
        >>> import tapegrad
        >>> from tapegrad.demo import build_model
        >>> build_model(4)(tapegrad.zeros(2, 1, 8, 8)).shape
        tapegrad.Size([2, 10])
    """
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(2 * width * 16, 10),
    )


def _format_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024**2:.2f} MiB"


def _load_digits(seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(0.8 * len(labels))
    train, test = order[:cut], order[cut:]
    return (
        tapegrad.tensor(images[train]),
        tapegrad.tensor(labels[train]),
        tapegrad.tensor(images[test]),
        tapegrad.tensor(labels[test]),
    )


def _graph_bytes(model: nn.Module, loss_fn: nn.Module, x: Any, y: Any) -> dict[str, int]:
    """Bytes kept alive by one batch's graph with grad on, under no_grad, under inference."""
    results = {}
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BN stats stay untouched
    results["grad on"] = saved_tensor_bytes(loss_fn(model(x), y))
    with tapegrad.no_grad():
        results["no_grad"] = saved_tensor_bytes(loss_fn(model(x), y))
    with tapegrad.inference_mode():
        results["inference_mode"] = saved_tensor_bytes(loss_fn(model(x), y))
    model.load_state_dict(state)
    return results


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tapegrad.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--width", type=int, default=16, help="channels of the first conv layer (default 16)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the process exit status (1 when the demo extra is missing).

    Example:
        >>> from tapegrad.demo import main
        >>> callable(main)
        True
    """
    args = _parse(argv)
    try:
        import sklearn  # noqa: F401
        from tqdm import tqdm
    except ImportError:
        print(MISSING_EXTRA, file=sys.stderr)
        return 1
    tapegrad.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = _load_digits(args.seed)
    loader = DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=args.batch_size,
        shuffle=True,
        generator=tapegrad.Generator().manual_seed(args.seed),
    )
    model = build_model(args.width)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
    print(
        f"tapegrad demo: {len(x_train)} training and {len(x_test)} test digits (8x8), "
        f"{sum(p.numel() for p in model.parameters())} parameters"
    )
    epoch_seconds = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        bar = tqdm(
            loader, desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=True, file=sys.stdout
        )
        for xb, yb in bar:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        scheduler.step()
        epoch_seconds.append(time.perf_counter() - start)
    with nn.evaluating(model):  # eval mode + inference_mode, restored afterwards
        predictions = model(x_test).argmax(dim=1)
    correct = int((predictions == y_test).sum().item())
    accuracy = correct / len(y_test)
    print(f"test accuracy: {accuracy:.2%} ({correct}/{len(y_test)})")
    if epoch_seconds:
        print(f"seconds per epoch: {sum(epoch_seconds) / len(epoch_seconds):.2f}")
    batch = min(args.batch_size, len(x_train))
    memory = _graph_bytes(model, loss_fn, x_train[:batch], y_train[:batch])
    print(
        f"bytes the graph keeps alive for one batch of {batch}: "
        + ", ".join(f"{mode}: {n} ({_format_bytes(n)})" for mode, n in memory.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
