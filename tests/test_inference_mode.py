"""Inference tensors and inference mode against torch 2.13 (spec B29-B31, B54-B75).

tapegrad deliberately differs in one place (B64): a failing in-place update of an inference
tensor outside inference mode raises *before* writing, so the tensor keeps its data.
"""

from __future__ import annotations

import pytest

import tapegrad

from .test_views import compare, outcome, summary

torch = pytest.importorskip("torch")


def test_b56_b57_creation_inside_inference_mode():
    def scenario(T):
        with T.inference_mode():
            made = [T.ones(2), T.ones(2, requires_grad=True), T.ones(2) * 2,
                    T.tensor([1.0]).clone()]
            inside = [(m.is_inference(), m.requires_grad, m.is_leaf) for m in made]
            op_on_grad = made[1] * 2
            inside.append((op_on_grad.is_inference(), op_on_grad.requires_grad))
        return inside

    compare(scenario)


def test_b58_no_version_counter():
    def scenario(T):
        with T.inference_mode():
            t = T.ones(2)
            inside = outcome(lambda: t._version)
        return inside, outcome(lambda: t._version)

    result = compare(scenario)
    assert result[0][1].startswith("Inference tensors do not track version counter")


def test_b59_views_of_inference_tensors_are_plain_inference_tensors():
    def scenario(T):
        with T.inference_mode():
            t = T.ones(2, 2, requires_grad=True)
            v = t.view(-1)
        w = t[0]
        return [(x.is_inference(), x._is_view(), x._base is None, x.is_leaf, x.requires_grad)
                for x in (v, w)]

    compare(scenario)


def test_b60_inplace_on_inference_tensor_inside_inference_mode():
    def scenario(T):
        with T.inference_mode():
            t = T.ones(2, requires_grad=True)
            t.add_(1)
            c = T.zeros(2)
            c.copy_(T.ones(2))
        return t.is_inference(), t.requires_grad, t.detach().tolist(), c.tolist()

    compare(scenario)


def test_b61_clone_detach_numpy():
    def scenario(T):
        with T.inference_mode():
            t = T.ones(2)
        return t.clone().is_inference(), t.detach().is_inference(), t.numpy().tolist()

    compare(scenario)


def test_b62_all_inference_inputs_bypass_autograd():
    def scenario(T):
        with T.inference_mode():
            b = T.ones(2, requires_grad=True)
        out = b.sin()
        return summary(out), out.is_leaf

    compare(scenario)


def test_b63_inplace_outside_inference_mode_is_refused():
    def scenario(T):
        with T.inference_mode():
            t = T.ones(3)
            g = T.ones(3, requires_grad=True)
        errors = [outcome(lambda: t.add_(1)), outcome(lambda: t.mul_(5)),
                  outcome(lambda: t.copy_(T.zeros(3)))]
        with T.no_grad():
            errors.append(outcome(lambda: t.zero_()))
        errors.append(outcome(lambda: g.add_(1)))
        return errors

    results = compare(scenario)
    assert results[0][1].startswith("Inplace update to inference tensor outside")
    assert results[-1][1].startswith("a leaf Variable that requires grad")


def test_b64_tapegrad_refuses_before_writing():
    with tapegrad.inference_mode():
        t = tapegrad.ones(3)
    for mutate in (lambda: t.add_(1), lambda: t.mul_(5), lambda: t.__setitem__(0, 7.0),
                   lambda: t.copy_(tapegrad.zeros(3))):
        with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
            mutate()
        assert t.tolist() == [1.0, 1.0, 1.0]


def test_b65_requires_grad_on_inference_tensor_outside():
    def scenario(T):
        with T.inference_mode():
            t = T.ones(2)
        error = outcome(lambda: t.requires_grad_(True))
        t.requires_grad_(False)
        return error, outcome(lambda: T.nn.Parameter(t)) if hasattr(T, "nn") else error

    assert compare(scenario)[0][1].startswith("Setting requires_grad=True on inference tensor")


def test_b66_inference_tensors_cannot_be_saved():
    def scenario(T):
        with T.inference_mode():
            s = T.tensor([2.0, 3.0])
            leaf = T.tensor([1.0, 1.0], requires_grad=True)
        a = T.ones(2, requires_grad=True)
        saved = outcome(lambda: a * s)
        mm = outcome(lambda: a.reshape(1, 2).mm(s.reshape(2, 1)))
        inplace = outcome(lambda: a.clone().mul_(s))
        added = a + s
        scaled = leaf * 3
        (added.sum() + scaled.sum()).backward()
        return saved, mm, inplace, a.grad.tolist(), leaf.grad.tolist(), leaf.grad.is_inference()

    result = compare(scenario)
    assert result[0][1].startswith("Inference tensors cannot be saved for backward")


