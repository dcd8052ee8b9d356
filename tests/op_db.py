"""The op database: one ``OpSpec`` row per op form, driving the generic tests in test_ops.py.

A row names the op, gives one callable ``fn(lib, *inputs)`` that runs it with either library
(``lib`` is the ``tapegrad`` or the ``torch`` module; both share the Tensor-method API), an
optional ``torch_fn`` where the spellings differ, and the sample inputs. Each sample is a tuple
of ``Arg`` records (a bare shape tuple means a float input drawn from the row's ``domain``).
Flags say which generic checks apply; tolerances are per row.

Adding an op: add a row here. The generic tests then compare forward values, dtypes and shapes
with torch, gradients and ``grad_fn`` names with torch, run float64 ``gradcheck`` and, where
``gradgrad`` is set, ``gradgradcheck``; ``test_every_primitive_is_exercised`` fails until some
row runs every ``Primitive`` in ``tapegrad.ops``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tapegrad
from tapegrad import ops

FLOAT = ("float32", "float64")
FLOAT_INT = ("float32", "float64", "int64")
ALL = ("float32", "float64", "int64", "bool")


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Arg:
    """One input of a sample.

    kind: ``"float"`` follows the dtype case under test (random in [low, high], integers for
    integer dtypes, random bits for bool); ``"index"`` is int64 (``values`` or random in
    [0, high)); ``"mask"`` is random bool (or ``values``); ``"fixed"`` is ``values`` in the
    dtype case (or in ``dtype`` when given). ``ints``: draw integer-valued floats (ties).
    ``grad``: a float input that the gradient tests differentiate.
    """

    shape: tuple[int, ...] = ()
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    values: Any = None
    dtype: str | None = None
    ints: bool = False
    grad: bool = True


def F(
    *shape: int,
    low: float | None = None,
    high: float | None = None,
    ints: bool = False,
    grad: bool = True,
) -> Arg:
    """A float input (dtype of the case under test)."""
    return Arg(tuple(shape), "float", low, high, ints=ints, grad=grad)


def Fixed(values: Any, dtype: str | None = None, grad: bool = True) -> Arg:
    """Explicit values (ties, zeros, nan/inf) in the case's dtype, or in ``dtype``."""
    return Arg((), "fixed", values=values, dtype=dtype, grad=grad)


def Index(values: Any = None, shape: tuple[int, ...] = (), high: int = 1) -> Arg:
    """An int64 index tensor."""
    return Arg(shape, "index", high=high, values=values)


def Mask(*shape: int, values: Any = None) -> Arg:
    """A bool tensor."""
    return Arg(tuple(shape), "mask", values=values)


@dataclass(frozen=True)
class Sample:
    """The inputs of one call; ``gradcheck=False`` where the point is not smooth (ties)."""

    args: tuple[Arg, ...]
    gradcheck: bool = True


@dataclass(frozen=True)
class OpSpec:
    """One op form. ``fn(lib, *inputs)`` runs it with ``lib`` = tapegrad or torch.

    Flags: ``grad`` (differentiable: gradient, grad_fn and gradcheck tests), ``gradgrad``
    (second order is meaningful: gradgradcheck), ``grad_fn_name`` (compare the node class name;
    off only where torch's name comes from an internal decomposition). ``xfail`` maps a test
    kind ("forward", "grad", "grad_fn", "gradcheck", "gradgradcheck") to the reason of a known
    core bug; those tests are strict xfails. ``error``: torch raises for this row, and the
    forward test checks that tapegrad raises the same builtin exception type and that this key
    phrase is in both messages.
    """

    name: str
    fn: Callable[..., Any]
    samples: tuple[Any, ...]
    torch_fn: Callable[..., Any] | None = None
    domain: tuple[float, float] = (-2.0, 2.0)
    dtypes: tuple[str, ...] = FLOAT
    grad: bool = True
    gradgrad: bool = True
    grad_fn_name: bool = True
    atol: float = 1e-5
    rtol: float = 1e-5
    grad_atol: float = 1e-4
    grad_rtol: float = 1e-4
    gradcheck_kwargs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    xfail: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        samples = []
        for sample in self.samples:
            if isinstance(sample, Arg):
                raise TypeError(f"{self.name}: samples must be a tuple of samples, not of Args")
            if not isinstance(sample, Sample):
                sample = Sample(tuple(a if isinstance(a, Arg) else Arg(tuple(a)) for a in sample))
            samples.append(sample)
        object.__setattr__(self, "samples", tuple(samples))

    def run(self, lib: Any, *inputs: Any) -> Any:
        """Run the op with ``lib``: ``torch_fn`` for torch when given, else ``fn``."""
        if lib is not tapegrad and self.torch_fn is not None:
            return self.torch_fn(lib, *inputs)
        return self.fn(lib, *inputs)


# ----------------------------------------------------------------------------- sample sets
UNARY = ((F(3),), (F(2, 3),), (F(),), (F(0, 2),))
BINARY = (
    (F(2, 3), F(2, 3)),
    (F(2, 3), F(3)),  # broadcasting
    (F(2, 1), F(1, 3)),  # both broadcast
    (F(), F(2, 3)),  # 0-d with dimensioned
    (F(2, 3), F()),
    (F(0, 3), F(3)),  # empty
)
REDUCE = ((F(2, 3),), (F(3, 1, 2),))
REDUCE_0D = ((F(2, 3),), (F(),))
VAR = ((F(2, 3),), (F(3, 2, 2),))  # no reduced dim of size 1: torch warns when dof <= 0


def _setitem(key: Any) -> Callable[..., Any]:
    def run(lib: Any, x: Any, value: Any) -> Any:
        y = x.clone()
        y[key] = value
        return y

    return run


def _view_after_base_inplace(lib: Any, x: Any) -> Any:
    """A view whose base is modified in place: its grad_fn is regenerated (AsStrided)."""
    base = x.clone()
    view = base[0]
    base.mul_(2)
    return view


def _inplace_on_view(lib: Any, x: Any, y: Any) -> Any:
    """An in-place op through a view: the base gets a CopySlices node."""
    base = x.clone()
    base[1].mul_(y)
    return base


def _masked_fill_(lib: Any, x: Any, mask: Any) -> Any:
    return x.clone().masked_fill_(mask, -1.5)


