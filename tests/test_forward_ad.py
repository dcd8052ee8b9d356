"""Forward-mode AD (``tapegrad.autograd.forward_ad``), each scenario run against torch 2.13.

Levels (B109), make_dual / unpack_dual and their errors, modes (no_grad keeps forward AD on,
B110; inference_mode turns it off, B111), detach dropping tangents (B112), thread rules (B113),
tangents through views and in-place ops, custom ``Function.jvp``, and the two compositions
with reverse mode (forward-over-reverse and reverse-over-forward).
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.autograd.forward_ad as fwAD
from tapegrad.autograd.function import Function as TapegradFunction

torch = pytest.importorskip("torch")
with warnings.catch_warnings():  # torch's make_dual imports this lazily; it warns on import
    warnings.simplefilter("ignore", DeprecationWarning)
    importlib.import_module("torch._decomp.decompositions_for_jvp")

TORCH = SimpleNamespace(lib=torch, fw=torch.autograd.forward_ad, Function=torch.autograd.Function)
TAPEGRAD = SimpleNamespace(lib=tapegrad, fw=fwAD, Function=TapegradFunction)
APIS = (TAPEGRAD, TORCH)


def observe(fn: Callable[[], Any]) -> Any:
    """Run ``fn``: its result as plain data, or ``(exception type name, message)``."""
    try:
        return plain(fn())
    except Exception as error:
        return type(error).__name__, str(error).replace("torch.", "tapegrad.")


def plain(value: Any) -> Any:
    """Tensors as (dtype name, shape, rounded values, requires_grad); containers recursively."""
    if isinstance(value, tapegrad.Tensor | torch.Tensor):
        array = value.detach().numpy()
        return (str(value.dtype).split(".")[-1], tuple(value.shape),
                np.round(array.astype(np.float64), 5 if array.dtype == np.float32 else 10)
                .tolist(), value.requires_grad)
    if isinstance(value, tuple | list):
        return type(value).__name__, [plain(v) for v in value]
    return value


def same(scenario: Callable[[SimpleNamespace], Any]) -> Any:
    """Run ``scenario(api)`` with both libraries; the observations must be equal."""
    ours, theirs = (observe(lambda api=api: scenario(api)) for api in APIS)
    assert ours == theirs
    return ours


def tangent(api: SimpleNamespace, value: Any) -> Any:
    return api.fw.unpack_dual(value).tangent


# ----------------------------------------------------------------------------- levels (B109)
def test_dual_level_is_zero_and_levels_do_not_nest() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level() as level:
            return level, observe(api.fw.enter_dual_level)

    nested = ("tuple", ["RuntimeError", "Nested forward mode AD is not supported at the moment"])
    assert same(run) == ("tuple", [0, nested])


def test_make_dual_needs_a_level_and_unpack_outside_one_gives_no_tangent() -> None:
    def run(api: SimpleNamespace) -> Any:
        x = api.lib.ones(2)
        unpacked = api.fw.unpack_dual(x)
        return (observe(lambda: api.fw.make_dual(x, x)), unpacked.primal is x,
                unpacked.tangent is None)

    same(run)


def test_exiting_the_level_clears_tangents() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            dual = api.fw.make_dual(api.lib.ones(2), api.lib.tensor([1.0, 2.0]))
            out = dual * 3
            inside = tangent(api, out)
        return inside, tangent(api, out), tangent(api, dual)

    same(run)


def test_enter_and_exit_functions_and_their_errors() -> None:
    def run(api: SimpleNamespace) -> Any:
        log = [observe(api.fw.exit_dual_level)]
        level = api.fw.enter_dual_level()
        log.append(level)
        log.append(observe(lambda: api.fw.exit_dual_level(level=3)))
        dual = api.fw.make_dual(api.lib.ones(1), api.lib.ones(1))
        api.fw.exit_dual_level(level=level)
        log.append(tangent(api, dual))
        log.append(observe(lambda: api.fw.exit_dual_level(level=0)))
        log.append(observe(lambda: api.fw.make_dual(api.lib.ones(1), api.lib.ones(1), level=0)))
        return log

    same(run)


def test_dual_level_as_a_decorator() -> None:
    def run(api: SimpleNamespace) -> Any:
        @api.fw.dual_level()
        def jvp_of_square(x: Any, v: Any) -> Any:
            return tangent(api, api.fw.make_dual(x, v) ** 2)

        return jvp_of_square(api.lib.tensor([3.0]), api.lib.tensor([2.0])), api.fw.unpack_dual(
            api.lib.ones(1)).tangent

    same(run)


def test_levels_are_process_global_and_the_forward_grad_flag_is_thread_local() -> None:
    """B49 / B113: a thread sees the level entered elsewhere, with forward grad enabled."""
    def run(api: SimpleNamespace) -> Any:
        seen: list[Any] = []
        with api.fw.dual_level(), api.fw._set_fwd_grad_enabled(False):
            dual = api.fw.make_dual(api.lib.ones(2), api.lib.tensor([1.0, 2.0]))

            def worker() -> None:
                seen.append(api.fw._is_fwd_grad_enabled())
                seen.append(tangent(api, dual * 2))

            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            seen.append(api.fw._is_fwd_grad_enabled())
            seen.append(tangent(api, dual * 2))
        return seen

    assert same(run)[1][:2] == [True, ("float32", (2,), [2.0, 4.0], False)]


# ----------------------------------------------------------------------------- make / unpack
@pytest.mark.parametrize(
    "case",
    ["int_primal", "int_tangent", "size", "already_dual", "level_1"],
)
def test_make_dual_errors(case: str) -> None:
    def run(api: SimpleNamespace) -> Any:
        lib = api.lib
        x = lib.ones(2)
        with api.fw.dual_level():
            return {
                "int_primal": lambda: api.fw.make_dual(lib.tensor([1, 2]), x),
                "int_tangent": lambda: api.fw.make_dual(x, lib.tensor([1, 2])),
                "size": lambda: api.fw.make_dual(x, lib.ones(3)),
                "already_dual": lambda: api.fw.make_dual(api.fw.make_dual(x, x), x),
                "level_1": lambda: api.fw.make_dual(x, x, level=1),
            }[case]()

    assert same(run)[0] in ("RuntimeError", "ValueError")


def test_make_dual_is_a_view_sharing_storage_and_version_and_keeps_the_tangent() -> None:
    def run(api: SimpleNamespace) -> Any:
        x = api.lib.tensor([1.0, 2.0])
        v = api.lib.tensor([0.5, -1.0])
        with api.fw.dual_level():
            dual = api.fw.make_dual(x, v)
            dual.mul_(2)
            unpacked = api.fw.unpack_dual(dual)
            return (dual._base is x, x, x._version, dual._version, unpacked.tangent is v,
                    unpacked.tangent, type(unpacked).__name__, unpacked._fields,
                    unpacked.primal._base is x, tangent(api, unpacked.primal))

    same(run)


def test_make_dual_copies_a_tangent_of_another_layout() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            t = api.lib.arange(6.0).reshape(3, 2).t()
            got = tangent(api, api.fw.make_dual(api.lib.ones(2, 3), t))
            return got is t, got.stride(), got

    same(run)


def test_make_dual_keeps_the_tangent_dtype() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            got = tangent(api, api.fw.make_dual(api.lib.ones(2), api.lib.ones(2).double()))
            return got.dtype == api.lib.float64

    assert same(run) is True


def test_make_dual_is_differentiable_in_reverse() -> None:
    def run(api: SimpleNamespace) -> Any:
        x = api.lib.tensor([1.0, -2.0], requires_grad=True)
        with api.fw.dual_level():
            dual = api.fw.make_dual(x, api.lib.ones(2))
            (dual * dual).sum().backward()
            return type(dual.grad_fn).__name__, x.grad, dual.is_leaf

    same(run)


def test_integer_and_boolean_outputs_have_no_tangent() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            dual = api.fw.make_dual(api.lib.tensor([1.0, 3.0]), api.lib.ones(2))
            return [tangent(api, out) for out in (dual.argmax(), dual > 1, dual.long(),
                                                  dual.max(0).indices, dual.double())]

    same(run)


# ----------------------------------------------------------------------------- modes
def test_no_grad_does_not_stop_forward_ad() -> None:
    """B110: tangents still propagate; neither output nor tangent requires grad."""
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            dual = api.fw.make_dual(api.lib.tensor([1.0, 2.0]), api.lib.tensor([2.0, 2.0]))
            with api.lib.no_grad():
                out = dual * 3
            with api.lib.set_grad_enabled(False):
                other = dual.exp()
            return out.requires_grad, tangent(api, out), tangent(api, other)

    same(run)


def test_inference_mode_turns_forward_ad_off() -> None:
    """B111: no tangents inside inference_mode, even for make_dual; inference_mode(False) on."""
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        log = []
        with fw.dual_level():
            dual = fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([2.0, 2.0]))
            with lib.inference_mode():
                log.append(fw._is_fwd_grad_enabled())
                log.append(tangent(api, dual * 3))
                log.append(tangent(api, dual))
                made = fw.make_dual(lib.ones(2), lib.ones(2))
                log.append(tangent(api, made))
                with lib.inference_mode(False):
                    log.append(fw._is_fwd_grad_enabled())
                    log.append(tangent(api, dual * 3))
            log.append(tangent(api, made))
            log.append(tangent(api, dual))
        return log

    same(run)


def test_make_dual_of_inference_tensors() -> None:
    """In inference mode: not a view, shares data; outside it: a dual inference tensor."""
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        with fw.dual_level():
            with lib.inference_mode():
                x = lib.ones(2)
                dual = fw.make_dual(x, lib.ones(2))
                dual.add_(1)
                inside = (dual._base is None, dual.is_inference(), x, tangent(api, dual))
            outside = fw.make_dual(x, lib.tensor([3.0, 4.0]))
            return inside, outside.is_inference(), outside._base is None, tangent(api, outside)

    same(run)


def test_disabling_forward_grad_hides_tangents() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            with api.fw._set_fwd_grad_enabled(False):
                dual = api.fw.make_dual(api.lib.ones(2), api.lib.ones(2))
                hidden = tangent(api, dual), tangent(api, dual * 2)
            return hidden, tangent(api, dual), tangent(api, dual * 2)

    same(run)


# ----------------------------------------------------------------------------- detach (B112)
def test_detach_drops_tangents() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            dual = api.fw.make_dual(api.lib.ones(2), api.lib.ones(2))
            out = dual * 2
            detached = out.detach()
            clone = out.clone()
            clone.detach_()
            return tangent(api, detached), tangent(api, clone), tangent(api, out)

    same(run)


# ----------------------------------------------------------------------------- views, in-place
def test_tangent_of_a_view_is_a_view_of_the_tangent() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            t = api.lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
            dual = api.fw.make_dual(api.lib.ones(2, 3), t)
            return [tangent(api, v)._base is t for v in (dual[0], dual.t(), dual.view(6),
                                                         dual[:, 1:], dual.unsqueeze(0))]

    assert same(run) == ("list", [True] * 5)


def test_inplace_on_a_dual_updates_its_tangent_and_its_views() -> None:
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        with fw.dual_level():
            y = fw.make_dual(lib.tensor([1.0, 2.0, 3.0]), lib.tensor([1.0, 0.0, -1.0])).clone()
            view = y[1:]
            y.mul_(lib.tensor([2.0, 3.0, 4.0]))
            log = [tangent(api, y), tangent(api, view)]
            view.add_(fw.make_dual(lib.ones(2), lib.tensor([5.0, 6.0])))
            log += [tangent(api, y), tangent(api, view)]
            y.copy_(lib.zeros(3))  # a value without a tangent: the tangent becomes zero
            log.append(tangent(api, y))
            return log

    same(run)


def test_inplace_with_a_dual_value_gives_the_base_a_tangent() -> None:
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        with fw.dual_level():
            base = lib.zeros(2, 3)
            view = base[1]
            view.copy_(fw.make_dual(lib.ones(3), lib.tensor([1.0, 2.0, 3.0])))
            other = lib.zeros(3)
            other.add_(fw.make_dual(lib.ones(3), lib.tensor([4.0, 5.0, 6.0])))
            return tangent(api, base), tangent(api, view), tangent(api, other)

    same(run)


def test_view_made_before_its_base_got_a_tangent_sees_it() -> None:
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        with fw.dual_level():
            base = lib.zeros(3)
            view = base[:2]
            base.copy_(fw.make_dual(lib.ones(3), lib.tensor([1.0, 2.0, 3.0])))
            return tangent(api, view), tangent(api, view * 2)

    same(run)


def test_repr_shows_the_tangent() -> None:
    def run(api: SimpleNamespace) -> Any:
        with api.fw.dual_level():
            return repr(api.fw.make_dual(api.lib.tensor([1.0, 2.0]), api.lib.ones(2)))

    same(run)


# ----------------------------------------------------------------------------- compositions
SECOND_ORDER = {
    "sin": lambda x: (x.sin() * x).sum(),
    "cube": lambda x: (x**3).sum(),
    "product": lambda x: (x * x.flip(0)).sum(),
    "matmul": lambda x: (x.unsqueeze(0) @ x.unsqueeze(1)).sum() * x.sum(),
    "var": lambda x: x.var() * x.sum(),
}
# vjp rules that read the op's saved output (exp: g * out) need the output's tangent
SECOND_ORDER_SAVED_OUTPUT = {
    "exp": lambda x: x.exp().sum(),
    "tanh": lambda x: (x.tanh() * x).sum(),
    "softmax": lambda x: (x.softmax(0) * x).sum(),
    "log_softmax": lambda x: (x.log_softmax(0) * x).sum(),
}


def _forward_over_reverse(fn: Callable[[Any], Any], create_graph: bool) -> Callable[..., Any]:
    def run(api: SimpleNamespace) -> Any:
        lib = api.lib
        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        with api.fw.dual_level():
            dual = api.fw.make_dual(x, lib.tensor([1.0, 2.0, -3.0], dtype=lib.float64))
            (grad,) = lib.autograd.grad(fn(dual), dual, create_graph=create_graph)
            # the tangent of the gradient is H v. Its requires_grad is not compared: torch's
            # formulas multiply primals that require grad by zero tangents where tapegrad
            # skips missing tangents
            return grad, tangent(api, grad).detach()

    return run


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_forward_over_reverse(name: str) -> None:
    """A dual input to a graph differentiated backward: the gradient's tangent is H v."""
    assert same(_forward_over_reverse(SECOND_ORDER[name], True))[1][1] is not None