def test_b67_mixed_view_ops():
    def scenario(T):
        with T.inference_mode():
            i = T.ones(2, 2)
        n = T.ones(4, requires_grad=True)
        a = i.view_as(n.view(2, 2))
        b = n.view_as(i)
        return a.is_inference(), b.is_inference(), b.requires_grad

    compare(scenario)


def test_b69_inplace_on_normal_tensor_inside_inference_mode():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = x.clone()
        z = y * y
        with T.inference_mode():
            y.add_(1)
            x.add_(1)
        state = summary(y), y.is_inference(), x._version
        return state, outcome(lambda: z.sum().backward())

    result = compare(scenario)
    assert result[1][1].startswith("one of the variables needed")


def test_b70_b71_ops_and_views_of_normal_tensors_inside():
    def scenario(T):
        n = T.ones(2, 2, requires_grad=True)
        with T.inference_mode():
            out = n * 2
            v = n[0]
            vv = v[0:1]
            v_summary = summary(v), v._base is n, vv._base is n
        return summary(out), v_summary

    compare(scenario)


def test_b72_inference_view_modified_outside():
    def scenario(T):
        n = T.ones(2, 2, requires_grad=True).clone()
        plain = T.ones(2, 2)
        with T.inference_mode():
            v = n[0]
            pv = plain[0]
        error = outcome(lambda: v.mul_(2))
        pv.mul_(2)
        return error, plain.tolist(), (v * 2).is_inference()

    result = compare(scenario)
    assert result[0][1].startswith("A view was created in inference mode and is being modif")


def test_b73_base_modified_outside_after_inference_view():
    def scenario(T):
        n = T.ones(2, 2, requires_grad=True).clone()
        with T.inference_mode():
            v = n[0]
        n.add_(1)
        return outcome(lambda: v.grad_fn), "grad_fn=<Invalid>" in repr(v)

    compare(scenario)


def test_b30_b31_b111_flags_inside_inference_mode():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        with T.inference_mode():
            flags = [T.is_inference_mode_enabled(), T.is_grad_enabled()]
            with T.enable_grad():
                flags.append(T.is_grad_enabled())
                y = x * 2
                flags.append((y.requires_grad, y.is_inference()))
            with T.inference_mode(False):
                flags.append((T.is_inference_mode_enabled(), T.is_grad_enabled()))
                z = x * 2
                flags.append((z.requires_grad, z.is_inference()))
        flags.append((T.is_inference_mode_enabled(), T.is_grad_enabled()))
        return flags

    compare(scenario)


def test_b30_inference_mode_false_inside_no_grad_turns_grad_on():
    def scenario(T):
        with T.no_grad(), T.inference_mode(False):
            return T.is_grad_enabled(), T.is_inference_mode_enabled()

    compare(scenario)


def test_b54_backward_inside_inference_mode():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = (x * x).sum()
        with T.inference_mode():
            y.backward()
        g = x.grad
        return g.tolist(), g.is_inference(), outcome(lambda: g.zero_())

    compare(scenario)


def test_inference_mode_outputs_do_not_keep_graph_memory():
    x = tapegrad.ones(3, requires_grad=True)
    with tapegrad.inference_mode():
        y = (x * 2).exp()
    assert y.grad_fn is None
    assert y._vc is None


def test_detach_and_data_of_inference_tensors_can_be_updated_in_place():
    """Found by the soak fuzzer: torch gives them a version counter of their own."""
    def scenario(T):
        with T.inference_mode():
            t = T.tensor([0.1, 0.2], requires_grad=True)
        results = []
        for alias in (t.data, t.detach()):
            alias.add_(1)
            results.append((alias.is_inference(), alias._version, alias.requires_grad))
        return results, outcome(lambda: t.add_(1))[0]

    compare(scenario)


def test_cat_with_an_inference_leaf_and_a_normal_tensor_records():
    """Found by the soak fuzzer: cat promotes dtypes itself, so the inference leaf counts."""
    def scenario(T):
        with T.inference_mode():
            leaf = T.tensor([[1.0, 2.0]], requires_grad=True)
        out = T.cat([leaf, T.tensor([[3.0, 4.0]], dtype=T.float64)])
        return out.requires_grad, type(out.grad_fn).__name__, str(out.dtype).split(".")[-1]

    compare(scenario)


def test_addcmul_inplace_with_inference_operands_must_save_them():
    """Found by the final soak: addcmul_/addcdiv_ are one op that saves its operands."""
    def scenario(T):
        target = T.tensor([0.1, 0.2, 0.3], dtype=T.float64)
        with T.inference_mode():
            leaf = T.tensor([0.1, 0.2, 0.3], dtype=T.float64).requires_grad_()
        return (outcome(lambda: target.addcmul_(leaf, leaf)),
                outcome(lambda: target.addcdiv_(leaf, leaf + 1)), target.tolist())

    compare(scenario)
