"""Differential fuzzing against torch 2.13, bounded for CI, and the disagreements it found.

The properties run random programs (``tests/fuzzing``) on tapegrad and on torch and compare
everything a user can observe after every step. The profile is fixed (derandomized, no
deadline, no example database), so CI always runs the same programs; ``scripts/soak.py``
runs the same properties for as long as asked, with fresh seeds.

Each disagreement found became a strict-xfail test below ("core bug: ..."); the generator
steers clear of it (``tests/fuzzing/generator.py::KNOWN_BUGS`` names the test) until the
fix lands and the mark is removed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import tapegrad
from tests.fuzzing import Program, Step, first_difference, programs, run
from tests.fuzzing.generator import KNOWN_BUGS
from tests.fuzzing.oracle import compare, describe, on_both, outcome, warned
from tests.fuzzing.runner import CI_SETTINGS, FuzzFailure, assert_agrees, check
from tests.test_function import make_double_

torch = pytest.importorskip("torch")


# -- the properties (CI-bounded) -------------------------------------------------------------
@settings(CI_SETTINGS, max_examples=400)
@given(programs("mixed"))
def test_random_programs_agree_with_torch(program: Program) -> None:
    assert_agrees(program)


@settings(CI_SETTINGS, max_examples=300)
@given(programs("views_inplace"))
def test_views_and_inplace_programs_agree_with_torch(program: Program) -> None:
    assert_agrees(program)


@settings(CI_SETTINGS, max_examples=300)
@given(programs("higher_order"))
def test_higher_order_programs_agree_with_torch(program: Program) -> None:
    assert_agrees(program)


@settings(CI_SETTINGS, max_examples=300)
@given(programs("modes"))
def test_mode_switching_programs_agree_with_torch(program: Program) -> None:
    assert_agrees(program)


# -- the harness can fail ----------------------------------------------------------------------
def _program(*lines: str) -> Program:
    """A program from ``name = expression`` / ``expression`` lines (no mode blocks)."""
    steps = []
    names: list[str] = []
    for line in lines:
        name, _, code = line.partition(" = ") if " = " in line.split("(")[0] else ("", "", line)
        refs = tuple(n for n in names if n in code)
        steps.append(Step("eval", code, (name,) if name else (), refs, family="backward"
                          if "backward" in code else "op"))
        if name:
            names.append(name)
    return Program(tuple(steps))


def test_a_wrong_gradient_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    program = _program("v0 = T.tensor([0.5, -1.0], requires_grad=True)", "v1 = v0.tanh()",
                       "v1.sum().backward()")
    assert check(program) is None
    # same values, but no graph: requires_grad, grad_fn and the gradient now differ
    monkeypatch.setattr(tapegrad.Tensor, "tanh",
                        lambda self: tapegrad.tensor(np.tanh(self.detach().numpy())))
    difference = check(program)
    assert difference is not None
    assert difference.index == 1
    with pytest.raises(FuzzFailure, match="tapegrad and torch disagree"):
        assert_agrees(program)


def test_exception_types_and_values_are_compared() -> None:
    indexing = _program("v0 = T.ones(2)", "v1 = v0[5]")
    viewing = _program("v0 = T.ones(2)", "v1 = v0.view(7)")
    assert first_difference(run(indexing, tapegrad), run(indexing, torch)) is None
    found = first_difference(run(indexing, tapegrad), run(viewing, torch))
    assert found is not None
    assert "IndexError" in found.detail
    assert "RuntimeError" in found.detail
    other_data = _program("v0 = T.ones(2) * 1.001", "v1 = v0[5]")
    found = first_difference(run(indexing, tapegrad), run(other_data, torch))
    assert found is not None
    assert "values" in found.detail


def test_the_interpreter_leaves_the_modes_as_they_were() -> None:
    program = _program("v0 = T.set_grad_enabled(False)", "v1 = T.ones(2, requires_grad=True)",
                       "v2 = v1 * 2")
    assert check(program) is None
    assert tapegrad.is_grad_enabled()
    assert torch.is_grad_enabled()


@settings(CI_SETTINGS, max_examples=30)
@given(programs("views_inplace", include_known=True))
def test_known_bugs_are_still_generated_when_asked(program: Program) -> None:
    """The known-bug switches only steer the generator: programs stay well-formed."""
    assert all(step.code or step.kind == "exit" for step in program.steps)


def test_every_known_bug_names_an_existing_test() -> None:
    import pathlib

    root = pathlib.Path(__file__).parent
    for bug, where in KNOWN_BUGS.items():
        file, _, name = where.partition("::")
        assert f"def {name.split('[')[0]}(" in (root / file).read_text(), bug
        if "[" in name:
            assert name.split("[")[1].rstrip("]") in (root / file).read_text(), bug


# -- disagreements the fuzzer found --------------------------------------------------------
# Core bugs are strict xfails until fixed; the ones without a mark were fixed meanwhile and
# stay as regression tests.
def test_inplace_on_an_empty_tensor() -> None:
    def scenario(T):
        x = T.zeros(2, 0)
        mask = T.tensor([False, False, False])
        return (outcome(lambda: tuple(x.mul_(2).shape)),
                outcome(lambda: tuple(T.zeros(0, 2).t().add_(1).shape)),
                outcome(lambda: tuple(T.ones(3, 2)[mask].exp_().shape)))

    compare(scenario)


def test_inplace_on_an_expand_that_repeats_nothing() -> None:
    def scenario(T):
        x = T.tensor(1.0)
        x.expand(1).add_(1)
        y = T.ones(1, 3)
        y.expand(1, 3).mul_(2)
        return describe(x), describe(y)

    compare(scenario)


def test_inplace_through_a_view_of_a_view_leaf() -> None:
    def scenario(T):
        base = T.zeros(2, 3)
        leaf = base.t().requires_grad_()  # a leaf that requires grad and is a view
        error = outcome(lambda: leaf.__setitem__(0, 1.0))
        return error, describe(leaf), describe(base)

    result = compare(scenario)
    assert result[0][1].startswith("a view of a leaf Variable")


def test_no_grad_view_of_a_view_leaf_does_not_require_grad() -> None:
    def scenario(T):
        leaf = T.zeros(2, 3).t().requires_grad_()
        with T.no_grad():
            v = leaf[0]
        with T.inference_mode():
            w = leaf[1]
        return v.requires_grad, w.requires_grad

    compare(scenario)


def test_views_of_a_view_leaf_follow_the_root_base() -> None:
    """Views of a view-leaf are views of its root: in-place rules and refreshes use the root."""

    def scenario(T):
        leaf = T.zeros(2, 3).t().requires_grad_()
        with T.no_grad():
            quiet = leaf[0]
        written = outcome(lambda: (quiet.add_(1), None)[1])  # allowed: nothing requires grad
        v = leaf[1]
        with T.no_grad():
            leaf.mul_(2)  # v is stale: regenerated from the root, which has no edge
        names = [type(n).__name__ if n is not None else None
                 for n, _ in v.grad_fn.next_functions]
        (v * 1).sum().backward()
        return (written, describe(quiet), names, describe(leaf),
                describe(leaf.grad, version=False))

    compare(scenario)


def test_a_stale_view_is_regenerated_once_its_base_requires_grad() -> None:
    def scenario(T):
        x = T.zeros(3)
        v = x[0:2]
        x.add_(1)
        before = v.grad_fn is None  # nothing to regenerate yet: v stays stale
        x.requires_grad_()
        return before, v.grad_fn is None, v.is_leaf, v.requires_grad

    compare(scenario)


def test_retain_grad_is_a_no_op_on_a_view_without_a_node() -> None:
    def scenario(T):
        results = []
        for write in ("base", "view"):
            x = T.zeros(3)
            v = x[0:2]
            y = T.ones(3 if write == "base" else 2, requires_grad=True)
            (x if write == "base" else v).add_(y)
            v.retain_grad()  # torch looks at the node v has now, which the base write left empty
            retains = v.retains_grad
            (v * 2).sum().backward()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append((retains, describe(v.grad, version=False),
                                describe(y.grad, version=False)))
        return results

    compare(scenario)


def test_inplace_on_an_inference_mode_view_requiring_grad() -> None:
    def scenario(T):
        x = T.zeros(3)
        with T.inference_mode():
            v = x[0:2]
            w = x[1:]
        w.requires_grad_()
        return (outcome(lambda: v.add_(T.ones(2, requires_grad=True))),
                outcome(lambda: w.add_(1)), outcome(lambda: v.add_(1).tolist()), describe(x))

    compare(scenario)


def test_view_requires_grad_once_its_base_does() -> None:
    def scenario(T):
        x = T.zeros(3)
        v = x[1:]
        x.requires_grad_()
        y = v * 2
        after = (v.requires_grad, v.is_leaf, y.requires_grad)
        backward = outcome(lambda: y.sum().backward())
        z = T.ones(3, requires_grad=True)
        with T.no_grad():
            w = z.unsqueeze(0)
        w.requires_grad_(False)  # a no_grad view keeps following its base (spec B82)
        return after, backward, w.requires_grad

    compare(scenario)


def test_reductions_over_an_empty_dim() -> None:
    def scenario(T):
        x = T.zeros(0)
        return (outcome(lambda: x.amin(0)), outcome(lambda: x.amax(0)),
                outcome(lambda: describe(x.logsumexp(0))),
                outcome(lambda: describe(x.softmax(0))),
                outcome(lambda: describe(T.zeros(2, 0).log_softmax(1))))

    compare(scenario)


def test_movedim_of_a_0d_tensor() -> None:
    def scenario(T):
        x = T.tensor(1.0, requires_grad=True)

        def backward_through_permute():
            y = x.permute(())
            y.backward()
            return describe(x.grad, version=False)

        return (outcome(lambda: describe(T.tensor(1.0).movedim(0, 0))),
                outcome(lambda: describe(T.tensor(1.0).movedim(-1, -1))),
                outcome(lambda: describe(T.tensor(1.0).movedim([], []))),
                outcome(backward_through_permute))

    compare(scenario)


def test_var_and_std_warn_without_degrees_of_freedom() -> None:
    def scenario(T):
        return (warned(lambda: describe(T.ones(1).std())),
                warned(lambda: describe(T.ones(2, 1).var(1))),
                warned(lambda: describe(T.ones(0).var())))

    compare(scenario)


def test_reading_grad_of_a_non_leaf_warns() -> None:
    """torch warns when ``.grad`` is None on a tensor whose (raw, not regenerated) grad_fn is
    set and that does not retain its grad."""

    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = x * 2
        b = T.ones(3)
        v = b[:2]
        b.requires_grad_()
        with T.no_grad():
            b.mul_(2)  # v is stale: its grad_fn is regenerated only when read
        r = x * 3
        r.retain_grad()
        with T.no_grad():
            nv = x[:1]
        (g,) = T.autograd.grad((x * x).sum(), [x], create_graph=True)
        seen = [warned(lambda t=t: t.grad) for t in (y, x[:1], v, r, nv, x, g)]
        seen.append(warned(lambda: (v.grad_fn, v.grad)[1]))
        return seen

    assert compare(scenario)[0] == (None, ("UserWarning",))


def test_matmul_with_a_1d_operand_is_not_a_view() -> None:
    def scenario(T):
        a = (T.ones(3) @ T.ones(3, 2))
        b = (T.ones(2, 2, 3) @ T.ones(3))
        return a._is_view(), b._is_view(), outcome(lambda: a.detach_() is a)

    compare(scenario)


def test_autograd_grad_returns_views_like_torch() -> None:
    def scenario(T):
        x = T.ones(3, requires_grad=True)
        (g,) = T.autograd.grad(x.sum(), [x])
        (h,) = T.autograd.grad(x.sum(), [x], create_graph=True)
        v = T.ones(2, requires_grad=True)
        a, b = T.autograd.grad(v.sum(), [v, v])  # one object for a repeated input
        y = T.ones(2, 1, 3, requires_grad=True)
        (s,) = T.autograd.grad(y.squeeze(0), [y], T.ones(2, 1, 3))  # a no-op: the seed
        z = T.tensor(0.5, requires_grad=True)
        (u,) = T.autograd.grad((v + z).sum(), [z])  # summed back to 0-d: a plain sum
        (c,) = T.autograd.grad(z.cumsum(0).sum(), [z])  # cumsum of one element: g itself
        return (g._is_view(), h._is_view(), a is b, a._is_view(), s._is_view(), u._is_view(),
                c._is_view(), y.sum_to_size(())._is_view(), y.sum_to_size(3)._is_view())

    compare(scenario)


def test_gradient_layout_of_a_column_major_matmul_operand() -> None:
    """torch computes the gradient of a column-major (transposed) ``mm`` operand as a
    transposed product, so it comes out as a view in the operand's layout."""

    def scenario(T):
        a = T.arange(6.0).reshape(3, 2).t().requires_grad_()
        b = T.arange(6.0).reshape(3, 2).requires_grad_()
        c = T.arange(6.0).reshape(2, 3).t().requires_grad_()
        ga, gb = T.autograd.grad((a @ b).sum(), [a, b])
        (gc,) = T.autograd.grad((a @ c).sum(), [c])
        base = T.arange(30.0).reshape(5, 6)
        # not column-major for torch: strided columns, sliced rows, a (k, 1) column
        odd = [base.t()[:, ::2], base.t()[:3], T.ones(3, 1), T.ones(3, 1).t()]
        leaves = [o.detach().requires_grad_() for o in odd]
        grads = [T.autograd.grad((o @ T.ones(o.shape[1], 2)).sum(), [o])[0] for o in leaves]
        return [(g._is_view(), g.stride(), g.tolist()) for g in (ga, gb, gc, *grads)]

    compare(scenario)


