"""Custom ``autograd.Function``: ctx API, graph recording, views, dirty inputs, grad modes.

Each scenario defines the same Function against tapegrad and against torch 2.13 and compares
what they observe (values, gradients, requires_grad / is_leaf / grad_fn state, error types and
key phrases). Gradients of the Functions themselves are also checked against central finite
differences in float64.
"""

from __future__ import annotations

import gc
import re
import weakref

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd.function import Function, FunctionCtx, once_differentiable

torch = pytest.importorskip("torch")


# ----------------------------------------------------------------------------- helpers
def api(T):
    """(Function, once_differentiable) of library ``T``."""
    if T is tapegrad:
        return Function, once_differentiable
    return torch.autograd.Function, torch.autograd.function.once_differentiable


def both(scenario):
    """Run ``scenario(T)`` with T = tapegrad and T = torch; return both observations."""
    return scenario(tapegrad), scenario(torch)


def arr(t):
    return np.asarray(t.detach().numpy(), dtype=np.float64)


def assert_same(ours, theirs):
    if isinstance(ours, tuple | list):
        assert isinstance(theirs, tuple | list)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b)
    elif hasattr(ours, "_array") or hasattr(theirs, "numpy"):
        assert ours is not None
        assert theirs is not None
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        np.testing.assert_allclose(arr(ours), arr(theirs), rtol=1e-6, atol=1e-8)
    else:
        assert ours == theirs


def raises_both(scenario, exc, phrase):
    """``scenario(T)`` raises ``exc`` with ``phrase`` in its message for both libraries."""
    for T in (tapegrad, torch):
        with pytest.raises(exc, match=re.escape(phrase)):
            scenario(T)


def node_name(t):
    return None if t.grad_fn is None else t.grad_fn.name().replace("torch::autograd::", "")


def edges(node):
    """``next_functions`` as (node class name or None, input number)."""
    return [(None if n is None else type(n).__name__, nr) for n, nr in node.next_functions]


def flags(t):
    return t.requires_grad, t.is_leaf, node_name(t)


def numeric_grad(f, xs, eps=1e-6):
    """Central differences of the scalar ``f(*arrays)`` with respect to each float64 array."""
    grads = []
    for index, x in enumerate(xs):
        g = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            plus = [a.copy() for a in xs]
            minus = [a.copy() for a in xs]
            plus[index][k] += eps
            minus[index][k] -= eps
            g[k] = (f(*plus) - f(*minus)) / (2 * eps)
        grads.append(g)
    return grads


def make_cube(T):
    """x ** 3 with a backward written in differentiable ops (supports double backward)."""
    Function, _ = api(T)

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * grad

    return Cube


def make_exp(T):
    """exp that saves its *output* for backward."""
    Function, _ = api(T)

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            result = x.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad):
            (result,) = ctx.saved_tensors
            return grad * result

    return Exp


def make_identity(T):
    """Returns its input as-is."""
    Function, _ = api(T)

    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    return Identity


