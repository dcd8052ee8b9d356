"""``tapegrad.autograd.functional`` against ``torch.autograd.functional`` (torch 2.13).

Every API (vjp, jvp, jacobian in reverse / vectorized / forward mode, hessian with both outer
strategies, hvp, vhp) runs on a suite of functions: scalar and non-scalar outputs, several
inputs, tuple outputs, 0-d inputs, outputs independent of an input. Results must have torch's
structure (Tensor, tuple or list), shapes, dtypes, values and ``requires_grad``; with
``create_graph=True`` they must be differentiable again, with torch's gradients. Then strict
mode and bad arguments: the same exception types and messages.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.autograd.functional as functional

torch = pytest.importorskip("torch")
torch_functional = pytest.importorskip("torch.autograd.functional")
with warnings.catch_warnings():  # torch's make_dual imports this lazily; it warns on import
    warnings.simplefilter("ignore", DeprecationWarning)
    importlib.import_module("torch._decomp.decompositions_for_jvp")

LIBS = ((tapegrad, functional), (torch, torch_functional))

# name -> (function of lib tensors, input shapes); a tuple of shapes means a tuple of inputs
FUNCTIONS: dict[str, tuple[Callable[..., Any], Any]] = {
    "scalar_out": (lambda x: (x.sin() * x).sum(), (3,)),
    "nonscalar_out": (lambda x: x.tanh() * x.flip(0), (3,)),
    "matrix_in": (lambda x: (x @ x.t()).exp(), (2, 3)),
    "zero_dim": (lambda x: x**3, ()),
    "two_inputs": (lambda x, y: (x * y).sum(1).sigmoid(), ((3,), (2, 3))),
    "tuple_out": (lambda x, y: (x * 2 + y.sum(0), (y @ x).softmax(0)), ((3,), (2, 3))),
    "unused_input": (lambda x, y: x.exp(), ((2,), (3,))),
}
SCALAR_FUNCTIONS = {  # for hessian, hvp and vhp: a single-element output
    "scalar_out": (lambda x: (x.sin() * x).sum(), (3,)),
    "zero_dim": (lambda x: x**3, ()),
    "two_inputs": (lambda x, y: ((x * y).sum(1).sin() * x[:2]).sum(), ((3,), (2, 3))),
    "logsumexp": (lambda x: x.logsumexp(0), (3,)),
    "unused_input": (lambda x, y: (x**3).sum(), ((2,), (3,))),
}


def make_inputs(lib: Any, shapes: Any, rng_seed: int, requires_grad: bool = False) -> Any:
    rng = np.random.default_rng(rng_seed)
    if isinstance(shapes, tuple) and shapes and isinstance(shapes[0], tuple):
        return tuple(lib.tensor(rng.uniform(-1, 1, s), requires_grad=requires_grad)
                     for s in shapes)
    return lib.tensor(rng.uniform(-1, 1, shapes), requires_grad=requires_grad)


def like(lib: Any, value: Any, seed: int) -> Any:
    """Random tensors shaped like ``value`` (a tensor or a tuple of them)."""
    rng = np.random.default_rng(seed)
    if isinstance(value, tuple):
        return tuple(lib.tensor(rng.uniform(-1, 1, tuple(v.shape))) for v in value)
    return lib.tensor(rng.uniform(-1, 1, tuple(value.shape)))


def assert_same(ours: Any, theirs: Any, where: str = "result") -> None:
    """Same structure (Tensor / tuple / list), shapes, dtypes, values and requires_grad."""
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs), f"{where}: {type(ours)} vs torch {type(theirs)}"
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
        return
    assert isinstance(ours, tapegrad.Tensor), f"{where}: {ours!r}"
    assert tuple(ours.shape) == tuple(theirs.shape), f"{where}: shape"
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1], f"{where}: dtype"
    assert ours.requires_grad == theirs.requires_grad, f"{where}: requires_grad"
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9,
                               atol=1e-12, err_msg=where)


def flat(value: Any) -> list[Any]:
    if isinstance(value, tuple | list):
        return [t for item in value for t in flat(item)]
    return [value]


def run_both(call: Callable[[Any, Any, int], Any], seed: int) -> tuple[Any, Any]:
    return call(tapegrad, functional, seed), call(torch, torch_functional, seed)


def _call(api: str, fn: Callable[..., Any], shapes: Any, create_graph: bool,
          requires_grad: bool = False) -> Callable[[Any, Any, int], Any]:
    def call(lib: Any, module: Any, seed: int) -> Any:
        inputs = make_inputs(lib, shapes, seed, requires_grad)
        if api == "vjp":
            with lib.no_grad():
                out = fn(*inputs) if isinstance(inputs, tuple) else fn(inputs)
            return inputs, module.vjp(fn, inputs, like(lib, out, seed + 1),
                                      create_graph=create_graph)
        if api in ("jvp", "hvp", "vhp"):
            return inputs, getattr(module, api)(fn, inputs, like(lib, inputs, seed + 1),
                                                create_graph=create_graph)
        if api == "jacobian":
            return inputs, module.jacobian(fn, inputs, create_graph=create_graph)
        if api == "jacobian_vectorized":
            return inputs, module.jacobian(fn, inputs, create_graph=create_graph,
                                           vectorize=True)
        if api == "jacobian_forward":
            return inputs, module.jacobian(fn, inputs, vectorize=True, strategy="forward-mode")
        if api == "hessian":
            return inputs, module.hessian(fn, inputs, create_graph=create_graph)
        if api == "hessian_forward":
            return inputs, module.hessian(fn, inputs, vectorize=True,
                                          outer_jacobian_strategy="forward-mode")
        raise AssertionError(api)

    return call


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])
@pytest.mark.parametrize("api", ["vjp", "jvp", "jacobian", "jacobian_vectorized"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_first_order_matches_torch(name: str, api: str, create_graph: bool) -> None:
    fn, shapes = FUNCTIONS[name]
    (_, ours), (_, theirs) = run_both(_call(api, fn, shapes, create_graph), seed=len(name))
    assert_same(ours, theirs)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_forward_mode_jacobian_matches_torch(name: str) -> None:
    """strategy="forward-mode" (vectorize=True): torch returns lists where it has tuples."""
    fn, shapes = FUNCTIONS[name]
    (_, ours), (_, theirs) = run_both(_call("jacobian_forward", fn, shapes, False), seed=3)
    assert_same(ours, theirs)


@pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])
@pytest.mark.parametrize("api", ["hessian", "hvp", "vhp"])
@pytest.mark.parametrize("name", list(SCALAR_FUNCTIONS))
def test_second_order_matches_torch(name: str, api: str, create_graph: bool) -> None:
    fn, shapes = SCALAR_FUNCTIONS[name]
    (_, ours), (_, theirs) = run_both(_call(api, fn, shapes, create_graph), seed=len(name))
    assert_same(ours, theirs)


FORWARD_HESSIAN = {k: v for k, v in SCALAR_FUNCTIONS.items() if k != "logsumexp"}


@pytest.mark.parametrize("name", list(FORWARD_HESSIAN))
def test_forward_over_reverse_hessian_matches_torch(name: str) -> None:
    """outer_jacobian_strategy="forward-mode": forward AD through a reverse-mode jacobian."""
    fn, shapes = FORWARD_HESSIAN[name]
    (_, ours), (_, theirs) = run_both(_call("hessian_forward", fn, shapes, False), seed=5)
    assert_same(ours, theirs)


def test_forward_over_reverse_hessian_through_a_saved_output() -> None:
    fn, shapes = SCALAR_FUNCTIONS["logsumexp"]
    (_, ours), (_, theirs) = run_both(_call("hessian_forward", fn, shapes, False), seed=5)
    assert_same(ours, theirs)


@pytest.mark.parametrize(
    ("api", "name"),
    [("vjp", "two_inputs"), ("jvp", "tuple_out"), ("jacobian", "matrix_in"),
     ("hessian", "two_inputs"), ("hvp", "scalar_out"), ("vhp", "logsumexp")],
)
def test_create_graph_results_are_differentiable(api: str, name: str) -> None:
    """With create_graph=True and inputs that require grad, results differentiate again."""
    fn, shapes = {**FUNCTIONS, **SCALAR_FUNCTIONS}[name]
    results = []
    for lib, module in LIBS:
        inputs, result = _call(api, fn, shapes, True, requires_grad=True)(lib, module, 7)
        leaves = inputs if isinstance(inputs, tuple) else (inputs,)
        total = sum((t * (k + 1)).sum() for k, t in enumerate(flat(result)) if t.requires_grad)
        results.append((result, lib.autograd.grad(total, leaves, allow_unused=True)))
    (ours, our_grads), (theirs, their_grads) = results
    assert_same(ours, theirs)
    for a, b in zip(our_grads, their_grads, strict=True):
        assert (a is None) == (b is None)
        if b is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_v_may_be_omitted_for_single_elements() -> None:
    for api, fn in (("vjp", lambda x: (x * 3).sum()), ("jvp", lambda x: x.exp() * 2),
                    ("hvp", lambda x: x**4), ("vhp", lambda x: x.sin())):
        ours, theirs = (getattr(module, api)(fn, lib.tensor([0.5]))
                        for lib, module in LIBS)
        assert_same(ours, theirs, api)


def test_inputs_requiring_grad_are_not_modified() -> None:
    for lib, module in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        module.jacobian(lambda t: t * t, x)
        module.vjp(lambda t: t.sum(), x)
        assert x.grad is None
        assert x.requires_grad


# ----------------------------------------------------------------------------- errors
def observe(fn: Callable[[], Any]) -> tuple[str, str]:
    try:
        fn()
    except Exception as error:
        return type(error).__name__, str(error).replace("torch.", "tapegrad.")
    return "no error", ""


def _x(lib: Any) -> Any:
    return lib.tensor([1.0, 2.0])


ERRORS: dict[str, Callable[[Any, Any], Any]] = {
    "non_tensor_input": lambda lib, m: m.vjp(lambda x: x, [1.0, 2.0]),
    "non_tensor_in_tuple": lambda lib, m: m.jacobian(lambda x, y: x, (_x(lib), 2.0)),
    "non_tensor_output": lambda lib, m: m.jacobian(lambda x: 3.0, _x(lib)),
    "non_tensor_v": lambda lib, m: m.jvp(lambda x: x, _x(lib), [1.0, 1.0]),
    "v_none_non_scalar_out": lambda lib, m: m.vjp(lambda x: x * 2, _x(lib)),
    "v_none_non_scalar_in": lambda lib, m: m.jvp(lambda x: x.sum(), _x(lib)),
    "v_none_hvp": lambda lib, m: m.hvp(lambda x: x.sum(), _x(lib)),
    "v_bad_size": lambda lib, m: m.vjp(lambda x: x * 2, _x(lib), lib.ones(3)),
    "v_bad_size_tuple": lambda lib, m: m.jvp(lambda x, y: x, (_x(lib), _x(lib)),
                                             (lib.ones(2), lib.ones(3))),
    "v_bad_length_tuple": lambda lib, m: m.jvp(lambda x, y: x, (_x(lib), _x(lib)),
                                               (lib.ones(2),)),
    "v_bad_length": lambda lib, m: m.vjp(lambda x: (x, x), _x(lib), lib.ones(2)),
    "hessian_non_scalar": lambda lib, m: m.hessian(lambda x: x * 2, _x(lib)),
    "hessian_tuple_out": lambda lib, m: m.hessian(lambda x: (x.sum(), x.sum()), _x(lib)),
    "hvp_tuple_out": lambda lib, m: m.hvp(lambda x: (x.sum(),), _x(lib), lib.ones(2)),
    "vhp_non_scalar": lambda lib, m: m.vhp(lambda x: x * 2, _x(lib), lib.ones(2)),
    "bad_strategy": lambda lib, m: m.jacobian(lambda x: x, _x(lib), strategy="central"),
    "bad_outer_strategy": lambda lib, m: m.hessian(lambda x: x.sum(), _x(lib),
                                                   outer_jacobian_strategy="central"),
    "forward_mode_create_graph": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), create_graph=True, strategy="forward-mode"),
    "forward_mode_not_vectorized": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), strategy="forward-mode"),
    "forward_mode_strict": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), strict=True, vectorize=True, strategy="forward-mode"),
    "vectorize_strict": lambda lib, m: m.jacobian(lambda x: x * x, _x(lib), strict=True,
                                                  vectorize=True),
    "forward_mode_integer_input": lambda lib, m: m.jacobian(
        lambda x: x, lib.tensor([1, 2]), vectorize=True, strategy="forward-mode"),
    # strict mode
    "strict_vjp_unused_input": lambda lib, m: m.vjp(lambda x, y: x.sum(), (_x(lib), _x(lib)),
                                                    strict=True),
    "strict_vjp_output_no_grad": lambda lib, m: m.vjp(lambda x: lib.ones(1), _x(lib),
                                                      lib.ones(1), strict=True),
    "strict_vjp_create_graph_constant": lambda lib, m: m.vjp(
        lambda x: x * 2, _x(lib), lib.ones(2), create_graph=True, strict=True),
    "strict_jvp_unused_input": lambda lib, m: m.jvp(lambda x, y: x * 2, (_x(lib), _x(lib)),
                                                    (lib.ones(2), lib.ones(2)), strict=True),
    "strict_jacobian_unused": lambda lib, m: m.jacobian(lambda x, y: x * 2, (_x(lib), _x(lib)),
                                                        strict=True),
    "strict_jacobian_create_graph": lambda lib, m: m.jacobian(lambda x: x * 2, _x(lib),
                                                              strict=True, create_graph=True),
    "strict_hessian_linear": lambda lib, m: m.hessian(lambda x: (x * 2).sum(), _x(lib),
                                                      strict=True),
    "strict_hvp_linear": lambda lib, m: m.hvp(lambda x: (x * 2).sum(), _x(lib), lib.ones(2),
                                              strict=True),
    "strict_vhp_linear": lambda lib, m: m.vhp(lambda x: (x * 2).sum(), _x(lib), lib.ones(2),
                                              strict=True),
    "strict_vhp_unused": lambda lib, m: m.vhp(lambda x, y: (x**3).sum(), (_x(lib), _x(lib)),
                                              (lib.ones(2), lib.ones(2)), strict=True),
    "strict_hvp_create_graph_quadratic": lambda lib, m: m.hvp(
        lambda x: (x * x).sum(), _x(lib), lib.ones(2), create_graph=True, strict=True),
    "strict_ok": lambda lib, m: m.vjp(lambda x: x.exp(), _x(lib), lib.ones(2), strict=True),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(case: str) -> None:
    """Bad arguments and strict-mode violations: torch's exception type and message."""
    ours, theirs = (observe(lambda lib=lib, module=module: ERRORS[case](lib, module))
                    for lib, module in LIBS)
    assert ours == theirs