MATMUL_SHAPES = [((2, 1, 3), (2, 3, 2)), ((3, 4), (2, 4, 5)), ((2, 1, 2, 3), (4, 3, 2)),
                 ((2, 3, 4), (4, 5)), ((1, 2, 3), (5, 3, 2)), ((2, 2, 3), (1, 3, 4)),
                 ((3,), (2, 3, 2)), ((2, 2, 3), (3,)), ((1, 2, 3), (1, 1, 3, 2)),
                 ((2, 1, 2, 3), (1, 3, 2)), ((0, 2, 3), (3, 2)), ((2, 0, 3), (2, 3, 4))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)])
def test_gradients_through_a_batched_matmul_are_views_like_torch(
        shapes: tuple[tuple[int, ...], tuple[int, ...]], needs: tuple[bool, bool]) -> None:
    """torch runs a batched matmul as expand + reshape + bmm (or folds a batch into one mm or
    mv, squeezing a 3-d operand's batch of 1 that needs a gradient), so an operand's gradient
    comes back through a reshape, a squeeze or a transpose: a view. Formerly a known bug."""

    def scenario(T):
        a = T.arange(float(np.prod(shapes[0])), dtype=T.float64).reshape(shapes[0])
        b = T.arange(float(np.prod(shapes[1])), dtype=T.float64).reshape(shapes[1]).div(7)
        a.requires_grad_(needs[0])
        b.requires_grad_(needs[1])
        y = a @ b
        wanted = [t for t in (a, b) if t.requires_grad]
        grads = T.autograd.grad((y * y).sum(), wanted)
        return describe(y), y.stride(), [(describe(g), g._is_view(), g.stride()) for g in grads]

    compare(scenario)


def test_batched_matmul_errors_name_the_product_that_refuses() -> None:
    def scenario(T):
        pairs = [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 2)), ((2, 2, 3), (3,)),
                 ((2, 2, 3), (2, 3, 2)), ((3,), (2, 3, 2)), ((2, 3), (2, 3, 2))]
        mixed = [outcome(lambda a=a, b=b: T.ones(a) @ T.ones(b, dtype=T.float64), 100)
                 for a, b in pairs]
        return mixed, outcome(lambda: T.ones(2, 2, 3) @ T.ones(3, 3, 2), 100)

    compare(scenario)


def test_masked_fill_broadcasts_like_torch() -> None:
    def scenario(T):
        mask = T.ones(2, 3) > 0
        return (outcome(lambda: describe(T.zeros(3).masked_fill(mask, 2.0))),
                outcome(lambda: T.zeros(3).masked_fill_(mask, 2.0)))

    compare(scenario)


def test_detach__inside_inference_mode() -> None:
    def scenario(T):
        view = T.zeros(2, 3).t()
        with T.inference_mode():
            on_view = outcome(lambda: view.detach_() is view)
            leaf = T.ones(2)[::1].requires_grad_()
            leaf.detach_()
        return on_view, leaf.requires_grad

    compare(scenario)


def test_inplace_with_a_partially_overlapping_operand() -> None:
    def scenario(T):
        results = []
        for write in (lambda x: x.add_(x.t()), lambda x: x.copy_(x.t()),
                      lambda x: x[1:].add_(x[:1]), lambda x: x.__setitem__(slice(1, None),
                                                                           x[:1]),
                      lambda x: x.add_(x[0]), lambda x: x[0].add_(x[:, 0]),  # strided: unchecked
                      lambda x: x.mul_(x.view(2, 2)), lambda x: x.view(1, 4).add_(x.view(4)),
                      lambda x: x.view(4)[:2].__setitem__(Ellipsis, x[0, 1]),  # expanded first
                      lambda x: x.view(4)[:2].copy_(x.view(4)[1:3]),
                      lambda x: x.fill_(x[0, 1]), lambda x: x[0].lerp_(x[1], x[0, :1]),
                      lambda x: x.index_put_((T.tensor([0, 1]),), x),  # full aliasing too
                      lambda x: x.scatter_(0, T.tensor([[1, 0]]), x[:1])):
            x = T.arange(4.0).reshape(2, 2)
            results.append((outcome(lambda x=x, write=write: (write(x), None)[1]), x.tolist()))
        return results

    result = compare(scenario)
    assert result[0][0][1].startswith("unsupported operation: some elements")


def test_inplace_operand_sharing_the_targets_memory_is_read_before_the_write() -> None:
    """Deliberate difference (README): an operand that shares the target's memory as other
    elements, where torch does not refuse it (a strided view: its overlap check gives up),
    is read before the write in tapegrad. torch's kernels read some operand values after
    writing them, in an order that depends on the layout and vectorisation. Found by the
    soak: ``v.add_(v.unbind(0)[0])`` and ``x.clamp_(x.select(1, 0))``."""

    def scenario(T):
        v = T.tensor([0.13, -0.13, 0.64, 0.1, -0.54, 0.36, 1.3, 0.95], dtype=T.float64)[::2]
        v.add_(v.unbind(0)[0])
        return v.tolist()

    ours, theirs = on_both(scenario)
    assert ours == pytest.approx([0.26, 0.77, -0.41, 1.43])  # every element + the old v[0]
    assert theirs == pytest.approx([0.26, 0.9, -0.28, 1.56])  # v[1:] + the new v[0]


@pytest.mark.parametrize("expression", [
    "x.clone()", "x.softmax(0)", "x.cumsum(0)", "2 ** x", "T.cat([x, x], 1)", "x.flip(0)",
    "x.index_put((T.tensor([0]),), T.tensor(2.0))", "x.log_softmax(1)", "x.exp()", "x + 1",
    "x + x.contiguous()", "x.contiguous() + x", "x.expand(2, 3, 2).exp()", "x[::2].clone()",
    "x.mean(1, keepdim=True)", "x.masked_fill(x > 1, 0.0)", "T.where(x > 1, x, 0.0)",
    "x.to(T.float64)", "x.sum(0)", "x > 1", "x.clone().contiguous()",
])
def test_result_layout_follows_torch(expression: str) -> None:
    def scenario(T):
        x = T.arange(6.0).reshape(2, 3).t()  # noqa: F841 (used by the expression)
        result = eval(expression)
        return (result.is_contiguous(), result.stride(), outcome(lambda: result.view(-1).shape),
                result.reshape(-1)._is_view(), result.flatten().stride())

    compare(scenario)


def test_cat_gives_empty_inputs_a_gradient() -> None:
    def scenario(T):
        x = T.zeros(0, requires_grad=True)
        w = T.ones(1, requires_grad=True)
        T.cat([x, w]).sum().backward()
        return describe(x.grad, version=False)

    compare(scenario)


@pytest.mark.parametrize("expression", ["x.relu()", "x.max(0).values", "T.relu(x)",
                                        "x[0].prod()", "T.nn.functional.leaky_relu(x)",
                                        "x.sort(0).values", "x.prod(0)"])
def test_create_graph_gradients_require_grad_like_torch(expression: str) -> None:
    def scenario(T):
        x = T.tensor([1.0, -1.0, 2.0], requires_grad=True)
        (g,) = T.autograd.grad(eval(expression).sum(), [x], create_graph=True)
        return g.requires_grad, g.grad_fn is not None

    compare(scenario)


# (op, which tensor is modified in place after the op) for every op the fuzzer generates:
# torch raises the version error exactly when its backward formula saved that tensor
_SAVED = [
    "x.exp()", "x.tanh()", "x.sigmoid()", "x.sin()", "x.cos()", "x.abs()", "x.sqrt()",
    "x.log()", "x.expm1()", "x.log1p()", "x.erf()", "x.rsqrt()", "x.square()", "x.neg()",
    "x.clamp(min=0.5, max=1.5)", "x.tan()", "x.log2()", "x.softmax(0)", "x.log_softmax(0)",
    "x.cumsum(0)", "x.sum()", "x.mean()", "x.prod()", "x.norm()", "x.var()", "x.std()",
    "x.amax()", "x.logsumexp(0)", "x + w", "x - w", "x * w", "x / w", "x ** 2", "x ** w",
    "T.maximum(x, w)", "T.minimum(x, w)", "T.where(x > 1, x, w)", "x.lerp(w, 0.3)",
    "x.addcmul(w, w)", "x.addcdiv(w, w)", "x @ w", "T.cat([x, w])", "x[T.tensor([0, 1])]",
    "x.index_select(0, T.tensor([1]))", "x.masked_fill(x > 1, 0.0)", "x.clone()",
    "x.flip(0)", "T.nn.functional.gelu(x)", "T.nn.functional.silu(x)",
    "T.nn.functional.softplus(x)", "x.expand(2, 3).sum(0)", "x.dot(w)", "T.outer(x, w)",
]
_SAVED += ["x.reciprocal()", "2 ** x", "2.0 / x"]  # found by the fuzzer, fixed in 69289d3
_SAVED_DIFFERENT = [
    ("x.gather(0, T.tensor([1]))", "input"), ("T.stack([x, w])", "input"),
    ("T.nn.functional.mse_loss(x, w)", "input"), ("T.nn.functional.leaky_relu(x)", "input"),
    ("x.max(0, keepdim=True).values", "output"), ("x ** w.detach()", "output"),
]


