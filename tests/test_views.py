"""Views, version counters, in-place ops and the modes they meet (spec B56-B108).

Every scenario runs on tapegrad and on torch 2.13; what each observes must agree. Error
messages are compared on their opening words (torch's key phrase).
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")


def outcome(fn):
    """The value of ``fn()``, or ``(ExceptionType, first 60 characters of the message)``."""
    try:
        return fn()
    except Exception as error:
        text = str(error).replace("torch.", "tapegrad.")
        return (type(error).__name__, text[:60])


def summary(t):
    """What a user can observe about a tensor, in comparable form."""
    if t is None:
        return None
    grad_fn = outcome(lambda: t.grad_fn)
    name = grad_fn if isinstance(grad_fn, tuple) else (
        None if grad_fn is None else type(grad_fn).__name__)
    return (
        np.asarray(t.detach().numpy(), dtype=np.float64).round(5).tolist(),
        t.requires_grad,
        name,
        outcome(lambda: t._version),
        t.is_inference(),
        t._is_view(),
    )


def compare(scenario):
    ours, theirs = scenario(tapegrad), scenario(torch)
    assert ours == theirs, f"\ntapegrad: {ours}\ntorch:    {theirs}"
    return ours


def test_b78_inplace_on_leaf_allowed_under_no_grad_only():
    def scenario(T):
        x = T.ones(3, requires_grad=True)
        error = outcome(lambda: x.add_(1))
        with T.no_grad():
            x.add_(1)
            x[0] = 5.0
        view_error = outcome(lambda: x[1].mul_(2))
        return error, summary(x), view_error

    result = compare(scenario)
    assert result[0][0] == "RuntimeError"


def test_b79_b95_no_grad_bump_invalidates_saved_tensors():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = T.tensor([3.0, 4.0], requires_grad=True)
        z = (x * y).sum()
        with T.no_grad():
            x.mul_(2)
        return outcome(z.backward), x._version

    result = compare(scenario)
    assert result[0][1].startswith("one of the variables needed")


def test_b96_what_is_saved_decides_what_errors():
    def scenario(T):
        base = T.tensor([1.0, 2.0], requires_grad=True)
        y = T.tensor([3.0, 4.0])
        z = base.clone()
        q = z + y
        z.add_(2)
        ok = outcome(lambda: q.sum().backward())
        z2 = base.clone()
        w = z2 * y  # y does not require grad: z2 is not saved
        z2.add_(2)
        ok2 = outcome(lambda: w.sum().backward())
        z3 = base.clone()
        w3 = z3 * base  # both need grads: z3 saved for base's gradient
        z3.add_(2)
        err = outcome(lambda: w3.sum().backward())
        r = base.clone().relu_()
        r.mul_(2)
        err2 = outcome(lambda: r.sum().backward())
        s = base.exp()
        t = s * 2  # multiplying by a Python number saves nothing of s
        s.add_(1)
        ok3 = outcome(lambda: t.sum().backward())
        return ok, ok2, err, err2, ok3, base.grad.tolist()

    compare(scenario)


def test_b92_b94_version_counter_sharing():
    def scenario(T):
        x = T.zeros(4)
        v = x[1:3]
        d = x.detach()
        seq = [x._version]
        x.add_(1).mul_(2)
        seq.append(x._version)
        v.zero_()
        seq.append((x._version, v._version, d._version))
        d.fill_(3)
        seq.append(x._version)
        x[0] = 1.0
        seq.append(x._version)
        x.copy_(T.ones(4))
        seq.append(x._version)
        c = x.clone()
        seq.append(c._version)
        x.requires_grad_()
        seq.append(x._version)
        x.data.add_(1)
        seq.append(x._version)
        return seq

    compare(scenario)


def test_b89_detach_and_b90_data():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = h ** 2
        h.detach().add_(1)
        err = outcome(lambda: y.sum().backward())
        a = T.tensor([1.0, 2.0], requires_grad=True)
        b = a ** 2
        a.data.zero_()
        b.sum().backward()
        d = a.detach()
        return err, a.grad.tolist(), summary(d), d._base is None

    compare(scenario)


def test_b89_detach_inplace_on_view_raises():
    def scenario(T):
        x = T.ones(3)
        return outcome(lambda: x[1:].detach_())

    assert compare(scenario)[0] == "RuntimeError"


def test_b91_detach_inplace_of_saved_input():
    def scenario(T):
        a = T.tensor([1.0, 2.0], requires_grad=True).clone()
        b = a.sin()
        a.detach_()
        c = T.tensor([1.0, 2.0], requires_grad=True).clone()
        d = c.exp()
        d.detach_()
        e = T.tensor([1.0, 2.0], requires_grad=True)
        f = e.exp()
        g = f * 1
        f.detach_()
        return outcome(lambda: b.sum().backward()), outcome(lambda: g.sum().backward())

    compare(scenario)


def test_b80_requires_grad_flags():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = x * 2
        err = outcome(lambda: y.requires_grad_(False))
        with T.no_grad():
            z = x * 2
            z.requires_grad_()
        ints = outcome(lambda: T.ones(2, dtype=T.int64).requires_grad_())
        factory = outcome(lambda: T.ones(2, dtype=T.int64, requires_grad=True))
        return err, summary(z), z.is_leaf, ints, factory

    compare(scenario)


def test_b76_factories_honour_requires_grad_under_no_grad():
    def scenario(T):
        with T.no_grad():
            made = [
                T.ones(2, requires_grad=True),
                T.zeros_like(T.ones(2), requires_grad=True),
                T.tensor([1.0], requires_grad=True),
                T.randn(2, requires_grad=True).requires_grad,
            ]
        return [m if isinstance(m, bool) else (m.requires_grad, m.is_leaf) for m in made]

    compare(scenario)


def test_b82_views_created_under_no_grad():
    def scenario(T):
        x = T.ones(3, requires_grad=True)
        with T.no_grad():
            v = x[:2]
        hook_calls = []
        v.register_hook(lambda g: hook_calls.append(1))
        out = v * 2
        nf = [n is None for n, _ in out.grad_fn.next_functions]
        out.sum().backward()
        return summary(v), v._base is x, nf, v.grad, x.grad, hook_calls

    compare(scenario)


def test_b83_no_grad_view_modified_with_grad_mode():
    def scenario(T):
        root = T.ones(3, requires_grad=True)
        x = root.clone()
        with T.no_grad():
            v = x[:2]
        error = outcome(lambda: v.mul_(2))
        values_kept = x.tolist() if not x.requires_grad else x.detach().tolist()
        with T.no_grad():
            v.mul_(3)
        plain = T.ones(3)
        with T.no_grad():
            pv = plain[:2]
        pv.mul_(2)
        grad_value = outcome(lambda: pv.mul_(T.ones(2, requires_grad=True)))
        return error, values_kept, plain.tolist(), grad_value

    result = compare(scenario)
    assert result[0][1].startswith("A view was created in no_grad mode")


def test_b84_indirect_no_grad_view_after_base_inplace():
    def scenario(T):
        x = T.ones(3, requires_grad=True).clone()
        with T.no_grad():
            v = x[:2]
        x.add_(1)
        return outcome(lambda: v.grad_fn), "grad_fn=<Invalid>" in repr(v)

    result = compare(scenario)
    assert result[1] is True


def test_b100_inplace_on_view_rebases_base():
    def scenario(T):
        root = T.ones(2, 3, requires_grad=True)
        x = root.clone()
        v = x[0]
        v.mul_(2)
        names = (type(x.grad_fn).__name__, type(x.grad_fn.next_functions[0][0]).__name__,
                 type(v.grad_fn).__name__)
        x.sum().backward()
        return names, root.grad.tolist(), x._version, v._version

    compare(scenario)


@pytest.mark.parametrize("make_view", ["view", "narrow", "slice", "select", "t", "diagonal"])
@pytest.mark.parametrize("replay", [False, True])
def test_b101_regenerated_view_names(make_view, replay):
    def scenario(T):
        makers = {
            "view": lambda x: x.view(-1),
            "narrow": lambda x: x.narrow(0, 0, 1),
            "slice": lambda x: x[:, 1:],
            "select": lambda x: x[0],
            "t": lambda x: x.t(),
            "diagonal": lambda x: x.diagonal(),
        }
        with T.autograd._force_original_view_tracking(replay):
            x = T.ones(2, 2, requires_grad=True).clone()
            v = makers[make_view](x)
            v.mul_(2)
            names = type(x.grad_fn).__name__, type(v.grad_fn).__name__
            (v * v).sum().backward()
        return names

    compare(scenario)


def test_b102_inplace_on_base_refreshes_views():
    def scenario(T):
        r = T.ones(2, 2, requires_grad=True)
        x = r.clone()
        v = x[0]
        x.add_(1)
        name = type(v.grad_fn).__name__, type(x.grad_fn).__name__
        (v * 3).sum().backward()
        return name, r.grad.tolist()

    compare(scenario)


def test_b103_inplace_value_makes_base_require_grad():
    def scenario(T):
        x = T.zeros(3)
        y = T.tensor([2.0], requires_grad=True)
        x[1:2].mul_(0).add_(y)
        names = type(x.grad_fn).__name__, x.is_leaf, x.requires_grad
        (x * T.tensor([1.0, 5.0, 7.0])).sum().backward()
        z = T.zeros(3)
        z[0] = y * 3
        c = T.zeros(2)
        c.copy_(T.ones(2, requires_grad=True))
        return names, y.grad.tolist(), type(z.grad_fn).__name__, c.requires_grad

    compare(scenario)


def test_b104_setitem_nodes():
    def scenario(T):
        r = T.ones(2, 2, requires_grad=True)
        x = r.clone()
        x[0] = 5.0
        a = type(x.grad_fn).__name__
        y = r.clone()
        y[[0]] = 5.0
        b = type(y.grad_fn).__name__
        m = r.clone()
        m[m > 0.5] = 0.0
        (x.sum() + y.sum() + m.sum()).backward()
        return a, b, r.grad.tolist()

    compare(scenario)


@pytest.mark.parametrize("split", ["unbind", "split", "chunk", "split_sizes"])
def test_b105_multi_output_views(split):
    def scenario(T):
        makers = {
            "unbind": lambda x: x.unbind(0),
            "split": lambda x: x.split(1, 0),
            "chunk": lambda x: x.chunk(2, 0),
            "split_sizes": lambda x: x.split([1, 1], 0),
        }
        x = T.ones(2, 2, requires_grad=True).clone()
        parts = makers[split](x)
        error = outcome(lambda: parts[0].mul_(2))
        view_of = outcome(lambda: parts[0][0:1].mul_(2))
        plain = makers[split](T.ones(2, 2))
        plain[0].mul_(2)
        grad_value = outcome(lambda: makers[split](T.ones(2, 2))[1].mul_(
            T.ones(1, requires_grad=True)))
        return error, view_of, grad_value, type(parts[1].grad_fn).__name__

    compare(scenario)


def test_b108_failed_inplace_leaves_data_and_version():
    def scenario(T):
        x = T.ones(3, requires_grad=True)
        before = x.detach().tolist(), x._version
        outcome(lambda: x.add_(1))
        after = x.detach().tolist(), x._version
        y = T.ones(2, 2).expand(2, 2, 2)
        expanded = outcome(lambda: y.add_(1))
        return before == after, expanded[0]

    compare(scenario)


def test_expanded_view_inplace_error_message():
    for T in (tapegrad, torch):
        x = T.ones(3, 1).expand(3, 4)
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            x.add_(1)


def test_inplace_shape_and_dtype_errors_leave_tensor_unchanged():
    def scenario(T):
        x = T.ones(3)
        shape = outcome(lambda: x.add_(T.ones(2, 3)))
        i = T.ones(3, dtype=T.int64)
        cast = outcome(lambda: i.add_(1.5))
        return shape[0], cast, x.tolist(), x._version, i._version

    compare(scenario)


def test_gradients_through_chains_of_views_and_inplace():
    def scenario(T):
        r = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        x = r.clone()
        a = x[:, 1:]
        b = a.t()
        b[0].mul_(r[0, :2] + 1)
        c = x.view(-1)[::2]
        c.add_(x.sum())
        x.exp_()
        (x * x).sum().backward()
        return r.grad.tolist(), x.tolist()

    ours, theirs = scenario(tapegrad), scenario(torch)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)


def test_b87_numpy_refuses_tensors_requiring_grad():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        error = outcome(x.numpy)
        with T.no_grad():
            ok = x.numpy().tolist()
        return error, ok, x.detach().numpy().tolist()

    compare(scenario)


def test_views_share_memory_with_their_base():
    x = tapegrad.zeros(3, 4)
    for view in (x[1], x[:, 1:], x.t(), x.view(12), x.unsqueeze(0), x.diagonal(), x.permute(1, 0)):
        assert np.shares_memory(view.numpy(), x.numpy())
        assert view._base is x
        assert view._vc is x._vc


def test_version_error_names_the_owner_of_a_saved_output():
    def scenario(T):
        r = T.ones(2, 3, requires_grad=True)
        x = r.clone()
        x.exp_()
        x.view(-1)[::2].add_(1)
        try:
            (x * x).sum().backward()
        except RuntimeError as error:
            return str(error).split(" is at version")[0].split("]], ")[-1]
        return None

    assert compare(scenario) == "which is output 0 of Exp,"


def test_retain_grad_follows_inplace_rebase():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        a = x.clone()
        a.retain_grad()
        a.mul_(2)
        b = x.clone()
        v = b[0:1]
        b.retain_grad()
        v.retain_grad()
        v.mul_(2)
        (a.sum() + b.sum()).backward()
        return a.grad.tolist(), b.grad.tolist(), v.grad, b.retains_grad, a.retains_grad

    compare(scenario)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("base_requires_grad", [False, True])
def test_b74_b85_view_of_a_special_view_modified_inplace(mode, base_requires_grad):
    def scenario(T):
        base = T.ones(3, requires_grad=base_requires_grad and mode == "no_grad")
        with getattr(T, mode)():
            middle = base.view(3)
        if not middle.requires_grad:
            middle.requires_grad_(True)
        inner = middle.view(3)
        return outcome(lambda: inner.mul_(2)), type(inner.grad_fn).__name__

    result = compare(scenario)
    assert result[0][0] == "RuntimeError"
    assert result[0][1].startswith("Output 0 of View is a view of a view which was")


def test_copy_of_a_tensor_into_itself_is_allowed_even_on_an_expand():
    """Found by the soak fuzzer: torch skips the overlap check for x.copy_(x)."""
    def scenario(T):
        base = T.tensor([0.13, -0.13, 0.64], dtype=T.float64, requires_grad=True)
        expanded = base.sum().expand(2)
        expanded.copy_(expanded)
        other = T.ones(3).expand(2, 3)
        return summary(expanded), outcome(lambda: other.copy_(T.zeros(2, 3)))[0]

    compare(scenario)
