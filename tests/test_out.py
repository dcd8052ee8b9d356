"""``out=`` variants of the functional forms against torch (spec B68, B88): the autograd
refusal (checked before writing), resizing with torch's warning, dtype rules, views, version
counters, inference tensors, overlap, and factories."""

from __future__ import annotations

import warnings

import pytest

from tests.fuzzing.oracle import compare, describe, outcome

torch = pytest.importorskip("torch")


def written(fn):
    """``fn()``'s result described, its warnings' first words, or the error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = outcome(lambda: describe(fn()), 90)
    return result, [str(w.message)[:40] for w in caught]


CALLS = {  # op: its arguments from (T, x (2, 3), v (3,), m (3, 2)), and keyword arguments
    "add": (lambda T, x, v, m: (x, v), {"alpha": 2}),
    "sub": (lambda T, x, v, m: (x, 1), {}),
    "mul": (lambda T, x, v, m: (x, x), {}),
    "div": (lambda T, x, v, m: (x, 2), {}),
    "true_divide": (lambda T, x, v, m: (x, v), {}),
    "pow": (lambda T, x, v, m: (x, 2), {}),
    "square": (lambda T, x, v, m: (x,), {}),
    "exp": (lambda T, x, v, m: (x,), {}),
    "neg": (lambda T, x, v, m: (x,), {}),
    "sigmoid": (lambda T, x, v, m: (x,), {}),
    "clamp": (lambda T, x, v, m: (x, 0.2, 0.8), {}),
    "maximum": (lambda T, x, v, m: (x, v), {}),
    "sum": (lambda T, x, v, m: (x, 1), {}),
    "mean": (lambda T, x, v, m: (x, 0), {"keepdim": True}),
    "prod": (lambda T, x, v, m: (x, 1), {}),
    "amax": (lambda T, x, v, m: (x, 1), {}),
    "logsumexp": (lambda T, x, v, m: (x, 1), {}),
    "std": (lambda T, x, v, m: (x, 1), {}),
    "norm": (lambda T, x, v, m: (x,), {}),
    "cumsum": (lambda T, x, v, m: (x, 1), {}),
    "matmul": (lambda T, x, v, m: (x, m), {}),
    "mm": (lambda T, x, v, m: (x, m), {}),
    "mv": (lambda T, x, v, m: (x, v), {}),
    "dot": (lambda T, x, v, m: (v, v), {}),
    "outer": (lambda T, x, v, m: (v, v), {}),
    "cat": (lambda T, x, v, m: ([x, x],), {}),
    "stack": (lambda T, x, v, m: ([x, x], 1), {}),
    "where": (lambda T, x, v, m: (x > 0.5, x, v), {}),
    "gather": (lambda T, x, v, m: (x, 1, T.tensor([[0], [2]])), {}),
    "index_select": (lambda T, x, v, m: (x, 1, T.tensor([2, 0])), {}),
    "masked_select": (lambda T, x, v, m: (x, x > 0.5), {}),
    "tril": (lambda T, x, v, m: (x,), {}),
    "lerp": (lambda T, x, v, m: (x, v, 0.3), {}),
    "addcmul": (lambda T, x, v, m: (x, x, v), {"value": 0.5}),
    "eq": (lambda T, x, v, m: (x, v), {}),
    "logical_not": (lambda T, x, v, m: (x,), {}),
    "argmax": (lambda T, x, v, m: (x, 1), {}),
    "all": (lambda T, x, v, m: (x, 1), {}),
}


def operands(T, requires_grad: bool):
    x = T.tensor([[0.25, 0.75, 0.5], [1.5, 0.125, 0.625]], dtype=T.float64)
    v = T.tensor([0.5, 0.25, 2.0], dtype=T.float64)
    m = T.tensor([[1.0, 0.5], [-0.5, 2.0], [0.25, 1.0]], dtype=T.float64)
    return [t.requires_grad_(requires_grad) for t in (x, v, m)]


@pytest.mark.parametrize("name", list(CALLS))
def test_out_variants_write_or_refuse_as_torch(name: str) -> None:
    """With grad mode on, an input that requires grad makes a differentiable op refuse out=
    before writing; under no_grad (or for a non-differentiable op) the result is written into
    out, resized where its shape differs, and out itself is returned with one more version."""
    make_args, kwargs = CALLS[name]

    def scenario(T):
        def write(out, requires_grad):
            args = make_args(T, *operands(T, requires_grad))
            returned = getattr(T, name)(*args, out=out, **kwargs)
            assert returned is out
            return returned

        found = []
        for requires_grad in (False, True):
            out = T.zeros(2, 3, dtype=T.float64)
            found.append(written(lambda o=out, r=requires_grad: write(o, r)))
            found.append(describe(out))  # unchanged where it refused
        with T.no_grad():
            found.append(written(lambda: write(T.zeros(2, 3, dtype=T.float64), True)))
            found.append(written(lambda: write(T.zeros(0, dtype=T.float64), True)))
        return found

    compare(scenario)


DTYPE_CALLS = {  # ops whose out= dtype rules tapegrad follows: (op, args, out dtype)
    "add into float32": ("add", lambda T, x: (x, x), "float32"),
    "add into int64": ("add", lambda T, x: (x, x), "int64"),
    "exp into bool": ("exp", lambda T, x: (x,), "bool"),
    "eq into float32": ("eq", lambda T, x: (x, x), "float32"),
    "sum into int64": ("sum", lambda T, x: (x, 1), "int64"),  # computed in out's dtype
    "cumsum into int64": ("cumsum", lambda T, x: (x, 1), "int64"),
    "prod into float32": ("prod", lambda T, x: (x, 1), "float32"),
    "mm into float32": ("mm", lambda T, x: (x, x.t()), "float32"),
    "index_select into float32": ("index_select", lambda T, x: (x, 1, T.tensor([0])), "float32"),
    "masked_select into int64": ("masked_select", lambda T, x: (x, x > 0.5), "int64"),
    "gather into int64": ("gather", lambda T, x: (x, 1, T.tensor([[0], [1]])), "int64"),
    "where into float32": ("where", lambda T, x: (x > 0.5, x, x), "float32"),
    "dot into float32": ("dot", lambda T, x: (x[0], x[0]), "float32"),
    "amax into float32": ("amax", lambda T, x: (x, 1), "float32"),
    "logsumexp into int64": ("logsumexp", lambda T, x: (x, 1), "int64"),
    "cat into int64": ("cat", lambda T, x: ([x, x],), "int64"),
    "cat into float32": ("cat", lambda T, x: ([x, x],), "float32"),
    "argmax into float64": ("argmax", lambda T, x: (x, 1), "float64"),
    "all into float64": ("all", lambda T, x: (x, 1), "float64"),
}


@pytest.mark.parametrize("case", list(DTYPE_CALLS))
def test_out_dtype_rules_follow_torch(case: str) -> None:
    """Elementwise ops cast their result into out's dtype where torch's casting allows; others
    want out's dtype to match, each with torch's message; sum, prod and cumsum compute in out's
    dtype. An error
    leaves out untouched (torch resizes out before some of them: not compared)."""
    name, make_args, dtype = DTYPE_CALLS[case]

    def scenario(T):
        x = T.tensor([[0.25, 0.75, 0.5], [1.5, 0.125, 0.625]], dtype=T.float64)
        out = T.zeros(0, dtype=getattr(T, dtype))
        return written(lambda: getattr(T, name)(*make_args(T, x), out=out))

    compare(scenario)


def test_out_is_returned_resized_with_a_warning_and_views_keep_their_base() -> None:
    def scenario(T):
        x = T.ones(2, 3) * 1.5
        found = [written(lambda: T.add(x, x, out=T.zeros(5))),
                 written(lambda: T.add(x, x, out=T.zeros(0))),  # empty: resized silently
                 written(lambda: T.add(x, x, out=T.zeros(3, 2).t()))]  # keeps its strides
        base = T.zeros(10)
        view = base[2:8]
        found.append(written(lambda: T.add(x, x, out=view)))
        found.append((view._base is base, base.tolist()))
        out = T.zeros(2, 3)
        found.append(T.mul(x, 2, out=out) is out)
        return found

    compare(scenario)


def test_out_aliasing_an_input_and_inference_tensors() -> None:
    def scenario(T):
        found = []
        a = T.ones(3)
        found.append(written(lambda: T.add(a, 1, out=a)))  # the same memory: fine
        b = T.arange(4.0)
        found.append(written(lambda: T.add(b[:3], 1, out=b[1:])))  # partly: refused
        found.append(b.tolist())
        with T.inference_mode():
            frozen = T.zeros(3)
        found.append(written(lambda: T.exp(T.ones(3), out=frozen)))
        with T.inference_mode():
            found.append(written(lambda: T.exp(T.ones(3), out=frozen)))
        s = T.ones(3, requires_grad=True)
        normal = T.zeros(3)
        with T.inference_mode():  # autograd is off inside: no refusal
            found.append(written(lambda: T.mul(s, s, out=normal)))
        leaf = T.zeros(2, requires_grad=True)
        found.append(written(lambda: T.mul(T.ones(2), 2, out=leaf)))  # out requires grad
        with T.no_grad():
            found.append(written(lambda: T.mul(T.ones(2), 2, out=leaf)))
        found.append(written(lambda: T.add(T.ones(2), 1, out=[1])))
        return found

    found = compare(scenario)
    assert found[1][0][1].startswith("unsupported operation: some elements of the input")


@pytest.mark.parametrize("factory", ["zeros", "ones", "arange", "full", "eye", "linspace"])
def test_factories_with_out(factory: str) -> None:
    args = {"zeros": (2,), "ones": (2,), "arange": (3,), "full": ((2,), 1.5), "eye": (2,),
            "linspace": (0, 1, 3)}[factory]

    def scenario(T):
        fn = getattr(T, factory)
        return [written(lambda: fn(*args, out=T.zeros(2, requires_grad=True))),
                written(lambda: fn(*args, out=T.zeros(0, dtype=T.float64))),
                written(lambda: fn(*args, out=T.zeros(0, dtype=T.int64)))]

    found = compare(scenario)
    assert found[0][0][1].startswith(f"aten::{factory}(): functions with out=")