def _saved_scenario(expression: str, where: str):
    def scenario(T):
        x = T.tensor([0.3, 1.7, 0.9], requires_grad=True) * 1
        w = T.tensor([0.5, 2.5, 1.5], requires_grad=True)  # noqa: F841 (used by eval)
        y = eval(expression)
        with T.no_grad():
            (x if where == "input" else y).add_(1)
        return outcome(lambda: y.sum().backward(), length=40)

    return scenario


@pytest.mark.parametrize("where", ["input", "output"])
@pytest.mark.parametrize("expression", _SAVED)
def test_ops_save_what_torch_saves_where_they_agree(expression: str, where: str) -> None:
    """Regression guard for spec B96: the version error appears exactly as in torch."""
    ours, theirs = on_both(_saved_scenario(expression, where))
    assert (ours is None) == (theirs is None), (ours, theirs)


@pytest.mark.parametrize(("expression", "where"), _SAVED_DIFFERENT)
def test_ops_save_what_torch_saves(expression: str, where: str) -> None:
    ours, theirs = on_both(_saved_scenario(expression, where))
    assert (ours is None) == (theirs is None), (ours, theirs)


# torch saves an op's outputs, and inputs several formulas read, even for operands that need
# no gradient; an input only one formula reads is saved only if that gradient is needed
_SAVED_PARTIAL = ["x ** w", "x.addcdiv(v, w)", "v.clamp(x, w)", "x.div(w, rounding_mode='floor')",
                  "x.masked_select(w > 1)", "x.index_add(0, T.tensor([1]), w[:1])",
                  "x.sort(0).values", "x.topk(2).values", "x.max(0).values * w",
                  "T.nn.functional.mse_loss(x, w)", "x.mul(w)", "T.stack([x, w])"]


@pytest.mark.parametrize("w_grad", [True, False])
@pytest.mark.parametrize("where", ["x", "w", "v", "y"])
@pytest.mark.parametrize("expression", _SAVED_PARTIAL)
def test_ops_save_what_torch_saves_when_some_operands_need_no_gradient(
    expression: str, where: str, w_grad: bool
) -> None:
    def scenario(T):
        x = T.tensor([0.3, 1.7, 0.9], requires_grad=True) * 1
        w = T.tensor([0.5, 2.5, 1.5], requires_grad=w_grad) * 1
        v = T.tensor([0.2, 2.0, 1.2])
        y = eval(expression)
        with T.no_grad():
            {"x": x, "w": w, "v": v, "y": y}[where].add_(1)
        return outcome(lambda: y.sum().backward(), length=40)

    ours, theirs = on_both(scenario)
    assert (ours is None) == (theirs is None), (ours, theirs)


def test_gather_with_an_empty_index_of_another_rank() -> None:
    def scenario(T):
        x = T.zeros(2, 0, 1, requires_grad=True)
        w = T.ones(2, 3, requires_grad=True)
        y = x.gather(0, T.tensor([[]], dtype=T.int64))
        z = w.gather(1, T.zeros(0, dtype=T.int64))
        (y.sum() + z.sum()).backward()
        return describe(y), describe(z), describe(x.grad, version=False), describe(w.grad,
                                                                                   version=False)

    compare(scenario)


def test_stack_of_inference_tensors_is_a_view_of_their_cat() -> None:
    """torch's decomposition for inference operands (outside inference mode) views a cat."""

    def scenario(T):
        with T.inference_mode():
            a, b = T.ones(2, 3), T.zeros(2, 3)
        results = []
        for dim in (0, 1, -1):
            s = T.stack([a, b], dim)
            results.append((describe(s), s._is_view(),
                            None if s._base is None else tuple(s._base.shape)))
        return results

    compare(scenario)


def test_batched_matmul_saves_a_folded_copy() -> None:
    """torch computes (B, n, k) @ (k, m) as a reshape to (B*n, k): for a non-contiguous
    operand that reshape is a copy, and the copy is what gets saved, so a later in-place
    change of the operand does not break the backward."""

    def scenario(T):
        a = T.arange(12.0).reshape(2, 2, 3).transpose(-1, -2)
        w = T.ones(2, 2, requires_grad=True)
        y = (a @ w).sum()
        with T.no_grad():
            a.zero_()
        first = outcome(y.backward), describe(w.grad, version=False)
        with T.inference_mode():  # the saved copy is a normal tensor: no inference error
            b = T.arange(12.0).reshape(2, 2, 3).transpose(-1, -2) * 1
        return first, outcome(lambda: describe(b @ w))

    compare(scenario)


def test_clamp__with_tensor_bounds_keeps_the_original() -> None:
    def scenario(T):
        x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a = x * 1
        b = T.tensor([0.5, 2.5, 1.5], requires_grad=True)
        a.clamp_(b, None)
        a.sum().backward()
        return describe(x.grad, version=False), describe(b.grad, version=False)

    compare(scenario)


def test_turning_requires_grad_off_after_use() -> None:
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = x * 2
        x.requires_grad_(False)
        y.sum().backward()  # torch: AccumulateGrad skips a leaf that no longer requires grad
        z = T.ones(2, requires_grad=True)
        v = z[0:1]
        z.requires_grad_(False)
        return describe(x.grad, version=False), outcome(lambda: v.mul_(2)), describe(z)

    compare(scenario)


def test_setitem_on_a_stale_no_grad_view() -> None:
    def scenario(T):
        x = T.tensor(1.5, requires_grad=True)
        with T.no_grad():
            v = x.transpose(0, -1)
            v.copy_(T.tensor(2.0))
        return outcome(lambda: v.__setitem__(slice(1, None), 0.5))

    compare(scenario)


def test_ops_on_a_stale_no_grad_view_refuse_before_checking_arguments() -> None:
    """torch collects an op's input edges (regenerating a stale view) before running it.

    Composite ops (narrow, flatten, movedim) check their arguments first; without grad mode
    nothing is collected, so the argument errors come first.
    """

    def scenario(T):
        x = T.ones(2, 3, requires_grad=True)
        with T.no_grad():
            v = x[:]
            x.mul_(2)
        ops = (
            lambda v: v.sum(5), lambda v: v.transpose(0, 5), lambda v: v.select(0, 7),
            lambda v: v.index_select(0, T.tensor([5])), lambda v: v.view(7),
            lambda v: v.mean(5), lambda v: v.amax(5), lambda v: v.max(5), lambda v: v.sum((0, 0)),
            lambda v: v.narrow(5, 0, 1), lambda v: v.narrow(0, 0, 9), lambda v: v.unsqueeze(5),
            lambda v: v.permute(0, 5), lambda v: v.permute(0, 0), lambda v: v.reshape(7),
            lambda v: v.expand(4), lambda v: v.expand(4, 3), lambda v: v.squeeze(5),
            lambda v: v.flatten(5), lambda v: v.movedim(5, 0), lambda v: v.split(1, 5),
            lambda v: v.softmax(5), lambda v: v.gather(5, T.zeros(2, 3, dtype=T.long)),
            lambda v: v + T.ones(4))
        with_grad = [outcome(lambda op=op: op(v)) for op in ops]
        with T.no_grad():
            without = [outcome(lambda op=op: op(v)) for op in ops]
        return with_grad, without

    compare(scenario)


def test_a_leaf_given_a_node_refuses_its_old_gradient() -> None:
    def scenario(T):
        x = T.zeros(3).requires_grad_()
        out = (x * 2).sum()
        x.requires_grad_(False)
        x.add_(T.ones(3, requires_grad=True))  # x is no longer a leaf
        moved = outcome(lambda: out.backward())
        base = T.zeros(3)
        a = base[0:2].requires_grad_()
        other = (a * 2).sum()
        base[1:3].add_(T.ones(2, requires_grad=True))  # a's root gains a node: so does a
        return moved, describe(x), outcome(lambda: other.backward()), describe(a)

    compare(scenario)


def test_function_marking_a_view_leaf_or_its_views_dirty() -> None:
    def scenario(T):
        Double = make_double_(T)  # doubles its input in place and marks it dirty
        x = T.ones(3, requires_grad=True)
        with T.no_grad():
            quiet = x[0:2]  # a leaf requiring grad, through its base
        leaf = T.zeros(2, 3).t().requires_grad_()
        return [outcome(lambda t=t: describe(Double.apply(t)))
                for t in (quiet, leaf, leaf[0])], describe(x), describe(leaf)

    compare(scenario)


def test_multi_output_views_of_a_view_leaf() -> None:
    def scenario(T):
        leaf = T.zeros(2, 3).t().requires_grad_()
        parts = leaf.unbind(0)
        with T.no_grad():
            quiet = leaf.split(1)
        return (describe(parts), outcome(lambda: parts[0].add_(1)), describe(quiet),
                outcome(lambda: quiet[0].add_(1).tolist()), describe(leaf))

    compare(scenario)


def test_bare_index_errors_of_a_0d_tensor() -> None:
    def scenario(T):
        x = T.tensor(1.5, requires_grad=True)
        with T.no_grad():
            stale = x[...]
            x.mul_(2)
        return [(outcome(lambda t=t, key=key: t[key]),
                 outcome(lambda t=t, key=key: t.__setitem__(key, 0.5)))
                for t in (T.tensor(1.5), stale)
                for key in (slice(1, None), slice(None), 0, (0,), (slice(None),), slice(0, 1, -1))]

    compare(scenario)


def test_clamp_with_tensor_bounds_at_ties() -> None:
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        low = T.tensor([1.0, 3.0], requires_grad=True)
        high = T.tensor([1.0, 3.0], requires_grad=True)
        (x.clamp(low, None) + x.clamp(None, high)).sum().backward()
        return tuple(describe(t.grad, version=False) for t in (x, low, high))

    compare(scenario)


def _written_through_a_view(T, x):
    z = T.zeros(4, dtype=x.dtype)
    z[1:] = x
    return z


@pytest.mark.parametrize("expression", ["x * 2.0", "x / 4", "x.mul(3)", "x[T.tensor([0, 1])]",
                                        "x[x > 1]", "x.index_put((T.tensor([0]),), T.ones(1))",
                                        "_written_through_a_view(T, x)"])
def test_second_backward_through_saved_operands(expression: str) -> None:
    """torch saves these operands (as SavedVariables), and its CopySlices node releases what
    it holds: a second backward without retain_graph raises "backward through the graph a
    second time"; tapegrad runs it."""

    def scenario(T):
        x = T.tensor([0.5, 1.5, 2.5], requires_grad=True).clone()  # noqa: F841 (eval)
        y = eval(expression).sum()
        y.backward()
        return outcome(y.backward)

    result = compare(scenario)
    assert result[1].startswith("Trying to backward through the graph a second time")


def test_retain_grad_survives_a_view_refresh() -> None:
    def scenario(T):
        results = []
        for mode in (T.no_grad, T.enable_grad):
            x = T.ones(3, requires_grad=True).clone()
            v = x[:]
            v.retain_grad()
            with mode():
                x.add_(1)
            v.sum().backward()
            results.append(describe(v.grad, version=False))
        return results

    compare(scenario)


