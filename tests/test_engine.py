"""The reverse-mode engine: accumulation, shared subgraphs, retain/create graph, grad(), hooks.

Most tests run one scenario against tapegrad and torch 2.13 and compare what they observe.
"""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")


def both(scenario):
    """Run ``scenario(T)`` with T = tapegrad and T = torch; return both observations."""
    return scenario(tapegrad), scenario(torch)


def arr(t):
    return None if t is None else np.asarray(t.detach().numpy(), dtype=np.float64)


def assert_same(ours, theirs):
    if isinstance(ours, tuple | list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b)
    elif hasattr(ours, "_array") or hasattr(theirs, "numpy"):
        if ours is None or theirs is None:
            assert ours is None
            assert theirs is None
        else:
            np.testing.assert_allclose(arr(ours), arr(theirs), rtol=1e-5, atol=1e-6)
    else:
        assert ours == theirs


def test_accumulates_across_backward_calls():
    def scenario(T):
        x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (x * x).sum().backward()
        first = x.grad.clone()
        (x * 3).sum().backward()
        return first, x.grad

    assert_same(*both(scenario))


def test_grad_accumulates_in_place_across_calls():
    for T in (tapegrad, torch):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        x.sum().backward()
        g = x.grad
        x.sum().backward()
        assert x.grad is g


def test_shared_subgraph_counts_every_path():
    def scenario(T):
        a = T.tensor([1.5, -2.0], requires_grad=True)
        b = a + a
        c = b * b + b
        c.sum().backward()
        return a.grad

    assert_same(*both(scenario))


def test_deep_chain_has_no_recursion_limit():
    x = tapegrad.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert x.grad.tolist() == [1.0]


def test_retain_graph_and_second_backward_error():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp()).sum()
        y.backward(retain_graph=True)
        y.backward()
        try:
            y.backward()
        except RuntimeError as error:
            return x.grad, "backward through the graph a second time" in str(error)
        return x.grad, False

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[1] is True


def test_nodes_without_saved_values_can_run_twice():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x + 1).sum()
        y.backward()
        y.backward()
        return x.grad

    assert_same(*both(scenario))


def test_implicit_grad_needs_scalar():
    for T in (tapegrad, torch):
        x = T.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
            (x * 2).backward()


def test_backward_on_tensor_without_grad_fn():
    for T in (tapegrad, torch):
        with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
            T.ones(2).sum().backward()


def test_gradient_shape_mismatch():
    for T in (tapegrad, torch):
        x = T.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="Mismatch in shape"):
            (x * 2).backward(T.ones(2))


def test_create_graph_gives_second_derivatives():
    def scenario(T):
        x = T.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = (x.sin() * x.exp()).sum()
        (g,) = T.autograd.grad(y, x, create_graph=True)
        (h,) = T.autograd.grad(g.sum(), x)
        return g, h, g.requires_grad

    assert_same(*both(scenario))


def test_third_order_through_output_saving_ops():
    def scenario(T):
        x = T.tensor([0.3, 0.7], requires_grad=True)
        y = x.tanh().sigmoid().exp().sum()
        g1 = T.autograd.grad(y, x, create_graph=True)[0]
        g2 = T.autograd.grad(g1.sum(), x, create_graph=True)[0]
        g3 = T.autograd.grad(g2.sum(), x)[0]
        return g1, g2, g3

    assert_same(*both(scenario))


def test_grad_allow_unused_and_materialize():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        z = T.tensor([3.0], requires_grad=True)
        y = (x * 2).sum()
        try:
            T.autograd.grad(y, (x, z), retain_graph=True)
            raised = False
        except RuntimeError as error:
            raised = "appears to not have been used in the graph" in str(error)
        gx, gz = T.autograd.grad(y, (x, z), retain_graph=True, allow_unused=True)
        mx, mz = T.autograd.grad(y, (x, z), materialize_grads=True)
        return raised, gx, gz, mx, mz

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[0] is True


def test_grad_does_not_touch_dot_grad_of_leaves():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        (g,) = T.autograd.grad((x * x).sum(), x)
        return g, x.grad

    assert_same(*both(scenario))


def test_grad_with_respect_to_intermediate():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        y = (h * h).sum()
        (gh,) = T.autograd.grad(y, h)
        return gh, x.grad

    assert_same(*both(scenario))


def test_backward_inputs_argument_limits_accumulation():
    def scenario(T):
        a = T.tensor([1.0, 2.0], requires_grad=True)
        b = T.tensor([3.0, 4.0], requires_grad=True)
        h = a * b
        h.retain_grad()
        (h * h).sum().backward(inputs=[a])
        return a.grad, b.grad, h.grad

    assert_same(*both(scenario))


def test_backward_inputs_non_leaf_accumulates_into_its_grad():
    def scenario(T):
        a = T.tensor([1.0, 2.0], requires_grad=True)
        h = a * 2
        (h * h).sum().backward(inputs=[h])
        return h.grad, a.grad

    assert_same(*both(scenario))


def test_retain_grad_on_non_leaf():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        z = (y * y).sum()
        z.backward()
        return y.grad, y.retains_grad, x.retains_grad

    assert_same(*both(scenario))


def test_tensor_hooks_modify_gradients_and_run_in_order():
    def scenario(T):
        log = []
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: log.append("y1") or g * 10)
        handle = y.register_hook(lambda g: log.append("removed"))
        handle.remove()
        y.register_hook(lambda g: log.append("y2"))
        x.register_hook(lambda g: log.append("x"))
        y.sum().backward()
        return x.grad, log

    assert_same(*both(scenario))