@pytest.mark.parametrize("name", list(SECOND_ORDER_SAVED_OUTPUT))
def test_forward_over_reverse_through_saved_outputs(name: str) -> None:
    same(_forward_over_reverse(SECOND_ORDER_SAVED_OUTPUT[name], True))


def test_forward_over_reverse_without_create_graph() -> None:
    same(_forward_over_reverse(SECOND_ORDER["cube"], False))


REVERSE_OVER_FORWARD = {
    **SECOND_ORDER,
    "tanh": SECOND_ORDER_SAVED_OUTPUT["tanh"],
    "sigmoid": lambda x: (x.sigmoid() * x.flip(0)).sum(),
}  # torch 2.13 itself fails on exp, softmax, log_softmax here ("modified by an inplace ...")


@pytest.mark.parametrize("name", list(REVERSE_OVER_FORWARD))
def test_reverse_over_forward(name: str) -> None:
    """Tangents are computed with Tensor ops: they are differentiable in the primal and in
    the tangent itself."""
    fn = REVERSE_OVER_FORWARD[name]

    def run(api: SimpleNamespace) -> Any:
        lib = api.lib
        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        v = lib.tensor([1.0, 2.0, -3.0], dtype=lib.float64, requires_grad=True)
        with api.fw.dual_level():
            jv = tangent(api, fn(api.fw.make_dual(x, v)))
            return jv, lib.autograd.grad(jv, (x, v))

    same(run)