def test_inplace_with_itself_as_operand() -> None:
    def scenario(T):
        results = []
        for name in ("mul_", "div_", "pow_", "add_"):
            for alias in (lambda a: a, lambda a: a.view(2)):
                x = T.tensor([1.0, 2.0], requires_grad=True)
                a = x * 1
                getattr(a, name)(alias(a))
                results.append(outcome(lambda a=a: a.sum().backward(), length=40))
                results.append(describe(x.grad, version=False))
        x = T.tensor([1.0, 2.0], requires_grad=True)
        a = x * 1
        a[0].mul_(a[0])  # through a view: the CopySlices' op saved the operand too
        results.append(outcome(lambda: a.sum().backward(), length=40))
        return results

    compare(scenario)


def test_sign_of_nan_is_zero() -> None:
    compare(lambda T: describe(T.tensor([float("nan"), -1.0, 0.0]).sign()))


def test_accumulating_into_an_inference_grad_outside_inference_mode() -> None:
    """Spec B54: the second backward must refuse; tapegrad refuses before writing (B64)."""

    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = (x * x).sum()
        with T.inference_mode():
            y.backward(retain_graph=True)
        return outcome(lambda: y.backward())

    result = compare(scenario)
    assert result[1].startswith("Inplace update to inference tensor outside InferenceMode")
    x = tapegrad.ones(2, requires_grad=True)
    y = (x * x).sum()
    with tapegrad.inference_mode():
        y.backward(retain_graph=True)
    with pytest.raises(RuntimeError):
        y.backward()
    assert x.grad.tolist() == [2.0, 2.0]  # deliberate difference: refused before writing


def test_detach__of_a_saved_leaf() -> None:
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        y = x.sin()
        x.detach_()
        return outcome(lambda: y.sum().backward()), describe(x.grad, version=False)

    compare(scenario)


def test_create_graph_backward_stores_a_copy_in_grad() -> None:
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        g = T.tensor([1.0, 2.0])
        z = T.ones(2, requires_grad=True)
        y = z * 1
        y.retain_grad()
        h = T.tensor([3.0, 4.0], requires_grad=True)
        with warnings.catch_warnings():  # torch warns once per process, tapegrad every time
            warnings.simplefilter("ignore")
            x.backward(g, create_graph=True)
            y.backward(h * 1, create_graph=True)
        with T.no_grad():
            g.mul_(10)
            h.mul_(10)
        return tuple(describe(t.grad, version=False) for t in (x, y, z))

    compare(scenario)


def test_gradients_of_extrema_with_nan() -> None:
    def scenario(T):
        results = []
        for expression in ("x.min()", "x.max()", "T.maximum(x, x.detach() * 0)",
                           "T.minimum(x, x.detach() * 0)"):
            x = T.tensor([float("nan"), 1.0, float("nan")], requires_grad=True)
            eval(expression).sum().backward()
            results.append(describe(x.grad, version=False))
        return results

    compare(scenario)


def test_retain_grad_on_a_stale_no_grad_view() -> None:
    def scenario(T):
        x = T.ones(1, 3, requires_grad=True)
        with T.no_grad():
            v = x.view(-1)
            x[:1] = 2.0
        return outcome(v.retain_grad), outcome(lambda: v.grad_fn)

    compare(scenario)


def test_requires_grad_of_a_stale_view() -> None:
    """torch decides leaf-ness by the node a view has now, without regenerating it."""

    def scenario(T):
        results = []
        for flag in (False, True):
            x = T.ones(3, requires_grad=True)
            with T.no_grad():
                v = x.reshape(-1)
                x[0] = 2.0
                results.append(outcome(lambda v=v, flag=flag: v.requires_grad_(flag) is v))
            results.append(outcome(lambda v=v, flag=flag: setattr(v, "requires_grad", flag)))
            results.append(outcome(lambda v=v: v.requires_grad))
        y = T.zeros(3)
        w = y[0:2]
        y.add_(T.ones(3, requires_grad=True))  # w's node is empty until it is regenerated
        results.append(outcome(lambda: w.requires_grad_(False) is w))
        z = T.ones(3, requires_grad=True) * 1
        u = z[0:2]
        z.add_(1)
        results.append(outcome(lambda: u.requires_grad_(False)))
        return results, describe(w), describe(u)

    compare(scenario)


def test_index_tensors_count_as_normal_operands() -> None:
    """Spec B62: only ops whose operands are *all* inference tensors skip autograd. torch
    applies the basic items of a key first (views: plain inference tensors), and saves the
    index tensors of a recorded index (B66: inference ones are refused)."""

    def scenario(T):
        with T.inference_mode():
            x = T.ones(3, 2, requires_grad=True)
            i, v = T.tensor([0, 1]), T.tensor(2.0)
        j, w = T.tensor([1, 0]), T.tensor(3.0)
        mask = T.tensor([True, False, True])
        results = [outcome(lambda f=f: describe(f())) for f in (
            lambda: x[j], lambda: x[mask], lambda: x[[0, 2]], lambda: x[:, j], lambda: x[0:9, j],
            lambda: x[..., j], lambda: x[1:, j], lambda: x[j, 0], lambda: x[None, j],
            lambda: x[True], lambda: x[i], lambda: x[i, j], lambda: x.index_select(0, j),
            lambda: T.ones(3, requires_grad=True)[i], lambda: x.index_put((j,), v),
            lambda: x.index_put((j,), w), lambda: x.index_put((i,), v),
            lambda: x.index_put((i,), w))]
        # all-inference operands: torch's kernel clones and writes in place (version 2)
        results.append(describe(x.detach().index_put((i,), v), version=False))
        (x[j] * 2).sum().backward()
        return results, describe(x.grad, version=False)

    compare(scenario)


def test_lerp_with_infinities() -> None:
    """torch computes ``end - (end - start) * (1 - weight)`` for weight >= 0.5."""

    def scenario(T):
        inf, one = T.tensor([float("inf")]), T.tensor([1.0])
        return [describe(t) for t in (inf.lerp(one, 0.5), inf.lerp(one, 0.3),
                                      one.lerp(inf, 0.7))]

    compare(scenario)


def test_create_graph_with_empty_tensors() -> None:
    """torch gives a legacy empty (0,) input of cat a plain ``zeros(0)`` gradient, so with
    create_graph its accumulated ``.grad`` does not require grad."""

    def scenario(T):
        x = T.zeros(0, requires_grad=True)
        (x * x).sum().backward()
        w = T.tensor([1.5, -0.5], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (T.cat([x, w]) ** 2).sum().backward(create_graph=True)
        return x.grad.requires_grad, w.grad.requires_grad

    compare(scenario)


def test_autograd_grad_with_a_repeated_input() -> None:
    """torch returns the very same tensor for each occurrence of a repeated input."""

    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        a, b = T.autograd.grad((x * x).sum(), [x, x])
        with T.no_grad():
            a.add_(1)
        return a is b, describe(b, version=False)

    compare(scenario)


def test_fill_and_zero_of_an_expanded_tensor() -> None:
    """torch checks internal overlap for computed writes only: filling is allowed (masked_fill_
    with a deprecation warning), and so is ``v.copy_(v)``; add_/mul_ are refused in both."""

    def scenario(T):
        results = []
        mask = T.tensor([[False, True, False], [True, False, False]])
        for write in (lambda v: v.zero_(), lambda v: v.fill_(1.5),
                      lambda v: v.masked_fill_(v > 0, 1.0), lambda v: v.copy_(v),
                      lambda v: v.add_(1), lambda v: v.masked_fill_(mask, 2.0),
                      lambda v: v.fill_(T.tensor(2.0)), lambda v: v.__setitem__(0, 2.0),
                      lambda v: v.__setitem__((slice(None), 0), 2.0),
                      lambda v: v.__setitem__(mask, 3.0),
                      lambda v: v.index_put_((T.tensor([1]),), T.tensor([4.0, 5.0, 6.0]))):
            x = T.tensor([0.5, -0.5, 1.5])
            results.append((warned(lambda x=x, write=write: (write(x.expand(2, 3)), None)[1]),
                            x.tolist()))
        return results

    compare(scenario)


def test_prod_over_a_dim_of_a_0d_tensor() -> None:
    def scenario(T):
        results = []
        for keepdim in (False, True):
            x = T.tensor(0.5, requires_grad=True)
            results.append(outcome(lambda x=x, k=keepdim: describe(
                T.autograd.grad(x.prod(0, keepdim=k), [x]))))
        return results

    compare(scenario)


def test_copies_of_an_inference_tensor_requiring_grad() -> None:
    """Spec B62 has exceptions in torch: ``clone`` and dtype-changing ``to`` are built from
    ``copy_`` into a normal tensor, which records a graph for an inference leaf that
    requires grad. (torch's copy_ leaves them at version 1; tapegrad, as for its other
    in-place kernels, at 0: see tests/fuzzing/interpreter.py.)"""

    def scenario(T):
        with T.inference_mode():
            x = T.tensor([0.5, -0.5], dtype=T.float64).requires_grad_()
            m = T.ones(2, 3).t().requires_grad_()  # not contiguous
            n = T.ones(2)
        results = [describe(y, version=False) for y in (
            x.clone(), x.float(), x.to(T.float32), x.long(), x.type_as(T.ones(1)), x.double(),
            m.contiguous(), m.reshape(6), n.clone(), n.double())]
        with T.no_grad():
            results.append(describe(x.clone(), version=False))
        (x.float() * x.clone()).sum().backward()
        return results, describe(x.grad, version=False)

    compare(scenario)


def test_mean_of_an_inference_tensor_requiring_grad() -> None:
    """Deliberate difference (README): torch 2.13 refuses ``mean``, ``var``, ``std``,
    ``logsumexp``, ``abs`` and ``number ** x`` of an inference tensor that requires grad,
    outside inference mode, with an internal "<op>(): functions with out=... arguments"
    error (they are built on out= variants), and ``mv`` of two such tensors with "Inference
    tensors cannot be saved"; tapegrad computes them, as torch does ``sum`` and ``mm``.
    This test notices when either side changes."""

    def scenario(T):
        with T.inference_mode():
            x = T.tensor([0.5, -0.5, 1.5], dtype=T.float64).requires_grad_()
            one = T.tensor([0.5], dtype=T.float64).requires_grad_()
            matrix = T.ones(2, 3, dtype=T.float64).requires_grad_()
        return [outcome(lambda f=f: describe(f(x))) for f in
                (lambda t: t.mean(0), lambda t: t.var(), lambda t: t.sum(0),
                 lambda t: t.abs(), lambda t: t.logsumexp(0), lambda t: 2 ** t)] + [
            outcome(lambda: describe(one.norm(dim=0, keepdim=True))),
            outcome(lambda: describe(matrix @ x), 90), outcome(lambda: describe(matrix.mv(x)))]

    ours, theirs = on_both(scenario)
    # found by soak 10: mv writes into a fresh tensor, which then saves both inference tensors
    assert theirs[7][1].startswith("Inference tensors cannot be saved for backward")
    assert ours[7] == ours[8] == ([1.5, 1.5], (2,), "float64", False, False, 0)
    assert theirs[6][1].startswith("abs(): functions with out=")  # found by a soak
    assert not isinstance(ours[6][0], str)
    assert theirs[5][1].startswith("pow(): functions with out=")  # found by the final soak
    assert not isinstance(ours[5][0], str)
    assert theirs[0][1].startswith("sum(): functions with out=... arguments")
    assert ours[0] == (0.5, (), "float64", False, False, 0)
    assert ours[2][:5] == theirs[2][:5]  # (torch builds its sum in place: version 1)
    assert theirs[3][1].startswith("abs(): functions with out=")
    assert theirs[4][1].startswith("logsumexp(): functions with out=")
    assert not isinstance(ours[3][0], str)


def test_inplace_on_a_detached_inference_tensor() -> None:
    """torch refuses an in-place update of an inference tensor outside inference mode (spec
    B63) but lets one through ``t.detach()`` (and ``t.data``), writing ``t``'s storage; found
    by the soak run, fixed in adde18b to follow torch."""

    def scenario(T):
        with T.inference_mode():
            t = T.ones(3)
        d = t.detach()
        return d.is_inference(), outcome(lambda: (d.add_(1), None)[1]), t.tolist()

    assert compare(scenario) == (True, None, [2.0, 2.0, 2.0])


def test_setitem_value_overlapping_the_written_region() -> None:
    """Soak findings: torch's setitem strips the value's leading 1-dims and expands it, then
    copy_ refuses a partial overlap comparing every stride (a 0-d value goes to fill_,
    which does not check); nothing is written or bumped when it refuses."""
    keys = [np.s_[::2], np.s_[None], np.s_[:, None], np.s_[..., ::2], np.s_[:], np.s_[...],
            np.s_[0], np.s_[:1, :1], np.s_[1:], np.s_[:1], np.s_[0, :1]]

    def scenario(T):
        results = []
        for shape in ((1,), (3,), (1, 3), (2, 3)):
            for key in keys:
                for source in ("self", "first", "row", "scalar"):
                    v = T.arange(float(np.prod(shape)), dtype=T.float64).reshape(shape)
                    value = {"self": v, "first": v[:1], "row": v[0],
                             "scalar": v.reshape(-1)[0]}[source]
                    results.append((shape, key, source, outcome(
                        lambda v=v, key=key, value=value: v.__setitem__(key, value)),
                        v.tolist(), v._version))
        base = T.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=T.float64, requires_grad=True).neg()
        for key in (np.s_[1:], np.s_[:1], np.s_[0], np.s_[:]):
            wide = base.expand(2, 2, 3)
            results.append(outcome(lambda wide=wide, key=key: wide.__setitem__(key, base)))
            results.append(describe(base))
        return results

    compare(scenario)


