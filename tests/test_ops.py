"""Generic op tests, parametrized over tests/op_db.py (ids are the op names).

For every OpSpec: forward values, dtypes and shapes vs torch 2.13; gradients vs torch (backward
with a random upstream gradient); ``grad_fn`` class names vs torch; float64 ``gradcheck``
(finite differences) and, where second order is meaningful, ``gradgradcheck``; and a check that
every ``Primitive`` in ``tapegrad.ops`` is run by some row. Then torch parity for type
promotion, dtype conversions and the Tensor repr.
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad import ops
from tapegrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from tests.op_db import FLOAT, OP_DB, Arg, OpSpec, Sample

torch = pytest.importorskip("torch")

FLOAT64_TOL = {"atol": 1e-9, "rtol": 1e-9}


# ----------------------------------------------------------------------------- helpers
def _params(kind: str) -> list[Any]:
    """OP_DB as pytest params for one test kind, with the row's strict xfail if any."""
    params = []
    for spec in OP_DB:
        marks = []
        if kind in spec.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=spec.xfail[kind]))
        params.append(pytest.param(spec, id=spec.name, marks=marks))
    return params


def _grad_params(kind: str) -> list[Any]:
    return [p for p in _params(kind) if p.values[0].grad]


def make_arrays(
    spec: OpSpec, sample: Sample, dtype: str, rng: np.random.Generator
) -> list[np.ndarray]:
    """NumPy data for one sample in one dtype case (shared by both libraries)."""
    arrays = []
    for arg in sample.args:
        if arg.kind == "index":
            if arg.values is not None:
                arrays.append(np.array(arg.values, dtype=np.int64))
            else:
                arrays.append(rng.integers(0, arg.high, arg.shape).astype(np.int64))
        elif arg.kind == "mask":
            values = arg.values if arg.values is not None else rng.random(arg.shape) < 0.5
            arrays.append(np.array(values, dtype=np.bool_))
        elif arg.kind == "fixed":
            arrays.append(np.array(arg.values, dtype=arg.dtype or dtype))
        else:
            arrays.append(_draw(spec, arg, dtype, rng))
    return [_contiguous(a) for a in arrays]


def _contiguous(array: np.ndarray) -> np.ndarray:
    """A C-ordered copy with proper strides (NumPy gives empty draws all-zero strides)."""
    out = np.empty(array.shape, dtype=array.dtype)
    out[...] = array
    return out


def _draw(spec: OpSpec, arg: Arg, dtype: str, rng: np.random.Generator) -> np.ndarray:
    low = spec.domain[0] if arg.low is None else arg.low
    high = spec.domain[1] if arg.high is None else arg.high
    np_dtype = np.dtype(dtype)
    if np_dtype == np.bool_:
        return rng.random(arg.shape) < 0.5
    if np_dtype.kind in "iu" or arg.ints:
        lo, hi = math.ceil(low), math.floor(high)
        if np_dtype.kind == "u":
            lo = max(lo, 0)
        return rng.integers(lo, max(hi, lo) + 1, arg.shape).astype(np_dtype)
    return rng.uniform(low, high, arg.shape).astype(np_dtype)


def is_diff(arg: Arg, array: np.ndarray) -> bool:
    return arg.grad and arg.kind in ("float", "fixed") and array.dtype.kind == "f"


def build(lib: Any, sample: Sample, arrays: list[np.ndarray], requires_grad: bool) -> list[Any]:
    """Fresh tensors of ``lib`` from the arrays; differentiable ones require grad if asked."""
    out = []
    for arg, array in zip(sample.args, arrays, strict=True):
        t = lib.tensor(_contiguous(array))
        if requires_grad and is_diff(arg, array):
            t.requires_grad_()
        out.append(t)
    return out


def flat(out: Any) -> list[Any]:
    """The tensors of a (possibly nested) op result, in order."""
    if isinstance(out, tuple | list):
        return [t for item in out for t in flat(item)]
    return [out]


def dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "").replace("tapegrad.", "")