def make_double_(T):
    """Doubles its input in place and marks it dirty."""
    Function, _ = api(T)

    class Double_(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    return Double_


# ----------------------------------------------------------------------------- basics
def test_basic_function_values_grads_and_flags():
    def scenario(T):
        x = T.tensor([0.5, -1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = make_exp(T).apply(x)
        y.sum().backward()
        return y, x.grad, flags(y), flags(x), type(y.grad_fn).__name__

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[2] == (True, False, "ExpBackward")


def test_grad_fn_is_the_ctx_with_its_attributes():
    def scenario(T):
        Function, _ = api(T)

        class Scale(Function):
            @staticmethod
            def forward(ctx, x, factor, y):
                ctx.factor = factor
                ctx.save_for_backward(x)
                return x * factor * y

            @staticmethod
            def backward(ctx, grad):
                return grad * ctx.factor, None, None

        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = T.tensor([3.0, 4.0])
        out = Scale.apply(x, 2.0, y)
        fn = out.grad_fn
        nexts = edges(fn)
        return (
            fn.factor,
            fn.needs_input_grad,
            fn.saved_tensors,
            nexts,
            fn._forward_cls is Scale,
            fn.to_save,
            fn.dirty_tensors,
            fn.non_differentiable,
        )

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    # only tensor inputs are edges of the node, as in torch
    assert ours[3] == [("AccumulateGrad", 0), (None, 0)]


def test_forward_runs_with_grad_disabled_and_backward_under_create_graph():
    def scenario(T):
        Function, _ = api(T)
        seen = []

        class Probe(Function):
            @staticmethod
            def forward(ctx, x):
                seen.append(("forward", T.is_grad_enabled()))
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                seen.append(("backward", T.is_grad_enabled()))
                return grad * 2

        x = T.tensor([1.0], requires_grad=True)
        Probe.apply(x).sum().backward()
        T.autograd.grad(Probe.apply(x).sum(), x, create_graph=True)
        return seen

    ours, theirs = both(scenario)
    assert ours == theirs
    assert ours[1] == ("backward", False)
    assert ours[3] == ("backward", True)


def test_multiple_inputs_and_outputs_against_finite_differences():
    def scenario(T):
        Function, _ = api(T)

        class MulAdd(Function):
            @staticmethod
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return a * b, a + b

            @staticmethod
            def backward(ctx, g_prod, g_sum):
                a, b = ctx.saved_tensors
                return g_prod * b + g_sum, g_prod * a + g_sum

        a = T.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=T.float64, requires_grad=True)
        b = T.tensor([1.5, -0.7], dtype=T.float64, requires_grad=True)  # broadcast
        prod, total = MulAdd.apply(a, b)
        (prod.sin().sum() + (total**2).sum()).backward()
        return prod, total, a.grad, b.grad, prod.grad_fn is total.grad_fn

    ours, theirs = both(scenario)
    assert_same(ours, theirs)

    def f(a, b):
        return np.sin(a * b).sum() + ((a + b) ** 2).sum()

    a0 = np.array([[0.5, -1.0], [2.0, 0.3]])
    b0 = np.array([1.5, -0.7])
    ga, gb = numeric_grad(f, [a0, b0])
    np.testing.assert_allclose(arr(ours[2]), ga, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(arr(ours[3]), gb, rtol=1e-6, atol=1e-8)


def test_non_tensor_arguments_keywords_and_trailing_nones():
    def scenario(T):
        Function, _ = api(T)

        class Affine(Function):
            @staticmethod
            def forward(ctx, x, scale, shift=0.0, tag=None):
                ctx.scale = scale
                return x * scale + shift

            @staticmethod
            def backward(ctx, grad):
                return grad * ctx.scale, None, None, None, None  # extra Nones are fine

        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        out = Affine.apply(x, 3.0, shift=1.0)
        needs = out.grad_fn.needs_input_grad
        out.sum().backward()
        out2 = Affine.apply(tag="t", scale=2.0, x=x, shift=0.5)
        return out, x.grad, needs, out2, out2.grad_fn.needs_input_grad

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[2] == (True, False, False)


@pytest.mark.parametrize(
    ("call", "phrase"),
    [
        (lambda F, x: F.apply(x, b=1), "forward() missing required argument: 'a' (position 1)"),
        (lambda F, x: F.apply(x, 1, a=2), "forward() got multiple values for argument 'a'"),
        (lambda F, x: F.apply(x, c=1), "forward() got an unexpected keyword argument 'c'"),
    ],
)
def test_keyword_binding_errors(call, phrase):
    def scenario(T):
        Function, _ = api(T)

        class Kw(Function):
            @staticmethod
            def forward(ctx, x, a=1, b=2):
                return x * a * b

            @staticmethod
            def backward(ctx, grad):
                return grad, None, None

        return call(Kw, T.ones(2, requires_grad=True))

    raises_both(scenario, TypeError, phrase)


def test_needs_input_grad_follows_requires_grad_not_grad_mode():
    def scenario(T):
        Function, _ = api(T)
        seen = []

        class Record(Function):
            @staticmethod
            def forward(ctx, a, b, n, i):
                seen.append(ctx.needs_input_grad)
                return a * b

            @staticmethod
            def backward(ctx, grad):
                seen.append(ctx.needs_input_grad)
                return grad, None, None, None

        a = T.ones(2, requires_grad=True)
        b = T.ones(2)
        i = T.tensor([1, 2])
        Record.apply(a, b, 3, i).sum().backward()
        with T.no_grad():
            Record.apply(a, b, 3, i)
        return seen

    ours, theirs = both(scenario)
    assert ours == theirs
    assert ours == [(True, False, False, False)] * 3


# ----------------------------------------------------------------------------- saved tensors
def test_save_for_backward_inputs_outputs_and_none():
    def scenario(T):
        Function, _ = api(T)

        class SaveAll(Function):
            @staticmethod
            def forward(ctx, x):
                out = x.exp()
                ctx.save_for_backward(x, None, out)
                return out

            @staticmethod
            def backward(ctx, grad):
                _, nothing, out = ctx.saved_tensors
                assert nothing is None
                return grad * out

        x = T.tensor([0.1, 0.2], dtype=T.float64, requires_grad=True)
        out = SaveAll.apply(x)
        saved_x, saved_none, saved_out = out.grad_fn.saved_tensors
        result = (
            saved_x is x,
            saved_none,
            saved_out is out,
            node_name(saved_out),
            saved_out.grad_fn is out.grad_fn,
            saved_out,
        )
        out.sum().backward()
        return (*result, x.grad)

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[:5] == (True, None, False, "SaveAllBackward", True)


def test_saved_output_makes_no_reference_cycle():
    gc.collect()
    gc.disable()
    try:
        x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
        out = make_exp(tapegrad).apply(x)
        node = weakref.ref(out.grad_fn)
        del out
        assert node() is None
    finally:
        gc.enable()


def test_save_for_backward_rejects_non_tensors_only_when_recording():
    def make(T):
        Function, _ = api(T)

        class SaveNumber(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad

        return SaveNumber

    raises_both(
        lambda T: make(T).apply(T.ones(2, requires_grad=True)),
        TypeError,
        "save_for_backward can only save variables, but argument 1 is of type int",
    )
    for T in (tapegrad, torch):
        with T.no_grad():
            assert make(T).apply(T.ones(2, requires_grad=True)).requires_grad is False


def test_saving_an_inference_tensor_raises():
    def scenario(T):
        Function, _ = api(T)

        class SaveOther(Function):
            @staticmethod
            def forward(ctx, x, y):
                ctx.save_for_backward(y)
                return x * y

            @staticmethod
            def backward(ctx, grad):
                (y,) = ctx.saved_tensors
                return grad * y, None

        with T.inference_mode():
            y = T.ones(2)
        return SaveOther.apply(T.ones(2, requires_grad=True), y)

    raises_both(scenario, RuntimeError, "Inference tensors cannot be saved for backward")


def test_inplace_change_of_saved_input_raises_version_error():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        a = x.clone()
        out = make_cube(T).apply(a)
        a.add_(1)
        out.sum().backward()

    raises_both(
        scenario, RuntimeError, "which is output 0 of Add, is at version 1; expected version 0"
    )


def test_inplace_change_of_saved_output_names_the_function():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        out = make_exp(T).apply(x)
        node = out.grad_fn
        out.mul_(2)
        node.saved_tensors  # noqa: B018

    raises_both(
        scenario, RuntimeError, "which is output 0 of Exp, is at version 1; expected version 0"
    )


def test_retain_graph_and_second_backward():
    def scenario(T):
        x = T.tensor([1.0, -2.0], dtype=T.float64, requires_grad=True)
        out = make_cube(T).apply(x).sum()
        out.backward(retain_graph=True)
        out.backward()
        return x.grad

    assert_same(*both(scenario))

    def twice(T):
        x = T.tensor([1.0, -2.0], requires_grad=True)
        out = make_cube(T).apply(x).sum()
        out.backward()
        out.backward()

    raises_both(twice, RuntimeError, "Trying to backward through the graph a second time")


def test_saved_tensors_after_release_and_nodes_without_saves():
    def scenario(T):
        Function, _ = api(T)

        class NoSave(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad * 2

        x = T.tensor([1.0], requires_grad=True)
        out = NoSave.apply(x).sum()
        out.backward()
        out.backward()  # nothing saved, nothing read: a second backward works
        try:
            out.grad_fn.next_functions[0][0].saved_tensors  # noqa: B018
        except RuntimeError as error:
            return x.grad, "backward through the graph a second time" in str(error)
        return x.grad, False

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[1] is True


# ----------------------------------------------------------------------------- higher order
def test_double_backward_through_differentiable_backward():
    def scenario(T):
        x = T.tensor([0.5, -1.5, 2.0], dtype=T.float64, requires_grad=True)
        y = make_cube(T).apply(x).sum()
        (g,) = T.autograd.grad(y, x, create_graph=True)
        (h,) = T.autograd.grad(g.sum(), x)
        return g, h, flags(g)

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    x0 = np.array([0.5, -1.5, 2.0])
    (fd,) = numeric_grad(lambda x: (3 * x**2).sum(), [x0])
    np.testing.assert_allclose(arr(ours[1]), fd, rtol=1e-6)


def test_double_backward_through_saved_output():
    def scenario(T):
        x = T.tensor([0.5, -1.0], dtype=T.float64, requires_grad=True)
        y = make_exp(T).apply(x).sum()
        (g,) = T.autograd.grad(y, x, create_graph=True)
        (h,) = T.autograd.grad(g.sum(), x)
        return g, h

    assert_same(*both(scenario))


def test_once_differentiable_runs_without_grad_and_forbids_double_backward():
    def make(T):
        Function, once = api(T)

        class Cube(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x**3

            @staticmethod
            @once
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                ctx.grad_mode = T.is_grad_enabled()
                return 3 * x**2 * grad

        return Cube

    def scenario(T):
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        out = make(T).apply(x)
        seed = T.ones(2, dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(out, x, seed, create_graph=True)
        plain = make(T).apply(x)
        (g_plain,) = T.autograd.grad(plain.sum(), x, create_graph=True)
        return g, flags(g), out.grad_fn.grad_mode, flags(g_plain), make(T).backward.__name__

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[1] == (True, False, "Error")
    assert ours[3] == (False, True, None)  # seed did not require grad: plain results

    def double(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        seed = T.ones(2, requires_grad=True)
        (g,) = T.autograd.grad(make(T).apply(x), x, seed, create_graph=True)
        g.sum().backward()

    raises_both(
        double,
        RuntimeError,
        "trying to differentiate twice a function that was marked with @once_differentiable",
    )


def test_once_differentiable_multiple_results_share_one_error_node():
    def scenario(T):
        Function, once = api(T)

        class Mul(Function):
            @staticmethod
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return a * b

            @staticmethod
            @once
            def backward(ctx, grad):
                _, b = ctx.saved_tensors
                return grad * b, None

        a = T.tensor([1.0, 2.0], requires_grad=True)
        b = T.tensor([3.0, 4.0], requires_grad=True)
        seed = T.ones(2, requires_grad=True)
        (ga,) = T.autograd.grad(Mul.apply(a, b), a, seed, create_graph=True)
        return ga, edges(ga.grad_fn)

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[1] == [("AccumulateGrad", 0), (None, 0)]


# ----------------------------------------------------------------------------- mark_dirty
def test_mark_dirty_rebases_the_input_itself():
    def scenario(T):
        leaf = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a = leaf.clone()
        before = a * a  # saves a: invalidated by the in-place Function
        result = make_double_(T).apply(a)
        out = (result is a, a._version, flags(a), a.grad_fn.name(), a)
        a.sum().backward(retain_graph=True)
        try:
            before.sum().backward()
        except RuntimeError as error:
            message = str(error)
        return (*out, leaf.grad, "output 0 of Double_, is at version 2" in message)

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[0] is True
    assert ours[1] == 2  # the user's mul_ and mark_dirty's own bump
    assert ours[-1] is True


def test_mark_dirty_on_tensors_that_do_not_require_grad_and_under_no_grad():
    def scenario(T):
        plain = T.tensor([1.0, 2.0])
        out = make_double_(T).apply(plain)
        leaf = T.tensor([1.0, 2.0], requires_grad=True)
        with T.no_grad():
            detached = make_double_(T).apply(leaf)
        return (
            out is plain,
            flags(out),
            out._is_view(),
            plain._version,
            detached is leaf,
            flags(detached),
            leaf._version,
            leaf,
        )

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[4] is False  # torch hands back a detached alias of the leaf


def test_mark_dirty_errors():
    raises_both(
        lambda T: make_double_(T).apply(T.ones(2, requires_grad=True)),
        RuntimeError,
        "a leaf Variable that requires grad has been used in an in-place operation.",
    )
    raises_both(
        lambda T: make_double_(T).apply(T.ones(3, requires_grad=True)[:2]),
        RuntimeError,
        "a view of a leaf Variable that requires grad is being used in an in-place operation.",
    )

    def not_returned(T):
        Function, _ = api(T)

        class Hidden(Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x * 1

            @staticmethod
            def backward(ctx, grad):
                return grad

        return Hidden.apply(T.ones(2))

    raises_both(not_returned, RuntimeError, "Some elements marked as dirty during the forward")

    def not_a_tensor(T):
        Function, _ = api(T)

        class Bad(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(3)
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad

        return Bad.apply(T.ones(2))

    raises_both(not_a_tensor, RuntimeError, "mark_dirty can only accept variables, but argument ")

    def view_with_two_outputs(T):
        Function, _ = api(T)

        class Two(Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2 * 6

        base = T.ones(3, requires_grad=True).clone()
        return Two.apply(base[:2])

    raises_both(view_with_two_outputs, RuntimeError, "If your Function modifies inplace an input")


def test_mark_dirty_of_a_non_input_warns():
    def scenario(T):
        Function, _ = api(T)

        class Fresh(Function):
            @staticmethod
            def forward(ctx, x):
                y = x * 2
                ctx.mark_dirty(y)
                return y

            @staticmethod
            def backward(ctx, grad):
                return grad * 2

        with pytest.warns(UserWarning, match="received a tensor that was not an input"):
            return node_name(Fresh.apply(T.ones(2, requires_grad=True)))

    ours, theirs = both(scenario)
    assert ours == theirs == "FreshBackward"


def test_mark_dirty_on_a_view_gives_the_base_copy_slices():
    def scenario(T):
        leaf = T.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        base = leaf.clone()
        view = base[1:3]
        result = make_double_(T).apply(view)
        out = (result is view, node_name(base), node_name(view), base._version, base)
        base.sum().backward()
        return (*out, leaf.grad)

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[1] == "CopySlices"


def test_mark_dirty_moves_retain_grad_and_keeps_old_hooks():
    def scenario(T):
        leaf = T.tensor([1.0, 2.0], requires_grad=True)
        a = leaf.clone()
        a.retain_grad()
        seen = []
        a.register_hook(lambda g: seen.append(g.clone()))
        make_double_(T).apply(a)
        (a * 3).sum().backward()
        return a.grad, seen, leaf.grad

    ours, theirs = both(scenario)
    assert_same(ours, theirs)


# ----------------------------------------------------------------------------- non-differentiable
def test_mark_non_differentiable_and_integer_outputs_get_zero_grads():
    def scenario(T):
        Function, _ = api(T)
        received = []

        class SortValues(Function):
            @staticmethod
            def forward(ctx, x):
                values, indices = x.sort()
                doubled = x * 2
                ctx.mark_non_differentiable(indices, doubled)
                ctx.save_for_backward(indices)
                return values, indices, doubled, x > 0, 7

            @staticmethod
            def backward(ctx, g_values, g_indices, g_doubled, g_mask, g_seven):
                received.extend([g_indices, g_doubled, g_mask, g_seven])
                (indices,) = ctx.saved_tensors
                return T.zeros_like(g_values).index_add(0, indices, g_values)

        x = T.tensor([3.0, 1.0, 2.0], dtype=T.float64, requires_grad=True)
        values, indices, doubled, mask, seven = SortValues.apply(x)
        (values * T.tensor([1.0, 2.0, 3.0], dtype=T.float64)).sum().backward()
        return (
            [flags(t) for t in (values, indices, doubled, mask)],
            seven,
            x.grad,
            received,
        )

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[0][1:] == [(False, True, None)] * 3


def test_non_differentiable_output_cannot_start_backward():
    def scenario(T):
        Function, _ = api(T)

        class Pair(Function):
            @staticmethod
            def forward(ctx, x):
                a, b = x * 2, x * 3
                ctx.mark_non_differentiable(b)
                return a, b

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 2

        Pair.apply(T.ones(2, requires_grad=True))[1].sum().backward()

    raises_both(scenario, RuntimeError, "does not require grad and does not have a grad_fn")

    def not_a_tensor(T):
        Function, _ = api(T)

        class Bad(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_non_differentiable("x")
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad

        return Bad.apply(T.ones(2))

    raises_both(not_a_tensor, RuntimeError, "mark_non_differentiable only accepts variable")


@pytest.mark.parametrize("materialize", [True, False])
def test_set_materialize_grads(materialize):
    def scenario(T):
        Function, _ = api(T)
        received = []

        class Two(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x.clone(), x.clone()

            @staticmethod
            def backward(ctx, g1, g2):
                received.append((g1, g2))
                return g1 if g1 is not None else g2

        x = T.tensor([1.0, 2.0], requires_grad=True)
        first, _ = Two.apply(x)
        first.sum().backward()
        return received, x.grad

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert (ours[0][0][1] is None) is not materialize


def test_set_materialize_grads_wants_a_bool():
    def scenario(T):
        Function, _ = api(T)

        class Bad(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(0)
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad

        return Bad.apply(T.ones(2))

    raises_both(scenario, TypeError, "set_materialize_grads received an invalid combination")


# ----------------------------------------------------------------------------- setup_context
def test_setup_context_form():
    def scenario(T):
        Function, _ = api(T)
        seen = []

        class Scaled(Function):
            @staticmethod
            def forward(x, scale, power=2):
                seen.append(T.is_grad_enabled())
                return x**power * scale

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, scale, power = inputs
                seen.append((T.is_grad_enabled(), output.requires_grad, len(inputs)))
                ctx.scale, ctx.power = scale, power
                ctx.save_for_backward(x, output)

            @staticmethod
            def backward(ctx, grad):
                x, _ = ctx.saved_tensors
                return grad * ctx.scale * ctx.power * x ** (ctx.power - 1), None, None

        x = T.tensor([1.0, -2.0], dtype=T.float64, requires_grad=True)
        out = Scaled.apply(x, 3.0)
        saved_out = out.grad_fn.saved_tensors[1]
        out.sum().backward()
        out3 = Scaled.apply(x, scale=1.0, power=3)
        return seen, x.grad, node_name(saved_out), out3, out3.grad_fn.needs_input_grad

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[0][1] == (False, False, 3)


def test_setup_context_cannot_save_an_input_returned_as_is():
    def scenario(T):
        Function, _ = api(T)

        class Same(Function):
            @staticmethod
            def forward(x):
                return x

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(output)

            @staticmethod
            def backward(ctx, grad):
                return grad

        return Same.apply(T.ones(2, requires_grad=True))

    raises_both(scenario, RuntimeError, "An input that has been returned as-is as output is being")


# ----------------------------------------------------------------------------- grad modes (B28)
def test_b28_no_grad_and_inference_mode_record_nothing():
    def scenario(T):
        Exp = make_exp(T)
        x = T.tensor([1.0, 2.0], requires_grad=True)
        with T.no_grad():
            no_grad_out = Exp.apply(x)
        with T.inference_mode():
            inference_out = Exp.apply(x)
        plain_out = Exp.apply(T.tensor([1.0, 2.0]))
        return (
            flags(no_grad_out),
            flags(inference_out),
            inference_out.is_inference(),
            flags(plain_out),
            x.requires_grad,
        )

    ours, theirs = both(scenario)
    assert ours == theirs
    assert ours[0] == (False, True, None)


def test_b28_enable_grad_inside_forward_is_replaced_by_the_node():
    def scenario(T):
        Function, _ = api(T)

        class Inner(Function):
            @staticmethod
            def forward(ctx, x):
                with T.enable_grad():
                    y = x * 2
                ctx.inner = y.requires_grad
                return y

            @staticmethod
            def backward(ctx, grad):
                return grad * 5

        x = T.tensor([1.0], requires_grad=True)
        out = Inner.apply(x)
        out.sum().backward()
        return out.grad_fn.inner, node_name(out), x.grad

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[2].tolist() == [5.0]  # the custom backward, not MulBackward0


# ----------------------------------------------------------------------------- hooks
def test_hooks_and_retain_grad_on_function_nodes():
    def scenario(T):
        Function, _ = api(T)

        class Split(Function):
            @staticmethod
            def forward(ctx, x, n, y):
                return x * n * y, x + 1

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2, None, None

        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = T.tensor([3.0, 4.0])
        first, second = Split.apply(x, 2.0, y)
        log = []
        node = first.grad_fn
        node.register_prehook(lambda grads: log.append(("pre", list(grads))))
        node.register_hook(lambda gi, go: log.append(("post", list(gi), list(go))))
        first.register_hook(lambda g: log.append(("tensor", g)))
        second.retain_grad()
        second.register_hook(lambda g: g * 10)
        (first.sum() + second.sum()).backward()
        return log, x.grad, second.grad, first.retains_grad, second.retains_grad

    assert_same(*both(scenario))


def test_post_hook_can_replace_input_gradients():
    def scenario(T):
        Function, _ = api(T)

        class Twice(Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad * 2, None

        x = T.tensor([1.0, 2.0], requires_grad=True)
        out = Twice.apply(x, 1)
        handle = out.grad_fn.register_hook(lambda gi, go: (gi[0] * 0 + 7,))
        out.sum().backward(retain_graph=True)
        first = x.grad.clone()
        handle.remove()
        x.grad = None
        out.sum().backward()
        return first, x.grad

    assert_same(*both(scenario))


# ----------------------------------------------------------------------------- views (B86, B106)
def test_b106_input_returned_as_is_is_a_new_view():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        out = make_identity(T).apply(x)
        plain = T.tensor([1.0, 2.0])
        out_plain = make_identity(T).apply(plain)
        with T.no_grad():
            out_no_grad = make_identity(T).apply(x)
        state = (
            out is x,
            out._is_view(),
            out._base is x,
            flags(out),
            out_plain is plain,
            out_plain._is_view(),
            flags(out_plain),
            out_no_grad._is_view(),
            flags(out_no_grad),
        )
        out.sum().backward()
        out_plain.add_(1)  # allowed: nothing requires grad
        return state, x.grad, plain

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[0][:3] == (False, True, True)


def test_b106_inplace_on_a_custom_function_view_raises():
    raises_both(
        lambda T: make_identity(T).apply(T.ones(2, requires_grad=True)).add_(1),
        RuntimeError,
        "Output 0 of Identity is a view and is being modified inplace. This view was created "
        "inside a custom Function (or because an input was returned as-is)",
    )

    def value_requires_grad(T):
        out = make_identity(T).apply(T.ones(2))
        out.add_(T.ones(2, requires_grad=True))

    raises_both(
        value_requires_grad,
        RuntimeError,
        "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
        "This view was created inside a custom Function",
    )


def make_head(T):
    """Returns a view created inside forward."""
    Function, _ = api(T)

    class Head(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.size = x.shape[0]
            return x[:2]

        @staticmethod
        def backward(ctx, grad):
            full = T.zeros(ctx.size, dtype=grad.dtype)
            full[:2] = grad
            return full

    return Head


def test_b106_view_created_inside_forward():
    def scenario(T):
        leaf = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        base = leaf.clone()
        out = make_head(T).apply(base)
        state = (out._is_view(), out._base is base, flags(out))
        (out * T.tensor([2.0, 3.0])).sum().backward()
        return state, leaf.grad

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    raises_both(
        lambda T: make_head(T).apply(T.ones(3, requires_grad=True).clone()).mul_(2),
        RuntimeError,
        "Output 0 of Head is a view and is being modified inplace. This view was created inside "
        "a custom Function",
    )


def test_b86_view_returned_under_no_grad():
    def scenario(T):
        x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with T.no_grad():
            out = make_head(T).apply(x)
        state = (out.requires_grad, out.grad_fn, out._is_view(), out.is_leaf, out._base is x)
        with T.no_grad():
            out.mul_(2)  # in-place inside no_grad is fine
        return state, out.detach(), x.detach()

    ours, theirs = both(scenario)
    assert_same(ours, theirs)
    assert ours[0] == (True, None, True, True, True)

    def inplace(T):
        with T.no_grad():
            out = make_head(T).apply(T.ones(3, requires_grad=True))
        out.mul_(2)

    raises_both(
        inplace,
        RuntimeError,
        "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
        "This view was created inside a custom Function (or because an input was returned as-is)",
    )


def test_input_returned_twice_gives_multi_output_views():
    def scenario(T):
        Function, _ = api(T)

        class Twice(Function):
            @staticmethod
            def forward(ctx, x):
                return x, x

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 + g2

        x = T.tensor([1.0, 2.0], requires_grad=True)
        first, second = Twice.apply(x)
        state = (first is second, first._base is x, second._base is x)
        (first * 2 + second).sum().backward()
        try:
            first.add_(1)
        except RuntimeError as error:
            message = str(error)
        return state, x.grad, message

    ours, theirs = both(scenario)
    assert_same(ours[:2], theirs[:2])
    assert ours[2] == theirs[2]
    assert "This view is the output of a function that returns multiple views" in ours[2]


def test_same_output_twice_keeps_the_last_output_number():
    def scenario(T):
        Function, _ = api(T)
        received = []

        class Dup(Function):
            @staticmethod
            def forward(ctx, x):
                y = x * 2
                return y, y

            @staticmethod
            def backward(ctx, g1, g2):
                received.append((g1, g2))
                return (g1 + g2) * 2

        x = T.tensor([1.0, 2.0], requires_grad=True)
        first, second = Dup.apply(x)
        first.sum().backward()
        return first is second, received, x.grad

    assert_same(*both(scenario))


# ----------------------------------------------------------------------------- outputs and grads
def test_non_tensor_and_container_outputs_pass_through():
    def scenario(T):
        Function, _ = api(T)

        class Mixed(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, 3, None, "s", (x * 3,)

            @staticmethod
            def backward(ctx, *grads):
                return grads[0] * 2

        class Single(Function):
            @staticmethod
            def forward(ctx, x):
                return (x * 2,)

            @staticmethod
            def backward(ctx, grad):
                return grad * 2

        class Listed(Function):
            @staticmethod
            def forward(ctx, x):
                return [x * 2]

            @staticmethod
            def backward(ctx, grad):
                return grad

        x = T.tensor([1.0], requires_grad=True)
        mixed = Mixed.apply(x)
        single = Single.apply(x)
        listed = Listed.apply(x)
        return (
            type(mixed).__name__,
            mixed[1:4],
            flags(mixed[0]),
            flags(mixed[4][0]),
            type(single).__name__,
            len(single),
            flags(single[0]),
            type(listed).__name__,
            flags(listed[0]),
        )

    ours, theirs = both(scenario)
    assert ours == theirs


_COUNT = "returned an incorrect number of gradients"
_INVALID = "Function BadBackward returned an invalid gradient at index"


@pytest.mark.parametrize(
    ("backward", "phrase"),
    [
        (lambda g: (g,), f"function BadBackward {_COUNT} (expected 3, got 1)"),
        (lambda g: None, f"{_COUNT} (expected 3, got 1)"),
        (lambda g: [g, g, None], f"{_COUNT} (expected 3, got 1)"),
        (lambda g: (g, g, None, g), f"{_COUNT} (expected 3, got 4)"),
        (
            lambda g: (g, g, g),
            "function BadBackward returned a gradient different than None at position 3, but "
            "the corresponding forward input was not a Variable",
        ),
        (lambda g: (1.0, g, None), "expected Variable or None (got float)"),
        (
            lambda g: (g, g.sum(), None),
            f"{_INVALID} 1 - got [] but expected shape compatible with [2]",
        ),
        (
            lambda g: (g[:1], g, None),
            f"{_INVALID} 0 - got [1] but expected shape compatible with [2]",
        ),
    ],
)
def test_backward_result_checks(backward, phrase):
    def scenario(T):
        Function, _ = api(T)

        class Bad(Function):
            @staticmethod
            def forward(ctx, x, y, n):
                return x * y * n

            @staticmethod
            def backward(ctx, grad):
                return backward(grad)

        x = T.ones(2, requires_grad=True)
        y = T.ones(2, requires_grad=True)
        Bad.apply(x, y, 2).sum().backward()

    raises_both(scenario, RuntimeError, phrase)


def test_backward_gradients_are_reduced_and_cast_like_torch():
    def scenario(T):
        Function, _ = api(T)

        class Loose(Function):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            def backward(ctx, grad):
                # a broadcast gradient for x, a float32 one for y (float64), None ignored
                return grad.expand(3, 2) * 1.0, grad.float(), None

        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        y = T.tensor([3.0, 4.0], dtype=T.float64, requires_grad=True)
        Loose.apply(x, y).sum().backward()
        return x.grad, y.grad

    assert_same(*both(scenario))


def test_gradient_for_an_input_that_needs_none_is_ignored():
    def scenario(T):
        Function, _ = api(T)

        class Extra(Function):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            def backward(ctx, grad):
                return grad, T.ones(5)  # y does not require grad: not validated

        x = T.tensor([1.0, 2.0], requires_grad=True)
        Extra.apply(x, T.ones(2)).sum().backward()
        return x.grad

    assert_same(*both(scenario))


# ----------------------------------------------------------------------------- class surface
def test_vjp_alias_and_conflicting_definitions():
    def scenario(T):
        Function, _ = api(T)

        class ViaVjp(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def vjp(ctx, grad):
                return grad * 2

        x = T.tensor([1.0], requires_grad=True)
        ViaVjp.apply(x).sum().backward()
        return x.grad

    assert_same(*both(scenario))

    def conflicting(T):
        Function, _ = api(T)

        class Both(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return grad

            @staticmethod
            def vjp(ctx, grad):
                return grad

        Both.apply(T.ones(1, requires_grad=True)).sum().backward()

    raises_both(conflicting, RuntimeError, "Implementing both 'backward' and 'vjp'")


def test_missing_forward_or_backward():
    def no_forward(T):
        Function, _ = api(T)

        class Empty(Function):
            pass

        Empty.apply(T.ones(1))

    raises_both(no_forward, NotImplementedError, "You must implement the forward function")

    def no_backward(T):
        Function, _ = api(T)

        class ForwardOnly(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        ForwardOnly.apply(T.ones(1, requires_grad=True)).sum().backward()

    raises_both(no_backward, NotImplementedError, "You must implement either the backward or vjp")


def test_instantiating_a_function_is_deprecated_and_calling_it_raises():
    for T in (tapegrad, torch):
        Cube = make_cube(T)
        with pytest.warns(DeprecationWarning, match="should not be instantiated"):
            instance = Cube()
        with pytest.raises(RuntimeError, match="Legacy autograd function with non-static forward"):
            instance(T.ones(1))
        # the static methods still work through an instance (it is a FunctionCtx too)
        assert Cube.forward(instance, T.tensor([2.0])).tolist() == [8.0]
        assert node_name(instance.apply(T.ones(1, requires_grad=True))) == "CubeBackward"


def test_node_classes_are_per_function_subclasses():
    Cube = make_cube(tapegrad)
    x = tapegrad.ones(1, requires_grad=True)
    a, b = Cube.apply(x), Cube.apply(x)
    assert type(a.grad_fn) is type(b.grad_fn)
    assert isinstance(a.grad_fn, tapegrad._engine.Node)
    assert isinstance(a.grad_fn, FunctionCtx)
    assert type(a.grad_fn)._forward_cls is Cube

    class SubCube(Cube):
        pass

    assert type(SubCube.apply(x).grad_fn).__name__ == "SubCubeBackward"
    assert type(Cube.apply(x).grad_fn).__name__ == "CubeBackward"
