"""Failures inside backward: hooks and custom Functions that raise.

Each scenario runs on tapegrad and on torch 2.13. The exception must propagate unchanged
(same type, same message), the modes must be the caller's afterwards (even when the failing
code changed them, spec B52), and the engine must stay usable: a later backward over the same
or a new graph gives the right gradients.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import pytest

import tapegrad
from tests.fuzzing.oracle import compare, describe, outcome

torch = pytest.importorskip("torch")


class Boom(Exception):
    """The error the failing hooks and Functions raise."""


def boom(*args: Any) -> Any:
    raise Boom("boom")


def modes(T: Any) -> tuple[bool, bool]:
    return T.is_grad_enabled(), T.is_inference_mode_enabled()


def grads(*tensors: Any) -> Any:
    return tuple(describe(t.grad, version=False) for t in tensors)


# -- tensor hooks, node hooks, post-accumulate hooks -------------------------------------------
@pytest.mark.parametrize("where", ["leaf", "non-leaf", "node-pre", "node-post", "post-accumulate"])
def test_failing_hook_propagates_and_the_engine_stays_usable(where: str) -> None:
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        w = T.tensor([3.0, 4.0], requires_grad=True)
        h = x * w.detach()  # one leaf per path: see test_leaf_accumulation_order_is_torchs
        y = (h.exp() * 2).sum() + (w * w).sum().detach()
        target = {"leaf": lambda: x.register_hook(boom),
                  "non-leaf": lambda: h.register_hook(boom),
                  "node-pre": lambda: h.grad_fn.register_prehook(boom),
                  "node-post": lambda: h.grad_fn.register_hook(boom),
                  "post-accumulate": lambda: x.register_post_accumulate_grad_hook(boom)}[where]
        handle = target()
        error = outcome(lambda: y.backward(retain_graph=True))
        after_error = (modes(T), grads(x, w))
        handle.remove()
        x.grad = w.grad = None
        y.backward()  # the same graph, retained, now without the hook
        again = grads(x, w)
        z = (x * x).sum()
        z.backward()
        return error, after_error, again, grads(x)

    result = compare(scenario)
    assert result[0] == ("Boom", "boom")


def test_failing_hook_in_no_grad_and_inference_callers_restores_their_modes() -> None:
    def scenario(T):
        seen = []
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp()).sum()
        x.register_hook(boom)
        with T.no_grad():
            seen.append(outcome(lambda: y.backward(retain_graph=True)))
            seen.append(modes(T))
        with T.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about create_graph once a process
            seen.append(outcome(lambda: y.backward(retain_graph=True, create_graph=True)))
            seen.append(modes(T))
        T.set_grad_enabled(False)
        seen.append(outcome(lambda: T.autograd.grad(y, [x], retain_graph=True)))
        seen.append(modes(T))
        T.set_grad_enabled(True)
        seen.append(modes(T))
        return seen

    compare(scenario)


def test_hook_that_changes_modes_then_raises_leaves_the_callers_modes() -> None:
    def sneaky(T):
        def hook(g):
            T.set_grad_enabled(False)
            raise Boom("sneaky")

        return hook

    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        handle = x.register_hook(sneaky(T))
        error = outcome(lambda: y.backward(retain_graph=True))
        after = modes(T)
        handle.remove()

        def hook(g):
            T.set_grad_enabled(False)
            return g * 10

        x.register_hook(hook)
        y.backward()
        return error, after, modes(T), grads(x)

    compare(scenario)


def test_failing_hook_during_create_graph_backward() -> None:
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x ** 3).sum()
        handle = x.register_hook(boom)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            error = outcome(lambda: y.backward(create_graph=True))
            handle.remove()
            (g,) = T.autograd.grad(y, [x], create_graph=True)
        (gg,) = T.autograd.grad(g.sum(), [x])
        return error, modes(T), describe(x.grad, version=False), describe(g), describe(gg)

    compare(scenario)


def test_failing_hook_during_multithreaded_backward() -> None:
    """A heavy graph runs on tapegrad's worker threads; the error still reaches the caller."""

    def scenario(T):
        x = T.ones(300, 300, dtype=T.float64, requires_grad=True)
        branches = [((x * (k + 1)).tanh() * 2).sum() for k in range(4)]
        y = branches[0] + branches[1] + branches[2] + branches[3]
        handle = branches[2].grad_fn.register_prehook(boom)
        with T.no_grad():
            error = outcome(lambda: y.backward(retain_graph=True))
            during = modes(T)
        handle.remove()
        x.grad = None
        y.backward()
        return error, during, modes(T), round(float(x.grad.sum()), 6)

    result = compare(scenario)
    assert result[0] == ("Boom", "boom")
    assert threading.active_count() >= 1