# ----------------------------------------------------------------------------- the rows
def _unary_rows() -> list[OpSpec]:
    rows = []
    table: list[tuple[str, tuple[float, float], dict[str, Any]]] = [
        ("exp", (-2.0, 2.0), {}),
        ("expm1", (-2.0, 2.0), {}),
        ("log", (0.2, 3.0), {}),
        ("log1p", (-0.8, 3.0), {}),
        ("log2", (0.2, 3.0), {}),
        ("log10", (0.2, 3.0), {}),
        ("sqrt", (0.2, 3.0), {}),
        ("rsqrt", (0.2, 3.0), {}),
        ("sin", (-3.0, 3.0), {}),
        ("cos", (-3.0, 3.0), {}),
        ("tan", (-1.2, 1.2), {}),
        ("tanh", (-2.0, 2.0), {}),
        ("sigmoid", (-4.0, 4.0), {}),
        ("erf", (-2.0, 2.0), {}),
        ("reciprocal", (0.3, 2.0), {}),
        ("square", (-2.0, 2.0), {}),
        ("neg", (-2.0, 2.0), {"gradgrad": False}),
        ("abs", (-2.0, 2.0), {"gradgrad": False}),
        ("relu", (-2.0, 2.0), {"gradgrad": False}),
        ("sign", (-2.0, 2.0), {"gradgrad": False}),
        ("floor", (-3.0, 3.0), {"gradgrad": False}),
        ("ceil", (-3.0, 3.0), {"gradgrad": False}),
        ("round", (-3.0, 3.0), {"gradgrad": False}),
        ("trunc", (-3.0, 3.0), {"gradgrad": False}),
    ]
    for name, domain, kw in table:
        rows.append(
            OpSpec(
                name,
                lambda lib, x, _m=name: getattr(x, _m)(),
                UNARY,
                domain=domain,
                dtypes=FLOAT_INT,
                **kw,
            )
        )
    rows += [
        OpSpec(
            "frac",
            lambda lib, x: x.frac(),
            UNARY,
            domain=(-3.0, 3.0),
            gradgrad=False,
        ),
        _error(
            "error_frac_int",
            lambda lib: lib.tensor([3]).frac(),
            '"frac_cpu" not implemented',
        ),
        OpSpec(
            "abs_int8", lambda lib, x: x.abs(), ((F(4),),), dtypes=("int8", "uint8"), grad=False
        ),
        OpSpec("neg_operator", lambda lib, x: -x, UNARY, dtypes=FLOAT_INT, gradgrad=False),
        OpSpec("abs_operator", lambda lib, x: abs(x), UNARY, gradgrad=False),
        OpSpec(
            "round_decimals",
            lambda lib, x: x.round(decimals=2),
            UNARY,
            gradgrad=False,
        ),
        OpSpec("functional_exp", lambda lib, x: lib.exp(x), UNARY),
        OpSpec(
            "sigmoid_extreme",
            lambda lib, x: x.sigmoid(),
            (Sample((Fixed([-100.0, -20.0, 0.0, 20.0, 100.0]),), gradcheck=False),),
            gradgrad=False,
            grad_atol=1e-6,
        ),
        OpSpec(
            "gelu",
            lambda lib, x: x._op(ops.gelu_p, approximate="none"),
            UNARY,
            torch_fn=lambda lib, x: lib.nn.functional.gelu(x, approximate="none"),
            domain=(-3.0, 3.0),
        ),
        OpSpec(
            "gelu_tanh",
            lambda lib, x: x._op(ops.gelu_p, approximate="tanh"),
            UNARY,
            torch_fn=lambda lib, x: lib.nn.functional.gelu(x, approximate="tanh"),
            domain=(-3.0, 3.0),
        ),
        OpSpec(
            "silu",
            lambda lib, x: x._op(ops.silu_p),
            UNARY,
            torch_fn=lambda lib, x: lib.nn.functional.silu(x),
            domain=(-4.0, 4.0),
        ),
        OpSpec(
            "softplus",
            lambda lib, x: x._op(ops.softplus_p, beta=1.0, threshold=20.0),
            UNARY,
            torch_fn=lambda lib, x: lib.nn.functional.softplus(x),
            domain=(-4.0, 4.0),
        ),
        OpSpec(
            "softplus_beta_threshold",
            lambda lib, x: x._op(ops.softplus_p, beta=2.0, threshold=1.0),
            UNARY,
            torch_fn=lambda lib, x: lib.nn.functional.softplus(x, beta=2.0, threshold=1.0),
            domain=(-2.0, 2.0),
        ),
        OpSpec(
            "isnan",
            lambda lib, x: x.isnan(),
            ((Fixed([1.0, math.nan, math.inf, -math.inf]),), (F(2, 3),)),
            grad=False,
        ),
        OpSpec(
            "isinf",
            lambda lib, x: x.isinf(),
            ((Fixed([1.0, math.nan, math.inf, -math.inf]),), (F(2, 3),)),
            grad=False,
        ),
        OpSpec(
            "isfinite",
            lambda lib, x: x.isfinite(),
            ((Fixed([1.0, math.nan, math.inf, -math.inf]),), (F(2, 3),)),
            grad=False,
        ),
        OpSpec(
            "nan_inf_propagation",
            lambda lib, x: (x.exp(), x.log(), x * 0),
            ((Fixed([0.0, -1.0, math.nan, math.inf, -math.inf]),),),
            grad=False,
        ),
    ]
    return rows


def _clamp_rows() -> list[OpSpec]:
    return [
        OpSpec("clamp", lambda lib, x: x.clamp(-0.5, 0.7), UNARY, dtypes=FLOAT_INT, gradgrad=False),
        OpSpec("clamp_min", lambda lib, x: x.clamp(min=0.1), UNARY, gradgrad=False),
        OpSpec("clamp_max", lambda lib, x: x.clamp(max=-0.1), UNARY, gradgrad=False),
        OpSpec("clip", lambda lib, x: x.clip(-1, 1), UNARY, dtypes=FLOAT_INT, gradgrad=False),
        OpSpec("functional_clamp", lambda lib, x: lib.clamp(x, min=-1.0), UNARY, gradgrad=False),
        OpSpec(
            "clamp_tensor",
            lambda lib, x, lo, hi: x.clamp(lo, hi),
            ((F(2, 3), F(3, low=-2, high=-0.5), F(2, 1, low=0.5, high=2)),),
            gradgrad=False,
        ),
    ]