# ----------------------------------------------------------------------------- Function.jvp
def _mul_function(api: SimpleNamespace) -> Any:
    class ScaledMul(api.Function):  # type: ignore[name-defined, misc]
        @staticmethod
        def forward(ctx: Any, x: Any, scale: float, y: Any) -> Any:
            ctx.save_for_forward(x, y)
            ctx.save_for_backward(x, y)
            ctx.scale = scale
            return x * y * scale, x.sum()

        @staticmethod
        def jvp(ctx: Any, x_t: Any, scale_t: Any, y_t: Any) -> Any:
            x, y = ctx.saved_tensors
            ctx.seen = (scale_t, y_t, api.fw._is_fwd_grad_enabled(), api.lib.is_grad_enabled())
            return (x_t * y + y_t * x) * ctx.scale, x_t.sum()

        @staticmethod
        def backward(ctx: Any, grad: Any, grad_sum: Any) -> Any:
            x, y = ctx.saved_tensors
            return grad * y * ctx.scale + grad_sum, None, grad * x * ctx.scale

    return ScaledMul


def test_function_jvp_gets_tangents_and_saved_for_forward_tensors() -> None:
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        fn = _mul_function(api)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with fw.dual_level():
            dual = fw.make_dual(x, lib.tensor([1.0, -1.0]))
            prod, total = fn.apply(dual, 3.0, lib.tensor([5.0, 7.0]))
            seen = prod.grad_fn.seen
            out = [tangent(api, prod), tangent(api, total), seen]
            prod.sum().backward()  # the saved tensors for backward are intact
            out.append(x.grad)
            plain = fn.apply(lib.ones(2), 3.0, lib.ones(2))  # no tangent in: jvp not called
            out.append([tangent(api, o) for o in plain])
        return out

    same(run)