def test_setitem_with_full_slices_writes_the_tensor_itself() -> None:
    """Soak finding: ``v[:1] = 2.0`` on a length-1 dim (or ``v[:]``, ``v[...]``) makes no
    view in torch, so the fill's node is v's own (no CopySlices); the grad that reaches v's
    inputs through it then does not require grad under create_graph."""

    def scenario(T):
        results = []
        for key in (np.s_[:1], np.s_[0], np.s_[:], np.s_[...], np.s_[..., :], np.s_[-9:]):
            v1 = T.ones((1, 3), dtype=T.float64).requires_grad_()
            v4 = v1.neg()
            v4[key] = 2.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # create_graph's reference-cycle warning
                (v4 * v4).sum().backward(create_graph=True)
            results.append(describe(v1.grad, version=False))
            v1.grad = None
        a = T.ones(1, 3)
        wide = a.expand(2, 3)
        for key in (np.s_[:], np.s_[...]):
            results.append(outcome(lambda key=key: wide.__setitem__(key, 1.0)))
            results.append(outcome(lambda key=key: wide.__setitem__(key, wide)))
            results.append(a._version)
        return results

    compare(scenario)


def test_detach_of_an_inference_tensor() -> None:
    """Soak findings: ``detach_`` of an inference tensor skips torch's autograd kernel (a
    no-op, requires_grad kept, no view error); ``detach()`` inside inference mode stays an
    inference tensor that refuses in-place updates outside it."""

    def scenario(T):
        with T.inference_mode():
            a = T.tensor([1.0, 2.0]).requires_grad_()
            view = a[:1]
            b = T.tensor([1.0, 2.0])
            d = b.detach()
        with T.no_grad():
            first = outcome(lambda: a.detach_().requires_grad)
        return (first, a.requires_grad, outcome(lambda: view.detach_().requires_grad),
                d.is_inference(), outcome(lambda: (d.zero_(), None)[1]),
                outcome(lambda: (b.detach().zero_(), None)[1]), b.tolist())

    compare(scenario)


def test_retains_grad_of_a_stale_view_and_after_detach_() -> None:
    """Soak finding: torch's ``retains_grad`` reads the flag alone: no error for a view made
    stale by an in-place op on its base, and still True after ``detach_``."""

    def scenario(T):
        v0 = T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()
        v1, _, _ = v0.split(1, 0)
        with T.no_grad():
            v1.retain_grad()
            v0.zero_()
        x = v0.neg()
        x.retain_grad()
        x.detach_()
        return (outcome(lambda: v1.retains_grad), outcome(lambda: v1.grad), x.retains_grad,
                x.is_leaf)

    compare(scenario)


def test_inplace_operand_overlap_compares_size_one_strides() -> None:
    """Soak finding (3-min soak, seed 7): torch's partial-overlap check compares every stride,
    so ``v[..., ::2].add_(v)`` on a length-1 ``v`` refuses (stride 2 against 1)."""

    def scenario(T):
        v = T.tensor([0.13], dtype=T.float64)
        a, b, c = T.ones(2, 1), T.ones(1, 3), T.ones(3, 1)
        return [outcome(lambda f=f: (f(), None)[1]) for f in (
            lambda: v[..., ::2].add_(v), lambda: v.add_(v[::2]), lambda: a[:, :1].mul_(a),
            lambda: a.t().mul_(a.t()), lambda: b.view(3, 1).t().mul_(b),
            lambda: b.unsqueeze(0)[0].mul_(b), lambda: c.select(1, 0).unsqueeze(1).mul_(c),
            lambda: c.diagonal().mul_(c[:1, 0]))] + [v._version, a._version, b._version]

    compare(scenario)


def test_inplace_with_a_multi_output_view_of_self_as_operand() -> None:
    """Soak finding (3-min soak, seed 7): ``x.add_(y)`` with ``y`` a chunk of ``x`` records
    y's edge before the write (torch), not after, when y has gone stale."""

    def scenario(T):
        a = T.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=T.float64, requires_grad=True)
        x = a.sum(0)
        (y,) = x.chunk(1, 0)
        x.add_(y)
        (g,) = T.autograd.grad(x.sum(), [a])
        return describe(x), describe(g, version=False), outcome(lambda: y.grad_fn)

    compare(scenario)


# -- soak B findings ---------------------------------------------------------------------------
def test_min_gradient_with_a_nan_upstream_stays_on_the_minimum() -> None:
    """torch's max()/min() backward fills the gradient in at the extremes (masked_fill), so a
    nan upstream gradient does not reach the other inputs; found by the soak."""

    def scenario(T):
        x = T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()
        w = T.tensor(0.13, dtype=T.float64).requires_grad_()
        (x.min() ** w).backward()  # d/d(min) of (-0.13) ** 0.13 is nan
        g, = T.autograd.grad(x.max() * w, [x], create_graph=True)
        # versions: torch fills a fresh buffer in place (version 1), an engine detail
        return describe(x.grad, False), describe(g, False), type(g.grad_fn).__name__

    compare(scenario)


def test_prod_gradient_of_a_size_one_dim_or_a_full_reduction_with_zeros() -> None:
    """With a zero in the input torch returns the gradient itself for a size-1 dim, and
    computes a full prod's gradient flat then views it as the input (both views)."""

    def scenario(T):
        found = []
        for args in [(), (0,), (0, True), (1,)]:
            for values in ([[2.0, 1.0, 0.0]], [[2.0, 0.0, 0.0]], [[2.0, 1.0, 3.0]]):
                for create_graph in (False, True):
                    x = T.tensor(values, dtype=T.float64).requires_grad_()
                    g, = T.autograd.grad(x.prod(*args).sum(), [x], create_graph=create_graph)
                    found.append((describe(g), g._is_view(), type(g.grad_fn).__name__))
        return found

    compare(scenario)


def test_divisor_gradient_records_the_dividend() -> None:
    """torch's div backward for the divisor is -g * ((x / y) / y): a create_graph gradient
    saves x itself, so modifying x afterwards makes its backward fail."""

    def scenario(T):
        x = T.tensor([0.13, -0.13, 0.64], dtype=T.float64)
        y = T.tensor([0.5, 2.0, -1.0], dtype=T.float64).requires_grad_()
        g, = T.autograd.grad((x / y).sum(), [y], create_graph=True)
        with T.no_grad():
            x.zero_()
        return describe(g), outcome(lambda: g.sum().backward())

    compare(scenario)
    x = tapegrad.tensor([0.3, -1.2], dtype=tapegrad.float64)
    y = tapegrad.tensor([0.7, 1.9], dtype=tapegrad.float64, requires_grad=True)
    assert tapegrad.autograd.gradcheck(lambda y: tapegrad.autograd.grad(
        (x / y).sum(), [y], create_graph=True)[0], (y,))


def test_the_harness_reads_a_zero_tensor_gradient() -> None:
    """torch's autograd.grad can return a ZeroTensor (abs's second derivative), which
    refuses a plain .numpy(); the harness reads it as zeros."""
    program = _program("v0 = T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()",
                       "v1 = v0.abs()",
                       "v2 = T.autograd.grad(v1.sum(), [v0], create_graph=True)[0]",
                       "v3 = T.autograd.grad(v2.sum(), [v0], allow_unused=True)")
    assert check(program) is None
    x = torch.tensor([0.13, -0.13], requires_grad=True)
    g, = torch.autograd.grad(x.abs().sum(), [x], create_graph=True)
    h, = torch.autograd.grad(g.sum(), [x])
    assert h._is_zerotensor()  # what the harness must read
    assert describe(h)[0] == [0.0, 0.0]


def test_the_harness_ignores_torch_once_per_process_warnings() -> None:
    """torch warns once per process about a .grad that breaks the gradient layout contract
    (a transposed leaf) and about backward(create_graph=True): not compared."""
    program = _program(
        "v0 = T.zeros((0, 2), dtype=T.float64).transpose(-1, -2).requires_grad_()",
        "v0.backward(T.ones_like(v0))",
        "v1 = T.tensor([[1.0, 2.0], [3.0, 4.0]]).t().requires_grad_()",
        "v1.sum().backward(create_graph=True)")
    assert check(program) is None
    assert check(program) is None


def test_the_harness_restores_an_inference_grad_another_name_holds() -> None:
    """torch accumulates into an inference .grad before refusing outside inference mode
    (B64); the harness writes the old values back into that buffer, which other names may
    hold, so both runs continue from the same data."""
    leaf = "T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()"
    program = Program((
        Step("eval", leaf, ("v0",), family="leaf"),
        Step("enter", "T.inference_mode()", family="mode"),
        Step("eval", "v0.backward(T.ones_like(v0))", (), ("v0",), family="backward"),
        Step("eval", "v0.grad", ("v1",), ("v0",), family="autograd"),
        Step("exit", "", family="mode"),
        Step("eval", "v0.sum().backward()", (), ("v0",), family="backward"),
    ))
    assert check(program) is None