def test_node_hooks_and_prehooks():
    def scenario(T):
        log = []
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.grad_fn.register_prehook(lambda gout: log.append(("pre", len(gout))))
        y.grad_fn.register_hook(
            lambda gin, gout: log.append(("post", len(gin), len(gout))) or (gin[0] * 0,)
        )
        y.sum().backward()
        return x.grad, log

    assert_same(*both(scenario))


def test_hook_order_follows_sequence_numbers():
    def scenario(T):
        log = []
        x = T.tensor([1.0], requires_grad=True)
        a = x * 2
        b = x * 3
        a.register_hook(lambda g: log.append("a"))
        b.register_hook(lambda g: log.append("b"))
        (a + b).backward()
        return log

    assert_same(*both(scenario))


def test_next_functions_and_names():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = (x * 2).sum()
        fn = y.grad_fn
        mul = fn.next_functions[0][0]
        return (
            fn.name(),
            type(fn).__name__,
            mul.name(),
            [type(n).__name__ if n is not None else None for n, _ in mul.next_functions],
        )

    assert_same(*both(scenario))


def test_accumulate_grad_node_is_cached_while_alive():
    for T in (tapegrad, torch):
        x = T.ones(2, requires_grad=True)
        a = (x * 2).grad_fn.next_functions[0][0]
        b = (x * 3).grad_fn.next_functions[0][0]
        assert a is b
        assert type(a).__name__ == "AccumulateGrad"


def test_broadcast_gradients_are_reduced():
    def scenario(T):
        a = T.ones(3, 1, requires_grad=True)
        b = T.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        (a * b).sum().backward()
        return a.grad, b.grad

    assert_same(*both(scenario))


def test_mixed_dtype_gradients_keep_input_dtypes():
    def scenario(T):
        a = T.ones(2, dtype=T.float32, requires_grad=True)
        b = T.ones(2, dtype=T.float64, requires_grad=True)
        (a * b).sum().backward()
        return str(a.grad.dtype).split(".")[-1], str(b.grad.dtype).split(".")[-1]

    assert_same(*both(scenario))


def test_dropping_outputs_frees_the_graph_without_gc():
    gc.disable()
    try:
        x = tapegrad.ones(3, requires_grad=True)
        y = (x.exp() * 2).sum()
        node = weakref.ref(y.grad_fn)
        del y
        assert node() is None
    finally:
        gc.enable()


def test_backward_releases_saved_tensors():
    x = tapegrad.ones(3, requires_grad=True)
    h = x.exp()
    y = h.sum()
    saved = h.grad_fn.saved["out"]
    y.backward()
    assert saved._value is None


def test_grad_mode_during_backward_is_create_graph():
    def scenario(T):
        seen = []
        x = T.ones(2, requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: seen.append(T.is_grad_enabled()))
        s = y.sum()
        s.backward(retain_graph=True)
        T.autograd.grad(s, x, create_graph=True)
        with T.no_grad():
            s.backward()
        return seen, T.is_grad_enabled()

    assert_same(*both(scenario))


def test_reentrant_backward_inside_hook():
    def scenario(T):
        x = T.tensor([2.0], requires_grad=True)
        inner = []

        def hook(g):
            with T.enable_grad():
                z = T.tensor([3.0], requires_grad=True)
                (z * z).sum().backward()
                inner.append(z.grad)
            return g

        y = x * 5
        y.register_hook(hook)
        y.sum().backward()
        return x.grad, inner

    assert_same(*both(scenario))


def test_backward_with_create_graph_warns_about_the_cycle():
    for T in (tapegrad, torch):
        x = T.ones(2, requires_grad=True)
        with pytest.warns(UserWarning, match="create a reference cycle"):
            (x * x).sum().backward(create_graph=True)
        assert x.grad.requires_grad


LAYOUT_LEAVES = {  # leaf layouts the gradient layout contract treats differently
    "permuted": lambda T: T.zeros(2, 3, 4).permute(2, 0, 1),
    "transposed": lambda T: T.zeros(3, 4).t(),
    "strided (not dense)": lambda T: T.zeros(4, 3)[::2],
    "expanded (overlapping)": lambda T: T.zeros(3).expand(2, 3),
    "contiguous": lambda T: T.zeros(2, 3),
}
LAYOUT_LOSSES = {
    "sum": lambda p: p.sum(),  # an expanded gradient: copied into the leaf's layout
    "scaled": lambda p: (p * 2).sum(),
    "square": lambda p: (p * p).sum(),  # a gradient in the leaf's own layout
    "exp": lambda p: p.exp().sum(),
    "through contiguous": lambda p: p.contiguous().sum() + 0 * p.reshape(-1).sum(),
}


@pytest.mark.parametrize("leaf", list(LAYOUT_LEAVES))
@pytest.mark.parametrize("loss", list(LAYOUT_LOSSES))
@pytest.mark.parametrize("create_graph", [False, True])
def test_first_grad_follows_the_gradient_layout_contract(leaf, loss, create_graph):
    """A leaf's first .grad has the leaf's strides when the leaf is non-overlapping and dense
    (an incoming gradient that already obeys is kept as it is), else it is contiguous."""

    def scenario(T):
        p = LAYOUT_LEAVES[leaf](T).requires_grad_()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_graph=True's reference-cycle warning
            LAYOUT_LOSSES[loss](p).backward(create_graph=create_graph)
        return p.grad.stride(), p.grad.is_contiguous(), p.grad.requires_grad

    ours, theirs = both(scenario)
    assert ours == theirs