def test_function_jvp_runs_under_no_grad_but_not_in_inference_mode() -> None:
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        fn = _mul_function(api)
        with fw.dual_level():
            dual = fw.make_dual(lib.ones(2), lib.ones(2))
            with lib.no_grad():
                first = tangent(api, fn.apply(dual, 2.0, lib.ones(2))[0])
            with lib.inference_mode():
                second = tangent(api, fn.apply(dual, 2.0, lib.ones(2))[0])
        return first, second

    same(run)


def test_function_jvp_with_setup_context_and_materialize_grads_off() -> None:
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        seen = []

        class Exp(api.Function):  # type: ignore[name-defined, misc]
            @staticmethod
            def forward(x: Any, y: Any) -> Any:
                return x.exp() + y

            @staticmethod
            def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
                ctx.set_materialize_grads(False)
                ctx.save_for_forward(inputs[0].exp())

            @staticmethod
            def jvp(ctx: Any, x_t: Any, y_t: Any) -> Any:
                seen.append(y_t)
                (e,) = ctx.saved_tensors
                return x_t * e

        with fw.dual_level():
            dual = fw.make_dual(lib.tensor([0.0, 1.0]), lib.ones(2))
            return tangent(api, Exp.apply(dual, lib.ones(2))), seen

    same(run)


