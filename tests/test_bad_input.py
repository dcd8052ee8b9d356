"""Bad calls: torch's exception type and key phrase, and nothing changed by the failed call.

Each row of ``CASES`` builds some tensors (``setup``), makes one bad call, and checks, on
tapegrad and on torch 2.13, that

- both raise the same exception type, and tapegrad's message starts with torch's key phrase
  (the first ``chars`` characters of torch's message, ``torch.`` read as ``tapegrad.``);
- the failed call left everything as it was: every tensor's data, ``_version``, ``.grad``,
  ``requires_grad`` and ``grad_fn``, and the grad / inference modes.

Torch itself breaks the second rule once (spec B64: it writes an inference tensor before
refusing the update); tapegrad deliberately refuses first, so only tapegrad is checked there.
Rows marked ``xfail`` are core bugs (strict: remove the mark when fixed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import tapegrad
from tests.fuzzing.oracle import outcome, phrase

torch = pytest.importorskip("torch")

State = dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Any], State]
    call: Callable[[Any, State], Any]
    chars: int = 40  # how much of torch's message is its key phrase
    torch_writes: bool = False  # torch modifies data before raising (spec B64)
    xfail: str | None = None


def _leaf(T: Any, *shape: int) -> Any:
    """A leaf that requires grad (and is not a view of anything)."""
    values = np.arange(float(np.prod(shape))).reshape(shape).tolist()
    return T.tensor(values, requires_grad=True)


def _basic(T: Any) -> State:
    x = _leaf(T, 2, 3)
    return {"x": x, "y": x * 2, "c": T.ones(3), "i": T.tensor([1, 2])}


def _used_graph(T: Any) -> State:
    x = _leaf(T, 3)
    y = x.exp().sum()
    y.backward()
    return {"x": x, "y": y}


def _inference(T: Any) -> State:
    with T.inference_mode():
        t = T.ones(3)
    return {"t": t, "x": _leaf(T, 3)}


def _no_grad_view(T: Any) -> State:
    x = _leaf(T, 3).clone()
    with T.no_grad():
        v = x[:2]
    return {"x": x, "v": v}


def _inference_view(T: Any) -> State:
    x = _leaf(T, 3).clone()
    with T.inference_mode():
        v = x[:2]
    return {"x": x, "v": v}


def _stale_view(T: Any) -> State:
    """A no_grad view whose base was then modified in place in grad mode (spec B84)."""
    x = _leaf(T, 3).clone()
    with T.no_grad():
        v = x[:2]
    x.mul_(2)
    return {"x": x, "v": v, "t": T.zeros(2)}


def _stale_unbind(T: Any) -> State:
    """An unbind output of a constant whose base then took a gradient-carrying value."""
    c = T.tensor([0.5, 1.5, 2.5])
    v = c.unbind(0)[0]
    c.add_(_leaf(T, 3))
    return {"c": c, "v": v, "t": T.zeros(3)}


def _inference_view_of_constant(T: Any) -> State:
    """A view made in inference mode of a tensor that does not require grad (spec B72)."""
    c = T.tensor([0.5, 1.5, 2.5])
    with T.inference_mode():
        v = c[:2]
    return {"c": c, "v": v, "x": _leaf(T, 3)}


def _version_error(T: Any) -> State:
    x = _leaf(T, 3)
    a = x * 1
    y = (a * a).sum()
    with T.no_grad():
        a.add_(1)
    return {"x": x, "a": a, "y": y}


class _Double:
    """A custom Function whose backward returns a gradient of the wrong shape."""

    @staticmethod
    def make(T: Any, grads: Callable[[Any], Any]) -> Any:
        class Bad(T.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return grads(g)

        return Bad


def _function_state(T: Any, grads: Callable[[Any], Any]) -> State:
    x = _leaf(T, 3)
    return {"x": x, "y": _Double.make(T, grads).apply(x).sum()}


def _once(T: Any) -> State:
    class Once(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        @T.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = _leaf(T, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (g,) = T.autograd.grad(Once.apply(x).sum(), [x], create_graph=True)
    return {"x": x, "g": g}


XFAIL = "core bug: "
CASES = [
    # -- shape mismatches ----------------------------------------------------------------
    Case("add-broadcast", _basic, lambda T, s: s["x"] + T.ones(4)),
    Case("add_-output-shape", _basic, lambda T, s: s["c"].add_(T.ones(2, 3))),
    Case("matmul-shapes", _basic, lambda T, s: s["x"] @ T.ones(4, 2)),
    Case("matmul-0d", _basic, lambda T, s: T.tensor(1.0) @ s["c"]),
    Case("mm-1d", _basic, lambda T, s: s["c"].mm(T.ones(3, 2))),
    Case("view-non-contiguous", _basic, lambda T, s: s["x"].t().view(-1)),
    Case("view-numel", _basic, lambda T, s: s["x"].view(4)),
    Case("reshape-two-inferred", _basic, lambda T, s: s["x"].reshape(-1, -1)),
    Case("expand-size", _basic, lambda T, s: s["x"].expand(3, 3)),
    Case("cat-ndim", _basic, lambda T, s: T.cat([s["x"], s["c"]])),
    Case("cat-sizes", _basic, lambda T, s: T.cat([s["x"], T.ones(2, 4)], 0)),
    Case("stack-sizes", _basic, lambda T, s: T.stack([s["c"], T.ones(2)])),
    Case("copy_-broadcast", _basic, lambda T, s: s["c"].copy_(T.ones(2, 3))),
    Case("setitem-shape", _basic, lambda T, s: s["c"].__setitem__(slice(0, 2), T.ones(3))),
    Case("backward-gradient-shape", _basic, lambda T, s: s["y"].backward(T.ones(2))),
    Case("mask-shape-mismatch", _basic, lambda T, s: s["c"][T.zeros(0) > 0]),
    Case("mask-size-mismatch", _basic, lambda T, s: s["c"][T.ones(2) > 0]),
    Case("gather-index-size", lambda T: {"x": T.zeros(4, 2)},
         lambda T, s: s["x"].gather(0, T.zeros(2, 4, dtype=T.int64))),
    # -- dtype mismatches ------------------------------------------------------------------
    Case("matmul-dtypes", _basic, lambda T, s: s["x"] @ T.ones(3, 2, dtype=T.float64)),
    Case("factory-int-requires-grad", _basic,
         lambda T, s: T.tensor([1, 2], requires_grad=True)),
    Case("requires_grad_-int", _basic, lambda T, s: s["i"].requires_grad_()),
    Case("index-with-floats", _basic, lambda T, s: s["c"][T.tensor([0.0])]),
    Case("gather-float-index", _basic, lambda T, s: s["x"].gather(0, T.tensor([[0.0]]))),
    Case("add_-float-into-int", _basic, lambda T, s: s["i"].add_(1.5)),
    Case("grad-assign-dtype", _basic,
         lambda T, s: setattr(s["x"], "grad", T.ones(2, 3, dtype=T.float64))),
    Case("grad-assign-shape", _basic, lambda T, s: setattr(s["x"], "grad", T.ones(3))),
    Case("lerp_-mixed-dtypes", _basic, lambda T, s: s["c"].lerp_(T.ones(3, dtype=T.float64), 0.5)),
    # -- wrong argument types --------------------------------------------------------------
    Case("add-string", _basic, lambda T, s: s["x"] + "a", chars=0),
    Case("sum-float-dim", _basic, lambda T, s: s["x"].sum(1.5), chars=0),
    Case("grad-assign-number", _basic, lambda T, s: setattr(s["x"], "grad", 3)),
    Case("set_grad_enabled-int", _basic, lambda T, s: T.set_grad_enabled(1), chars=30),
    Case("tensor-from-string", _basic, lambda T, s: T.tensor("abc"), chars=0),
    Case("permute-no-dims", _basic, lambda T, s: T.tensor(1.0).permute()),  # fixed meanwhile
    Case("setitem-0d-target-too-big-value", _basic,
         lambda T, s: s["c"].__setitem__((Ellipsis, 0), T.ones(2))),
    Case("addcmul-numbers", _basic, lambda T, s: s["c"].addcmul(3, 3)),
    Case("lerp-number-end", _basic, lambda T, s: s["c"].lerp(0.0, 0.3), chars=20),
    # -- out-of-range dims and indices -----------------------------------------------------
    Case("sum-dim", _basic, lambda T, s: s["x"].sum(2)),
    Case("transpose-dim", _basic, lambda T, s: s["x"].transpose(0, 3)),
    Case("transpose-0d-dim-out-of-range", _basic, lambda T, s: T.tensor(1.0).transpose(-1, 2)),
    Case("unsqueeze-dim", _basic, lambda T, s: s["x"].unsqueeze(5)),
    Case("index-out-of-range", _basic, lambda T, s: s["x"][5]),
    Case("select-out-of-range", _basic, lambda T, s: s["x"].select(0, 3)),
    Case("narrow-too-long", _basic, lambda T, s: s["x"].narrow(0, 1, 5)),
    Case("index_select-out-of-range", _basic,
         lambda T, s: s["c"].index_select(0, T.tensor([7]))),
    Case("gather-index-out-of-bounds", lambda T: {"x": T.zeros(4, 2)},
         lambda T, s: s["x"].gather(0, T.tensor([[5, 0]]))),
    Case("tril-1d", _basic, lambda T, s: s["c"].tril()),
    # -- backward misuse -------------------------------------------------------------------
    Case("backward-non-scalar", _basic, lambda T, s: s["y"].backward()),
    Case("backward-without-grad", _basic, lambda T, s: s["c"].sum().backward()),
    Case("backward-twice", _used_graph, lambda T, s: s["y"].backward()),
    Case("grad-unused-input", _basic, lambda T, s: T.autograd.grad(
        s["y"].sum(), [s["x"], T.ones(2, requires_grad=True)])),
    Case("grad-input-without-grad", _basic, lambda T, s: T.autograd.grad(s["y"].sum(),
                                                                          [s["c"]])),
    Case("backward-empty-inputs", _basic, lambda T, s: s["y"].sum().backward(inputs=[])),
    Case("saved-tensor-modified", _version_error, lambda T, s: s["y"].backward()),
    Case("numpy-requires-grad", _basic, lambda T, s: s["x"].numpy()),
    Case("item-many-elements", _basic, lambda T, s: s["c"].item()),
    Case("requires_grad_-false-non-leaf", _basic, lambda T, s: s["y"].requires_grad_(False)),
    Case("requires_grad-set-non-leaf", _basic, lambda T, s: setattr(s["y"], "requires_grad",
                                                                    True)),
    Case("retain_grad-without-grad", _basic, lambda T, s: s["c"].retain_grad()),
    Case("hook-without-grad", _basic, lambda T, s: s["c"].register_hook(lambda g: g)),
    Case("function-gradient-shape", lambda T: _function_state(T, lambda g: g[:2]),
         lambda T, s: s["y"].backward(), chars=60),
    Case("function-gradient-count", lambda T: _function_state(T, lambda g: (g, g)),
         lambda T, s: s["y"].backward(), chars=60),
    Case("double-backward-once-differentiable", _once, lambda T, s: s["g"].sum().backward()),
    # -- in-place restrictions -------------------------------------------------------------
    Case("inplace-leaf", _basic, lambda T, s: s["x"].add_(1)),
    Case("inplace-view-of-leaf", _basic, lambda T, s: s["x"][0].mul_(2)),
    Case("setitem-leaf", _basic, lambda T, s: s["x"].__setitem__(0, 1.0)),
    Case("inplace-inference-outside", _inference, lambda T, s: s["t"].add_(1),
         torch_writes=True),
    Case("inplace-expanded", _basic, lambda T, s: s["c"].expand(2, 3).add_(1)),
    Case("inplace-no-grad-view", _no_grad_view, lambda T, s: s["v"].mul_(2)),
    Case("inplace-inference-view", _inference_view, lambda T, s: s["v"].mul_(2)),
    Case("inplace-multi-output-view", _basic,
         lambda T, s: s["y"].unbind(0)[0].mul_(2), chars=12),
    Case("requires_grad_-inference", _inference, lambda T, s: s["t"].requires_grad_()),
    Case("inplace-inference-view-grad-value", _inference_view_of_constant,
         lambda T, s: s["v"].add_(s["x"][:2])),
    Case("inplace-with-a-stale-view-operand", _stale_view, lambda T, s: s["t"].add_(s["v"])),
    Case("stale-unbind-output-of-a-constant", _stale_unbind, lambda T, s: s["t"].add_(s["v"])),
    Case("save-inference-tensor", _inference, lambda T, s: s["x"] * s["t"]),
    Case("detach_-view", _basic, lambda T, s: s["x"].t().detach_()),
    # -- which check comes first, on a leaf that requires grad ------------------------------
    # torch: argument parsing (TypeError), then the autograd in-place checks, then the kernel
    Case("addcmul_-numbers-on-leaf", _basic, lambda T, s: s["x"].addcmul_(2.0, 2.0)),
    Case("clamp_-string-on-leaf", _basic, lambda T, s: s["x"].clamp_(min="a"), chars=8),
    Case("lerp_-dtype-on-leaf", _basic,
         lambda T, s: s["x"].lerp_(T.ones(2, 3, dtype=T.float64), 0.5)),
    Case("masked_fill_-float-mask-on-leaf", _basic, lambda T, s: s["x"].masked_fill_(s["x"], 1.0)),
    Case("fill_-tensor-on-leaf", _basic, lambda T, s: s["x"].fill_(T.ones(2))),
    Case("add_-string", _basic, lambda T, s: s["c"].add_("a"), chars=30),
    Case("mul_-list-on-leaf", _basic, lambda T, s: s["x"].mul_([1.0, 2.0, 3.0])),
    Case("pow_-string-on-leaf", _basic, lambda T, s: s["x"].pow_("a"), chars=30),
    Case("fill_-none", _basic, lambda T, s: s["c"].fill_(None), chars=30),
    Case("lerp_-number-end-on-leaf", _basic, lambda T, s: s["x"].lerp_(1.0, 0.5), chars=30),
    Case("masked_fill_-list-mask", _basic, lambda T, s: s["c"].masked_fill_([True], 1.0),
         chars=30),
    Case("fill_-tensor-on-inference", _inference, lambda T, s: s["t"].fill_(T.ones(2))),
    # -- operands sharing the written memory -----------------------------------------------
    Case("add_-transposed-self", _basic, lambda T, s: s["y"].add_(s["y"].t()[:2, :2].t())),
    Case("add_-row-of-self", _basic, lambda T, s: s["y"][0].add_(s["y"][0, :1])),
    Case("index_put_-self-values", _basic,
         lambda T, s: s["c"].index_put_((T.tensor([0, 1, 2]),), s["c"])),
    Case("setitem-scalar-into-expanded", _basic,
         lambda T, s: s["c"].expand(2, 3).__setitem__(Ellipsis, 1.0)),
    Case("fill_-tensor-into-expanded", _basic,
         lambda T, s: s["c"].expand(2, 3).fill_(T.tensor(1.0))),
    Case("add_-stale-view-operand-on-leaf", _stale_view, lambda T, s: s["x"].add_(s["v"][0])),
    # -- NaN / inf arguments torch refuses -------------------------------------------------
    Case("int-of-nan", _basic, lambda T, s: int(T.tensor(float("nan")))),
    Case("int-of-inf", _basic, lambda T, s: int(T.tensor(float("inf")))),
    Case("bce-input-nan", _basic, lambda T, s: T.nn.functional.binary_cross_entropy(
        T.tensor([float("nan"), 0.5]), T.tensor([1.0, 0.0]))),
    Case("bernoulli_-p-nan", _basic, lambda T, s: s["c"].bernoulli_(float("nan"))),
    Case("normal_-std-nan", _basic, lambda T, s: s["c"].normal_(0.0, float("nan"))),
    Case("uniform_-from-nan", _basic, lambda T, s: s["c"].uniform_(float("nan"), 1.0)),
    Case("normal_-std-negative", _basic, lambda T, s: s["c"].normal_(0.0, -1.0)),
    Case("random_-empty-range", _basic, lambda T, s: s["c"].random_(5, 2)),
    Case("arange-to-inf", _basic, lambda T, s: T.arange(0, float("inf"))),
]


def _observe(T: Any, state: State) -> Any:
    """Everything a failed call must leave alone."""
    seen = []
    for name, t in state.items():
        if not hasattr(type(t), "requires_grad"):
            continue
        is_leaf = outcome(lambda t=t: t.is_leaf)  # a stale view may refuse (spec B84)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grad = t.grad if is_leaf is True else None
        seen.append((
            name,
            np.array(t.detach().numpy(), copy=True).tolist(),
            None if t.is_inference() else t._version,
            t.requires_grad,
            is_leaf,
            None if grad is None else (grad.tolist(), grad._version),
        ))
    return seen, T.is_grad_enabled(), T.is_inference_mode_enabled()


def _attempt(T: Any, case: Case) -> tuple[BaseException, Any, Any]:
    state = case.setup(T)
    before = _observe(T, state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            case.call(T, state)
        except Exception as error:
            return error, before, _observe(T, state)
    raise AssertionError(f"{T.__name__}: {case.id} did not raise")


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                  if c.xfail else []) for c in CASES],
)
def test_bad_call_matches_torch(case: Case) -> None:
    theirs, torch_before, torch_after = _attempt(torch, case)
    if not case.torch_writes:
        assert torch_after == torch_before  # the row is a real "nothing changes" case
    ours, before, after = _attempt(tapegrad, case)
    assert type(ours) is type(theirs), f"{type(ours).__name__}: {ours}\ntorch: {theirs}"
    key = phrase(theirs, case.chars)
    assert phrase(ours, case.chars) == key, f"\ntapegrad: {ours}\ntorch:    {theirs}"
    assert after == before


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
