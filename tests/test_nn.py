"""tapegrad.nn against torch 2.13: layers and losses with copied weights (float64 values and
gradients), Module registration / state_dict / hooks / repr, init statistics, the evaluation
helper and gradient clipping."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.autograd.gradcheck import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"rtol": 1e-9, "atol": 1e-11}


# ----------------------------------------------------------------------------- helpers
def tg(array: np.ndarray, requires_grad: bool = False) -> tapegrad.Tensor:
    return tapegrad.tensor(np.array(array), requires_grad=requires_grad)


def th(array: np.ndarray, requires_grad: bool = False) -> Any:
    return torch.tensor(np.array(array), requires_grad=requires_grad)


def close(ours: Any, theirs: Any, **tol: float) -> None:
    np.testing.assert_allclose(np.asarray(ours.detach()), theirs.detach().numpy(), **(tol or TOL))


def copy_weights(ours: nn.Module, theirs: Any) -> None:
    state = {k: tapegrad.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def check_module(
    ours: nn.Module,
    theirs: Any,
    rng: np.random.Generator,
    *shapes: tuple[int, ...],
    inputs: list[np.ndarray] | None = None,
    grad_inputs: bool = True,
    **tol: float,
) -> None:
    """Same float64 weights -> same outputs and gradients w.r.t. inputs and parameters."""
    theirs = theirs.double()
    ours = ours.double()
    copy_weights(ours, theirs)
    arrays = inputs if inputs is not None else [rng.standard_normal(s) for s in shapes]
    xs_ours = [tg(a, grad_inputs and a.dtype.kind == "f") for a in arrays]
    xs_theirs = [th(a, grad_inputs and a.dtype.kind == "f") for a in arrays]
    out_theirs = theirs(*xs_theirs)
    out_ours = ours(*xs_ours)
    assert tuple(out_ours.shape) == tuple(out_theirs.shape)
    close(out_ours, out_theirs, **tol)
    seed = rng.standard_normal(tuple(out_theirs.shape))
    out_theirs.backward(torch.tensor(seed))
    out_ours.backward(tapegrad.tensor(seed))
    for a, b in zip(xs_ours, xs_theirs, strict=True):
        if b.grad is not None:
            close(a.grad, b.grad, **tol)
    ours_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if p.grad is None:
            assert ours_params[name].grad is None
        else:
            close(ours_params[name].grad, p.grad, **tol)
    for (name, b_ours), (_, b_theirs) in zip(
        ours.named_buffers(), theirs.named_buffers(), strict=True
    ):
        np.testing.assert_allclose(
            np.asarray(b_ours), b_theirs.numpy(), **(tol or TOL), err_msg=name
        )


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize(
    ("args", "shape"),
    [
        ((4, 3), (5, 4)),
        ((4, 3, False), (5, 4)),
        ((4, 2), (2, 3, 4)),
        ((3, 1), (3,)),
    ],
)
def test_linear_matches_torch(
    args: tuple[Any, ...], shape: tuple[int, ...], rng: np.random.Generator
) -> None:
    check_module(nn.Linear(*args), torch.nn.Linear(*args), rng, shape)


CONV2D_CASES = [
    ({}, (2, 3, 7, 6), (3, 4, 3)),
    ({"stride": 2, "padding": 1}, (2, 3, 7, 6), (3, 4, 3)),
    ({"stride": (2, 1), "padding": (0, 2), "dilation": (1, 2)}, (2, 3, 9, 8), (3, 5, (3, 2))),
    ({"groups": 3, "bias": False}, (2, 6, 5, 5), (6, 9, 3)),
    ({"groups": 2, "stride": 2, "dilation": 2, "padding": 2}, (1, 4, 8, 9), (4, 6, 3)),
    ({"padding": "same", "dilation": 2}, (2, 2, 6, 7), (2, 3, (3, 4))),
    ({"padding": "valid"}, (3, 5, 5), (3, 2, 2)),  # unbatched input
    ({}, (2, 1, 8, 8), (1, 4, 1)),
]


@pytest.mark.parametrize(("kwargs", "shape", "args"), CONV2D_CASES)
def test_conv2d_matches_torch(
    kwargs: dict[str, Any], shape: tuple[int, ...], args: tuple[Any, ...], rng: np.random.Generator
) -> None:
    check_module(nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs), rng, shape)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own
@pytest.mark.parametrize(
    ("kwargs", "shape", "args"),
    [
        ({}, (2, 3, 9), (3, 4, 3)),
        ({"stride": 3, "padding": 2, "dilation": 2}, (2, 2, 11), (2, 4, 3)),
        ({"groups": 2, "padding": "same"}, (1, 4, 6), (4, 2, 4)),
        ({"bias": False}, (3, 7), (3, 2, 2)),
    ],
)
def test_conv1d_matches_torch(
    kwargs: dict[str, Any], shape: tuple[int, ...], args: tuple[Any, ...], rng: np.random.Generator
) -> None:
    check_module(nn.Conv1d(*args, **kwargs), torch.nn.Conv1d(*args, **kwargs), rng, shape)


def test_conv2d_gradcheck_and_second_order(rng: np.random.Generator) -> None:
    x = tg(rng.standard_normal((1, 2, 4, 5)), True)
    w = tg(rng.standard_normal((2, 1, 2, 3)), True)
    b = tg(rng.standard_normal(2), True)

    def fn(x: Any, w: Any, b: Any) -> Any:
        return F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"kernel_size": 2}, (2, 3, 6, 6)),
        ({"kernel_size": 3, "stride": 2, "padding": 1}, (2, 2, 7, 8)),
        ({"kernel_size": (2, 3), "stride": (1, 2), "dilation": (2, 1)}, (1, 2, 7, 7)),
        ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (2, 2, 8, 8)),
        ({"kernel_size": 2, "ceil_mode": True, "padding": 1}, (1, 1, 5, 6)),
        ({"kernel_size": 2}, (3, 5, 4)),
    ],
)
def test_max_pool2d_matches_torch(
    kwargs: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator
) -> None:
    check_module(nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), rng, shape)


def test_max_pool_gradient_goes_to_first_maximum_on_ties() -> None:
    x = np.zeros((1, 1, 4, 4))
    check_module(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), np.random.default_rng(0), inputs=[x])
    check_module(
        nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 1)),
        torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(3, 1)),
        np.random.default_rng(0),
        inputs=[np.round(np.random.default_rng(1).standard_normal((1, 2, 5, 5)))],
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {"kernel_size": 2, "stride": 1, "dilation": 2, "padding": 1},
    ],
)
def test_max_pool2d_return_indices_match_torch(
    kwargs: dict[str, Any], rng: np.random.Generator
) -> None:
    x = rng.standard_normal((2, 3, 7, 6))
    out, idx = F.max_pool2d(tg(x), return_indices=True, **kwargs)
    out_t, idx_t = TF.max_pool2d(th(x), return_indices=True, **kwargs)
    close(out, out_t)
    np.testing.assert_array_equal(np.asarray(idx), idx_t.numpy())


def test_max_pool1d_matches_torch(rng: np.random.Generator) -> None:
    check_module(nn.MaxPool1d(3, 2, 1), torch.nn.MaxPool1d(3, 2, 1), rng, (2, 3, 10))
    x = rng.standard_normal((2, 3, 10))
    _out, idx = F.max_pool1d(tg(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(
        np.asarray(idx), TF.max_pool1d(th(x), 3, 2, 1, return_indices=True)[1].numpy()
    )


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"kernel_size": 2}, (2, 3, 6, 6)),
        ({"kernel_size": 3, "stride": 2, "padding": 1}, (2, 2, 7, 8)),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, (2, 2, 7, 8)),
        ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (1, 2, 8, 8)),
        (
            {
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "ceil_mode": True,
                "count_include_pad": False,
            },
            (1, 2, 8, 9),
        ),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 8, 9)),
        ({"kernel_size": (2, 3), "divisor_override": 5}, (1, 1, 4, 6)),
    ],
)
def test_avg_pool2d_matches_torch(
    kwargs: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator
) -> None:
    check_module(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), rng, shape)


def test_avg_pool1d_matches_torch(rng: np.random.Generator) -> None:
    check_module(nn.AvgPool1d(3, 2, 1), torch.nn.AvgPool1d(3, 2, 1), rng, (2, 3, 10))
    check_module(
        nn.AvgPool1d(3, 2, 1, count_include_pad=False),
        torch.nn.AvgPool1d(3, 2, 1, count_include_pad=False),
        rng,
        (2, 3, 10),
    )


@pytest.mark.parametrize(
    ("size", "shape"),
    [
        ((1, 1), (2, 3, 5, 7)),
        (1, (2, 3, 4, 4)),
        ((2, 3), (2, 3, 5, 7)),
        ((3, 2), (1, 2, 6, 4)),
        ((None, 2), (1, 2, 5, 5)),
        (4, (3, 7, 6)),
    ],
)
def test_adaptive_avg_pool2d_matches_torch(
    size: Any, shape: tuple[int, ...], rng: np.random.Generator
) -> None:
    check_module(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), rng, shape)


def test_adaptive_avg_pool1d_matches_torch(rng: np.random.Generator) -> None:
    check_module(nn.AdaptiveAvgPool1d(3), torch.nn.AdaptiveAvgPool1d(3), rng, (2, 3, 7))


@pytest.mark.parametrize(
    "name",
    [
        "ReLU",
        "Tanh",
        "Sigmoid",
        "SiLU",
        "GELU",
        "ELU",
        "ReLU6",
        "Hardtanh",
        "LeakyReLU",
        "Softplus",
        "Identity",
        "Flatten",
    ],
)
def test_activations_match_torch(name: str, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 4, 2)) * 3
    check_module(getattr(nn, name)(), getattr(torch.nn, name)(), rng, inputs=[x])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("GELU", {"approximate": "tanh"}),
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("Softplus", {"beta": 2.0, "threshold": 3.0}),
        ("Softmax", {"dim": 1}),
        ("LogSoftmax", {"dim": -1}),
        ("Softmax", {"dim": 0}),
        ("ELU", {"alpha": 0.5}),
        ("Flatten", {"start_dim": 0, "end_dim": 1}),
        ("Unflatten", {"dim": 1, "unflattened_size": (2, 2)}),
    ],
)
def test_parametrized_activations_match_torch(
    name: str, kwargs: dict[str, Any], rng: np.random.Generator
) -> None:
    x = rng.standard_normal((3, 4, 2)) * 3
    check_module(getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), rng, inputs=[x])


def test_inplace_activations_match_torch(rng: np.random.Generator) -> None:
    for name in ("ReLU", "SiLU", "LeakyReLU", "ReLU6"):
        x = rng.standard_normal((3, 4))
        a, b = tg(x, True), th(x, True)
        ya = getattr(nn, name)(inplace=True)(a * 1.0)
        yb = getattr(torch.nn, name)(inplace=True)(b * 1.0)
        close(ya, yb)
        ya.sum().backward()
        yb.sum().backward()
        close(a.grad, b.grad)


def test_embedding_matches_torch(rng: np.random.Generator) -> None:
    idx = np.array([[0, 2, 4], [4, 1, 0]])
    check_module(nn.Embedding(5, 3), torch.nn.Embedding(5, 3), rng, inputs=[idx])
    check_module(
        nn.Embedding(5, 3, padding_idx=0),
        torch.nn.Embedding(5, 3, padding_idx=0),
        rng,
        inputs=[idx],
    )
    check_module(
        nn.Embedding(5, 3, padding_idx=-1),
        torch.nn.Embedding(5, 3, padding_idx=-1),
        rng,
        inputs=[idx],
    )
    assert nn.Embedding(5, 3, padding_idx=2).weight[2].abs().sum().item() == 0.0
    with pytest.raises(IndexError, match="index out of range in self"):
        nn.Embedding(3, 2)(tapegrad.tensor([3]))


def test_embedding_max_norm_renormalizes_like_torch(rng: np.random.Generator) -> None:
    weight = rng.standard_normal((5, 3)) * 3
    ours = F.embedding(tapegrad.tensor([1, 3]), w := tg(weight.copy()), max_norm=1.0)
    theirs = TF.embedding(torch.tensor([1, 3]), w_t := th(weight.copy()), max_norm=1.0)
    close(ours, theirs, rtol=1e-6)
    close(w, w_t, rtol=1e-6)


def test_dropout_train_and_eval() -> None:
    tapegrad.manual_seed(0)
    x = tapegrad.ones(2000)
    drop = nn.Dropout(0.25)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.05
    np.testing.assert_allclose(np.asarray(y[kept]), 1 / 0.75)
    assert drop.eval()(x) is x
    assert bool((F.dropout(x, 1.0) == 0).all())
    assert F.dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)


@pytest.mark.parametrize(
    ("cls", "kwargs", "shape"),
    [
        ("BatchNorm1d", {}, (6, 3)),
        ("BatchNorm1d", {"momentum": None}, (5, 3, 4)),
        ("BatchNorm1d", {"affine": False}, (6, 3)),
        ("BatchNorm2d", {}, (4, 3, 5, 5)),
        ("BatchNorm2d", {"momentum": 0.3, "eps": 1e-3}, (2, 2, 3, 4)),
        ("BatchNorm2d", {"track_running_stats": False}, (2, 2, 3, 4)),
        ("BatchNorm2d", {"bias": False}, (2, 2, 3, 4)),
    ],
)
def test_batchnorm_train_and_eval_match_torch(
    cls: str, kwargs: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator
) -> None:
    ours, theirs = (
        getattr(nn, cls)(3 if shape[1] == 3 else 2, **kwargs),
        getattr(torch.nn, cls)(3 if shape[1] == 3 else 2, **kwargs),
    )
    if ours.weight is not None:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    for _ in range(3):  # running statistics accumulate over several batches
        check_module(ours, theirs, rng, shape)
    if ours.track_running_stats:
        assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 3
    ours.eval()
    theirs.eval()
    check_module(ours, theirs, rng, shape)


def test_batchnorm_errors_match_torch() -> None:
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(tapegrad.ones(1, 3))
    with pytest.raises(ValueError, match=r"expected 4D input \(got 2D input\)"):
        nn.BatchNorm2d(3)(tapegrad.ones(2, 3))


@pytest.mark.parametrize(
    ("args", "kwargs", "shape"),
    [
        ((4,), {}, (3, 4)),
        (((3, 4),), {}, (2, 3, 4)),
        ((4,), {"elementwise_affine": False}, (2, 5, 4)),
        ((4,), {"bias": False, "eps": 1e-3}, (2, 4)),
    ],
)
def test_layernorm_matches_torch(
    args: tuple[Any, ...], kwargs: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator
) -> None:
    ours, theirs = nn.LayerNorm(*args, **kwargs), torch.nn.LayerNorm(*args, **kwargs)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    check_module(ours, theirs, rng, shape)


def test_small_cnn_matches_torch(rng: np.random.Generator) -> None:
    def build(lib: Any) -> Any:
        m = lib.nn
        return m.Sequential(
            m.Conv2d(1, 4, 3, padding=1),
            m.BatchNorm2d(4),
            m.ReLU(),
            m.MaxPool2d(2),
            m.Conv2d(4, 6, 3),
            m.GELU(),
            m.AdaptiveAvgPool2d(1),
            m.Flatten(),
            m.Linear(6, 3),
            m.LogSoftmax(dim=1),
        )

    check_module(build(tapegrad), build(torch), rng, (4, 1, 8, 8))


# ----------------------------------------------------------------------------- losses
def check_loss(
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    x: np.ndarray,
    target: np.ndarray,
    **tol: float,
) -> None:
    a, b = tg(x, True), th(x, True)
    ta, tb = tg(target), th(target)
    la, lb = ours(a, ta), theirs(b, tb)
    close(la, lb, **tol)
    seed = np.random.default_rng(0).standard_normal(tuple(lb.shape))
    la.backward(tapegrad.tensor(seed))
    lb.backward(torch.tensor(seed))
    close(a.grad, b.grad, **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "SmoothL1Loss"])
def test_regression_losses_match_torch(name: str, reduction: str, rng: np.random.Generator) -> None:
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    y[0, 0] = x[0, 0]  # l1 at a kink: torch's subgradient 0
    check_loss(
        getattr(nn, name)(reduction=reduction), getattr(torch.nn, name)(reduction=reduction), x, y
    )


CE_CASES = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"ignore_index": 1},
    {"label_smoothing": 0.2},
    {"label_smoothing": 0.1, "ignore_index": 2, "reduction": "none"},
    {"label_smoothing": 0.3, "ignore_index": 2, "weight": True},
    {"weight": True},
    {"weight": True, "reduction": "sum", "label_smoothing": 0.1},
    {"weight": True, "ignore_index": 0},
]


def _weighted(kwargs: dict[str, Any], lib: Any) -> dict[str, Any]:
    out = dict(kwargs)
    if out.get("weight"):
        out["weight"] = lib.tensor([0.5, 2.0, 1.0, 3.0], dtype=lib.float64)
    return out


@pytest.mark.parametrize("kwargs", CE_CASES)
def test_cross_entropy_class_indices_match_torch(
    kwargs: dict[str, Any], rng: np.random.Generator
) -> None:
    x = rng.standard_normal((6, 4)) * 2
    target = np.array([0, 1, 2, 3, 2, 1])
    check_loss(
        nn.CrossEntropyLoss(**_weighted(kwargs, tapegrad)),
        torch.nn.CrossEntropyLoss(**_weighted(kwargs, torch)),
        x,
        target,
    )
    # spatial (N, C, d1, d2) targets
    x = rng.standard_normal((2, 4, 3, 2))
    target = rng.integers(0, 4, (2, 3, 2))
    check_loss(
        nn.CrossEntropyLoss(**_weighted(kwargs, tapegrad)),
        torch.nn.CrossEntropyLoss(**_weighted(kwargs, torch)),
        x,
        target,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"label_smoothing": 0.25},
        {"weight": True},
        {"weight": True, "reduction": "none"},
    ],
)
def test_cross_entropy_probabilities_match_torch(
    kwargs: dict[str, Any], rng: np.random.Generator
) -> None:
    x = rng.standard_normal((5, 4))
    probs = rng.random((5, 4))
    probs /= probs.sum(1, keepdims=True)
    check_loss(
        nn.CrossEntropyLoss(**_weighted(kwargs, tapegrad)),
        torch.nn.CrossEntropyLoss(**_weighted(kwargs, torch)),
        x,
        probs,
    )


def test_cross_entropy_unbatched_and_all_ignored_match_torch(rng: np.random.Generator) -> None:
    x = rng.standard_normal(4)
    check_loss(F.cross_entropy, TF.cross_entropy, x, np.array(2))
    x = rng.standard_normal((3, 4))
    ours = F.cross_entropy(tg(x), tapegrad.tensor([-100, -100, -100]))
    theirs = TF.cross_entropy(th(x), torch.tensor([-100, -100, -100]))
    assert math.isnan(ours.item())
    assert math.isnan(theirs.item())


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reduction": "sum"},
        {"reduction": "none"},
        {"ignore_index": 0},
        {"weight": True},
        {"weight": True, "ignore_index": 3, "reduction": "none"},
    ],
)
def test_nll_loss_matches_torch(kwargs: dict[str, Any], rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 4))
    target = np.array([0, 1, 2, 3, 3, 0])
    check_loss(
        nn.NLLLoss(**_weighted(kwargs, tapegrad)),
        torch.nn.NLLLoss(**_weighted(kwargs, torch)),
        x,
        target,
    )


def test_nll_loss_errors_match_torch() -> None:
    x = tapegrad.zeros(2, 3)
    with pytest.raises(IndexError, match=r"Target 3 is out of bounds\."):
        F.nll_loss(x, tapegrad.tensor([0, 3]))
    with pytest.raises(IndexError, match=r"Target 3 is out of bounds\."):
        TF.nll_loss(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(2\) to match target "):
        F.nll_loss(x, tapegrad.tensor([0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_losses_match_torch(reduction: str, rng: np.random.Generator) -> None:
    p = rng.uniform(0.05, 0.95, (4, 3))
    y = rng.integers(0, 2, (4, 3)).astype(np.float64)
    w = rng.uniform(0.5, 2.0, 3)
    check_loss(nn.BCELoss(reduction=reduction), torch.nn.BCELoss(reduction=reduction), p, y)
    check_loss(
        nn.BCELoss(weight=tg(w), reduction=reduction),
        torch.nn.BCELoss(weight=th(w), reduction=reduction),
        p,
        y,
    )
    logits = rng.standard_normal((4, 3)) * 4
    logits[0, 0] = 0.0
    logits[1, 1] = 40.0
    logits[2, 2] = -40.0
    check_loss(
        nn.BCEWithLogitsLoss(reduction=reduction),
        torch.nn.BCEWithLogitsLoss(reduction=reduction),
        logits,
        y,
    )
    check_loss(
        nn.BCEWithLogitsLoss(weight=tg(w), pos_weight=tg(w[::-1].copy()), reduction=reduction),
        torch.nn.BCEWithLogitsLoss(
            weight=th(w), pos_weight=th(w[::-1].copy()), reduction=reduction
        ),
        logits,
        y,
    )


def test_bce_clamps_log_like_torch() -> None:
    check_loss(
        F.binary_cross_entropy,
        TF.binary_cross_entropy,
        np.array([0.0, 1.0, 0.5]),
        np.array([1.0, 0.0, 1.0]),
        rtol=1e-8,
    )
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(tapegrad.tensor([1.5]), tapegrad.tensor([1.0]))


def test_loss_legacy_arguments_warn_like_torch() -> None:
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(tapegrad.ones(1), tapegrad.ones(1), reduction="avg")


# ----------------------------------------------------------------------------- functional
def test_functional_extras_match_torch(rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 3, 4, 5))
    for pad in [(1, 2), (1, 0, 2, 1), (-1, 2, 0, 1, 1, 1)]:
        check_loss(
            lambda a, _t, p=pad: F.pad(a, p, value=0.5),
            lambda a, _t, p=pad: TF.pad(a, p, value=0.5),
            x,
            np.zeros(1),
        )
    check_loss(
        lambda a, _t: F.normalize(a, dim=2), lambda a, _t: TF.normalize(a, dim=2), x, np.zeros(1)
    )
    check_loss(
        lambda a, _t: F.unfold(a, (2, 3), dilation=1, padding=1, stride=2),
        lambda a, _t: TF.unfold(a, (2, 3), dilation=1, padding=1, stride=2),
        x,
        np.zeros(1),
    )
    cols = rng.standard_normal((2, 12, 15))
    check_loss(
        lambda a, _t: F.fold(a, (4, 5), 2, padding=1, stride=(1, 2)),
        lambda a, _t: TF.fold(a, (4, 5), 2, padding=1, stride=(1, 2)),
        cols,
        np.zeros(1),
    )
    for approximate in ("none", "tanh"):
        check_loss(
            lambda a, _t, ap=approximate: F.gelu(a, approximate=ap),
            lambda a, _t, ap=approximate: TF.gelu(a, approximate=ap),
            x,
            np.zeros(1),
        )
    labels = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(
        np.asarray(F.one_hot(tapegrad.tensor(labels))), TF.one_hot(torch.tensor(labels)).numpy()
    )
    np.testing.assert_array_equal(
        np.asarray(F.one_hot(tapegrad.tensor(labels), 6)),
        TF.one_hot(torch.tensor(labels), 6).numpy(),
    )
    check_loss(
        lambda a, _t: F.softplus(a, 2.0, 1.0),
        lambda a, _t: TF.softplus(a, 2.0, 1.0),
        x,
        np.zeros(1),
    )


def test_functional_signatures_match_torch() -> None:
    import inspect

    for name in F.__all__:
        try:
            theirs = inspect.signature(getattr(TF, name))
        except (TypeError, ValueError):
            continue  # a C builtin without a Python signature
        if list(theirs.parameters) in (["args", "kwargs"], ["input"]):
            continue
        ours = inspect.signature(getattr(F, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for key, param in theirs.parameters.items():
            assert ours.parameters[key].default == param.default, (name, key)


def test_module_signatures_match_torch() -> None:
    import inspect

    for name in nn.__all__:
        theirs = getattr(torch.nn, name, None)
        ours = getattr(nn, name)
        if not isinstance(ours, type) or theirs is None or name in ("Parameter", "Buffer"):
            continue
        a = inspect.signature(ours.__init__).parameters
        b = inspect.signature(theirs.__init__).parameters
        assert list(a) == list(b), name
        for key, param in b.items():
            assert a[key].default == param.default, (name, key)


def test_softmax_without_dim_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        F.softmax(tapegrad.ones(2, 3))


def test_conv_errors_match_torch() -> None:
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 3 channels instead"):
        F.conv2d(tapegrad.ones(1, 3, 5, 5), tapegrad.ones(2, 2, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        F.conv2d(tapegrad.ones(1, 1, 2, 2), tapegrad.ones(1, 1, 3, 3))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        F.max_pool2d(tapegrad.ones(1, 1, 4, 4), 2, padding=2)


# ----------------------------------------------------------------------------- Module API
class _TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 2), "b": torch.nn.Identity()})
        self.blocks = torch.nn.ModuleList(
            [torch.nn.Linear(2, 2, bias=False), torch.nn.LayerNorm(2)]
        )
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros(1))
        self.register_buffer("cache", torch.zeros(1), persistent=False)
        self.register_parameter("unused", None)
        self.loss = torch.nn.CrossEntropyLoss(weight=torch.ones(2))


class _OurNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
        self.heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Identity()})
        self.blocks = nn.ModuleList([nn.Linear(2, 2, bias=False), nn.LayerNorm(2)])
        self.scale = nn.Parameter(tapegrad.ones(1))
        self.register_buffer("steps", tapegrad.zeros(1))
        self.register_buffer("cache", tapegrad.zeros(1), persistent=False)
        self.register_parameter("unused", None)
        self.loss = nn.CrossEntropyLoss(weight=tapegrad.ones(2))


def test_registration_and_iteration_match_torch() -> None:
    ours, theirs = _OurNet(), _TorchNet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [type(m).__name__ for m in ours.modules()][1:] == [
        type(m).__name__ for m in theirs.modules()
    ][1:]
    assert repr(ours).replace("_OurNet", "_TorchNet") == repr(theirs)
    assert list(ours.state_dict()._metadata) == list(theirs.state_dict()._metadata)
    assert ours.state_dict()._metadata["features.1"] == theirs.state_dict()._metadata["features.1"]
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=False)] == [
        n for n, _ in theirs.named_parameters(prefix="m", recurse=False)
    ]


def test_shared_parameters_and_modules_are_listed_once_like_torch() -> None:
    def build(lib: Any) -> Any:
        shared = lib.nn.Linear(2, 2)
        net = lib.nn.Sequential(shared, lib.nn.ReLU(), shared)
        return net

    ours, theirs = build(tapegrad), build(torch)
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 2
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == [
        n for n, _ in theirs.named_modules(remove_duplicate=False)
    ]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_state_dict_round_trip_and_detached_values() -> None:
    a, b = _OurNet(), _OurNet()
    a.steps.fill_(3.0)
    state = a.state_dict()
    assert state["scale"].requires_grad is False
    assert type(state["scale"]) is tapegrad.Tensor
    assert a.state_dict(keep_vars=True)["scale"] is a.scale
    b.load_state_dict(state)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert bool((x == y).all()), name
    assert type(b.scale) is nn.Parameter
    assert b.scale.requires_grad


def _torch_message(message: str) -> str:
    return message.replace("torch.", "tapegrad.").replace("_TorchNet", "_OurNet")


def test_load_state_dict_errors_match_torch() -> None:
    ours, theirs = _OurNet(), _TorchNet()
    state_t = theirs.state_dict()
    del state_t["scale"]
    state_t["extra.weight"] = torch.zeros(1)
    state_t["heads.a.weight"] = torch.zeros(3, 2)
    state_o = OrderedDict((k, tapegrad.tensor(v.numpy())) for k, v in state_t.items())
    with pytest.raises(RuntimeError) as expected:
        theirs.load_state_dict(state_t)
    with pytest.raises(RuntimeError) as got:
        ours.load_state_dict(state_o)
    assert str(got.value) == _torch_message(str(expected.value))
    del state_t["heads.a.weight"], state_o["heads.a.weight"]
    result_t = theirs.load_state_dict(state_t, strict=False)
    result_o = ours.load_state_dict(state_o, strict=False)
    assert result_o.missing_keys == result_t.missing_keys
    assert result_o.unexpected_keys == result_t.unexpected_keys
    assert repr(nn.Linear(1, 1).load_state_dict(nn.Linear(1, 1).state_dict())) == repr(
        torch.nn.Linear(1, 1).load_state_dict(torch.nn.Linear(1, 1).state_dict())
    )


def test_load_state_dict_assign_and_old_batchnorm_state() -> None:
    fc = nn.Linear(2, 2)
    weight = tapegrad.ones(2, 2)
    fc.load_state_dict({"weight": weight, "bias": tapegrad.zeros(2)}, assign=True)
    assert type(fc.weight) is nn.Parameter
    assert bool((fc.weight == 1).all())
    bn = nn.BatchNorm1d(2)
    state = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    bn.load_state_dict(state)  # a plain dict has no version: torch fills num_batches_tracked
    tbn = torch.nn.BatchNorm1d(2)
    tbn.load_state_dict({k: v for k, v in tbn.state_dict().items() if k != "num_batches_tracked"})


def test_setattr_errors_match_torch() -> None:
    cases = [
        lambda lib: setattr(lib.nn.Linear(1, 1), "weight", lib.ones(1)),
        lambda lib: setattr(lib.nn.Sequential(lib.nn.ReLU()), "0", 5),
        lambda lib: lib.nn.Module().register_buffer("a.b", lib.ones(1)),
        lambda lib: lib.nn.Module().register_parameter("w", lib.ones(1)),
        lambda lib: lib.nn.Module().add_module("x", 3),
    ]
    for case in cases:
        with pytest.raises(Exception) as expected:
            case(torch)
        with pytest.raises(type(expected.value)) as got:
            case(tapegrad)
        key = str(expected.value).split("(")[0].split("'")[0][:20]
        assert key in str(got.value), (str(got.value), str(expected.value))

    class Early(nn.Module):
        def __init__(self) -> None:
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"cannot assign module before Module.__init__"):
        Early()
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'missing'"):
        _ = nn.Linear(1, 1).missing


def test_attribute_reassignment_moves_between_registries() -> None:
    m = nn.Module()
    m.x = nn.Parameter(tapegrad.ones(1))
    m.x = None
    assert "x" in m._parameters
    assert m.x is None
    m.register_buffer("b", tapegrad.ones(1))
    m.b = tapegrad.zeros(1)
    assert "b" in m._buffers
    assert m.b.item() == 0.0
    del m.b
    assert not hasattr(m, "b")
    m.c = nn.Buffer(tapegrad.ones(1), persistent=False)
    assert "c" in m._buffers
    assert "c" not in m.state_dict()


def test_train_eval_zero_grad_requires_grad_and_apply() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.Sequential(nn.BatchNorm1d(2)))
    assert net.training
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")  # type: ignore[arg-type]
    net(tapegrad.ones(3, 2)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen: list[str] = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Dropout", "BatchNorm1d", "Sequential", "Sequential"]


def test_to_double_keeps_parameter_identity() -> None:
    fc = nn.Linear(2, 3)
    weight = fc.weight
    fc(tapegrad.ones(1, 2)).sum().backward()
    assert fc.double() is fc
    assert fc.weight is weight
    assert weight.dtype is tapegrad.float64
    assert weight.grad.dtype is tapegrad.float64
    bn = nn.BatchNorm1d(2).to(tapegrad.float64)
    assert bn.running_mean.dtype is tapegrad.float64
    assert bn.num_batches_tracked.dtype is tapegrad.int64
    assert fc.float().weight.dtype is tapegrad.float32
    with pytest.raises(TypeError, match=r"nn\.Module\.to only accepts floating point"):
        fc.to(tapegrad.int64)
    clone = copy.deepcopy(fc)
    assert type(clone.weight) is nn.Parameter
    assert clone.weight is not fc.weight


def test_forward_hooks_match_torch() -> None:
    def run(lib: Any) -> tuple[Any, list[str]]:
        calls: list[str] = []
        m = lib.nn.Linear(2, 2)
        with lib.no_grad():
            m.weight.copy_(lib.eye(2))
            m.bias.zero_()
        m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h = m.register_forward_pre_hook(lambda mod, args: calls.append("pre1"))
        m.register_forward_pre_hook(lambda mod, args: calls.append("pre0"), prepend=True)
        m.register_forward_hook(lambda mod, args, out: out + 1)
        m.register_forward_hook(
            lambda mod, args, kwargs, out: calls.append(f"kw{len(kwargs)}"), with_kwargs=True
        )
        m.register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True)
        out1 = m(lib.ones(1, 2))
        h.remove()
        out2 = m(lib.ones(1, 2))
        return (out1 + out2).detach().numpy(), calls

    out_o, calls_o = run(tapegrad)
    out_t, calls_t = run(torch)
    np.testing.assert_allclose(out_o, out_t)
    assert calls_o == calls_t


def test_sequential_and_containers_match_torch() -> None:
    def build(lib: Any) -> Any:
        return lib.nn.Sequential(
            lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1), lib.nn.Tanh()
        )

    ours, theirs = build(tapegrad), build(torch)
    assert repr(ours[1:3]) == repr(theirs[1:3])
    assert repr(ours[-1]) == repr(theirs[-1])
    assert len(ours) == len(theirs) == 4
    ours.append(nn.Sigmoid())
    theirs.append(torch.nn.Sigmoid())
    del ours[0]
    del theirs[0]
    ours.insert(1, nn.ReLU())
    theirs.insert(1, torch.nn.ReLU())
    assert repr(ours) == repr(theirs)
    seq = OrderedDict([("fc", nn.Linear(1, 1)), ("act", nn.ReLU())])
    assert list(dict(nn.Sequential(seq).named_children())) == ["fc", "act"]
    lst_o = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU(), nn.ReLU()])
    lst_t = torch.nn.ModuleList(
        [torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU(), torch.nn.ReLU()]
    )
    assert repr(lst_o) == repr(lst_t)
    assert len(lst_o[1:]) == 4
    assert isinstance(lst_o[1:], nn.ModuleList)
    d = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Tanh()})
    assert list(d) == ["b", "a"]
    assert d.pop("b").__class__ is nn.ReLU
    assert len(d) == 1
    with pytest.raises(IndexError):
        _ = ours[10]


def test_layer_reprs_match_torch() -> None:
    cases = [
        "Linear(3, 4, bias=False)",
        "Conv2d(3, 8, 3, stride=2, padding=1)",
        "Conv2d(4, 4, (3, 1), stride=2, padding=1, dilation=2, groups=2, bias=False)",
        "Conv1d(1, 2, 3, padding='same')",
        "MaxPool2d(2)",
        "MaxPool2d(3, 2, 1, ceil_mode=True)",
        "AvgPool2d(2)",
        "AvgPool1d(3)",
        "AdaptiveAvgPool2d((1, 1))",
        "Flatten()",
        "Unflatten(1, (2, 2))",
        "Embedding(3, 4, padding_idx=0)",
        "Embedding(3, 4, max_norm=1.0)",
        "Dropout(0.2)",
        "BatchNorm2d(3)",
        "BatchNorm1d(3, momentum=None, affine=False)",
        "LayerNorm(4)",
        "LayerNorm((2, 3), elementwise_affine=False)",
        "Identity()",
        "ReLU(inplace=True)",
        "GELU('tanh')",
        "SiLU()",
        "Softmax(dim=1)",
        "LogSoftmax(1)",
        "LeakyReLU(0.2)",
        "Softplus()",
        "ELU()",
        "Hardtanh()",
        "ReLU6()",
        "Tanh()",
        "Sigmoid()",
        "CrossEntropyLoss()",
        "MSELoss()",
        "BCEWithLogitsLoss()",
    ]
    for case in cases:
        assert repr(eval("nn." + case)) == repr(eval("torch.nn." + case)), case


# ----------------------------------------------------------------------------- init
def test_default_initialisation_bounds_match_torch() -> None:
    tapegrad.manual_seed(0)
    fc = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    for p in (fc.weight, fc.bias):
        values = np.asarray(p.detach())
        assert values.min() >= -bound
        assert values.max() <= bound
        assert values.max() > 0.95 * bound
        assert values.min() < -0.95 * bound
    conv = nn.Conv2d(6, 40, 3, groups=2)
    fan_in = 3 * 9
    values = np.asarray(conv.weight.detach())
    assert np.abs(values).max() <= 1 / math.sqrt(fan_in)
    assert np.abs(values).max() > 0.9 / math.sqrt(fan_in)
    # a uniform on [-b, b] has variance b^2 / 3
    assert abs(values.var() - (1 / fan_in) / 3) < 0.1 * (1 / fan_in) / 3
    emb = np.asarray(nn.Embedding(400, 50).weight.detach())
    assert abs(emb.mean()) < 0.02
    assert abs(emb.std() - 1) < 0.02
    bn, ln = nn.BatchNorm2d(3), nn.LayerNorm(3)
    assert bn.weight.tolist() == ln.weight.tolist() == [1.0, 1.0, 1.0]
    assert bn.bias.tolist() == ln.bias.tolist() == [0.0, 0.0, 0.0]
    assert fc.weight.grad_fn is None
    assert fc.weight.requires_grad


@pytest.mark.parametrize(
    ("fn", "kwargs", "std"),
    [
        ("kaiming_normal_", {}, math.sqrt(2 / 200)),
        ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 300)),
        ("xavier_normal_", {"gain": 2.0}, 2 * math.sqrt(2 / 500)),
        ("normal_", {"mean": 1.0, "std": 3.0}, 3.0),
        ("trunc_normal_", {"std": 0.02}, 0.02),
    ],
)
def test_normal_initialisers_statistics(fn: str, kwargs: dict[str, Any], std: float) -> None:
    tapegrad.manual_seed(1)
    w = getattr(nn.init, fn)(tapegrad.empty(300, 200, dtype=tapegrad.float64), **kwargs)
    values = np.asarray(w)
    assert abs(values.std() - std) < 0.02 * std
    assert abs(values.mean() - kwargs.get("mean", 0.0)) < 0.02 * std + 1e-12


@pytest.mark.parametrize(
    ("fn", "kwargs", "bound"),
    [
        ("kaiming_uniform_", {"a": math.sqrt(5)}, 1 / math.sqrt(200)),
        ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(6 / 200)),
        ("xavier_uniform_", {}, math.sqrt(6 / 500)),
        ("uniform_", {"a": -0.3, "b": 0.3}, 0.3),
    ],
)
def test_uniform_initialisers_bounds(fn: str, kwargs: dict[str, Any], bound: float) -> None:
    tapegrad.manual_seed(2)
    values = np.asarray(getattr(nn.init, fn)(tapegrad.empty(300, 200), **kwargs))
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.02 * bound


def test_init_helpers_match_torch() -> None:
    for name, param in [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.3),
        ("selu", None),
    ]:
        assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    for shape in [(3, 4), (8, 3, 5, 5), (2, 6, 7)]:
        assert nn.init._calculate_fan_in_and_fan_out(
            tapegrad.empty(*shape)
        ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(tapegrad.empty(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    p = nn.Parameter(tapegrad.zeros(2, 2))
    version = p._version
    nn.init.constant_(p, 0.5)  # runs under no_grad: allowed on a leaf that requires grad
    assert p.tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert p._version == version + 1
    assert p.grad_fn is None
    q = nn.init.orthogonal_(tapegrad.empty(3, 5, dtype=tapegrad.float64))
    np.testing.assert_allclose(np.asarray(q @ q.t()), np.eye(3), atol=1e-12)


# ----------------------------------------------------------------------------- evaluating
def test_evaluating_restores_each_training_flag_and_grad_mode() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.Sequential(nn.BatchNorm1d(2)))
    net[2].eval()  # mixed state
    before = [m.training for m in net.modules()]
    with nn.evaluating(net) as model:
        assert model is net
        assert not any(m.training for m in net.modules())
        assert tapegrad.is_inference_mode_enabled()
        out = net(tapegrad.ones(3, 2))
    assert out.is_inference()
    assert not out.requires_grad
    assert [m.training for m in net.modules()] == before
    assert not tapegrad.is_inference_mode_enabled()
    assert tapegrad.is_grad_enabled()
    with nn.evaluating(net, mode="no_grad"):
        assert not tapegrad.is_grad_enabled()
        assert not tapegrad.is_inference_mode_enabled()
        out = net(tapegrad.ones(3, 2))
    assert not out.is_inference()
    assert not out.requires_grad
    assert tapegrad.is_grad_enabled()


def test_evaluating_restores_on_error_and_nests() -> None:
    net = nn.Sequential(nn.Dropout())
    helper = nn.evaluating(net, mode="no_grad")

    def nested_then_fail() -> None:
        with helper:
            with helper:
                assert not net.training
            assert not net.training  # the outer one still holds
            raise KeyError("boom")

    with pytest.raises(KeyError):
        nested_then_fail()
    assert net.training
    assert tapegrad.is_grad_enabled()
    with tapegrad.no_grad(), nn.evaluating(net):
        pass
    assert net.training
    with pytest.raises(ValueError, match="mode must be 'inference' or 'no_grad'"):
        nn.evaluating(net, mode="eval")


def test_eval_and_no_grad_stay_independent() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    net.eval()
    assert net(tapegrad.ones(1, 2)).requires_grad  # eval() alone keeps autograd on
    net.train()
    with tapegrad.no_grad():
        assert net[1].training  # no_grad alone keeps the layers' mode


# ----------------------------------------------------------------------------- utils
def test_clip_grad_norm_matches_torch(rng: np.random.Generator) -> None:
    grads = [rng.standard_normal((3, 2)) * 4, rng.standard_normal(5)]
    for norm_type, max_norm in [(2.0, 1.0), (1.0, 2.5), (math.inf, 0.5), (2.0, 100.0)]:
        ours = [nn.Parameter(tapegrad.zeros(*g.shape, dtype=tapegrad.float64)) for g in grads]
        theirs = [torch.nn.Parameter(torch.zeros(*g.shape, dtype=torch.float64)) for g in grads]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad = tg(g)
            q.grad = th(g)
        total_o = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
        total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
        close(total_o, total_t)
        for p, q in zip(ours, theirs, strict=True):
            close(p.grad, q.grad)
    p = nn.Parameter(tapegrad.zeros(2))
    p.grad = tapegrad.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_vector_helpers_match_torch(rng: np.random.Generator) -> None:
    g = rng.standard_normal((4, 3)) * 3
    p, q = nn.Parameter(tg(np.zeros((4, 3)))), torch.nn.Parameter(th(np.zeros((4, 3))))
    p.grad, q.grad = tg(g), th(g)
    nn.utils.clip_grad_value_(p, 1.5)
    torch.nn.utils.clip_grad_value_(q, 1.5)
    close(p.grad, q.grad)
    fc_o, fc_t = nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    copy_weights(fc_o, fc_t)
    close(
        nn.utils.parameters_to_vector(fc_o.parameters()),
        torch.nn.utils.parameters_to_vector(fc_t.parameters()),
    )
    vec = rng.standard_normal(8)
    nn.utils.vector_to_parameters(tg(vec), fc_o.parameters())
    torch.nn.utils.vector_to_parameters(th(vec), fc_t.parameters())
    close(fc_o.weight, fc_t.weight)


def test_parameter_behaves_like_torch() -> None:
    data = tapegrad.ones(2)
    p = nn.Parameter(data)
    assert isinstance(p, tapegrad.Tensor)
    assert p.requires_grad
    assert p.is_leaf
    p2 = nn.Parameter(data, requires_grad=False)
    assert not p2.requires_grad
    assert str(p) == repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert nn.Parameter().shape == (0,)
    with tapegrad.no_grad():
        p.mul_(3)
    assert data.tolist() == [3.0, 3.0]  # shares storage with data, as torch
    assert type(p + 1) is tapegrad.Tensor
    import pickle

    q = pickle.loads(pickle.dumps(p))
    assert type(q) is nn.Parameter
    assert q.tolist() == [3.0, 3.0]
    assert q.requires_grad


def test_nn_primitives_match_finite_differences(rng: np.random.Generator) -> None:
    """The primitives appended to tapegrad.ops for nn (im2col/col2im, binary_cross_entropy)."""
    from tapegrad import ops
    from tapegrad.tensor import _apply

    x = tg(rng.standard_normal((2, 2, 4, 5)), True)
    params = {"kernel_size": (2, 3), "dilation": (1, 2), "stride": (2, 1)}
    assert gradcheck(lambda a: _apply(ops.im2col_p, a, **params), (x,))
    assert gradgradcheck(lambda a: _apply(ops.im2col_p, a, **params), (x,))
    cols = tg(rng.standard_normal((2, 2, 1, 2, 2, 3)), True)
    assert gradcheck(lambda c: _apply(ops.col2im_p, c, size=(4, 5), **params), (cols,))
    p = tg(rng.uniform(0.1, 0.9, (3, 2)), True)
    y = tg(rng.uniform(0.0, 1.0, (3, 2)), True)
    assert gradcheck(lambda a, b: _apply(ops.binary_cross_entropy_p, a, b), (p, y))
    assert gradgradcheck(lambda a, b: _apply(ops.binary_cross_entropy_p, a, b), (p, y))
    out = F.binary_cross_entropy(p, y)
    assert type(out.grad_fn).__name__ == "MeanBackward0"
    assert (
        type(
            TF.binary_cross_entropy(
                th(np.full(2, 0.5), True), th(np.ones(2)), reduction="none"
            ).grad_fn
        ).__name__
        == type(
            F.binary_cross_entropy(
                tg(np.full(2, 0.5), True), tg(np.ones(2)), reduction="none"
            ).grad_fn
        ).__name__
    )