def _function(api: SimpleNamespace, forward: Callable[..., Any], jvp: Callable[..., Any] | None,
              dirty: bool = False, non_differentiable: int | None = None) -> Any:
    def fwd(ctx: Any, x: Any) -> Any:
        out = forward(x)
        if dirty:
            ctx.mark_dirty(x)
        if non_differentiable is not None:
            ctx.mark_non_differentiable(out[non_differentiable])
        return out

    body: dict[str, Any] = {"forward": staticmethod(fwd)}
    if jvp is not None:
        body["jvp"] = staticmethod(lambda ctx, t: jvp(t))
    return type("Custom", (api.Function,), body)


FUNCTION_CASES: dict[str, tuple[Any, ...]] = {
    "no_jvp": (lambda x: x * 2, None),
    "too_few": (lambda x: (x * 2, x * 3), lambda t: t * 2),
    "too_many": (lambda x: x * 2, lambda t: (t * 2, t)),
    "wrong_size": (lambda x: x * 2, lambda t: t.sum()),
    "not_a_tensor": (lambda x: x * 2, lambda t: 3.0),
    "input_as_is_needs_a_view": (lambda x: x, lambda t: t),
    "input_as_is_view": (lambda x: x, lambda t: t.view_as(t)),
    "view_output_needs_a_view": (lambda x: x[0], lambda t: t[0] * 1),
    "view_output": (lambda x: x[0], lambda t: t[0]),
    "dirty_needs_inplace": (lambda x: x.mul_(2), lambda t: t * 2, True),
    "dirty_inplace": (lambda x: x.mul_(2), lambda t: t.mul_(2), True),
    "non_differentiable_none": (lambda x: (x * 2, x.argmax()), lambda t: (t * 2, None), False, 1),
    "non_differentiable_given": (lambda x: (x * 2, x * 3), lambda t: (t * 2, t), False, 1),
    "integer_output_given": (lambda x: (x * 2, x.argmax()), lambda t: (t * 2, t.sum())),
    "non_tensor_output": (lambda x: (x * 2, 5), lambda t: (t * 2, None)),
    "tangent_dtype_kept": (lambda x: x * 2, lambda t: (t * 2).double()),
}