def test_gradient_through_a_regenerated_view_is_a_view() -> None:
    """A view made before its base started requiring grad is regenerated (AsStridedBackward0)
    after an in-place write; torch hands its base the gradient as a view of the storage."""

    def scenario(T):
        found = []
        for shape in [(3,), (2, 3), ()]:
            for create_graph in (False, True):
                base = T.zeros(shape, dtype=T.float64)
                view = base.reshape(-1)
                base[...] = 2.0
                base.requires_grad_()
                g, = T.autograd.grad((view * view).sum(), [base], create_graph=create_graph)
                found.append((describe(g, False), g._is_view(), g.stride()))
        return found

    compare(scenario)


def test_setitem_value_with_leading_unit_dims_gradient_is_a_view() -> None:
    """torch's setitem (copy_to) views a value whose shape differs as its shape without the
    leading 1-dims before expanding it, so that value's gradient comes back through a view."""

    def scenario(T):
        found = []
        for shape in [(1,), (1, 3), (1, 1, 3)]:
            x = T.zeros(2, 3)
            v = T.ones(shape, requires_grad=True)
            x[0] = v
            g, = T.autograd.grad(x.sum(), [v])
            found.append((describe(g, False), g._is_view()))
        return found

    compare(scenario)


def test_views_give_size_one_dims_torch_strides() -> None:
    """torch refills a view's strides chunk by chunk, size-1 dims included; NumPy keeps other
    strides there. Found by the soak: v0.view_as(v0) of a transposed (1, 3) tensor is not the
    same layout in torch, so in-place ops with it as operand raise its overlap error."""

    def scenario(T):
        column = T.tensor([[0.13], [-0.13], [0.64]], dtype=T.float64)
        row = column.transpose(-1, -2)
        same = row.view_as(row)
        grid = T.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1)[:, :1]
        views = [same, row.view(3), row.view(3, 1), row.view(1, 1, 3), grid.view(4, 1, 3),
                 grid[:1].view(1, 3), T.zeros(0, 2).view(1, 0), T.zeros(0, 2).view(2, 0, 1)]
        return ([v.stride() for v in views], outcome(lambda: row.clamp_(same, None)),
                outcome(lambda: row.add_(same)), outcome(lambda: row.add_(row.view(1, 3))))

    compare(scenario)


def test_clone_like_results_keep_size_one_strides_of_self() -> None:
    """Found by the soak: index_put (clone + write) of a transposed (1, 3) tensor keeps its
    (1, 1) strides in torch (preserve format), so v[None] = v raises torch's overlap error."""

    def scenario(T):
        row = T.tensor([[0.13], [-0.13], [0.64]], dtype=T.float64).transpose(-1, -2)
        put = row.index_put((T.tensor([0]),), T.tensor(2.0, dtype=T.float64))
        copies = [put, row.clone(), row.to(T.float32), put[None], row.unsqueeze(1)]
        return [c.stride() for c in copies], outcome(lambda: put.__setitem__(None, put))

    compare(scenario)


def test_pow_exponent_gradient_keeps_a_nan_upstream_gradient() -> None:
    """Found by the soak: at 0 ** y (y >= 0) torch zeroes the factor, not the product, so a nan
    gradient arriving there stays nan."""

    def scenario(T):
        x = T.tensor([0.0, 0.0, 1.0], dtype=T.float64, requires_grad=True)
        y = x ** x
        z = T.tensor([0.13, -0.13, 0.64], dtype=T.float64, requires_grad=True) ** y
        base = T.tensor([0.0, 2.0], dtype=T.float64, requires_grad=True)
        w = (0.0 ** base) * T.tensor([float("nan"), 1.0], dtype=T.float64)
        return str(([g.tolist() for g in T.autograd.grad(z.sum(), [x, y])],
                    T.autograd.grad(w.sum(), [base])[0].tolist()))

    compare(scenario)


def test_found_by_the_last_soak_data_in_inference_mode_and_0d_sum_gradient() -> None:
    """x.data of an inference tensor taken inside inference mode is a true inference tensor
    (zero_() outside refuses); the gradient of sum/expand_as of a 0-d tensor is the incoming
    gradient itself, not a view."""

    def scenario(T):
        leaf = T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()
        with T.inference_mode():
            inner = leaf.neg().data
        scalar = T.tensor(0.13, dtype=T.float64).requires_grad_()
        (grad,) = T.autograd.grad(scalar.expand_as(scalar).sum(), [scalar])
        (plain,) = T.autograd.grad(scalar.sum(), [scalar])
        return (outcome(lambda: inner.zero_().tolist()), grad._is_view(), plain._is_view(),
                describe(grad))

    compare(scenario)


def test_clamp_gradients_drop_a_nan_gradient_outside_their_range() -> None:
    """Found by the final soak: torch's clamp backward is where(mask, grad, 0), so a nan
    gradient (from a mean over an empty dim) does not reach a bound that did not win."""

    def scenario(T):
        empty = T.zeros((2, 0), dtype=T.float64).requires_grad_()
        x = empty.mean(1)  # nan
        low = T.tensor([0.13, -0.13], dtype=T.float64).requires_grad_()
        y = T.tensor([0.5, 2.0], dtype=T.float64).requires_grad_()
        out = x.clamp(low, None) + y.clamp(0.0, 1.0) * float("nan")
        grads = T.autograd.grad(out.sum(), [low, y])
        return str([g.tolist() for g in grads])

    compare(scenario)


def test_accumulating_inf_and_minus_inf_into_grad_is_silent() -> None:
    """Found by the final soak: .grad accumulation of inf into -inf gives nan with no NumPy
    RuntimeWarning (torch is silent; filterwarnings=error turns a leak into a failure)."""

    def scenario(T):
        x = T.tensor(-0.65, dtype=T.float64).requires_grad_()
        (x / 0.0).backward()  # -inf ... then +inf: their sum
        (-x / 0.0).backward()
        return str(x.grad.tolist())

    compare(scenario)


def test_create_graph_gradient_through_a_regenerated_empty_view() -> None:
    """Found by the final soak: torch's as_strided backward of an empty base is fresh zeros
    outside the graph, so even under create_graph the leaf's .grad does not require grad."""

    def scenario(T):
        leaf = T.zeros((2, 0), dtype=T.float64).requires_grad_()
        view = T.zeros((0, 2), dtype=T.float64).transpose(-1, -2)
        view.add_(leaf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's create_graph warning, once per process
            view.exp().sum().backward(create_graph=True)
        return describe(leaf.grad), leaf.grad.grad_fn is None

    compare(scenario)


def test_gradient_of_a_0d_tensor_indexed_by_a_0d_mask_is_a_view() -> None:
    """Found by the last soak: torch indexes a 0-d tensor by a 0-d mask as its (1,) unsqueeze,
    so the gradient is a view of a (1,) buffer."""

    def scenario(T):
        x = T.tensor(0.13, dtype=T.float64).requires_grad_()
        grads = [T.autograd.grad(x[T.tensor(m)].sum(), [x])[0] for m in (True, False)]
        return [(describe(g)[:5], g._is_view()) for g in grads]  # (torch: written in place)

    compare(scenario)


def test_detached_aliases_of_inference_tensors_cannot_be_saved() -> None:
    """Found by the last soak: detach() and .data of an inference tensor, taken outside
    inference mode, are still inference tensors, so an op that saves them refuses."""

    def scenario(T):
        with T.inference_mode():
            made = T.ones(2, 3) + 2.0
        weight = T.ones(3, requires_grad=True)
        return [outcome(lambda x=x: describe(x @ weight)) for x in (made.detach(), made.data)]

    compare(scenario)


def test_copyslices_replays_its_view_chain_on_a_non_contiguous_gradient() -> None:
    """Found by the last soak: an in-place write through a reshape view, then an in-place
    multiply by a transposed tensor: the gradient reaching CopySlices is column-major, and
    replaying reshape(-1) on a layout-preserving clone of it raised."""

    def scenario(T):
        bound = T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()
        x = T.tensor([[0.13, -0.13, 0.64], [0.1, -0.54, 0.36]], dtype=T.float64)
        x.clamp_(bound, None)
        flat = x.reshape(-1)
        flat.zero_()
        other = T.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=T.float64).t()
        x.mul_(other.requires_grad_())
        x.sum().backward()
        return str([bound.grad.tolist(), other.grad.tolist()])

    compare(scenario)


def test_prod_gradient_with_several_zeros_ignores_an_infinite_upstream_gradient() -> None:
    """Found by the last soak: outside grad mode torch's prod backward with more than one zero
    is zeros_like(input), so an inf upstream gradient does not become nan."""

    def scenario(T):
        x = T.tensor([0.13, -0.13, 0.64], dtype=T.float64).requires_grad_()
        power = T.tensor(0.13, dtype=T.float64).requires_grad_()
        ((x - x).prod() ** power).backward()
        return str([x.grad.tolist(), power.grad.tolist()])

    compare(scenario)