def test_hardtanh_and_leaky_relu_in_place_follow_torch() -> None:
    """hardtanh's gradient is zero at the bounds (it is not clamp's, which passes them); the
    in-place forms record HardtanhBackward0 / LeakyReluBackward1 on the tensor itself."""
    from tests.fuzzing.oracle import compare, describe

    def scenario(T):
        F = T.nn.functional
        x = T.tensor([-1.0, 1.0, 0.5, -2.0, 2.0, 6.0, 0.0], dtype=T.float64, requires_grad=True)
        outs = [F.hardtanh(x), F.relu6(x), F.hardtanh(x * 1, inplace=True),
                F.leaky_relu(x * 1, 0.1, inplace=True), F.relu6(x * 1, inplace=True)]
        grads = [T.autograd.grad(o.sum(), [x], retain_graph=True)[0] for o in outs]
        return ([describe(o) for o in outs], [o.grad_fn.name() for o in outs],
                [describe(g, version=False) for g in grads])

    compare(scenario)


def test_sort_topk_gather_and_scatter_of_a_0d_tensor() -> None:
    """torch runs them on a 0-d tensor as on its (1,) view (tapegrad raised NumPy errors)."""
    from tests.fuzzing.oracle import compare, describe, outcome

    def scenario(T):
        s = T.tensor(3.0, dtype=T.float64, requires_grad=True)
        calls = [lambda: s.sort(), lambda: s.sort(0, descending=True), lambda: s.topk(1),
                 lambda: s.topk(0), lambda: s.topk(2), lambda: s.argsort(),
                 lambda: s.gather(0, T.tensor(0)), lambda: s.gather(0, T.tensor(1)),
                 lambda: s.scatter(0, T.tensor(0), 5.0),
                 lambda: s.scatter_add(0, T.tensor(0), T.tensor(2.0, dtype=T.float64)),
                 lambda: T.ones(3).topk(4)]
        results = []
        for call in calls:
            out = outcome(call)
            if isinstance(out, tuple) and isinstance(out[0], str):
                results.append(out)
                continue
            first = out[0] if isinstance(out, tuple) else out
            grad = (T.autograd.grad(first.sum(), [s], allow_unused=True)[0]
                    if first.requires_grad else None)
            results.append((describe(tuple(out) if isinstance(out, tuple) else out),
                            describe(grad, version=False)))
        return results

    compare(scenario)