def test_leaf_accumulation_order_is_torchs() -> None:
    """Two leaves fed by one node: torch runs their AccumulateGrad in edge order, always.
    tapegrad breaks the tie between equal sequence numbers by ``id(node)``, so the order of
    post-accumulate hooks (and which leaf a failing hook leaves updated) varies run to run."""

    def order(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        w = T.tensor([3.0, 4.0], requires_grad=True)
        seen: list[str] = []
        x.register_post_accumulate_grad_hook(lambda t: seen.append("x"))
        w.register_post_accumulate_grad_hook(lambda t: seen.append("w"))
        (x * w).sum().backward()
        return seen

    assert order(torch) == ["x", "w"]
    assert {tuple(order(tapegrad)) for _ in range(50)} == {("x", "w")}


@pytest.mark.parametrize("where", ["leaf", "non-leaf"])
@pytest.mark.parametrize("change", ["shape", "dtype"])
def test_hook_changing_the_gradient_shape_or_dtype(where: str, change: str) -> None:
    def scenario(T):
        x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x * 2
        bad = (lambda g: g[:2]) if change == "shape" else (lambda g: g.double())
        (x if where == "leaf" else h).register_hook(bad)
        error = outcome(lambda: h.sum().backward(retain_graph=True))
        return error, describe(x.grad, version=False)

    result = compare(scenario)
    assert result[0][1].startswith("hook '<lambda>' has changed the")


def test_hooks_on_outputs_without_a_gradient() -> None:
    """Proposed deliberate difference (to be listed in the README): torch calls the tensor
    hook of a multi-output node's output that received no gradient with ``None``, so a hook
    like ``lambda g: g * 2`` fails with a TypeError; tapegrad calls hooks only with gradients.
    """

    def scenario(T):
        x = T.ones(2, requires_grad=True).clone()
        a, b = x.split(1)
        seen = []
        b.register_hook(seen.append)
        (a * 2).sum().backward()
        return seen

    assert scenario(tapegrad) == []
    assert scenario(torch) == [None]


# -- custom Functions ------------------------------------------------------------------------
def _functions(T: Any) -> tuple[Any, Any]:
    class FailingBackward(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            T.set_grad_enabled(True)  # a mode change that must not leak
            raise Boom("backward")

    class FailingForward(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            raise Boom("forward")

        @staticmethod
        def backward(ctx, g):
            return g

    return FailingBackward, FailingForward


def test_failing_function_backward_propagates_and_the_engine_stays_usable() -> None:
    def scenario(T):
        failing, _ = _functions(T)
        x = T.tensor([1.0, 2.0], requires_grad=True)
        w = T.tensor([5.0, 6.0], requires_grad=True)
        y = (failing.apply(x) + w * w).sum()
        first = outcome(lambda: y.backward(retain_graph=True))
        state = (modes(T), grads(x, w))
        second = outcome(lambda: y.backward())  # fails again: the node still raises
        with T.no_grad():
            third = outcome(lambda: T.autograd.grad(y, [x]))
        x.grad = w.grad = None
        (w * x).sum().backward()
        return first, state, second, third, modes(T), grads(x, w)

    result = compare(scenario)
    assert result[0] == ("Boom", "backward")


def test_failing_function_forward_leaves_modes_and_inputs() -> None:
    def scenario(T):
        _, failing = _functions(T)
        x = T.tensor([1.0, 2.0], requires_grad=True)
        seen = [outcome(lambda: failing.apply(x)), modes(T), describe(x)]
        with T.no_grad():
            seen += [outcome(lambda: failing.apply(x)), modes(T)]
        with T.inference_mode():
            seen += [outcome(lambda: failing.apply(x)), modes(T)]
        seen.append(modes(T))
        return seen

    compare(scenario)


def test_function_backward_with_wrong_gradients_then_a_good_backward() -> None:
    def scenario(T):
        class Wrong(T.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.clone()

            @staticmethod
            def backward(ctx, g):
                return g[:1]

        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = Wrong.apply(x).sum()
        error = outcome(lambda: y.backward(), length=50)
        z = (x * 3).sum()
        z.backward()
        return error, modes(T), grads(x)

    compare(scenario)


def test_failure_inside_a_decorated_generator_restores_modes() -> None:
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        x.register_hook(boom)

        @T.no_grad()
        def steps():
            yield modes(T)
            y.backward()
            yield "unreachable"

        gen = steps()
        first = next(gen)
        error = outcome(lambda: next(gen))
        return first, error, modes(T)

    compare(scenario)


def test_base_exception_from_a_hook_propagates() -> None:
    class Stop(BaseException):
        pass

    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()

        def stop(g):
            raise Stop

        x.register_hook(stop)
        with pytest.raises(Stop):
            y.backward(retain_graph=True)
        return modes(T)

    compare(scenario)