def _binary_rows() -> list[OpSpec]:
    pos = ((F(2, 3, low=0.5, high=2.0),),)
    rows = [
        OpSpec("add", lambda lib, x, y: x + y, BINARY, dtypes=ALL),
        OpSpec("add_method_alpha", lambda lib, x, y: x.add(y, alpha=2), BINARY, dtypes=FLOAT_INT),
        OpSpec("add_scalar", lambda lib, x: x + 2.5, UNARY, dtypes=ALL),
        OpSpec("radd_scalar", lambda lib, x: 3 + x, UNARY, dtypes=ALL),
        OpSpec("functional_add", lambda lib, x, y: lib.add(x, y), BINARY),
        OpSpec("sub", lambda lib, x, y: x - y, BINARY, dtypes=FLOAT_INT),
        OpSpec("sub_alpha", lambda lib, x, y: x.sub(y, alpha=0.5), BINARY),
        OpSpec("sub_scalar", lambda lib, x: x - 1, UNARY, dtypes=FLOAT_INT),
        OpSpec("rsub_scalar", lambda lib, x: 2 - x, UNARY, dtypes=FLOAT_INT),
        OpSpec("mul", lambda lib, x, y: x * y, BINARY, dtypes=ALL),
        OpSpec("mul_scalar", lambda lib, x: x * 1.5, UNARY, dtypes=ALL),
        OpSpec("rmul_scalar", lambda lib, x: 2 * x, UNARY, dtypes=ALL),
        OpSpec(
            "div",
            lambda lib, x, y: x / y,
            tuple((a, Arg(b.shape, low=0.5, high=2.0)) for a, b in BINARY),
            dtypes=FLOAT_INT,
        ),
        OpSpec(
            "div_negative_divisor",
            lambda lib, x, y: x.div(y),
            ((F(2, 3), F(3, low=-2.0, high=-0.5)),),
            dtypes=FLOAT_INT,
        ),
        OpSpec("div_scalar", lambda lib, x: x / 4, UNARY, dtypes=FLOAT_INT),
        OpSpec(
            "rdiv_scalar", lambda lib, x: 2 / x, ((F(2, 3, low=0.5, high=2.0),),), dtypes=FLOAT_INT
        ),
        OpSpec(
            "div_int_by_int",
            lambda lib, x, y: x / y,
            ((F(2, 3), F(3, low=1.0, high=3.0)),),
            dtypes=("int64",),
            grad=False,
        ),
        OpSpec(
            "div_trunc",
            lambda lib, x, y: x.div(y, rounding_mode="trunc"),
            ((F(2, 3, low=-3, high=3), F(3, low=0.5, high=2.0)),),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "div_floor",
            lambda lib, x, y: x.div(y, rounding_mode="floor"),
            ((F(2, 3, low=-3, high=3), F(3, low=0.5, high=2.0)),),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "floor_divide",
            lambda lib, x, y: x // y,
            (
                (F(2, 3, low=-3, high=3), F(3, low=0.5, high=2.0)),
                (F(2, 3, low=-3, high=3), F(3, low=-2.0, high=-0.5)),
            ),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "floor_divide_scalar",
            lambda lib, x: x // 2,
            ((F(2, 3, low=-5, high=5),),),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "rfloordiv_scalar",
            lambda lib, x: 7 // x,
            ((F(2, 3, low=1, high=3),),),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "remainder",
            lambda lib, x, y: x % y,
            (
                (F(2, 3, low=-3, high=3), F(3, low=0.5, high=2.0)),
                (F(2, 3, low=-3, high=3), F(3, low=-2.0, high=-0.5)),
            ),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "remainder_scalar",
            lambda lib, x: x % 1.5,
            ((F(2, 3, low=-3, high=3),),),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "rmod_scalar",
            lambda lib, x: 5 % x,
            ((F(2, 3, low=1, high=3),),),
            dtypes=FLOAT_INT,
            grad=False,  # torch records a node whose backward raises (test_ops checks it)
        ),
        OpSpec(
            "pow",
            lambda lib, x, y: x**y,
            (
                (F(2, 3, low=0.5, high=2.0), F(2, 3)),
                (F(2, 3, low=0.5, high=2.0), F(3)),
                (F(low=0.5, high=2.0), F(2, 3)),
            ),
            dtypes=FLOAT,
        ),
        OpSpec(
            "pow_int_tensors",
            lambda lib, x, y: x.pow(y),
            ((F(2, 3, low=1, high=3), F(3, low=0, high=3)),),
            dtypes=("int64",),
            grad=False,
        ),
        OpSpec(
            "pow_int_negative_exponent",
            lambda lib, x, y: x**y,
            ((Fixed([0, 1, -1, -1, 2, -2, 3]), Fixed([-1, -2, -2, -3, -1, -1, 2])),),
            dtypes=("int64", "int32"),
            grad=False,
        ),
        OpSpec("pow_scalar", lambda lib, x: x**2, UNARY, dtypes=FLOAT_INT),
        OpSpec("pow_scalar_float", lambda lib, x: x**2.5, pos, dtypes=FLOAT_INT),
        OpSpec("pow_scalar_negative", lambda lib, x: x**-1.5, pos),
        OpSpec("pow_scalar_zero", lambda lib, x: x.pow(0), UNARY, gradgrad=False),
        OpSpec(
            "pow_zero_base",
            lambda lib, x, y: x**y,
            # 0 ** y is not differentiable in y at y == 0: torch parity only
            (Sample((Fixed([0.0, 0.0, 2.0]), Fixed([2.0, 0.0, 1.5])), gradcheck=False),),
            gradgrad=False,
        ),
        OpSpec("rpow_scalar", lambda lib, x: 2**x, UNARY, dtypes=FLOAT_INT),
        OpSpec("rpow_scalar_float_base", lambda lib, x: 0.5**x, UNARY),
        OpSpec(
            "maximum", lambda lib, x, y: lib.maximum(x, y), BINARY, dtypes=FLOAT_INT, gradgrad=False
        ),
        OpSpec("minimum", lambda lib, x, y: x.minimum(y), BINARY, dtypes=FLOAT_INT, gradgrad=False),
        OpSpec(
            "maximum_ties",
            lambda lib, x, y: x.maximum(y),
            (Sample((Fixed([1.0, 2.0, -1.0]), Fixed([1.0, 0.0, -1.0])), gradcheck=False),),
            gradgrad=False,
        ),
        OpSpec(
            "minimum_ties",
            lambda lib, x, y: x.minimum(y),
            (Sample((Fixed([1.0, 2.0, -1.0]), Fixed([1.0, 0.0, -1.0])), gradcheck=False),),
            gradgrad=False,
        ),
        OpSpec("max_binary", lambda lib, x, y: x.max(y), BINARY[:2], gradgrad=False),
        OpSpec("lerp", lambda lib, x, y: x.lerp(y, 0.3), BINARY[:3]),
        OpSpec(
            "lerp_tensor_weight",
            lambda lib, x, y, w: x.lerp(y, w),
            ((F(2, 3), F(3), F(2, 1)),),
        ),
        OpSpec(
            "addcmul",
            lambda lib, x, y, z: x.addcmul(y, z, value=0.5),
            ((F(2, 3), F(3), F(2, 1)),),
        ),
        OpSpec(
            "addcdiv",
            lambda lib, x, y, z: x.addcdiv(y, z, value=0.5),
            ((F(2, 3), F(3), F(2, 1, low=1.0, high=2.0)),),
        ),
    ]
    return rows


def _comparison_rows() -> list[OpSpec]:
    rows = []
    ints = (F(2, 3, ints=True), F(3, ints=True))
    for name, fn in [
        ("eq", lambda lib, x, y: x == y),
        ("ne", lambda lib, x, y: x != y),
        ("lt", lambda lib, x, y: x < y),
        ("le", lambda lib, x, y: x <= y),
        ("gt", lambda lib, x, y: x > y),
        ("ge", lambda lib, x, y: x >= y),
    ]:
        rows.append(
            OpSpec(
                name,
                fn,
                (ints, (F(), F(2, 2)), (F(0), F(1))),
                dtypes=("float32", "float64", "int64", "bool"),
                grad=False,
            )
        )
    rows += [
        OpSpec(
            "eq_scalar",
            lambda lib, x: x.eq(1),
            ((F(2, 3, ints=True),),),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "lt_scalar_float",
            lambda lib, x: x < 0.5,
            ((F(2, 3, ints=True),),),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "gt_mixed_dtypes",
            lambda lib, x, y: x > y,
            ((F(2, 3, ints=True), Fixed([0.5, 1.0, -1.0], dtype="float32")),),
            dtypes=("int64", "bool"),
            grad=False,
        ),
        OpSpec("logical_and", lambda lib, x, y: x.logical_and(y), (ints,), dtypes=ALL, grad=False),
        OpSpec(
            "logical_or", lambda lib, x, y: lib.logical_or(x, y), (ints,), dtypes=ALL, grad=False
        ),
        OpSpec("logical_xor", lambda lib, x, y: x.logical_xor(y), (ints,), dtypes=ALL, grad=False),
        OpSpec(
            "logical_not",
            lambda lib, x: x.logical_not(),
            ((F(2, 3, ints=True),),),
            dtypes=ALL,
            grad=False,
        ),
        OpSpec(
            "bitwise_and", lambda lib, x, y: x & y, (ints,), dtypes=("int64", "bool"), grad=False
        ),
        OpSpec(
            "bitwise_or", lambda lib, x, y: x | y, (ints,), dtypes=("int64", "bool"), grad=False
        ),
        OpSpec(
            "bitwise_xor", lambda lib, x, y: x ^ y, (ints,), dtypes=("int64", "bool"), grad=False
        ),
        OpSpec(
            "bitwise_not",
            lambda lib, x: ~x,
            ((F(2, 3, ints=True),),),
            dtypes=("int64", "bool"),
            grad=False,
        ),
    ]
    return rows


def _select_rows() -> list[OpSpec]:
    return [
        OpSpec(
            "where",
            lambda lib, c, x, y: lib.where(c, x, y),
            ((Mask(2, 3), F(2, 3), F(2, 3)), (Mask(2, 1), F(3), F(2, 3)), (Mask(3), F(), F(2, 3))),
            dtypes=FLOAT_INT,
        ),
        OpSpec(
            "where_scalar",
            lambda lib, c, x: lib.where(c, x, 0.0),
            ((Mask(2, 3), F(2, 3)),),
            dtypes=FLOAT_INT,
        ),
        OpSpec("where_method", lambda lib, c, x, y: x.where(c, y), ((Mask(2, 3), F(2, 3), F(3)),)),
        OpSpec(
            "masked_fill",
            lambda lib, x, m: x.masked_fill(m, -1.0),
            ((F(2, 3), Mask(2, 3)), (F(2, 3), Mask(3)), (F(), Mask()), (F(0, 3), Mask(3))),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "masked_fill_tensor_value",
            lambda lib, x, m, v: x.masked_fill(m, v),
            ((F(2, 3), Mask(2, 3), F()),),
            gradgrad=False,
        ),
    ]