def assert_same(ours: Any, theirs: Any, spec: OpSpec | None = None, what: str = "value") -> None:
    """Same dtype, shape and values (NaN-aware; float tolerances from the spec)."""
    assert isinstance(ours, tapegrad.Tensor), f"{what}: expected a tapegrad.Tensor, got {ours!r}"
    assert dtype_name(ours) == dtype_name(theirs), f"{what}: dtype {ours.dtype} vs {theirs.dtype}"
    assert tuple(ours.shape) == tuple(theirs.shape), f"{what}: shape {ours.shape} vs {theirs.shape}"
    a = ours.detach().numpy()
    b = theirs.detach().numpy()
    if a.dtype.kind == "f":
        tol = (
            FLOAT64_TOL
            if a.dtype == np.float64
            else ({"atol": spec.atol, "rtol": spec.rtol} if spec else {"atol": 1e-5, "rtol": 1e-5})
        )
        np.testing.assert_allclose(a, b, equal_nan=True, err_msg=what, **tol)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def grad_name(t: Any) -> str:
    return type(t.grad_fn).__name__


def cases(spec: OpSpec, dtypes: tuple[str, ...] | None = None) -> Iterator[tuple[str, Sample]]:
    for dtype in dtypes or spec.dtypes:
        for sample in spec.samples:
            yield dtype, sample


# ----------------------------------------------------------------------------- generic tests
@pytest.mark.parametrize("spec", _params("forward"))
def test_forward_matches_torch(spec: OpSpec, rng: np.random.Generator) -> None:
    """Values, dtypes and shapes of every output equal torch's, for every dtype case."""
    for dtype, sample in cases(spec):
        arrays = make_arrays(spec, sample, dtype, rng)
        torch_error: Exception | None = None
        try:
            theirs = flat(spec.run(torch, *build(torch, sample, arrays, False)))
        except Exception as error:  # torch refuses: tapegrad must raise the same builtin type
            torch_error = error
        if torch_error is not None:
            assert spec.error is None or spec.error in str(torch_error), str(torch_error)
            expected = next(c for c in type(torch_error).__mro__ if c.__module__ == "builtins")
            with pytest.raises(expected) as ours_error:
                spec.run(tapegrad, *build(tapegrad, sample, arrays, False))
            assert spec.error is None or spec.error in str(ours_error.value)
            continue
        assert spec.error is None, f"torch did not raise: {theirs}"
        ours = flat(spec.run(tapegrad, *build(tapegrad, sample, arrays, False)))
        assert len(ours) == len(theirs)
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, spec, f"{spec.name}[{dtype}] output {k}")


def _float_dtypes(spec: OpSpec) -> tuple[str, ...]:
    return tuple(d for d in spec.dtypes if d in FLOAT) or ("float64",)


@pytest.mark.parametrize("spec", _grad_params("grad"))
def test_grad_matches_torch(spec: OpSpec, rng: np.random.Generator) -> None:
    """requires_grad of the outputs and input gradients for a random upstream gradient."""
    for dtype, sample in cases(spec, _float_dtypes(spec)):
        arrays = make_arrays(spec, sample, dtype, rng)
        our_in = build(tapegrad, sample, arrays, True)
        their_in = build(torch, sample, arrays, True)
        ours = flat(spec.run(tapegrad, *our_in))
        theirs = flat(spec.run(torch, *their_in))
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert a.requires_grad == b.requires_grad, f"output {k} requires_grad"
        pairs = [(a, b) for a, b in zip(ours, theirs, strict=True) if b.requires_grad]
        if not pairs:
            continue
        upstream = [rng.standard_normal(tuple(b.shape)).astype(dtype_name(b)) for _, b in pairs]
        tapegrad.autograd.backward([a for a, _ in pairs], [tapegrad.tensor(u) for u in upstream])
        torch.autograd.backward([b for _, b in pairs], [torch.tensor(u) for u in upstream])
        for i, (a, b) in enumerate(zip(our_in, their_in, strict=True)):
            if not b.requires_grad:
                continue
            assert (a.grad is None) == (b.grad is None), f"input {i}: grad {a.grad} vs {b.grad}"
            if b.grad is not None:
                tol = {"atol": spec.grad_atol, "rtol": spec.grad_rtol}
                if dtype == "float64":
                    tol = {"atol": min(spec.grad_atol, 1e-8), "rtol": min(spec.grad_rtol, 1e-8)}
                assert dtype_name(a.grad) == dtype_name(b.grad)
                assert tuple(a.grad.shape) == tuple(b.grad.shape)
                np.testing.assert_allclose(
                    a.grad.numpy(), b.grad.numpy(), err_msg=f"{spec.name}[{dtype}] input {i}", **tol
                )