@pytest.mark.parametrize("case", list(FUNCTION_CASES))
def test_function_jvp_checks(case: str) -> None:
    """torch's checks on what jvp returns, and its error when a Function has no jvp."""
    def run(api: SimpleNamespace) -> Any:
        lib, fw = api.lib, api.fw
        fn = _function(api, *FUNCTION_CASES[case])
        with fw.dual_level():
            dual = fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([1.0, -1.0])).clone()
            out = fn.apply(dual)
            outs = out if isinstance(out, tuple) else (out,)
            return [tangent(api, o) if isinstance(o, type(dual)) else o for o in outs]

    same(run)


def test_function_without_jvp_is_fine_without_tangents() -> None:
    def run(api: SimpleNamespace) -> Any:
        fn = _function(api, lambda x: x * 2, None)
        with api.fw.dual_level():
            return fn.apply(api.lib.ones(2))

    same(run)


# ----------------------------------------------------------------------------- composites
COMPOSITES: dict[str, Callable[[Any, list[Any]], Any]] = {
    "sort": lambda lib, xs: xs[0].sort(1)[0],
    "sort_descending": lambda lib, xs: xs[0].sort(1, descending=True)[0],
    "topk": lambda lib, xs: xs[0].topk(2)[0],
    "masked_select": lambda lib, xs: xs[0].masked_select(xs[0] > 0),
    "lerp": lambda lib, xs: xs[0].lerp(xs[1], 0.3),
    "conv2d": lambda lib, xs: lib.nn.functional.conv2d(
        xs[0].reshape(1, 2, 2, 4), xs[1].reshape(2, 2, 2, 2)[:, :, :, :1], padding=1),
    "conv1d": lambda lib, xs: lib.nn.functional.conv1d(xs[0].reshape(2, 2, 4), xs[1][:, :3]),
    "linear": lambda lib, xs: lib.nn.functional.linear(xs[0], xs[1]),
    "cross_entropy": lambda lib, xs: lib.nn.functional.cross_entropy(xs[0], lib.tensor([3, 0])),
    "nll_loss": lambda lib, xs: lib.nn.functional.nll_loss(
        lib.nn.functional.log_softmax(xs[0], 1), lib.tensor([1, 2])),
    "mse_loss": lambda lib, xs: lib.nn.functional.mse_loss(xs[0], xs[1]),
    "smooth_l1_loss": lambda lib, xs: lib.nn.functional.smooth_l1_loss(xs[0], xs[1]),
    "bce_with_logits": lambda lib, xs: lib.nn.functional.binary_cross_entropy_with_logits(
        xs[0], xs[1].sigmoid()),
    "layer_norm": lambda lib, xs: lib.nn.functional.layer_norm(xs[0], (4,)),
    "batch_norm": lambda lib, xs: lib.nn.functional.batch_norm(xs[0], None, None, training=True),
    "max_pool2d": lambda lib, xs: lib.nn.functional.max_pool2d(xs[0].reshape(1, 1, 2, 4), 2),
    "avg_pool2d": lambda lib, xs: lib.nn.functional.avg_pool2d(xs[0].reshape(1, 1, 2, 4), 2),
    "embedding": lambda lib, xs: lib.nn.functional.embedding(lib.tensor([1, 0, 1]), xs[0]),
    "gelu_elu_leaky": lambda lib, xs: (lib.nn.functional.gelu(xs[0])
                                       + lib.nn.functional.elu(xs[1])
                                       + lib.nn.functional.leaky_relu(xs[0], 0.1)),
    "normalize": lambda lib, xs: lib.nn.functional.normalize(xs[0]),
    "pad_value": lambda lib, xs: lib.nn.functional.pad(xs[0], (1, 1), value=2.0),
}


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composites_and_nn_functional_tangents_match_torch(
    name: str, rng: np.random.Generator
) -> None:
    """Composite ops (sorting, nn.functional layers and losses) propagate tangents like torch."""
    arrays = [rng.standard_normal((2, 4)) for _ in range(2)]
    tangents = [rng.standard_normal((2, 4)) for _ in range(2)]

    def run(api: SimpleNamespace) -> Any:
        lib = api.lib
        with api.fw.dual_level():
            duals = [api.fw.make_dual(lib.tensor(a), lib.tensor(t))
                     for a, t in zip(arrays, tangents, strict=True)]
            return tangent(api, COMPOSITES[name](lib, duals))

    assert same(run) is not None