def _reduction_rows() -> list[OpSpec]:
    with_zeros = (
        Sample((Fixed([[1.5, 0.0, 2.0], [0.5, -1.0, 3.0]]),)),  # one zero
        Sample((Fixed([[0.0, 0.0, 2.0], [0.5, -1.0, 0.0]]),)),  # two zeros in a row
    )
    ties = Sample((Fixed([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]]),), gradcheck=False)
    return [
        OpSpec("sum", lambda lib, x: x.sum(), REDUCE_0D + ((F(0, 3),),), dtypes=ALL),
        OpSpec("sum_dim", lambda lib, x: x.sum(1), REDUCE, dtypes=ALL),
        OpSpec(
            "sum_dims_keepdim",
            lambda lib, x: x.sum((0, -1), keepdim=True),
            REDUCE,
            dtypes=FLOAT_INT,
        ),
        OpSpec("sum_dtype", lambda lib, x: x.sum(dtype=lib.float64), REDUCE, dtypes=FLOAT_INT),
        OpSpec("sum_empty_dim", lambda lib, x: x.sum(0), ((F(0, 3),),), gradgrad=False),
        OpSpec("functional_sum", lambda lib, x: lib.sum(x, 0), REDUCE),
        OpSpec("mean", lambda lib, x: x.mean(), REDUCE_0D + ((F(0),),)),
        OpSpec(
            "mean_empty_dim", lambda lib, x: x.mean(0), ((F(0, 3),), (F(2, 0),)), gradgrad=False
        ),
        OpSpec("mean_dim", lambda lib, x: x.mean(-1, keepdim=True), REDUCE),
        OpSpec("mean_dims", lambda lib, x: x.mean((0, 1)), REDUCE),
        OpSpec("prod", lambda lib, x: x.prod(), REDUCE_0D + with_zeros, dtypes=FLOAT_INT),
        OpSpec("prod_dim", lambda lib, x: x.prod(1), REDUCE + with_zeros, dtypes=FLOAT_INT),
        OpSpec("prod_dim_keepdim", lambda lib, x: x.prod(0, keepdim=True), REDUCE + with_zeros),
        OpSpec("var", lambda lib, x: x.var(), VAR),
        OpSpec("var_dim", lambda lib, x: x.var(1), VAR),
        OpSpec("var_correction0", lambda lib, x: x.var(0, correction=0, keepdim=True), VAR),
        OpSpec("var_unbiased_false", lambda lib, x: x.var(unbiased=False), VAR),
        OpSpec("std", lambda lib, x: x.std(), VAR),
        OpSpec("std_dim", lambda lib, x: x.std(-1, keepdim=True), VAR),
        OpSpec("std_correction0", lambda lib, x: x.std((0, 1), correction=0), VAR + REDUCE),
        OpSpec("amax", lambda lib, x: x.amax(), REDUCE_0D + (ties,), gradgrad=False),
        OpSpec("amax_dim", lambda lib, x: x.amax(1), REDUCE + (ties,), gradgrad=False),
        OpSpec(
            "amax_dims_keepdim",
            lambda lib, x: x.amax((0, 1), keepdim=True),
            REDUCE + (ties,),
            gradgrad=False,
        ),
        OpSpec(
            "amin", lambda lib, x: x.amin(0), REDUCE + (ties,), dtypes=FLOAT_INT, gradgrad=False
        ),
        OpSpec(
            "max", lambda lib, x: x.max(), REDUCE_0D + (ties,), dtypes=FLOAT_INT, gradgrad=False
        ),
        OpSpec(
            "min", lambda lib, x: x.min(), REDUCE_0D + (ties,), dtypes=FLOAT_INT, gradgrad=False
        ),
        OpSpec(
            "max_dim",
            lambda lib, x: tuple(x.max(1)),
            REDUCE + (ties,),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "max_dim_keepdim",
            lambda lib, x: tuple(x.max(0, keepdim=True)),
            REDUCE + (ties,),
            gradgrad=False,
        ),
        OpSpec(
            "min_dim",
            lambda lib, x: tuple(x.min(-1)),
            REDUCE + (ties,),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "max_dim_named",
            lambda lib, x: (x.max(1).values, x.min(1).indices),
            REDUCE,
            gradgrad=False,
        ),
        OpSpec(
            "argmax", lambda lib, x: x.argmax(), REDUCE_0D + (ties,), dtypes=FLOAT_INT, grad=False
        ),
        OpSpec(
            "argmax_dim",
            lambda lib, x: x.argmax(1, keepdim=True),
            REDUCE + (ties,),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec("argmin", lambda lib, x: x.argmin(), REDUCE + (ties,), dtypes=FLOAT_INT, grad=False),
        OpSpec(
            "argmin_dim", lambda lib, x: x.argmin(0), REDUCE + (ties,), dtypes=FLOAT_INT, grad=False
        ),
        OpSpec("logsumexp", lambda lib, x: x.logsumexp(1), REDUCE),
        OpSpec("logsumexp_dims_keepdim", lambda lib, x: x.logsumexp((0, 1), keepdim=True), REDUCE),
        OpSpec(
            "logsumexp_inf",
            lambda lib, x: x.logsumexp(1),
            (Sample((Fixed([[-math.inf, -math.inf], [1.0, -math.inf]]),), gradcheck=False),),
            grad=False,
        ),
        OpSpec("norm", lambda lib, x: x.norm(), REDUCE),
        OpSpec("norm_fro", lambda lib, x: x.norm(p="fro"), REDUCE),
        OpSpec("norm_p1", lambda lib, x: x.norm(p=1), REDUCE, gradgrad=False),
        OpSpec("norm_p2_dim", lambda lib, x: x.norm(p=2, dim=1), REDUCE),
        OpSpec("norm_p3_dim_keepdim", lambda lib, x: x.norm(p=3, dim=0, keepdim=True), REDUCE),
        OpSpec("norm_inf", lambda lib, x: x.norm(p=math.inf), REDUCE, gradgrad=False),
        OpSpec("norm_inf_dim", lambda lib, x: x.norm(p=math.inf, dim=-1), REDUCE, gradgrad=False),
        OpSpec(
            "all", lambda lib, x: x.all(), ((F(2, 3, ints=True),), (F(0),)), dtypes=ALL, grad=False
        ),
        OpSpec(
            "all_dim",
            lambda lib, x: x.all(1, keepdim=True),
            ((F(2, 3, ints=True),),),
            dtypes=ALL,
            grad=False,
        ),
        OpSpec(
            "any", lambda lib, x: x.any(), ((F(2, 3, ints=True),), (F(0),)), dtypes=ALL, grad=False
        ),
        OpSpec(
            "any_dim", lambda lib, x: x.any(0), ((F(2, 3, ints=True),),), dtypes=ALL, grad=False
        ),
        OpSpec("cumsum", lambda lib, x: x.cumsum(0), REDUCE + ((F(),),), dtypes=ALL),
        OpSpec("cumsum_last", lambda lib, x: x.cumsum(-1), REDUCE, dtypes=FLOAT_INT),
        OpSpec("softmax", lambda lib, x: x.softmax(1), REDUCE),
        OpSpec("softmax_dim0", lambda lib, x: x.softmax(0), REDUCE + ((F(),),), dtypes=FLOAT),
        OpSpec("log_softmax", lambda lib, x: x.log_softmax(-1), REDUCE),
        OpSpec("log_softmax_dim0", lambda lib, x: lib.log_softmax(x, 0), REDUCE),
        OpSpec(
            "softmax_large", lambda lib, x: x.softmax(-1), ((Fixed([[1000.0, 0.0, -1000.0]]),),)
        ),
        OpSpec(
            "log_softmax_large",
            lambda lib, x: x.log_softmax(-1),
            ((Fixed([[1000.0, 0.0, -1000.0]]),),),
        ),
    ]


def _linalg_rows() -> list[OpSpec]:
    return [
        OpSpec(
            "matmul",
            lambda lib, a, b: a @ b,
            (
                (F(3), F(3)),
                (F(2, 3), F(3)),
                (F(2, 3), F(3, 4)),
                (F(2, 2, 3), F(2, 3, 2)),
                (F(2, 1, 2, 3), F(3, 3, 2)),
                (F(2, 2, 3), F(3, 2)),  # folded into one mm
                (F(2, 3, 0), F(0, 2)),  # folded: the rows are counted, not inferred
                (F(2, 3), F(2, 3, 2)),  # folded, transposed (torch: a contiguous copy)
                (F(0, 3), F(3, 2)),
            ),
        ),
        OpSpec(
            "matmul_vector_matrix",
            lambda lib, a, b: a @ b,
            ((F(3), F(3, 2)), (F(2, 2, 3), F(3)), (F(3), F(2, 3, 2))),
        ),
        OpSpec("functional_matmul", lambda lib, a, b: lib.matmul(a, b), ((F(2, 3), F(3, 2)),)),
        OpSpec("mm", lambda lib, a, b: a.mm(b), ((F(2, 3), F(3, 4)), (F(1, 1), F(1, 2)))),
        OpSpec("bmm", lambda lib, a, b: lib.bmm(a, b), ((F(2, 2, 3), F(2, 3, 2)),)),
        OpSpec("mv", lambda lib, a, b: a.mv(b), ((F(2, 3), F(3)),)),
        OpSpec("dot", lambda lib, a, b: a.dot(b), ((F(3), F(3)),)),
        OpSpec("outer", lambda lib, a, b: a.outer(b), ((F(3), F(2)),)),
        OpSpec(
            "matmul_int",
            lambda lib, a, b: a @ b,
            ((F(2, 3), F(3, 2)),),
            dtypes=("int64",),
            grad=False,
        ),
        OpSpec(
            "einsum_mm",
            lambda lib, a, b: lib.einsum("ij,jk->ik", a, b),
            ((F(2, 3), F(3, 2)),),
            grad_fn_name=False,
        ),
        OpSpec(
            "einsum_diag", lambda lib, a: lib.einsum("ii->i", a), ((F(3, 3),),), grad_fn_name=False
        ),
        OpSpec(
            "einsum_trace_implicit",
            lambda lib, a: lib.einsum("ii", a),
            ((F(3, 3),),),
            grad_fn_name=False,
        ),
        OpSpec(
            "einsum_outer_implicit",
            lambda lib, a, b: lib.einsum("i,j", a, b),
            ((F(3), F(2)),),
            grad_fn_name=False,
        ),
        OpSpec(
            "einsum_ellipsis",
            lambda lib, a, b: lib.einsum("...ij,...jk->...ik", a, b),
            ((F(2, 2, 3), F(2, 3, 2)), (F(2, 3), F(3, 2))),
            grad_fn_name=False,
        ),
        OpSpec(
            "einsum_batch_sum",
            lambda lib, a, b: lib.einsum("bij,bj->i", a, b),
            ((F(2, 2, 3), F(2, 3)),),
            grad_fn_name=False,
        ),
        OpSpec(
            "einsum_sum_all",
            lambda lib, a: lib.einsum("ij->", a),
            ((F(2, 3),),),
            grad_fn_name=False,
        ),
        OpSpec(
            "einsum_list_operands",
            lambda lib, a, b: lib.einsum("ij,kj", [a, b]),
            ((F(2, 3), F(2, 3)),),
            grad_fn_name=False,
        ),
    ]


def _view_rows() -> list[OpSpec]:
    x23 = ((F(2, 3),),)
    x234 = ((F(2, 3, 2),),)
    return [
        OpSpec("reshape", lambda lib, x: x.reshape(3, -1), x23, dtypes=ALL),
        OpSpec("reshape_0d", lambda lib, x: x.reshape(1, 1), ((F(),),)),
        OpSpec("reshape_noncontiguous", lambda lib, x: x.t().reshape(-1), x23),
        OpSpec("functional_reshape", lambda lib, x: lib.reshape(x, (6,)), x23),
        OpSpec("view", lambda lib, x: x.view(3, 2), x23, dtypes=ALL),
        OpSpec("view_as", lambda lib, x, y: x.view_as(y), ((F(2, 3), F(6, grad=False)),)),
        OpSpec("flatten", lambda lib, x: x.flatten(), x234 + ((F(),),), dtypes=FLOAT_INT),
        OpSpec("flatten_range", lambda lib, x: x.flatten(1, 2), x234),
        OpSpec("unflatten", lambda lib, x: x.unflatten(1, (3, 1)), x23),
        OpSpec("squeeze", lambda lib, x: x.squeeze(), ((F(2, 1, 3, 1),), (F(1),))),
        OpSpec("squeeze_dim", lambda lib, x: x.squeeze(1), ((F(2, 1, 3),), (F(2, 3),))),
        OpSpec("unsqueeze", lambda lib, x: x.unsqueeze(0), x23 + ((F(),),)),
        OpSpec("unsqueeze_last", lambda lib, x: x.unsqueeze(-1), x23),
        OpSpec("permute", lambda lib, x: x.permute(2, 0, 1), x234, dtypes=FLOAT_INT),
        OpSpec("transpose", lambda lib, x: x.transpose(0, -1), x234),
        OpSpec("t", lambda lib, x: x.t(), x23 + ((F(3),), (F(),))),
        OpSpec("T", lambda lib, x: x.T, x23),  # torch warns for T on non-2-D tensors
        OpSpec("mT", lambda lib, x: x.mT, x23 + x234),
        OpSpec("expand", lambda lib, x: x.expand(2, 3, -1), ((F(3, 1),), (F(1),))),
        OpSpec("expand_0d", lambda lib, x: x.expand(2, 2), ((F(),),)),
        OpSpec("expand_as", lambda lib, x, y: x.expand_as(y), ((F(3), F(2, 3, grad=False)),)),
        OpSpec("narrow", lambda lib, x: x.narrow(1, 1, 2), x23 + x234),
        OpSpec("select", lambda lib, x: x.select(1, -1), x23 + x234),
        OpSpec("unbind", lambda lib, x: x.unbind(1), x23),
        OpSpec("split", lambda lib, x: x.split(2, dim=1), x23 + x234),
        OpSpec("split_sizes", lambda lib, x: x.split([1, 2], dim=1), x23),
        OpSpec("chunk", lambda lib, x: x.chunk(2, dim=-1), x23),
        OpSpec("chunk_even", lambda lib, x: x.chunk(2), ((F(4, 2),),)),
        OpSpec("diagonal", lambda lib, x: x.diagonal(), x23 + ((F(3, 3),),)),
        OpSpec("diagonal_offset", lambda lib, x: x.diagonal(1), x23 + ((F(3, 3),),)),
        OpSpec("diagonal_negative_offset", lambda lib, x: x.diagonal(-1), ((F(3, 2),),)),
        OpSpec("diagonal_dims", lambda lib, x: x.diagonal(0, 1, 2), x234),
        OpSpec("movedim", lambda lib, x: x.movedim(0, -1), x234),
        OpSpec("movedim_multi", lambda lib, x: x.movedim((0, 1), (2, 0)), x234),
        OpSpec("view_after_base_inplace", _view_after_base_inplace, x23),
    ]


def _indexing_rows() -> list[OpSpec]:
    x34 = F(3, 4)
    return [
        OpSpec("getitem_int", lambda lib, x: x[1], ((x34,),), dtypes=ALL),
        OpSpec("getitem_negative_int", lambda lib, x: x[-1, 2], ((x34,),)),
        OpSpec("getitem_slice", lambda lib, x: x[:, 1:3], ((x34,),), dtypes=ALL),
        OpSpec("getitem_step", lambda lib, x: x[::2, 1::2], ((x34,),)),
        OpSpec("getitem_none_ellipsis", lambda lib, x: x[..., None, 1:], ((x34,),)),
        OpSpec("getitem_full_slice", lambda lib, x: x[:], ((x34,),)),
        OpSpec("getitem_ellipsis", lambda lib, x: x[...], ((x34,),)),
        OpSpec("getitem_list", lambda lib, x: x[[0, 2, 0]], ((x34,),), dtypes=ALL),
        OpSpec("getitem_index_tensor", lambda lib, x, i: x[i], ((x34, Index([[2, 0], [1, 1]])),)),
        OpSpec(
            "getitem_advanced_two",
            lambda lib, x, i, j: x[i, j],
            ((x34, Index([0, 2, 2]), Index([3, 1, 3])),),
        ),
        OpSpec("getitem_advanced_slice_mix", lambda lib, x, i: x[:, i], ((x34, Index([1, 0, 1])),)),
        OpSpec("getitem_mask", lambda lib, x, m: x[m], ((x34, Mask(3, 4)),), dtypes=ALL),
        OpSpec("getitem_row_mask", lambda lib, x, m: x[m], ((x34, Mask(3)),)),
        OpSpec("getitem_comparison_mask", lambda lib, x: x[x > 0], ((x34,),)),
        OpSpec("setitem_basic", _setitem((0, slice(1, None))), ((x34, F(3)),), dtypes=FLOAT_INT),
        OpSpec("setitem_scalar", _setitem(1), ((x34, Fixed(2.5, grad=False)),)),
        OpSpec("setitem_advanced", _setitem([2, 0]), ((x34, F(4)),)),
        OpSpec(
            "setitem_mask", lambda lib, x, m, v: _setitem(m)(lib, x, v), ((x34, Mask(3, 4), F()),)
        ),
        OpSpec(
            "gather",
            lambda lib, x, i: x.gather(1, i),
            ((x34, Index([[0, 3], [1, 1], [2, 0]])), (x34, Index([[0, 3, 1]]))),
        ),
        OpSpec(
            "functional_gather",
            lambda lib, x, i: lib.gather(x, 0, i),
            ((x34, Index([[0, 1, 2, 0], [2, 2, 1, 0]])),),
        ),
        OpSpec("sort", lambda lib, x: x.sort(-1, descending=True).values, ((x34,), (F(4),))),
        OpSpec("topk", lambda lib, x: x.topk(2, dim=0).values, ((x34,), (F(4),))),
        OpSpec(
            "scatter",
            lambda lib, x, i, s: x.scatter(0, i, s),
            ((F(3, 3), Index([[0, 1], [2, 0]]), F(2, 2)),),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        # torch's own backward fails for a src larger than index ("invalid gradient")
        OpSpec(
            "scatter_large_src",
            lambda lib, x, i, s: x.scatter(0, i, s),
            ((F(3, 3), Index([[0, 1], [2, 0]]), F(2, 3)),),
            dtypes=FLOAT_INT,
            grad=False,
        ),
        OpSpec(
            "scatter_value",
            lambda lib, x, i: x.scatter(1, i, 1.5),
            ((F(3, 3), Index([[0, 2], [1, 0]])),),
            gradgrad=False,
        ),
        OpSpec(
            "scatter_add",
            lambda lib, x, i, s: x.scatter_add(0, i, s),
            ((F(3, 3), Index([[0, 1, 0], [0, 2, 0]]), F(2, 3)),),
            dtypes=FLOAT_INT,
        ),
        OpSpec(
            "index_select",
            lambda lib, x, i: x.index_select(-1, i),
            ((x34, Index([3, 0, 3])), (F(4), Index([1, 1]))),
        ),
        OpSpec(
            "index_add",
            lambda lib, x, i, s: x.index_add(0, i, s, alpha=2.0),
            ((x34, Index([2, 0, 2]), F(3, 4)),),
        ),
        OpSpec(
            "index_put", lambda lib, x, i, v: x.index_put((i,), v), ((x34, Index([2, 0]), F(4)),)
        ),
        OpSpec(
            "index_put_accumulate",
            lambda lib, x, i, v: x.index_put((i,), v, accumulate=True),
            ((x34, Index([2, 0, 2]), F(3, 4)),),
        ),
        OpSpec(
            "masked_select",
            lambda lib, x, m: x.masked_select(m),
            ((x34, Mask(4)),),
        ),
    ]


def _join_rows() -> list[OpSpec]:
    x23 = ((F(2, 3),),)
    return [
        OpSpec(
            "cat",
            lambda lib, x, y: lib.cat([x, y]),
            ((F(2, 3), F(1, 3)), (F(0, 3), F(2, 3))),
            dtypes=ALL,
        ),
        OpSpec("cat_dim1", lambda lib, x, y: lib.cat((x, y), dim=-1), ((F(2, 3), F(2, 1)),)),
        OpSpec(
            "cat_legacy_empty",
            lambda lib, x, y: lib.cat([x, y], 1),
            ((F(2, 3), F(0)),),
        ),
        OpSpec(
            "cat_mixed_dtypes",
            lambda lib, x, y: lib.cat([x, y]),
            ((F(2), Fixed([1, 2], dtype="int64")),),
        ),
        OpSpec(
            "stack",
            lambda lib, x, y: lib.stack([x, y]),
            ((F(2, 3), F(2, 3)), (F(), F())),
            dtypes=ALL,
        ),
        OpSpec("stack_last", lambda lib, x, y: lib.stack([x, y], dim=-1), ((F(2, 3), F(2, 3)),)),
        OpSpec("tril", lambda lib, x: x.tril(), x23 + ((F(2, 3, 3),),), dtypes=FLOAT_INT),
        OpSpec("tril_offset", lambda lib, x: x.tril(-1), x23),
        OpSpec("triu", lambda lib, x: x.triu(1), x23 + ((F(3, 3),),), dtypes=FLOAT_INT),
        OpSpec("flip", lambda lib, x: x.flip(0), x23 + ((F(3),), (F(),)), dtypes=FLOAT_INT),
        OpSpec("flip_dims", lambda lib, x: x.flip((0, -1)), x23),
        OpSpec("roll", lambda lib, x: x.roll(1, 1), x23, dtypes=FLOAT_INT),
        OpSpec("roll_multi", lambda lib, x: x.roll((1, -1), (0, 1)), x23),
        OpSpec(
            "roll_flat",
            lambda lib, x: x.roll(2),
            x23,
        ),
        OpSpec("repeat", lambda lib, x: x.repeat(2, 1, 2), x23 + ((F(),),), dtypes=FLOAT_INT),
        OpSpec("tile", lambda lib, x: x.tile(2), x23),
        OpSpec(
            "pad",
            lambda lib, x: x._op(ops.pad_p, pad=(1, 2), value=0.0),
            x23 + ((F(3),),),
            torch_fn=lambda lib, x: lib.nn.functional.pad(x, (1, 2)),
        ),
        OpSpec(
            "pad_2d_value",
            lambda lib, x: x._op(ops.pad_p, pad=(1, 0, 0, 2), value=1.5),
            x23,
            torch_fn=lambda lib, x: lib.nn.functional.pad(x, (1, 0, 0, 2), value=1.5),
        ),
        OpSpec(
            "pad_negative",
            lambda lib, x: x._op(ops.pad_p, pad=(-1, 1), value=0.0),
            x23,
            torch_fn=lambda lib, x: lib.nn.functional.pad(x, (-1, 1)),
        ),
    ]


F32_CHECK = {"eps": 1e-3, "atol": 1e-3, "rtol": 1e-2}  # a float32 output: coarse differences


def _copy_rows() -> list[OpSpec]:
    return [
        OpSpec(
            "to_float64",
            lambda lib, x: x.to(lib.float64),
            ((F(2, 3),),),
            dtypes=("float32", "int64"),
        ),
        OpSpec(
            "to_float32",
            lambda lib, x: x.to(dtype=lib.float32),
            ((F(2, 3),),),
            dtypes=("float64", "int64", "bool"),
            gradgrad=False,
            gradcheck_kwargs=F32_CHECK,
        ),
        OpSpec("double", lambda lib, x: x.double(), ((F(2, 3),),), dtypes=ALL),
        OpSpec(
            "float",
            lambda lib, x: x.float(),
            ((F(2, 3),),),
            dtypes=ALL,
            gradgrad=False,
            gradcheck_kwargs=F32_CHECK,
        ),
        OpSpec(
            "type_as",
            lambda lib, x, y: x.type_as(y),
            ((F(2, 3), Fixed([1.0], dtype="float64", grad=False)),),
        ),
        OpSpec("clone", lambda lib, x: x.clone(), ((F(2, 3),), (F(),)), dtypes=ALL),
        OpSpec("contiguous", lambda lib, x: x.t().contiguous(), ((F(2, 3),),)),
    ]


def _inplace_rows() -> list[OpSpec]:
    b = ((F(2, 3), F(2, 3)), (F(2, 3), F(3)), (F(2, 3), F()))
    return [
        OpSpec("add_", lambda lib, x, y: x.clone().add_(y, alpha=2), b, dtypes=FLOAT_INT),
        OpSpec("iadd", _iop("__iadd__"), b, dtypes=FLOAT_INT),
        OpSpec("isub", _iop("__isub__"), b, dtypes=FLOAT_INT),
        OpSpec("ipow", _iop("__ipow__"), ((F(2, 3, low=0.5, high=2.0), F(3)),)),
        OpSpec("sub_", lambda lib, x, y: x.clone().sub_(y), b, dtypes=FLOAT_INT),
        OpSpec("mul_", lambda lib, x, y: x.clone().mul_(y), b, dtypes=FLOAT_INT),
        OpSpec("imul_scalar", lambda lib, x: _iop("__imul__")(lib, x, 3.0), ((F(2, 3),),)),
        OpSpec(
            "div_",
            lambda lib, x, y: x.clone().div_(y),
            tuple((p, Arg(q.shape, low=0.5, high=2.0)) for p, q in b),
        ),
        OpSpec("itruediv", _iop("__itruediv__"), ((F(2, 3), F(3, low=0.5, high=2.0)),)),
        OpSpec(
            "pow_", lambda lib, x, y: x.clone().pow_(y), ((F(2, 3, low=0.5, high=2.0), F(2, 3)),)
        ),
        OpSpec("pow_scalar_", lambda lib, x: x.clone().pow_(3), ((F(2, 3),),)),
        OpSpec("exp_", lambda lib, x: x.clone().exp_(), ((F(2, 3),),)),
        OpSpec("relu_", lambda lib, x: x.clone().relu_(), ((F(2, 3),),), gradgrad=False),
        OpSpec(
            "clamp_",
            lambda lib, x: x.clone().clamp_(-0.5, 0.5),
            ((F(2, 3),),),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec("zero_", lambda lib, x: x.clone().zero_(), ((F(2, 3),),), dtypes=ALL),
        OpSpec("fill_", lambda lib, x: x.clone().fill_(2.5), ((F(2, 3),),), dtypes=FLOAT_INT),
        OpSpec("fill_tensor_", lambda lib, x, v: x.clone().fill_(v), ((F(2, 3), F()),)),
        OpSpec("copy_", lambda lib, x, y: x.clone().copy_(y), b, dtypes=FLOAT_INT),
        OpSpec(
            "copy_cast",
            lambda lib, x, y: x.clone().copy_(y),
            ((F(2, 3), Fixed([1, 2, 3], dtype="int64")),),
        ),
        OpSpec(
            "masked_fill_",
            _masked_fill_,
            ((F(2, 3), Mask(2, 3)),),
            dtypes=FLOAT_INT,
            gradgrad=False,
        ),
        OpSpec(
            "index_add_",
            lambda lib, x, i, s: x.clone().index_add_(1, i, s),
            ((F(2, 3), Index([2, 2]), F(2, 2)),),
        ),
        OpSpec(
            "scatter_",
            lambda lib, x, i, s: x.clone().scatter_(0, i, s),
            ((F(3, 3), Index([[0, 1], [2, 0]]), F(2, 2)),),
            gradgrad=False,
        ),
        OpSpec("inplace_on_view", _inplace_on_view, ((F(3, 2), F(2)),)),
    ]


def _im2col_torch(
    lib: Any, x: Any, kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]
) -> Any:
    """torch's unfold ``(N, C*kh*kw, L)`` in tapegrad's patch layout ``(N, oh, ow, C, kh, kw)``."""
    n, c, h, w = x.shape
    oh = (h - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    cols = lib.nn.functional.unfold(x, kernel, dilation=dilation, stride=stride)
    return cols.reshape(n, c, *kernel, oh, ow).permute(0, 4, 5, 1, 2, 3)


def _col2im_torch(
    lib: Any,
    g: Any,
    size: tuple[int, int],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    stride: tuple[int, int],
) -> Any:
    n, oh, ow, c = g.shape[:4]
    cols = g.permute(0, 3, 4, 5, 1, 2).reshape(n, c * kernel[0] * kernel[1], oh * ow)
    return lib.nn.functional.fold(cols, size, kernel, dilation=dilation, stride=stride)


def _nn_primitive_rows() -> list[OpSpec]:
    """Primitives of the nn section, tested against torch's unfold / fold in their layout."""
    k, d, st = (2, 2), (1, 2), (1, 1)
    return [
        OpSpec(
            "im2col",
            lambda lib, x: x._op(ops.im2col_p, kernel_size=k, dilation=d, stride=st),
            ((F(1, 2, 3, 4),),),
            torch_fn=lambda lib, x: _im2col_torch(lib, x, k, d, st),
            grad_fn_name=False,
        ),
        OpSpec(
            "im2col_strided",
            lambda lib, x: x._op(ops.im2col_p, kernel_size=(2, 1), dilation=(1, 1), stride=(2, 2)),
            ((F(2, 1, 4, 3),),),
            torch_fn=lambda lib, x: _im2col_torch(lib, x, (2, 1), (1, 1), (2, 2)),
            grad_fn_name=False,
        ),
        OpSpec(
            "col2im",
            lambda lib, g: g._op(ops.col2im_p, size=(3, 4), kernel_size=k, dilation=d, stride=st),
            ((F(1, 2, 2, 2, 2, 2),),),
            torch_fn=lambda lib, g: _col2im_torch(lib, g, (3, 4), k, d, st),
            grad_fn_name=False,
        ),
        OpSpec(
            "binary_cross_entropy",
            lambda lib, x, y: x._op(ops.binary_cross_entropy_p, y),
            (
                (F(2, 3, low=0.05, high=0.95), F(2, 3, low=0.0, high=1.0)),
                (F(3, low=0.05, high=0.95), F(3, low=0.0, high=1.0)),
            ),
            torch_fn=lambda lib, x, y: lib.nn.functional.binary_cross_entropy(
                x, y, reduction="none"
            ),
        ),
        OpSpec("leaky_relu", lambda lib, x: lib.nn.functional.leaky_relu(x, 0.1), UNARY),
        OpSpec("leaky_relu_", lambda lib, x: lib.nn.functional.leaky_relu(x * 1, 0.1, True),
               UNARY),
        OpSpec("hardtanh", lambda lib, x: lib.nn.functional.hardtanh(x, -0.5, 0.5), UNARY),
        OpSpec("relu6", lambda lib, x: lib.nn.functional.relu6(x * 4), UNARY),
        OpSpec("mse_loss", lambda lib, x, y: lib.nn.functional.mse_loss(x, y),
               ((F(2, 3), F(2, 3)), (F(), F()), (F(0, 2), F(0, 2)))),
        OpSpec("mse_loss_sum", lambda lib, x, y: lib.nn.functional.mse_loss(x, y, reduction="sum"),
               ((F(2, 3), F(2, 3)),)),
        OpSpec("mse_loss_none",
               lambda lib, x, y: lib.nn.functional.mse_loss(x, y, reduction="none"),
               ((F(2, 3), F(2, 3)),)),
        # relu's and leaky_relu's backward ops, differentiable again (create_graph)
        OpSpec("threshold_backward",
               lambda lib, g, x: g._op(ops.threshold_backward_p, x, threshold=0.0),
               ((F(2, 3), F(2, 3)),),
               torch_fn=lambda lib, g, x: lib.ops.aten.threshold_backward(g, x, 0.0)),
        OpSpec("leaky_relu_backward",
               lambda lib, g, x: g._op(ops.leaky_relu_backward_p, x, negative_slope=0.1),
               ((F(2, 3), F(2, 3)),),
               torch_fn=lambda lib, g, x: lib.ops.aten.leaky_relu_backward(g, x, 0.1, False)),
    ]


def _error(name: str, fn: Callable[..., Any], phrase: str, **kw: Any) -> OpSpec:
    """A call torch refuses: same exception type, and ``phrase`` in both messages."""
    return OpSpec(name, fn, ((),), dtypes=("float32",), grad=False, error=phrase, **kw)


def _error_rows() -> list[OpSpec]:
    return [
        _error(
            "error_amax_empty",
            lambda lib: lib.zeros(0).amax(),
            "Expected reduction dim to be specified for input.numel() == 0",
        ),
        _error(
            "error_max_empty",
            lambda lib: lib.zeros(0).max(),
            "Expected reduction dim to be specified for input.numel() == 0",
        ),
        _error(
            "error_max_dim_empty",
            lambda lib: lib.zeros(0, 2).max(0),
            "Expected reduction dim 0 to have non-zero size",
        ),
        _error(
            "error_argmax_empty",
            lambda lib: lib.zeros(0).argmax(),
            "Expected reduction dim to be specified for input.numel() == 0",
        ),
        _error(
            "error_matmul_shapes",
            lambda lib: lib.ones(2, 3) @ lib.ones(2, 3),
            "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)",
        ),
        _error(
            "error_matmul_0d",
            lambda lib: lib.ones(()) @ lib.ones(3),
            "both arguments to matmul need to be at least 1D",
        ),
        _error(
            "error_mm_dtypes",
            lambda lib: lib.ones(2, 2).mm(lib.ones(2, 2, dtype=lib.float64)),
            "expected m1 and m2 to have the same dtype",
        ),
        _error(
            "error_broadcast",
            lambda lib: lib.ones(2, 3) + lib.ones(2),
            "must match the size of tensor b",
        ),
        _error(
            "error_cat_sizes",
            lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 2)]),
            "Sizes of tensors must match except in dimension 0",
        ),
        _error(
            "error_stack_sizes",
            lambda lib: lib.stack([lib.ones(2), lib.ones(3)]),
            "stack expects each tensor to be equal size",
        ),
        _error(
            "error_view_strides",
            lambda lib: lib.ones(2, 3).t().view(6),
            "view size is not compatible with input tensor's size and stride",
        ),
        _error(
            "error_reshape_numel",
            lambda lib: lib.ones(2, 3).reshape(4, 2),
            "shape '[4, 2]' is invalid for input of size 6",
        ),
        _error(
            "error_index_bounds",
            lambda lib: lib.ones(2, 3)[2],
            "index 2 is out of bounds for dimension 0 with size 2",
        ),
        _error(
            "error_index_list_bounds",
            lambda lib: lib.ones(2, 3)[[0, 5]],
            "index 5 is out of bounds for dimension 0 with size 2",
        ),
        _error(
            "error_select_bounds",
            lambda lib: lib.ones(2, 3).select(1, 3),
            "select(): index 3 out of range",
        ),
        _error("error_dim_range", lambda lib: lib.ones(2, 3).sum(2), "Dimension out of range"),
        _error(
            "error_gather_dims",
            lambda lib: lib.ones(2, 3).gather(0, lib.tensor([0, 1])),
            "Index tensor must have the same number of dimensions",
        ),
        _error(
            "error_index_select_bounds",
            lambda lib: lib.ones(2, 3).index_select(0, lib.tensor([2])),
            "index out of range in self",
        ),
        _error(
            "error_expand",
            lambda lib: lib.ones(2, 3).expand(3, 3),
            "The expanded size of the tensor (3) must match the existing size (2)",
        ),
        _error(
            "error_permute_duplicate",
            lambda lib: lib.ones(2, 3).permute(0, 0),
            "duplicate dims are not allowed",
        ),
        _error(
            "error_int_negative_power",
            lambda lib: lib.tensor([1, 2]) ** -1,
            "Integers to negative integer powers are not allowed",
        ),
        _error(
            "error_masked_fill_mask",
            lambda lib: lib.ones(2).masked_fill(lib.tensor([1, 0]), 1.0),
            "masked_fill_ only supports boolean masks",
        ),
        _error(
            "error_where_condition",
            lambda lib: lib.where(lib.tensor([1, 0]), lib.ones(2), lib.zeros(2)),
            "where expected condition to be a boolean tensor",
        ),
        _error(
            "error_neg_bool",
            lambda lib: -lib.tensor([True]),
            "Negation, the `-` operator, on a bool tensor is not supported",
        ),
        _error("error_invert_float", lambda lib: ~lib.ones(2), "only"),
        _error(
            "error_mean_int",
            lambda lib: lib.tensor([1, 2]).mean(),
            "mean(): could not infer output dtype",
        ),
        _error(
            "error_norm_int",
            lambda lib: lib.tensor([1, 2]).norm(),
            "linalg.vector_norm: Expected a floating point or complex tensor as input",
        ),
        _error(
            "error_narrow",
            lambda lib: lib.ones(3).narrow(0, 2, 2),
            "start (2) + length (2) exceeds dimension size (3)",
        ),
        _error(
            "error_split_sizes",
            lambda lib: lib.ones(3).split([1, 1]),
            "split_with_sizes expects split_sizes to sum exactly to 3",
        ),
        _error(
            "error_chunk_zero",
            lambda lib: lib.ones(3).chunk(0),
            "chunk expects `chunks` to be greater than 0",
        ),
        _error(
            "error_dot_2d",
            lambda lib: lib.ones(2, 2).dot(lib.ones(2)),
            "1D tensors expected, but got 2D and 1D tensors",
        ),
        _error(
            "error_bmm_2d",
            lambda lib: lib.ones(2, 2).bmm(lib.ones(2, 2)),
            "batch1 must be a 3D tensor",
        ),
        _error(
            "error_int_floor_divide_zero", lambda lib: lib.tensor([1, 2]) // 0, "ZeroDivisionError"
        ),
        _error("error_int_remainder_zero", lambda lib: lib.tensor([1, 2]) % 0, "ZeroDivisionError"),
        _error(
            "error_t_3d",
            lambda lib: lib.ones(2, 2, 2).t(),
            "t() expects a tensor with <= 2 dimensions, but self is 3D",
        ),
        _error(
            "error_repeat_dims",
            lambda lib: lib.ones(2, 2).repeat(2),
            "Number of dimensions of repeat dims can not be smaller",
        ),
        _error(
            "error_clamp_no_bounds",
            lambda lib: lib.ones(2).clamp(),
            "At least one of 'min' or 'max' must not be None",
        ),
        _error(
            "error_requires_grad_int",
            lambda lib: lib.tensor([1, 2]).requires_grad_(),
            "only Tensors of floating point",
        ),
        _error(
            "error_einsum_sizes",
            lambda lib: lib.einsum("ij,jk->ik", lib.ones(2, 3), lib.ones(2, 3)),
            "einsum(): subscript j has size 2 for operand 1",
        ),
        _error(
            "error_clamp_inplace_int",
            lambda lib: lib.tensor([1, 2]).clamp_(0.5),
            "result type Float can't be cast to the desired output type",
        ),
        _error(
            "error_inplace_broadcast",
            lambda lib: lib.ones(3).add_(lib.ones(2, 3)),
            "doesn't match the broadcast shape",
        ),
        _error(
            "error_roll_align",
            lambda lib: lib.ones(2, 3).roll((1, 2), 0),
            "shifts and dimensions must align",
        ),
        _error(
            "error_pad_odd",
            lambda lib: lib.ones(3)._op(ops.pad_p, pad=(1,), value=0.0),
            "Padding length must be divisible by 2",
            torch_fn=lambda lib: lib.nn.functional.pad(lib.ones(3), (1,)),
        ),
    ]


def _iop(name: str) -> Callable[..., Any]:
    def run(lib: Any, x: Any, y: Any) -> Any:
        out = x.clone()
        return getattr(out, name)(y)

    return run


OP_DB: list[OpSpec] = [
    *_unary_rows(),
    *_clamp_rows(),
    *_binary_rows(),
    *_comparison_rows(),
    *_select_rows(),
    *_reduction_rows(),
    *_linalg_rows(),
    *_view_rows(),
    *_indexing_rows(),
    *_join_rows(),
    *_copy_rows(),
    *_inplace_rows(),
    *_nn_primitive_rows(),
    *_error_rows(),
]

_names = [spec.name for spec in OP_DB]
assert len(_names) == len(set(_names)), "OpSpec names must be unique"