@pytest.mark.parametrize("spec", [p for p in _grad_params("grad_fn") if p.values[0].grad_fn_name])
def test_grad_fn_name_matches_torch(spec: OpSpec, rng: np.random.Generator) -> None:
    """``type(out.grad_fn).__name__`` equals torch's for every output."""
    for dtype, sample in cases(spec, ("float64",)):
        arrays = make_arrays(spec, sample, dtype, rng)
        ours = flat(spec.run(tapegrad, *build(tapegrad, sample, arrays, True)))
        theirs = flat(spec.run(torch, *build(torch, sample, arrays, True)))
        assert [grad_name(a) for a in ours] == [grad_name(b) for b in theirs]


def _checkable(spec: OpSpec, sample: Sample, arrays: list[np.ndarray]) -> bool:
    return sample.gradcheck and any(
        is_diff(arg, a) for arg, a in zip(sample.args, arrays, strict=True)
    )


@pytest.mark.parametrize("spec", _grad_params("gradcheck"))
def test_gradcheck(spec: OpSpec, rng: np.random.Generator) -> None:
    """Reverse mode equals float64 central finite differences on every smooth sample."""
    checked = 0
    for dtype, sample in cases(spec, ("float64",)):
        arrays = make_arrays(spec, sample, dtype, rng)
        if not _checkable(spec, sample, arrays):
            continue
        inputs = build(tapegrad, sample, arrays, True)
        assert gradcheck(lambda *xs: spec.fn(tapegrad, *xs), tuple(inputs), **spec.gradcheck_kwargs)
        checked += 1
    assert checked or not any(s.gradcheck for s in spec.samples)


@pytest.mark.parametrize("spec", [p for p in _grad_params("gradgradcheck") if p.values[0].gradgrad])
def test_gradgradcheck(spec: OpSpec, rng: np.random.Generator) -> None:
    """Second-order gradients equal finite differences of first-order ones (one sample)."""
    candidates = []
    for dtype, sample in cases(spec, ("float64",)):
        arrays = make_arrays(spec, sample, dtype, rng)
        if _checkable(spec, sample, arrays):
            candidates.append((not all(a.size for a in arrays), sample, arrays))
    assert candidates, "no smooth sample for gradgradcheck"
    _, sample, arrays = min(candidates, key=lambda c: c[0])  # prefer one with no empty input
    inputs = build(tapegrad, sample, arrays, True)
    assert gradgradcheck(lambda *xs: spec.fn(tapegrad, *xs), tuple(inputs), **spec.gradcheck_kwargs)


def _all_primitives() -> dict[int, str]:
    return {id(v): name for name, v in vars(ops).items() if isinstance(v, ops.Primitive)}