def test_backward_inputs_fill_a_retained_non_leaf_grad_once() -> None:
    """Found by the soak: torch gives a non-leaf in ``inputs=`` its gradient by calling
    retain_grad() on it, so one that already retains its grad is not given it twice."""

    def scenario(T):
        x = T.ones(3, requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.sum().backward(inputs=[y])
        z = x * 3
        z.retain_grad()
        (z.sum() * 2).backward(inputs=[z], retain_graph=True)
        (z.sum() * 2).backward(inputs=[z])
        w = x * 4
        w.sum().backward(inputs=[w])
        return [describe(t.grad, version=False) for t in (y, z, w)], w.retains_grad, x.grad

    compare(scenario)


def test_transpose_of_a_0d_tensor_records_a_transpose() -> None:
    """Found by the soak: ``x.transpose(0, 0)`` of a 0-d tensor is TransposeBackward0 in
    torch, whose gradient is a view (tapegrad recorded an alias, whose gradient is not)."""

    def scenario(T):
        x = T.tensor(0.13, dtype=T.float64, requires_grad=True)
        y = x.transpose(0, -1)
        (g,) = T.autograd.grad(y.mean(0).sum(), [x])
        return y.grad_fn.name(), g._is_view(), describe(g), outcome(lambda: x.transpose(0, 1))

    compare(scenario)


def test_copy_casts_the_source_gradient_before_summing_it() -> None:
    """Found by the soak: copy_'s backward casts the gradient to the source's dtype, then sums
    it to the source's shape, a view where the source gained leading dims."""

    def scenario(T):
        src = T.arange(3.0, dtype=T.float32, requires_grad=True)
        target = T.zeros(2, 3, dtype=T.float64)
        target.copy_(src)
        (g,) = T.autograd.grad((target * T.tensor([[1.0], [2.0]], dtype=T.float64)).sum(),
                               [src], create_graph=True)
        empty = T.zeros(0, dtype=T.float32, requires_grad=True)
        base = T.zeros(0, dtype=T.float64)
        base.expand(2, 0).copy_(empty)
        (h,) = T.autograd.grad(base.sum(), [empty], create_graph=True)
        return describe(g), g._is_view(), describe(h), h._is_view()

    compare(scenario)


def test_stale_view_error_comes_before_the_degrees_of_freedom_warning() -> None:
    """Found by the soak: torch collects a stale view's edge (raising) before var() runs and
    warns about its degrees of freedom."""

    def scenario(T):
        x = T.tensor(0.13, dtype=T.float64).requires_grad_()
        with T.no_grad():
            view = x.reshape(-1)
            x[None] = x
        return [warned(lambda f=f: f(view)) for f in (lambda v: v.var(), lambda v: v.std())]

    result = compare(scenario)
    assert result[0][0][1].startswith("A view was created in no_grad mode")


def test_movedim_T_and_ravel_of_0d_and_1d_tensors() -> None:
    """Found by the soak: movedim of a 0-d tensor is an alias in torch (its gradient is no
    view); ``.T`` of a 0-d tensor failed here, and ``ravel`` was missing."""

    def scenario(T):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about .T once per process
            results = []
            for shape in ((), (3,), (2, 3)):
                x = T.ones(shape, dtype=T.float64, requires_grad=True)
                for f in (lambda t: t.movedim(0, 0), lambda t: t.moveaxis(-1, 0), lambda t: t.T,
                          lambda t: t.ravel(), lambda t: t.mT.ravel() if t.ndim == 2 else -t):
                    y = f(x)
                    (g,) = T.autograd.grad(y.neg().sum(), [x])
                    results.append((describe(y), y.grad_fn.name(), g._is_view()))
        return results

    compare(scenario)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            tapegrad.ones(3).T, tapegrad.ones(()).T  # noqa: B018
    assert len(caught) <= 2  # once per process, as torch


def test_variance_of_equal_values_is_exactly_zero() -> None:
    """Found by the soak: var() of a row of equal float32 values was 1e-16 here and exactly 0
    in torch (Welford), so ``var > 0`` disagreed. The values are now shifted by a first one."""

    def scenario(T):
        rows = T.full((2, 3), 0.7615941762924194, dtype=T.float32)
        column = T.full((5,), 0.1, dtype=T.float64)
        return [(t > 0).tolist() for t in (rows.var(1), rows.std(0), column.var(), column.std(),
                                          T.tensor(0.3).var(correction=0))]

    compare(scenario)


def test_flip_keeps_a_dense_selfs_size_one_strides() -> None:
    """flip allocates like self (preserve format): a transposed (3, 1) -> (1, 3) tensor keeps
    its (1, 1) strides even where NumPy's flipped view is not contiguous."""

    def scenario(T):
        row = T.tensor([[1.0], [2.0], [3.0]]).t()
        grid = T.zeros(3, 1, 2).permute(1, 2, 0)
        return [(t.stride(), t.tolist()) for t in (row.flip(0), row.flip(1), row.flip(0, 1),
                                                   grid.flip(2), row.roll(1, 1))]

    compare(scenario)


def test_std_double_backward_where_std_is_zero_and_empty_regenerated_views() -> None:
    """Found by the soak: the second derivative of std() where it is 0 is finite in torch (its
    backward divides the incoming gradient by 2 std, masked, then runs var's backward); and a
    regenerated (as_strided) empty view's gradient is fresh zeros outside the graph."""

    def scenario(T):
        x = T.tensor([[2.0, -2.0, -2.0], [-1.0, -2.0, 2.0]], dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(x.std(0).sum(), [x], create_graph=True)
        (gg,) = T.autograd.grad(g.sum(), [x])
        leaf = T.tensor([0.13, -0.13, 0.64], dtype=T.float64, requires_grad=True)
        empty = leaf.narrow(0, 0, 0)
        with T.no_grad():
            leaf.zero_()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (empty * empty).sum().backward(create_graph=True)
        return describe(g), describe(gg, version=False), describe(leaf.grad, version=False)

    compare(scenario)


@pytest.mark.parametrize("p", [2, 3, 1.5, 0.5, 2.5])
def test_norm_gradient_at_zero_with_a_nan_upstream(p: float) -> None:
    """Found by a soak: torch masks ``x / norm`` (p = 2), not the whole product, so a nan
    gradient arriving at a zero norm stays nan; other orders follow torch's own forms."""

    def scenario(T):
        results = []
        for x in ([0.0, 0.0], [0.0, 1.0], [-2.0, 1.0]):
            for g in (1.0, float("nan")):
                z = T.tensor(x, dtype=T.float64, requires_grad=True)
                upstream = T.tensor(g, dtype=T.float64)
                results.append(describe(T.autograd.grad(z.norm(p=p), [z], upstream)[0]))
        return results

    compare(scenario)


def test_pow_minus_half_is_torchs_rsqrt() -> None:
    """Found by a soak: torch computes x ** -0.5 as rsqrt (-inf at -0.0, nan at -inf), which
    the gradient of x ** 0.5 at -0.0 reads (NumPy's power gives +inf and 0)."""

    def scenario(T):
        z = T.tensor([-0.0, 0.0, -4.0, 4.0, float("inf"), -float("inf")], dtype=T.float64)
        x = T.tensor([2.0, 1.0, 0.0], dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(((x * -1.5) ** 0.5).sum(), [x])
        return str(z.pow(-0.5).tolist()), str(g.tolist())

    compare(scenario)


def test_index_put_refuses_its_own_values_and_warns_before_a_dtype_error() -> None:
    """Found by a soak: ``v[I] = v`` writes a tensor into itself, which torch's index_put_
    refuses even for a strided (non-dense) tensor; and an expanded target gets torch's
    deprecation warning before the dtype error."""

    def scenario(T):
        v = T.tensor([[0.13], [-0.13], [0.64], [0.1], [-0.54], [0.36]], dtype=T.float64)[::2]
        own = outcome(lambda: v.__setitem__(T.tensor([2, 0, 1]), v))
        wide = T.tensor([0.13, -0.13, 0.64], requires_grad=True).sum(0).expand(3)
        value = T.tensor([0.13], dtype=T.float64)
        return own, warned(lambda: wide.__setitem__(T.tensor([2]), value)), v.tolist()

    compare(scenario)


ZERO_D_CALLS = ["x.max(0).values", "x.min(0).values", "x.max(0, keepdim=True).values",
                "x.roll(1, 0)", "x.roll(1)", "x.repeat(2)", "x.repeat(2, 3)", "x.repeat(())",
                "x.index_select(0, T.tensor([0]))", "x.index_select(0, T.tensor(0))",
                "x.narrow(0, 0, 1)", "x.chunk(1, 0)[0]", "x.split(1, 0)[0]",
                "x.index_add(0, T.tensor([0]), T.tensor([2.0], dtype=T.float64))",
                "x.index_add(0, T.tensor([0]), T.tensor(2.0, dtype=T.float64))"]


@pytest.mark.parametrize("call", ZERO_D_CALLS)
def test_ops_on_a_0d_tensor_match_torch(call: str) -> None:
    """Found by a soak (max(0) of a 0-d tensor: its gradient is no view in torch) and the
    sweep of 0-d calls that followed: values, errors, and whether the gradient is a view."""

    def scenario(T):
        x = T.tensor(0.3, dtype=T.float64, requires_grad=True)
        y = outcome(lambda: eval(call, {"x": x, "T": T}))
        if isinstance(y, tuple):
            return y
        (g,) = T.autograd.grad(y.sum(), [x])
        return describe(y), describe(g, version=False), g._is_view()

    compare(scenario)


def test_sum_gradient_strides_and_retain_grad_twice_on_a_stale_view() -> None:
    """Found by soaks: the gradient of a full sum is the 0-d gradient expanded (every stride
    0, so ``g[::2] = g`` is a no-op copy, not an overlap error); a second retain_grad() on a
    view whose base changed is a no-op in torch, before any stale-view error."""

    def scenario(T):
        strides = []
        for shape in ((1, 3), (3, 1), (2, 1, 3), (1,)):
            x = T.ones(shape, dtype=T.float64, requires_grad=True)
            strides.append([T.autograd.grad(y, [x])[0].stride() for y in (
                x.sum(), x.sum(tuple(range(len(shape)))), x.sum(0, keepdim=True).sum())])
        x = T.tensor([[0.13, -0.13, 0.64]], dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(x.sum(), [x])
        copied = outcome(lambda: g.__setitem__(slice(None, None, 2), g))
        leaf = T.tensor([[0.13], [-0.13], [0.64]], dtype=T.float64, requires_grad=True)
        _, middle, _ = leaf.split(1, 0)
        middle.retain_grad()
        with T.no_grad():
            leaf.add_(1.0)
            again = outcome(lambda: middle.retain_grad())
        return strides, copied, again

    compare(scenario)


def test_where_and_scalar_ops_lay_out_size_one_dims_as_torch() -> None:
    """Found by a soak: torch's fast path (contiguous operands of one shape) gives a
    contiguous result; a Python number or a broadcast operand sends it through its dim
    order instead, which keeps a transposed (1, 3) tensor's (1, 1) strides. ``v[None] = v``
    then refuses the overlap in torch."""

    def scenario(T):
        row = T.tensor([[0.13], [-0.13], [0.64]], dtype=T.float64).transpose(-1, -2)
        mask = row > 0
        grid = T.ones(3, 1, 2).permute(1, 0, 2)
        results = [t.stride() for t in (
            mask, T.where(mask, row, 2.0), T.where(mask, row, row), row + 1, row + row,
            row.exp(), row * 2, T.where(mask, 1.0, 2.0), row.masked_fill(mask, 0.0),
            row + T.ones(3), grid * 2, grid + T.ones(2), T.ones(2, 1, 3) + 1, 2 ** row)]
        chosen = T.where(mask, row, 2.0)
        return results, outcome(lambda: chosen.__setitem__(None, chosen))

    compare(scenario)


def test_relu_and_hardtanh_pass_the_gradient_at_a_nan() -> None:
    """Found by a soak: torch zeroes the gradient where the input is <= the threshold (or out
    of hardtanh's bounds), so at a nan the gradient passes."""

    def scenario(T):
        x = T.tensor([0.13, -0.13, 0.64, 0.0, -1.0, 2.0], dtype=T.float64, requires_grad=True)
        F = T.nn.functional
        grads = [T.autograd.grad(f(x).sum(), [x])[0] for f in (
            lambda t: T.relu(t.log2()), lambda t: F.hardtanh(t.log2()),
            lambda t: F.relu6(t.log() * 10), lambda t: F.leaky_relu(t.log2(), 0.1),
            lambda t: t.log().clamp(-1, 1))]
        return [describe(g, version=False) for g in grads]

    compare(scenario)


def test_an_out_of_bounds_write_through_index_tensors_writes_nothing() -> None:
    """Deliberate difference (README): torch writes the elements before the bad index, then
    raises; tapegrad checks every index first and leaves the tensor as it was. Found by a
    soak. Also: torch warns about an expanded target before refusing its own values."""

    def scenario(T):
        x = T.zeros(1, dtype=T.float64)
        error = outcome(lambda: x.__setitem__(T.tensor([0, 1, 2]), 2.0))
        wide = T.tensor([[0.13], [-0.13], [0.64]], dtype=T.float64).expand(3, 2)
        return error, x.tolist(), x._version, warned(
            lambda: wide.__setitem__(T.tensor([2, 0, 1]), wide))

    ours, theirs = on_both(scenario)
    assert ours[0] == theirs[0]
    assert ours[3] == theirs[3]
    assert ours[1:3] == ([0.0], 0)
    assert theirs[1] == [2.0]  # torch wrote index 0 before the error


def test_prod_gradient_with_one_zero_of_a_transposed_tensor() -> None:
    """Found by a soak: the flat computation of prod's gradient (one zero in the input) made
    an internal view error on a transposed input; torch computes it on the contiguous input."""

    def scenario(T):
        results = []
        for data in ([[2.0, 1.0], [0.0, -1.0], [-1.0, -2.0]],
                     [[2.0, 0.0], [0.0, -1.0], [-1.0, -2.0]],
                     [[2.0, 1.0], [3.0, -1.0], [-1.0, -2.0]]):
            x = T.tensor(data, dtype=T.float64).transpose(-1, -2).requires_grad_()
            (g,) = T.autograd.grad(x.prod(), [x])
            results.append((describe(g, version=False), g.stride(), g._is_view()))
        return results

    compare(scenario)


def test_narrow_bounds_and_autograd_checks_before_index_bounds() -> None:
    """Found by soak 7: narrow's start is checked first, with torch's IndexError; a write
    through an out-of-bounds index tensor into a view of a leaf that requires grad gets
    torch's in-place error first."""

    def scenario(T):
        x = T.ones(3)
        narrowed = [outcome(lambda a=a: x.narrow(*a).shape, 90) for a in (
            (0, 2, 0), (0, 4, 0), (0, -4, 0), (0, 3, 0), (0, -3, 1), (0, 1, 3), (0, 0, -1))]
        leaf = T.tensor([[0.13, -0.13, 0.64]], dtype=T.float64, requires_grad=True)
        wide = leaf.expand(2, -1, 3)
        return narrowed, outcome(lambda: wide.__setitem__((slice(None), T.tensor([-2])), 2.0))

    compare(scenario)


def test_stale_views_raise_nothing_inside_inference_mode_and_zero_double_backward_grads() -> None:
    """Found by soak 8: inside inference mode torch collects no edges, so var() of a stale
    view raises nothing even with grad mode set on. And a documented difference: after a
    double backward through abs(), torch can leave an immutable ZeroTensor in .grad and
    refuse the next backward; tapegrad accumulates."""

    def scenario(T):
        x = T.tensor([0.13, -0.13, 0.64], dtype=T.float64, requires_grad=True)
        with T.no_grad(), T.inference_mode():
            view = x.reshape(-1)
            x[0] = 2.0
            T.set_grad_enabled(True)
            spread = outcome(lambda: describe(view.var()))
        return spread

    compare(scenario)

    def twice(T):
        x = T.tensor([0.13, -0.13, 0.64], dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(x.abs().sum(), [x], create_graph=True)
        g.sum().backward()
        return outcome(lambda: (x.sum().backward(), x.grad.tolist())[1])

    ours, theirs = on_both(twice)
    assert ours == [1.0, 1.0, 1.0]
    assert theirs[1].startswith("ZeroTensors are immutable")


def test_found_by_the_seed_90_soak_prod_of_one_zero_and_a_write_into_an_expanded_grad() -> None:
    """prod() of a one-element input that is zero hands back the gradient itself (torch's
    size-1 shortcut, also for a full reduction), so a create_graph .grad needs no grad. And a
    write through index tensors into an expanded create_graph gradient backpropagates to the
    values: torch skips the base's gradient (the write into the overlapping view that raises)
    when the base needs none, also when backward's ``inputs`` leave it out."""

    def scenario(T):
        results = []
        for data in ([3.0], [[3.0]], [3.0, 2.0]):
            x = T.tensor(data, dtype=T.float64)
            x *= 0
            x.requires_grad_()
            (g,) = T.autograd.grad(x.prod(), [x], create_graph=True)
            results.append((describe(g), g.requires_grad, g._is_view()))
        for requires_grad, inputs in ((False, None), (True, "values"), (True, None)):
            cell = T.tensor(1.5, dtype=T.float64, requires_grad=requires_grad)
            wide = cell.clone().expand(2, 3) if requires_grad else cell.expand(2, 3)
            values = T.tensor([[5.0, 6.0, 7.0]], dtype=T.float64, requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's deprecation of this write
                wide[T.tensor([0])] = values
            results.append(outcome(lambda w=wide, v=values, i=inputs: (
                w.sum().backward(inputs=[v] if i else None), describe(v.grad))[1], 80))
        return results

    result = compare(scenario)
    assert result[-1][1].startswith("unsupported operation: more than one element")


def test_empty_tensors_report_contiguous_strides_a_documented_difference() -> None:
    """Found by soak 10 (seed 2026112610): NumPy keeps no strides for an empty array, so
    tapegrad reports contiguous ones, and mm's gradient of a column-major empty matrix (a
    transposed view in torch) is a plain tensor. The generator treats empty transposed
    leaves as of disagreeing layout and hands matmul a contiguous copy of such operands."""

    def scenario(T):
        a = T.zeros(0, 2, dtype=T.float64).t().requires_grad_()
        b = T.zeros(0, 2, dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad((a @ b).sum(), [a])
        return a.stride(), g._is_view(), describe(g, version=False)

    ours, theirs = on_both(scenario)
    assert theirs[:2] == ((1, 2), True)
    assert ours[:2] == ((1, 1), False)
    assert ours[2] == theirs[2]  # same values, shape, flags


def test_mm_over_one_term_keeps_the_sign_of_a_zero() -> None:
    """Found by soak 10: torch's mm multiplies out a product over one term, so -0.0 * 0.13 is
    -0.0 (a later division gives -inf); BLAS adds the product to +0.0. Other products (k > 1,
    bmm, mv) accumulate from +0.0 in both."""

    def scenario(T):
        d = T.float64
        a = T.tensor([[-0.0], [1.0]], dtype=d, requires_grad=True)
        b = T.tensor([[0.13, -0.13]], dtype=d)
        results = [(1 / (a @ b)).tolist(), (1 / a.mm(b.t().contiguous().t())).tolist(),
                   (1 / (a.float() @ b.float())).tolist(),
                   (1 / T.bmm(a[None], b[None])).tolist(),
                   (1 / (T.tensor([[-0.0, -0.0]], dtype=d) @ T.ones(2, 1, dtype=d))).tolist()]
        (a @ b).backward(T.tensor([[-0.0, 0.0], [1.0, 1.0]], dtype=d))
        return results, (1 / a.grad).tolist()

    found = compare(scenario)
    assert found[0][0][0] == [-np.inf, np.inf]

    def shapes(T):  # a single row or column is summed from +0.0 (found by soak 11)
        signs = []
        for m in (1, 2, 3):
            for n in (1, 2, 3):
                a = T.full((m, 1), -1.5, dtype=T.float64)
                signs.append((1 / (a @ T.zeros(1, n, dtype=T.float64))).tolist())
        vector = T.tensor([-1.5], dtype=T.float64)
        return signs, (1 / (vector @ T.zeros(1, 2, dtype=T.float64))).tolist()

    compare(shapes)


def test_stack_gradients_are_single_selects_that_can_be_written() -> None:
    """Found by soak 12: torch's stack backward selects each input's slice, so a create_graph
    gradient is a SelectBackward0 view that in-place writes accept (an unbind output would
    refuse them as one of several views)."""

    def scenario(T):
        a = T.tensor([0.13, -0.13, 0.64], dtype=T.float64, requires_grad=True)
        b = T.tensor([0.5, 0.25, -1.0], dtype=T.float64, requires_grad=True)
        ga, gb = T.autograd.grad((T.stack([a, b], 1) ** 2).sum(), [a, b], create_graph=True)
        names = (type(ga.grad_fn).__name__, ga._is_view(), ga.stride())
        ga[0] = 2.0
        gb.mul_(3)
        return names, describe(ga), describe(gb), describe(T.autograd.grad(ga.sum(), [a])[0])

    compare(scenario)


def test_prod_double_backward_with_two_zeros_in_a_slice() -> None:
    """Found by soak 14: with two zeros in a slice, prod's gradient at each zero is the other
    zero times the rest, so its derivative (a double backward) is not zero; the gradient was
    a constant 0 there. (A third derivative with three or more zeros in a slice is still 0
    here where torch's exclusive products give the product of the rest: noted, not fixed.)"""

    def scenario(T):
        found = []
        for values in ([0.0, 0.0, 2.0], [0.0, 3.0, 2.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0],
                       [[0.0, 1.0], [0.0, 2.0], [3.0, 0.0]]):
            for dim in (None, 0, -1):
                x = T.tensor(values, dtype=T.float64, requires_grad=True)
                y = x.prod() if dim is None else x.prod(dim)
                (g,) = T.autograd.grad(y.sum(), [x], create_graph=True)
                weights = T.arange(1.0, x.numel() + 1, dtype=T.float64).reshape(x.shape)
                (h,) = T.autograd.grad((g * weights).sum(), [x])
                found.append((describe(g, version=False), h.tolist()))
        return found

    compare(scenario)


def test_found_by_soak_17_clamp_zeros_reciprocal_order_and_a_warning_before_bounds() -> None:
    """clamp keeps x where it equals a bound, so the sign of a zero survives (NumPy's maximum
    took the bound's); reciprocal's gradient is -g * (out * out) as torch's, so a double
    backward after the output was changed through .data reads only the saved output; a write
    through an out-of-bounds index tensor into an expanded tensor warns before it raises."""

    def scenario(T):
        nan = float("nan")
        x = T.tensor([0.0, -0.0, 1.0, nan, 2.0, 0.0])
        low = T.tensor([-0.0, 0.0, nan, 0.0, 3.0, 0.0])
        high = T.tensor([5.0, 5.0, 5.0, 5.0, nan, -0.0])
        clamped = [str((1 / r).tolist()) for r in (  # (str: nan == nan)
            T.clamp(x, low, high), T.clamp(x, min=low), T.clamp(x, max=high), T.clamp(x, 0.0),
            T.clamp(x, -0.0), T.clamp(x, max=-0.0), x.clamp(-0.0, 0.0))]
        v = T.tensor([[0.13, -0.13, 0.64], [0.1, -0.54, 0.36]], dtype=T.float64,
                     requires_grad=True)
        out = v.reciprocal()
        alias = out.data
        (g,) = T.autograd.grad(out.neg().sum(), [v], create_graph=True)
        with T.no_grad():
            alias.reshape(-1).fill_(1.5)
        g.sum().backward()
        wide = T.tensor([[0.13, -0.13, 0.64]]).expand(2, -1, 3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            error = outcome(lambda: wide.__setitem__((slice(None), T.tensor([2])), 2.0))
        return clamped, v.grad.tolist(), error, [str(w.message)[:30] for w in caught]

    compare(scenario)


def test_relu_keeps_a_negative_zero() -> None:
    """Found by soak 19: torch's relu keeps x where it is not below 0, so relu(-0.0) is -0.0
    (rsqrt of it is -inf); NumPy's maximum(x, 0) gave +0.0."""

    def scenario(T):
        x = T.tensor([-0.0, 0.0, float("nan"), -1.0, 2.0])
        results = [x.relu(), x.clone().relu_(), T.nn.functional.relu(x),
                   T.relu(T.tensor([-1, 0, 3]))]
        return [str((1 / r).tolist()) for r in results]  # (str: nan == nan)

    compare(scenario)