def test_every_primitive_is_exercised(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """Each ``Primitive`` in tapegrad.ops runs or is recorded (forward or backward) for some row.

    The dispatcher's ``_forward`` (every primitive run) and ``_record`` (every node, including
    regenerated views whose forward never runs) are wrapped to note the primitive.
    """
    seen: set[int] = set()
    tensor_module = importlib.import_module("tapegrad.tensor")  # tapegrad.tensor is the factory
    for name in ("_forward", "_record"):
        original = getattr(tensor_module, name)

        def recording(
            prim: ops.Primitive, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            seen.add(id(prim))
            return _original(prim, *args, **kwargs)

        monkeypatch.setattr(tensor_module, name, recording)
    for spec in OP_DB:
        if spec.error is not None:
            continue
        dtype = "float64" if "float64" in spec.dtypes else spec.dtypes[0]
        for sample in spec.samples:
            arrays = make_arrays(spec, sample, dtype, rng)
            outs = [
                o
                for o in flat(spec.run(tapegrad, *build(tapegrad, sample, arrays, spec.grad)))
                if o.requires_grad
            ]
            if outs:
                tapegrad.autograd.backward(outs, [o.detach().zeros_like() for o in outs])
    missing = sorted(name for key, name in _all_primitives().items() if key not in seen)
    assert not missing, f"primitives without an OpSpec row in tests/op_db.py: {missing}"


# ----------------------------------------------------------------------------- type promotion
def _scalar_or_tensor(lib: Any, value: Any) -> Any:
    """("t", dtype, shape) builds a tensor; anything else is a Python scalar."""
    if isinstance(value, tuple) and value and value[0] == "t":
        _, dtype, shape = value
        return lib.tensor(np.full(shape, dtype != "bool" and 2, dtype=dtype))
    return value


PROMOTION_OPERANDS = [
    ("t", "float32", (2,)),
    ("t", "float64", (2,)),
    ("t", "int64", (2,)),
    ("t", "int32", (2,)),
    ("t", "int8", (2,)),
    ("t", "uint8", (2,)),
    ("t", "bool", (2,)),
    ("t", "float64", ()),
    ("t", "int64", ()),
    ("t", "bool", ()),
    ("t", "uint8", ()),
    ("t", "float32", ()),
]
PROMOTION_SCALARS = [2, 2.5, True]
PROMOTION_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b,
    "sub": lambda a, b: a - b,
    "lt": lambda a, b: a < b,
}


def _bool_sub(op: str, a: Any, b: Any) -> bool:
    """Subtraction with a bool operand (torch refuses; see test_sub_with_a_bool_operand_raises)."""
    return op == "sub" and any(
        v is True or (isinstance(v, tuple) and v[1] == "bool") for v in (a, b)
    )


def _run_both(fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    """Run fn with both libraries; return (result or exception type) for each."""
    results = []
    for lib in (tapegrad, torch):
        try:
            results.append(fn(lib))
        except (RuntimeError, TypeError) as error:
            results.append(type(error))
    return results[0], results[1]


def _assert_parity(ours: Any, theirs: Any, what: str) -> None:
    if isinstance(theirs, type):
        assert ours is theirs or (isinstance(ours, type) and issubclass(ours, theirs)), (
            f"{what}: torch raised {theirs.__name__}, tapegrad gave {ours!r}"
        )
        return
    assert not isinstance(ours, type), f"{what}: tapegrad raised {ours.__name__}"
    assert_same(ours, theirs, None, what)


@pytest.mark.parametrize("op", ["add", "mul", "truediv", "sub", "lt"])
@pytest.mark.parametrize("left", PROMOTION_OPERANDS[:7], ids=lambda v: f"{v[1]}{list(v[2])}")
def test_promotion_tensor_tensor(op: str, left: Any) -> None:
    """tensor (op) tensor: dimensioned and 0-d operands of every dtype pair, as torch."""
    fn = PROMOTION_OPS[op]
    for right in PROMOTION_OPERANDS:
        for a, b in ((left, right), (right, left)):
            if _bool_sub(op, a, b):
                continue
            ours, theirs = _run_both(
                lambda lib, a=a, b=b: fn(_scalar_or_tensor(lib, a), _scalar_or_tensor(lib, b))
            )
            _assert_parity(ours, theirs, f"{a} {op} {b}")


@pytest.mark.parametrize("op", ["add", "mul", "truediv", "sub", "lt"])
def test_promotion_tensor_scalar(op: str) -> None:
    """tensor (op) Python scalar and scalar (op) tensor: weak scalars, int / int -> float."""
    fn = PROMOTION_OPS[op]
    for operand in PROMOTION_OPERANDS:
        for scalar in PROMOTION_SCALARS:
            for a, b in ((operand, scalar), (scalar, operand)):
                if _bool_sub(op, a, b):
                    continue
                ours, theirs = _run_both(
                    lambda lib, a=a, b=b: fn(_scalar_or_tensor(lib, a), _scalar_or_tensor(lib, b))
                )
                _assert_parity(ours, theirs, f"{a} {op} {b}")


@pytest.mark.parametrize(
    "expr",
    [
        "lib.tensor([True, False]) - lib.tensor([True, True])",
        "lib.tensor([1.0, 2.0]) - lib.tensor([True, False])",
        "lib.tensor([True, False]) - lib.tensor([1, 2])",
        "lib.tensor([1.0, 2.0]) - True",
        "True - lib.tensor([1.0, 2.0])",
        "lib.tensor([True]) - 1",
        "lib.tensor([1, 2]).sub(lib.tensor(True))",
    ],
)
def test_sub_with_a_bool_operand_raises(expr: str) -> None:
    """torch refuses subtraction whenever an operand is a bool tensor or True/False."""
    ours, theirs = _run_both(lambda lib: eval(expr, {"lib": lib}))
    _assert_parity(ours, theirs, expr)


@pytest.mark.parametrize(
    "expr",
    [
        "lib.tensor([1, 2]) / 2",
        "lib.tensor([1, 2]) / lib.tensor([2, 4])",
        "lib.tensor([1, 2]) // 2",
        "lib.tensor([1, 2], dtype=lib.uint8) + lib.tensor([1], dtype=lib.int8)",
        "lib.tensor([1, 2], dtype=lib.int8) * 1000",
        "lib.tensor([True, False]) + lib.tensor([True, True])",
        "lib.tensor([True, False]) * 2.5",
        "lib.tensor([1.0, 2.0]) + lib.tensor(1.0, dtype=lib.float64)",
        "lib.tensor([1, 2]) + lib.tensor(1.5, dtype=lib.float64)",
        "lib.tensor([1, 2], dtype=lib.int32) + lib.tensor(5)",
        "lib.tensor([1.0], dtype=lib.float64) * lib.tensor([2.0])",
        "lib.tensor([1, 2]).float() ** 2",
        "lib.tensor([1, 2]) ** 2",
        "lib.tensor([1, 2]) ** 0.5",
        "2 ** lib.tensor([1, 2])",
        "2.0 ** lib.tensor([1, 2])",
        "lib.tensor([3, -3]) % 2",
        "lib.tensor([3, -3]) % 2.5",
        "lib.tensor([1, 2]).sqrt()",
        "lib.tensor([True]).exp()",
        "lib.tensor([1, 2], dtype=lib.uint8).sum()",
        "lib.tensor([1, 2], dtype=lib.int32).cumsum(0)",
        "lib.tensor([True, True]).sum()",
        "lib.tensor([1, 2]).mean(dtype=lib.float64)",
        "lib.where(lib.tensor([True, False]), lib.tensor([1, 2]), 2.5)",
        "lib.where(lib.tensor([True, False]), lib.tensor([1.0, 2.0]), lib.tensor([1, 2]))",
        "lib.where(lib.tensor([True, False]), 1, 0)",
        "lib.cat([lib.tensor([1, 2]), lib.tensor([1.5], dtype=lib.float64)])",
        "lib.tensor([1, 2]).clamp(0.5)",
        "lib.tensor([1.0, 2.0]).maximum(lib.tensor([1, 3]))",
        "lib.tensor([1, 2]) == 1.0",
        "lib.tensor([1, 2]).masked_fill(lib.tensor([True, False]), 3.7)",
        "lib.tensor([1.0, 2.0], dtype=lib.float64).masked_fill(lib.tensor([True, False]), 3.7)",
    ],
)
def test_promotion_expressions(expr: str) -> None:
    """Assorted promotion corners: int division, uint8/int8, bool arithmetic, reductions."""
    ours, theirs = _run_both(lambda lib: eval(expr, {"lib": lib}))
    _assert_parity(ours, theirs, expr)


@pytest.mark.parametrize(
    "expr",
    [
        "lib.tensor([1, 2]).add_(1.5)",
        "lib.tensor([1.0, 2.0]).add_(lib.tensor([1.0], dtype=lib.float64))",
        "lib.tensor([1, 2], dtype=lib.uint8).mul_(2)",
        "lib.tensor([True]).add_(1)",
        "lib.tensor([1, 2]).div_(2)",
        "lib.tensor([1.0, 2.0]).copy_(lib.tensor([3, 4]))",
    ],
)
def test_inplace_promotion(expr: str) -> None:
    """In-place results keep self's dtype, or fail like torch when the result can't be cast."""
    ours, theirs = _run_both(lambda lib: eval(expr, {"lib": lib}))
    _assert_parity(ours, theirs, expr)


# ----------------------------------------------------------------------------- conversions
CONVERSION_SOURCES = ["float32", "float64", "int64", "int32", "uint8", "bool"]


@pytest.mark.parametrize("source", CONVERSION_SOURCES)
@pytest.mark.parametrize(
    "conversion",
    [
        "float",
        "double",
        "long",
        "int",
        "bool",
        "half",
        "byte",
        "char",
        "short",
        "to_float64",
        "to_int64",
        "to_bool",
        "to_kw_float32",
        "to_same",
        "type_as_int",
        "type_as_double",
        "type_double",
    ],
)
def test_dtype_conversion(source: str, conversion: str) -> None:
    """float(), double(), long(), int(), bool(), to(...) and type_as, including truncation."""
    values = (
        np.array([-1.7, 0.0, 0.4, 2.5, 3.9])
        if source != "bool"
        else np.array([True, False, True, True, False])
    )
    if source == "uint8":
        values = np.abs(values)
    array = values.astype(source)

    def convert(lib: Any) -> Any:
        x = lib.tensor(array.copy())
        if conversion.startswith("to_kw_"):
            return x.to(dtype=getattr(lib, conversion[6:]))
        if conversion == "to_same":
            return x.to(x.dtype)
        if conversion.startswith("to_"):
            return x.to(getattr(lib, conversion[3:]))
        if conversion.startswith("type_as_"):
            other = lib.tensor([1], dtype=lib.int32 if conversion.endswith("int") else lib.float64)
            return x.type_as(other)
        if conversion == "type_double":
            return x.type(lib.float64)
        return getattr(x, conversion)()

    ours, theirs = _run_both(convert)
    _assert_parity(ours, theirs, f"{source}.{conversion}")


def test_to_same_dtype_returns_self() -> None:
    x = tapegrad.tensor([1.0, 2.0])
    tx = torch.tensor([1.0, 2.0])
    assert (x.to(tapegrad.float32) is x) == (tx.to(torch.float32) is tx)
    assert (x.float() is x) == (tx.float() is tx)


def test_conversion_grad() -> None:
    """Gradients flow through casts and come back in the input's dtype."""
    grads = []
    for lib in (tapegrad, torch):
        x = lib.tensor([1.5, -2.0], requires_grad=True)
        y = x.double() * lib.tensor([2.0, 3.0], dtype=lib.float64)
        y.sum().backward()
        grads.append(x.grad)
    assert_same(grads[0], grads[1])


def test_type_string() -> None:
    for name in ("float32", "float64", "int64", "bool"):
        ours = tapegrad.tensor([1], dtype=getattr(tapegrad, name)).type()
        theirs = torch.tensor([1], dtype=getattr(torch, name)).type()
        assert ours == theirs.replace("torch.", "tapegrad.")


# ----------------------------------------------------------------------------- repr
REPR_CASES = [
    "lib.tensor([1.5, 2.0])",
    "lib.tensor([1.0, 2.0])",
    "lib.tensor([1, 2, 3])",
    "lib.tensor([True, False])",
    "lib.tensor(3.25)",
    "lib.tensor(7)",
    "lib.tensor(True)",
    "lib.tensor([])",
    "lib.zeros(0, 3)",
    "lib.zeros(2, 0, dtype=lib.int64)",
    "lib.tensor([float('nan'), float('inf'), -float('inf'), 1.5])",
    "lib.tensor([float('nan'), 1.0])",
    "lib.tensor([1e-5, 1.0])",
    "lib.tensor([1e10, 1.0])",
    "lib.tensor([123456.0, 0.5])",
    "lib.tensor([0.0, -0.0, 1.0])",
    "lib.tensor([-1.5, 2.25])",
    "lib.tensor([[1.0, 2.5], [-3.0, 4.0]])",
    "lib.tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])",
    "lib.tensor([[[1.5, 2.0]], [[3.0, 4.0]]])",
    "lib.arange(2000)",
    "lib.arange(2000.0)",
    "lib.arange(2000.0).reshape(40, 50)",
    "lib.arange(24).reshape(2, 3, 4)",
    "lib.arange(12.0) / 7",
    "lib.tensor([1.0, 2.0], dtype=lib.float64)",
    "lib.tensor([1, 2], dtype=lib.int32)",
    "lib.tensor([1, 2], dtype=lib.uint8)",
    "lib.tensor([1.0, 2.0], requires_grad=True)",
    "lib.tensor([1.0, 2.0], requires_grad=True) * 2",
    "lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True).sum()",
    "lib.tensor([[1.0, 2.0]], requires_grad=True)[0]",
    "lib.tensor([1.0, 2.0], dtype=lib.float16)",
    "lib.zeros(3, 2, 2)",
]


@pytest.mark.parametrize("expr", REPR_CASES)
def test_repr_matches_torch(expr: str) -> None:
    """repr(tensor) is torch's with "torch." replaced by "tapegrad."."""
    ours = repr(eval(expr, {"lib": tapegrad}))
    theirs = repr(eval(expr, {"lib": torch})).replace("torch.", "tapegrad.")
    assert ours == theirs


# ----------------------------------------------------------------------------- targeted parity
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize(
    ("dim", "correction"), [(1, 2), (1, 3), (0, 2), (None, 4), (None, 5), ((0, 1), 5)]
)
def test_var_std_with_nonpositive_degrees_of_freedom(op: str, dim: Any, correction: int) -> None:
    """correction >= N gives inf/nan values and gradients like torch (torch also warns)."""
    values = np.array([[1.0, 2.0], [3.0, 5.0]])
    results = []
    for lib in (tapegrad, torch):
        x = lib.tensor(values, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch: "degrees of freedom is <= 0"
            out = getattr(x, op)(dim, correction=correction)
            out.sum().backward()
        results.append((out, x.grad))
    assert_same(results[0][0], results[1][0])
    assert_same(results[0][1], results[1][1])


@pytest.mark.parametrize(
    ("expr", "phrase"),
    [("x // 2", "derivative for aten::floor_divide is not implemented"),
     ("5 % x", "derivative for aten::remainder is not implemented")],
)
def test_non_differentiable_ops_record_a_node_whose_backward_raises(expr: str, phrase: str) -> None:
    """x // y and scalar % x: the output requires grad, but backward raises (as torch)."""
    states = []
    for lib in (tapegrad, torch):
        x = lib.tensor([1.5, -2.5], requires_grad=True)
        out = eval(expr, {"x": x})
        states.append((out.requires_grad, grad_name(out)))
        with pytest.raises(RuntimeError, match=phrase):
            out.sum().backward()
    assert states[0] == states[1]


def test_div_floor_rounding_records_div_backward() -> None:
    results = []
    for lib in (tapegrad, torch):
        x = lib.tensor([1.5, -2.5], requires_grad=True)
        out = x.div(2, rounding_mode="floor")
        results.append((out.requires_grad, grad_name(out)))
    assert results[0] == results[1]


@pytest.mark.parametrize("value", [np.float64(2.0), np.int32(3), np.uint8(7)], ids=str)
def test_tensor_from_numpy_scalar_keeps_its_dtype(value: Any) -> None:
    assert_same(tapegrad.tensor(value), torch.tensor(value))


def test_stride_of_empty_tensor() -> None:
    assert tapegrad.zeros(0, 2).stride() == torch.zeros(0, 2).stride()


# ----------------------------------------------------------------------------- the gradcheck oracle
def _bad_primitive(vjp: Callable[..., Any]) -> ops.Primitive:
    """An exp with a deliberately wrong rule: gradcheck must catch it."""
    return ops.Primitive("exp", lambda x: np.exp(x), vjp=(vjp,), promote="float")


def _x64(values: list[float], lib: Any = tapegrad) -> Any:
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


def test_gradcheck_catches_a_wrong_first_derivative() -> None:
    wrong = _bad_primitive(lambda g, out: g * out * 1.01)
    x = _x64([0.5, -1.0])
    assert not gradcheck(lambda t: t._op(wrong), (x,), raise_exception=False)
    assert not gradcheck(lambda t: t._op(wrong), (x,), raise_exception=False, fast_mode=True)
    with pytest.raises(
        GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"
    ):
        gradcheck(lambda t: t._op(wrong), (x,))


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    # first order right, second order wrong: the saved output is used without its graph
    wrong = _bad_primitive(lambda g, out: g * out.detach())
    x = _x64([0.5, -1.0])
    assert gradcheck(lambda t: t._op(wrong), (x,))
    with pytest.raises(
        GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"
    ):
        gradgradcheck(lambda t: t._op(wrong), (x,))


def test_gradcheck_error_message_matches_torch() -> None:
    """Same error type and text (tensor reprs differ only in the module prefix)."""
    messages = []
    for lib in (tapegrad, torch):
        x = _x64([0.5, -1.0, 2.0], lib)
        check = gradcheck if lib is tapegrad else torch.autograd.gradcheck
        with pytest.raises(RuntimeError) as error:
            check(lambda t: t * t.detach(), (x,))
        messages.append(str(error.value).replace("torch.", "tapegrad."))
        assert type(error.value).__name__ == "GradcheckError"
    assert messages[0] == messages[1]


def test_gradcheck_input_checks_match_torch() -> None:
    for lib, check in ((tapegrad, gradcheck), (torch, torch.autograd.gradcheck)):
        with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
            check(lambda t: t * 2, (lib.ones(2, dtype=lib.float64),))
        with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double"):
            assert check(
                lambda t: t * 2, (lib.ones(2, requires_grad=True),), eps=1e-2, atol=1e-2, rtol=1e-2
            )
        expanded = lib.ones(1, dtype=lib.float64).expand(3).requires_grad_()
        with pytest.raises(RuntimeError, match="The 0th input has a dimension with stride 0"):
            check(lambda t: t * 2, (expanded,))
        with pytest.raises(RuntimeError, match="Numerical gradient for function expected to be"):
            check(lambda t: t.detach() * 2, (_x64([1.0], lib),))


def test_gradcheck_multiple_inputs_and_outputs() -> None:
    x, y = _x64([0.5, -1.0]), _x64([2.0, 0.3])
    index = tapegrad.tensor([1, 0])

    def fn(a: Any, i: Any, b: Any) -> Any:
        return a * b, (a.exp() + b)[i], a.argmax()

    assert gradcheck(fn, (x, index, y))
    assert gradcheck(fn, (x, index, y), fast_mode=True)
    assert gradgradcheck(fn, (x, index, y))


# In-place arithmetic outside autograd writes straight into the target (ops.Primitive.into);
# values, dtype, version and errors must stay torch's, including the cases that fall back.
_INPLACE_NO_GRAD = {
    "add_": lambda t, o: t.add_(o),
    "add_ alpha": lambda t, o: t.add_(o, alpha=-0.25),
    "sub_ alpha": lambda t, o: t.sub_(o, alpha=3),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
}
_OPERANDS = {
    "same shape": lambda lib, rng: lib.tensor(rng.standard_normal((2, 3)).astype(np.float32)),
    "broadcast row": lambda lib, rng: lib.tensor(rng.standard_normal(3).astype(np.float32)),
    "python number": lambda lib, rng: 1.5,
    "float64 tensor": lambda lib, rng: lib.tensor(rng.standard_normal((2, 3))),
    "wider than the target": lambda lib, rng: lib.ones(4, 2, 3),
}


@pytest.mark.parametrize("operand", list(_OPERANDS))
@pytest.mark.parametrize("op", list(_INPLACE_NO_GRAD))
@pytest.mark.parametrize("target", ["float32", "int64", "float32 view"])
def test_inplace_arithmetic_outside_autograd_matches_torch(
    op: str, operand: str, target: str, rng: np.random.Generator
) -> None:
    seed = int(rng.integers(1 << 30))
    outcomes = []
    for lib in (tapegrad, torch):
        draw = np.random.default_rng(seed)
        base = lib.tensor(draw.standard_normal((2, 3)).astype(np.float32) * 4)
        if target == "int64":
            base = base.to(lib.int64)
        weight = lib.ones(2, 3, requires_grad=True)  # no_grad: nothing recorded even so
        with lib.no_grad():
            tensor = base[:, :] if target == "float32 view" else base * weight
            other = _OPERANDS[operand](lib, draw)
            try:
                result = _INPLACE_NO_GRAD[op](tensor, other)
            except RuntimeError as error:
                outcomes.append(("error", str(error).split(" ")[0], tensor.tolist(),
                                 tensor._version))
                continue
        assert result is tensor
        assert tensor.grad_fn is None
        outcomes.append((str(tensor.dtype).split(".")[1], np.round(tensor.tolist(), 4).tolist(),
                         tensor._version, base.tolist()))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("scalar", [1.5, -3, 2**24 + 1, 2**63, 10**30, -(2**63) - 1, True,
                                    1e300, -1e-320])
@pytest.mark.parametrize("op", ["mul", "add", "sub", "div", "rsub", "radd"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_python_scalar_operands_match_torch(op: str, scalar: Any, dtype: str) -> None:
    # the dispatcher's tensor-and-Python-number fast path, and the general promotion path
    # beside it (huge ints, int tensors); no NumPy cast warning may leak (filterwarnings=error)
    outcomes = []
    for lib in (tapegrad, torch):
        x = lib.tensor([0.5, -2.0, 3.0]).to(getattr(lib, dtype))
        fn = {"mul": lambda t: t * scalar, "add": lambda t: t + scalar,
              "sub": lambda t: t - scalar, "div": lambda t: t / scalar,
              "rsub": lambda t: scalar - t, "radd": lambda t: scalar + t}
        try:
            result = fn[op](x)
        except (RuntimeError, OverflowError) as error:
            outcomes.append(type(error).__name__)
            continue
        values = np.asarray(result.tolist(), dtype=np.float64)
        outcomes.append((str(result.dtype).split(".")[1], str(values.round(3).tolist())))
    assert outcomes[0] == outcomes[1]
