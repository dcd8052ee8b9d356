"""THE OP TABLE: every primitive with its NumPy forward and its Tensor-level derivative rules.

A rule's parameters are bound by name (like PyTorch's ``derivatives.yaml``):

- ``g``: the incoming gradient (a tuple of gradients for multi-output primitives);
- ``out``: the primal output;
- each tensor input by its name in ``forward``'s signature, and ``<input>_shape``;
- the forward's keyword-only parameters.

What gets saved follows torch's codegen, which gives its version-counter semantics: the
names the rules of the inputs that need a gradient read, plus, whatever needs a gradient,
the outputs any rule reads and the inputs several rules read (``x.sum()`` saves only the
shape; ``x.exp()`` saves its output; ``x ** w.detach()`` saves x, w and the output).
``out<k>`` names output k of a multi-output primitive alone. Rules never unbroadcast and
never cast: the engine sums each gradient back to its input's shape and casts it to the
input's dtype.

``jvp`` (forward mode) is one of:

- ``"linear"``: the op is linear in each tensor input taken separately (``mul``, ``matmul``,
  views, ``sum``): input i contributes the op applied with input i replaced by its tangent, the
  other inputs kept;
- ``"joint"``: the op is linear in all its differentiable inputs together (``cat``, ``where``
  in ``x``/``y``, the indexing writers): the op applied to all the tangents at once, zeros for
  inputs without one, non-differentiable inputs (indices, masks, conditions) kept;
- ``"elementwise"``: each input's Jacobian is diagonal once broadcast: input i contributes its
  vjp rule with ``g := t`` (torch's ``auto_element_wise``);
- a tuple of explicit rules, one per input, bound by name like vjp rules plus ``t`` (that
  input's tangent); a multi-output primitive's rule returns one tangent (or None) per output.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tapegrad import _dtype, _engine
from tapegrad._backend import xp

if TYPE_CHECKING:
    from tapegrad.tensor import Tensor

Rule = Callable[..., Any]

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


# What a saved name refers to (see Primitive.save_plan).
SAVE_OUT, SAVE_PARAM, SAVE_INPUT, SAVE_SHAPE, SAVE_DTYPE = range(5)


def _is_output_name(name: str) -> bool:
    return name == "out" or (name[:3] == "out" and name[3:].isdigit())


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@dataclass(frozen=True, slots=True)
class Primitive:
    """A differentiable op: NumPy forward, Tensor-level derivative rules (see module doc).

    ``promote``: "all" applies torch's type promotion to the tensor and scalar inputs;
    "float" does the same and turns an integral result into the default float dtype;
    "none" passes arrays as they are. ``view``: the forward returns a NumPy view of input 0.
    ``multi_output``: the forward returns a tuple of arrays. ``into``: an optional kernel that
    writes the forward's result into its first input's array (in-place ops outside autograd,
    e.g. optimizer updates, then skip the temporary result and its copy).
    """

    name: str
    forward: Callable[..., Any]
    vjp: Any = None
    jvp: Any = None
    view: bool = False
    node_name: str | None = None
    promote: str = "none"
    multi_output: bool = False
    into: Callable[..., Any] | None = None
    input_names: tuple[str, ...] = field(init=False)
    variadic: bool = field(init=False)
    param_names: frozenset[str] = field(init=False)
    rule_args: tuple[tuple[str, ...], ...] = field(init=False)
    jvp_args: tuple[tuple[str, ...], ...] = field(init=False)
    saves: dict[tuple[bool, ...], tuple[tuple[str, int, int], ...]] = field(init=False)
    node_class: type = field(init=False)

    def __post_init__(self) -> None:
        signature = inspect.signature(self.forward)
        inputs: list[str] = []
        params: set[str] = set()
        variadic = False
        for p in signature.parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                inputs.append(p.name)
                variadic = True
            elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                inputs.append(p.name)
            elif p.kind is p.KEYWORD_ONLY:
                params.add(p.name)
        known = {"g", "out", *params, *inputs, *(f"{n}_{meta}" for n in inputs
                                                  for meta in ("shape", "dtype"))}
        if self.multi_output:  # ``out<k>``: output k alone (max(dim) saves only its indices)
            known.update(f"out{k}" for k in range(4))
        rules = (self.vjp,) if callable(self.vjp) else (self.vjp or ())
        if self.vjp is not None and not variadic and len(rules) != len(inputs):
            raise ValueError(f"{self.name}: one vjp rule per tensor input is needed")
        rule_args = []
        for rule in rules:
            names = tuple(inspect.signature(rule).parameters) if rule is not None else ()
            unknown = set(names) - known
            if unknown:
                raise ValueError(f"{self.name}: rule uses unknown names {sorted(unknown)}")
            rule_args.append(names)
        jvp_args = []
        if isinstance(self.jvp, tuple):
            for rule in self.jvp:
                names = tuple(inspect.signature(rule).parameters) if rule is not None else ()
                unknown = set(names) - known - {"t"}
                if unknown:
                    raise ValueError(f"{self.name}: jvp rule uses unknown names {sorted(unknown)}")
                jvp_args.append(names)
        elif self.jvp not in (None, "linear", "elementwise", "joint"):
            raise ValueError(f"{self.name}: unknown jvp kind {self.jvp!r}")
        object.__setattr__(self, "jvp_args", tuple(jvp_args))
        object.__setattr__(self, "input_names", tuple(inputs))
        object.__setattr__(self, "variadic", variadic)
        object.__setattr__(self, "param_names", frozenset(params))
        object.__setattr__(self, "rule_args", tuple(rule_args))
        # What each combination of inputs needing a gradient saves, computed once here.
        object.__setattr__(self, "saves", {})
        if not variadic and self.vjp is not None and len(inputs) <= 4:
            for mask in range(1 << len(inputs)):
                needs = tuple(bool(mask >> i & 1) for i in range(len(inputs)))
                self.saves[needs] = self._plan_for(needs)
        node_name = self.node_name or f"{_camel(self.name)}Backward0"
        object.__setattr__(
            self, "node_class", type(node_name, (_engine.PrimitiveNode,), {"__slots__": ()})
        )

    def saved_names(self, needs: tuple[bool, ...]) -> frozenset[str]:
        """Names the rules of the inputs that need a gradient read (besides ``g``)."""
        return frozenset(name for name, _, _ in self.save_plan(needs))

    def save_plan(self, needs: tuple[bool, ...]) -> tuple[tuple[str, int, int], ...]:
        """What to save for ``needs``: ``(name, kind, input index)`` with kind one of
        SAVE_OUT, SAVE_PARAM, SAVE_INPUT, SAVE_SHAPE (per input, or all inputs if variadic),
        SAVE_DTYPE."""
        cached = self.saves.get(needs)
        if cached is not None:
            return cached
        return self._plan_for(needs)

    def _plan_for(self, needs: tuple[bool, ...]) -> tuple[tuple[str, int, int], ...]:
        plan = []
        for name in sorted(self._names_for(needs)):
            if name == "out":
                plan.append((name, SAVE_OUT, -1))
            elif _is_output_name(name):
                plan.append((name, SAVE_OUT, int(name[3:])))
            elif name in self.param_names:
                plan.append((name, SAVE_PARAM, -1))
            elif name[-6:] in ("_shape", "_dtype") and name[:-6] in self.input_names:
                kind = SAVE_SHAPE if name.endswith("_shape") else SAVE_DTYPE
                plan.append((name, kind, self.input_names.index(name[:-6])))
            else:
                plan.append((name, SAVE_INPUT, self.input_names.index(name)))
        return tuple(plan)

    def _names_for(self, needs: tuple[bool, ...]) -> frozenset[str]:
        if self.vjp is None:
            return frozenset()
        if self.variadic:
            names = set(self.rule_args[0])
        else:
            # torch's codegen: outputs, and inputs that several formulas read, are saved
            # whatever needs a gradient; an input one formula reads only if that one runs
            uses: dict[str, int] = {}
            for args in self.rule_args:
                for name in args:
                    uses[name] = uses.get(name, 0) + 1
            names = {name for name, count in uses.items() if _is_output_name(name) or (
                count > 1 and name in self.input_names)}
            for need, args in zip(needs, self.rule_args, strict=True):
                if need:
                    names.update(args)
        names.discard("g")
        return frozenset(names)

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


# ----------------------------------------------------------------------------- helpers
def _keepdim_shape(shape: tuple[int, ...], dim: Any) -> tuple[int, ...]:
    dims = range(len(shape)) if dim is None else dim
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _unsqueeze_reduced(g: Tensor, x_shape: tuple[int, ...], dim: Any, keepdim: bool) -> Tensor:
    """Reshape a reduction's gradient so that it broadcasts against the input."""
    if keepdim or (dim is None and g.dim() == len(x_shape)):
        return g
    return g.reshape(_keepdim_shape(x_shape, dim))


def _reduced_count(x_shape: tuple[int, ...], dim: Any) -> int:
    dims = range(len(x_shape)) if dim is None else dim
    return int(np.prod([x_shape[d] for d in dims], dtype=np.int64)) if len(x_shape) else 1


def _np_dim(dim: Any) -> Any:
    return None if dim is None else tuple(dim)


def _contract(t: Tensor, derivative: Tensor, dim: Any, keepdim: bool) -> Tensor:
    """A reduction's jvp from its elementwise derivative ``d out / d x``: sum of ``t`` times it."""
    return (t * derivative).sum_along(dim, keepdim=keepdim)


def _ones_for(out: Tensor) -> Tensor:
    """The upstream gradient that turns a reduction's vjp rule into its derivative."""
    return out.new_ones(out.shape)


# ----------------------------------------------------------------------------- elementwise
def _unary(name: str, fn: Callable[..., Any], rule: Rule | None,
           jvp: Any = "elementwise", promote: str = "float", **kw: Any) -> Primitive:
    return Primitive(name, fn, vjp=None if rule is None else (rule,), jvp=jvp, promote=promote,
                     **kw)


neg_p = _unary("neg", lambda x: -x, lambda g: -g, jvp="linear", promote="all")
exp_p = _unary("exp", lambda x: xp(x).exp(x), lambda g, out: g * out)
expm1_p = _unary("expm1", lambda x: xp(x).expm1(x), lambda g, out: g * (out + 1))
log_p = _unary("log", lambda x: xp(x).log(x), lambda g, x: g / x)
log1p_p = _unary("log1p", lambda x: xp(x).log1p(x), lambda g, x: g / (x + 1),
                 node_name="Log1PBackward0")
log2_p = _unary("log2", lambda x: xp(x).log2(x), lambda g, x: g / (x * _LN2))
log10_p = _unary("log10", lambda x: xp(x).log10(x), lambda g, x: g / (x * _LN10))
# torch's -g * (out * out): a double backward then reads only the saved output
reciprocal_p = _unary("reciprocal", lambda x: 1 / x, lambda g, out: -g * (out * out))
frac_p = _unary("frac", lambda x: x - xp(x).trunc(x), lambda g: g, promote="none")
sqrt_p = _unary("sqrt", lambda x: xp(x).sqrt(x), lambda g, out: g / (out * 2))
rsqrt_p = _unary("rsqrt", lambda x: 1 / xp(x).sqrt(x), lambda g, out: g * out.pow(3) * -0.5)
sin_p = _unary("sin", lambda x: xp(x).sin(x), lambda g, x: g * x.cos())
cos_p = _unary("cos", lambda x: xp(x).cos(x), lambda g, x: -g * x.sin())
tan_p = _unary("tan", lambda x: xp(x).tan(x), lambda g, out: g * (out * out + 1))
tanh_p = _unary("tanh", lambda x: xp(x).tanh(x), lambda g, out: g * (1 - out * out))


def _sigmoid(x: Any) -> Any:
    # Split by sign so that exp never overflows.
    m = xp(x)
    e = m.exp(-m.abs(x))
    return m.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


sigmoid_p = _unary("sigmoid", _sigmoid, lambda g, out: g * out * (1 - out))
def _threshold_backward(grad: Any, result: Any, *, threshold: float) -> Any:
    # torch: zero where result <= threshold, so a nan result passes the gradient
    return xp(grad).where(result <= threshold, 0, grad).astype(grad.dtype, copy=False)


# relu's backward keeps the output as a (zero-derivative) input, so under create_graph the
# gradient requires grad whenever the output does, as in torch
threshold_backward_p: Primitive = Primitive(
    "threshold_backward", _threshold_backward,
    vjp=(lambda g, result, threshold: g._op(threshold_backward_p, result, threshold=threshold),
         lambda g: g.zeros_like()),
    jvp="elementwise", node_name="ThresholdBackwardBackward0")
# maximum(0, x), not (x, 0): NumPy returns the second of two equal zeros, and torch's relu
# keeps -0.0 (np.where would be 6x slower)
relu_p = _unary("relu", lambda x: xp(x).maximum(x.dtype.type(0), x).astype(x.dtype, copy=False),
                lambda g, out: g._op(threshold_backward_p, out, threshold=0.0), promote="none")


def _leaky_relu(x: Any, *, negative_slope: float) -> Any:
    return xp(x).where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)


# torch saves the input; its backward, like relu's, keeps that input as a zero-derivative one
leaky_relu_backward_p: Primitive = Primitive(
    "leaky_relu_backward", lambda grad, x, *, negative_slope: xp(grad).where(
        x > 0, grad, grad * negative_slope).astype(grad.dtype, copy=False),
    vjp=(lambda g, x, negative_slope: g._op(leaky_relu_backward_p, x,
                                            negative_slope=negative_slope),
         lambda g: g.zeros_like()),
    jvp="elementwise", node_name="LeakyReluBackwardBackward0")
def _leaky_relu_vjp(g: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    return g._op(leaky_relu_backward_p, x, negative_slope=negative_slope)


leaky_relu_p = Primitive("leaky_relu", _leaky_relu, vjp=(_leaky_relu_vjp,), jvp="elementwise")
leaky_relu_inplace_p = Primitive("leaky_relu_", _leaky_relu, vjp=(_leaky_relu_vjp,),
                                 jvp="elementwise", node_name="LeakyReluBackward1")


def _hardtanh(x: Any, *, min_val: float, max_val: float) -> Any:
    return xp(x).clip(x, min_val, max_val).astype(x.dtype, copy=False)


def _hardtanh_vjp(g: Tensor, x: Tensor, min_val: float, max_val: float) -> Tensor:
    # zero at the bounds (clamp's passes them) and beyond; a nan x passes the gradient
    return _gate(g, ((x <= min_val).logical_or(x >= max_val)).logical_not())


hardtanh_p = Primitive("hardtanh", _hardtanh, vjp=(_hardtanh_vjp,), jvp="elementwise",
                       promote="none")  # (in place too: torch's hardtanh_ is HardtanhBackward0)


def _erf(x: Any) -> Any:
    try:
        from scipy.special import erf

        return erf(x).astype(x.dtype, copy=False)
    except ImportError:
        return _erf_numpy(x)


def _erf_numpy(x: Any) -> Any:
    # Abramowitz-Stegun 7.1.26 is too coarse for gradcheck; use the float64 series/continued
    # fraction split via math.erf elementwise (vectorised), exact to double precision.
    m = xp(x)
    return m.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


erf_p = _unary("erf", _erf, lambda g, x: g * (-x * x).exp() * _TWO_OVER_SQRT_PI)


def _gelu(x: Any, *, approximate: str) -> Any:
    m = xp(x)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + m.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1 + _erf(x / _SQRT_2))).astype(x.dtype, copy=False)


def _gelu_vjp(g: Tensor, x: Tensor, approximate: str) -> Tensor:
    if approximate == "tanh":
        inner = (x + x.pow(3) * 0.044715) * _SQRT_2_OVER_PI
        t = inner.tanh()
        d_inner = (x * x * (3 * 0.044715) + 1) * _SQRT_2_OVER_PI
        return g * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * d_inner)
    cdf = ((x / _SQRT_2).erf() + 1) * 0.5
    pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
    return g * (cdf + x * pdf)


gelu_p = Primitive("gelu", _gelu, vjp=(_gelu_vjp,), jvp="elementwise", promote="float")


def _silu_vjp(g: Tensor, x: Tensor) -> Tensor:
    s = x.sigmoid()
    return g * s * (x * (1 - s) + 1)


silu_p = _unary("silu", lambda x: (x * _sigmoid(x)).astype(x.dtype, copy=False), _silu_vjp)


def _softplus(x: Any, *, beta: float, threshold: float) -> Any:
    m = xp(x)
    bx = x * beta
    soft = m.logaddexp(0, bx) / beta
    return m.where(bx > threshold, x, soft).astype(x.dtype, copy=False)


softplus_p = Primitive(
    "softplus", _softplus,
    vjp=(lambda g, x, beta, threshold: g * (x * beta).sigmoid().masked_fill(
        x * beta > threshold, 1.0),),
    jvp="elementwise", promote="float")


def _zero_grad(g: Tensor) -> Tensor:
    return g.zeros_like()


abs_p = _unary("abs", lambda x: xp(x).abs(x), lambda g, x: g * x.sign(), promote="all")
sign_p = _unary("sign", lambda x: xp(x).sign(xp(x).nan_to_num(x, nan=0.0)), _zero_grad,
               promote="all")  # torch: sign(nan) == 0
floor_p = _unary("floor", lambda x: xp(x).floor(x), _zero_grad, promote="all")
ceil_p = _unary("ceil", lambda x: xp(x).ceil(x), _zero_grad, promote="all")
round_p = _unary("round", lambda x, *, decimals: xp(x).round(x, decimals), _zero_grad,
                 promote="all")
trunc_p = _unary("trunc", lambda x: xp(x).trunc(x), _zero_grad, promote="all")
round_decimals_p = _unary("round", lambda x, *, decimals: xp(x).round(x, decimals), _zero_grad,
                          promote="all", node_name="RoundBackward1")


def _clamp(x: Any, *, min: Any, max: Any) -> Any:
    m = xp(x)
    # torch promotes with the bounds: clamp(int tensor, 0.5) is a float tensor
    bounds = [b for b in (min, max) if b is not None]
    x = x.astype(_dtype.result_type([_dtype.from_numpy_dtype(x.dtype)], [], bounds).np,
                 copy=False)
    if min is not None:
        x = _at_least(x, m.asarray(min, dtype=x.dtype))
    if max is not None:
        x = _at_most(x, m.asarray(max, dtype=x.dtype))
    return m.array(x, copy=True) if min is None and max is None else x


# torch's clamp keeps x where it equals a bound (the sign of a zero) and passes a nan bound
def _at_least(x: Any, low: Any) -> Any:
    m = xp(x)
    return m.where((x < low) | m.isnan(low), low, x)


def _at_most(x: Any, high: Any) -> Any:
    m = xp(x)
    return m.where((x > high) | m.isnan(high), high, x)


def _clamp_vjp(g: Tensor, x: Tensor, min: Any, max: Any) -> Tensor:
    mask = None
    if min is not None:
        mask = x >= min
    if max is not None:
        upper = x <= max
        mask = upper if mask is None else mask.logical_and(upper)
    return g if mask is None else _gate(g, mask)


def _gate(g: Tensor, mask: Tensor) -> Tensor:
    """torch's where(mask, g, 0): a nan gradient outside the mask is dropped, not nan * 0."""
    return g.masked_fill(mask.logical_not(), 0.0)


clamp_p = Primitive("clamp", _clamp, vjp=(_clamp_vjp,), jvp="elementwise", promote="all",
                    node_name="ClampBackward1")


def _clamp_tensor(x: Any, low: Any, high: Any) -> Any:
    return _at_most(_at_least(x, low), high)


# clamp(min=Tensor, max=Tensor): a missing bound is passed as -inf / inf (torch's ClampBackward0)
clamp_tensor_p = Primitive(
    "clamp", _clamp_tensor,
    vjp=(lambda g, x, low, high: _gate(g, (x >= low).logical_and(x <= high)),
         lambda g, x, low: _gate(g, x < low),
         lambda g, x, low, high: _gate(g, (x > high).logical_and(x >= low))),
    jvp="elementwise", promote="all", node_name="ClampBackward0")


# ----------------------------------------------------------------------------- binary
def _add(x: Any, y: Any, *, alpha: Any) -> Any:
    return x + y if alpha == 1 else x + alpha * y


def _alpha_scaled(g: Tensor, alpha: Any) -> Tensor:
    return g if alpha == 1 else g * alpha


add_p = Primitive("add", _add, vjp=(lambda g: g, _alpha_scaled), jvp="elementwise",
                  promote="all",
                  into=lambda x, y, *, alpha: xp(x).add(x, y if alpha == 1 else alpha * y, out=x))
sub_p = Primitive("sub", lambda x, y, *, alpha: x - y if alpha == 1 else x - alpha * y,
                  vjp=(lambda g: g, lambda g, alpha: -_alpha_scaled(g, alpha)),
                  jvp="elementwise", promote="all",
                  into=lambda x, y, *, alpha: xp(x).subtract(x, y if alpha == 1 else alpha * y,
                                                             out=x))
rsub_p = Primitive("rsub", lambda x, y, *, alpha: y - x if alpha == 1 else y - alpha * x,
                   vjp=(lambda g, alpha: -_alpha_scaled(g, alpha), lambda g: g),
                   jvp="elementwise", promote="all", node_name="RsubBackward1")
mul_p = Primitive("mul", lambda x, y: x * y, vjp=(lambda g, y: g * y, lambda g, x: g * x),
                  jvp="linear", promote="all", into=lambda x, y: xp(x).multiply(x, y, out=x))
div_p = Primitive("div", lambda x, y: x / y,
                  # torch's form: x / y records x itself (an in-place change to x is caught)
                  vjp=(lambda g, y: g / y, lambda g, x, y: -g * ((x / y) / y)),
                  jvp="elementwise", promote="float",
                  into=lambda x, y: xp(x).true_divide(x, y, out=x))


def _pow_base_vjp(g: Tensor, x: Tensor, y: Any) -> Tensor:
    if not hasattr(y, "shape"):  # Python exponent: torch returns zeros for exponent 0
        return g.zeros_like() if y == 0 else g * y * x.pow(y - 1)
    # torch: zero where the exponent is 0 (not 0 * x ** -1, which is nan at x == 0)
    return (g * y * x.pow(y - 1)).masked_fill(y == 0, 0.0)


def _pow_exponent_vjp(g: Tensor, x: Any, y: Tensor, out: Tensor) -> Tensor:
    # torch masks the factor of 0 ** y (y >= 0) to zero instead of nan, then multiplies by g
    # (so a nan gradient stays nan)
    if not hasattr(x, "shape"):  # Python base
        log_x = math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
        factor = out * log_x
        return g * (factor.masked_fill(y >= 0, 0.0) if x == 0 else factor)
    return g * (out * x.log()).masked_fill((x == 0).logical_and(y >= 0), 0.0)


def _pow(x: Any, y: Any) -> Any:
    m = xp(x if hasattr(x, "dtype") else y)
    if np.issubdtype(np.result_type(x, y), np.integer) and np.any(np.asarray(y) < 0):
        # torch: an integer to a negative integer power truncates towards zero
        negative = np.asarray(y) < 0
        out = m.power(x, m.where(negative, 0, y))
        odd = m.where(negative, y, 0) % 2 != 0
        fraction = m.where(x == 1, 1, m.where(x == -1, m.where(odd, -1, 1), 0))
        return m.where(negative, fraction, out).astype(out.dtype, copy=False)
    return m.power(x, y)


pow_p = Primitive("pow", _pow, vjp=(_pow_base_vjp, _pow_exponent_vjp), jvp="elementwise",
                  promote="all", node_name="PowBackward1")
def _pow_scalar(x: Any, *, exponent: Any) -> Any:
    if exponent == -0.5 and x.dtype.kind == "f":  # torch's rsqrt: -inf at -0.0, nan at -inf
        return (1 / xp(x).sqrt(x)).astype(x.dtype, copy=False)
    return xp(x).power(x, exponent)


pow_scalar_p = Primitive("pow", _pow_scalar,
                         vjp=(lambda g, x, exponent: _pow_base_vjp(g, x, exponent),),
                         jvp="elementwise", promote="none", node_name="PowBackward0")
rpow_p = Primitive("pow", lambda x, *, base: xp(x).power(base, x),
                   vjp=(lambda g, x, out, base: _pow_exponent_vjp(g, base, x, out),),
                   jvp="elementwise", promote="none", node_name="PowBackward2")


def _remainder(x: Any, y: Any) -> Any:
    m = xp(x)
    if np.issubdtype(x.dtype, np.integer) and np.any(y == 0):
        raise RuntimeError("ZeroDivisionError")
    return m.mod(x, y)


remainder_p = Primitive("remainder", _remainder,
                        vjp=(lambda g: g, lambda g, x, y: -g * (x / y).floor()),
                        jvp="elementwise", promote="all", node_name="RemainderBackward1")
remainder_scalar_p = Primitive("remainder", _remainder, vjp=(lambda g: g, None),
                               jvp="elementwise", promote="all")


def _not_implemented(name: str, mode: str = "derivative") -> Rule:
    def rule(g: Tensor) -> Tensor:
        raise RuntimeError(f"{mode} for aten::{name} is not implemented")
    return rule


def _no_forward_ad(name: str) -> Rule:
    def rule(t: Tensor) -> Tensor:
        raise NotImplementedError(f"Trying to use forward AD with aten::{name} that does not "
                                  "support it.")
    return rule


# torch records a node for these whose backward raises (the output still requires grad)
rremainder_p = Primitive("remainder", _remainder, vjp=(None, _not_implemented("remainder")),
                         jvp=(None, _no_forward_ad("remainder")), promote="all",
                         node_name="NotImplemented")


def _floor_divide(x: Any, y: Any) -> Any:
    if np.issubdtype(x.dtype, np.integer) and np.any(y == 0):
        raise RuntimeError("ZeroDivisionError")
    return xp(x).floor_divide(x, y)


floor_divide_p = Primitive("floor_divide", _floor_divide,
                           vjp=(_not_implemented("floor_divide"), _not_implemented("floor_divide")),
                           jvp=(_no_forward_ad("floor_divide"), _no_forward_ad("floor_divide")),
                           promote="all", node_name="NotImplemented")


def _div_rounding(x: Any, y: Any, *, rounding_mode: str) -> Any:
    if rounding_mode == "floor":
        return _floor_divide(x, y)
    m = xp(x)
    if np.issubdtype(x.dtype, np.integer):
        if np.any(y == 0):
            raise RuntimeError("ZeroDivisionError")
        quotient = m.abs(x) // m.abs(y)
        return m.where((x < 0) != (y < 0), -quotient, quotient).astype(x.dtype)
    return m.trunc(x / y)


# div(rounding_mode=...) is piecewise constant: torch's DivBackward2 gives zeros
div_rounding_p = Primitive("div", _div_rounding,  # zeros, but torch's formulas save x and y
                           vjp=(lambda g, y: g.zeros_like(), lambda g, x, y: g.zeros_like()),
                           jvp="elementwise", promote="all", node_name="DivBackward2")


def _lerp(x: Any, end: Any, weight: Any) -> Any:
    # torch's two formulas: exact at weight 0 (first) and at weight 1 (second)
    diff = end - x
    if not isinstance(weight, np.ndarray):  # a Python number
        return x + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)
    return xp(x).where(abs(weight) < 0.5, x + weight * diff, end - diff * (1 - weight))


lerp_p = Primitive("lerp", lambda x, end, *, weight: _lerp(x, end, weight),
                   vjp=(lambda g, weight: g * (1 - weight), lambda g, weight: g * weight),
                   jvp="elementwise", promote="all")
lerp_tensor_p = Primitive(
    "lerp", _lerp,
    vjp=(lambda g, weight: g * (1 - weight), lambda g, weight: g * weight,
         lambda g, x, end: g * (end - x)),
    jvp="elementwise", promote="all", node_name="LerpBackward1")
addcmul_p = Primitive(
    "addcmul", lambda x, a, b, *, value: x + value * a * b,
    vjp=(lambda g: g, lambda g, b, value: g * b * value, lambda g, a, value: g * a * value),
    jvp="elementwise", promote="all")
addcdiv_p = Primitive(
    "addcdiv", lambda x, a, b, *, value: x + value * a / b,
    vjp=(lambda g: g, lambda g, b, value: g / b * value,
         lambda g, a, b, value: -g * a / (b * b) * value),
    jvp="elementwise", promote="all")


def _maximum_vjp_x(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    # torch splits the gradient evenly between equal operands; nan operands get all of it
    return (g * 0.5).where(x == y, g).masked_fill(x < y, 0.0)


maximum_p = Primitive("maximum", lambda x, y: xp(x).maximum(x, y),
                      vjp=(_maximum_vjp_x, lambda g, x, y: _maximum_vjp_x(g, y, x)),
                      jvp="elementwise", promote="all")
minimum_p = Primitive("minimum", lambda x, y: xp(x).minimum(x, y),
                      vjp=(lambda g, x, y: _maximum_vjp_x(g, y, x),
                           lambda g, x, y: _maximum_vjp_x(g, x, y)),
                      jvp="elementwise", promote="all")


def _where(condition: Any, x: Any, y: Any) -> Any:
    return xp(x).where(condition, x, y)


where_p = Primitive(
    "where", _where,
    vjp=(None, lambda g, condition: g.masked_fill(condition.logical_not(), 0.0),
         lambda g, condition: g.masked_fill(condition, 0.0)),
    jvp="joint", promote="none")  # where(condition, t_x, t_y): broadcasts like the forward


def _masked_fill(x: Any, mask: Any, *, value: Any) -> Any:
    m = xp(x)
    shape = m.broadcast_shapes(x.shape, mask.shape)  # a wider mask widens the result
    out = (x if shape == x.shape else m.broadcast_to(x, shape)).copy()  # C order, as torch
    out[m.broadcast_to(mask, shape)] = value
    return out


masked_fill_p = Primitive("masked_fill", _masked_fill,
                          vjp=(lambda g, mask: g.masked_fill(mask, 0.0), None),
                          jvp="elementwise")  # the filled value is a constant: zero tangent


def _masked_fill_tensor(x: Any, mask: Any, value: Any) -> Any:
    return xp(x).where(mask, value.astype(x.dtype), x)


masked_fill_tensor_p = Primitive(
    "masked_fill", _masked_fill_tensor,
    vjp=(lambda g, mask: g.masked_fill(mask, 0.0), None,
         lambda g, mask: g.masked_fill(mask.logical_not(), 0.0).sum()),
    jvp=(lambda t, mask: t.masked_fill(mask, 0.0), None,
         lambda t, mask, out: t.expand(out.shape).masked_fill(mask.logical_not(), 0.0)),
    node_name="MaskedFillBackward1")


def _masked_select(x: Any, mask: Any) -> Any:
    shape = np.broadcast_shapes(x.shape, mask.shape)
    m = xp(x)
    return m.broadcast_to(x, shape)[m.broadcast_to(mask, shape)]


def _masked_select_vjp(g: Tensor, x: Tensor, mask: Tensor) -> Tensor:
    shape = np.broadcast_shapes(tuple(x.shape), tuple(mask.shape))  # torch saves x itself
    full_mask = mask.expand(shape).numpy()
    return g.new_zeros(shape)._op(index_put_p, g, index=(full_mask,), accumulate=False)


masked_select_p = Primitive("masked_select", _masked_select, vjp=(_masked_select_vjp, None),
                            jvp="linear")


# ----------------------------------------------------------------------------- comparisons
def _comparison(name: str, fn: Callable[[Any, Any], Any]) -> Primitive:
    return Primitive(name, fn, promote="all")


eq_p = _comparison("eq", lambda x, y: x == y)
ne_p = _comparison("ne", lambda x, y: x != y)
lt_p = _comparison("lt", lambda x, y: x < y)
le_p = _comparison("le", lambda x, y: x <= y)
gt_p = _comparison("gt", lambda x, y: x > y)
ge_p = _comparison("ge", lambda x, y: x >= y)
logical_and_p = Primitive("logical_and", lambda x, y: xp(x).logical_and(x, y))
logical_or_p = Primitive("logical_or", lambda x, y: xp(x).logical_or(x, y))
logical_xor_p = Primitive("logical_xor", lambda x, y: xp(x).logical_xor(x, y))
logical_not_p = Primitive("logical_not", lambda x: xp(x).logical_not(x))
bitwise_and_p = Primitive("bitwise_and", lambda x, y: x & y, promote="all")
bitwise_or_p = Primitive("bitwise_or", lambda x, y: x | y, promote="all")
bitwise_xor_p = Primitive("bitwise_xor", lambda x, y: x ^ y, promote="all")
bitwise_not_p = Primitive("bitwise_not", lambda x: ~x)
isnan_p = Primitive("isnan", lambda x: xp(x).isnan(x))
isinf_p = Primitive("isinf", lambda x: xp(x).isinf(x))
isfinite_p = Primitive("isfinite", lambda x: xp(x).isfinite(x))


# ----------------------------------------------------------------------------- reductions
def _sum(x: Any, *, dim: Any, keepdim: bool, dtype: Any) -> Any:
    if dtype is None and x.dtype.kind in "biu":
        dtype = np.int64  # torch sums integers and bools to int64
    # the array method, not np.sum: one Python wrapper less for the tiny reductions
    return x.sum(axis=None if dim is None else tuple(dim), keepdims=keepdim, dtype=dtype)


def _sum_vjp(g: Tensor, x_shape: tuple[int, ...], dim: Any, keepdim: bool) -> Tensor:
    if dim is None:  # torch expands the 0-d gradient itself: every stride 0
        return g.expand(x_shape)
    return _unsqueeze_reduced(g, x_shape, dim, keepdim).expand(x_shape)


sum_p = Primitive("sum", _sum, vjp=(_sum_vjp,), jvp="linear")
sum_dim_p = Primitive("sum", _sum, vjp=(_sum_vjp,), jvp="linear", node_name="SumBackward1")


def _mean(x: Any, *, dim: Any, keepdim: bool) -> Any:
    m = xp(x)
    if x.size == 0:  # np.mean warns "Mean of empty slice"; torch returns nan silently
        total = m.sum(x, axis=_np_dim(dim), keepdims=keepdim, dtype=x.dtype)
        return m.asarray(total / x.dtype.type(_reduced_count(x.shape, dim)))
    return m.mean(x, axis=_np_dim(dim), keepdims=keepdim, dtype=x.dtype)


def _mean_vjp(g: Tensor, x_shape: tuple[int, ...], dim: Any, keepdim: bool) -> Tensor:
    return _sum_vjp(g, x_shape, dim, keepdim) / _reduced_count(x_shape, dim)


mean_p = Primitive("mean", _mean, vjp=(_mean_vjp,), jvp="linear")
mean_dim_p = Primitive("mean", _mean, vjp=(_mean_vjp,), jvp="linear",
                       node_name="MeanBackward1")


def _prod(x: Any, *, dim: Any, keepdim: bool) -> Any:
    dtype = np.int64 if x.dtype == np.bool_ or np.issubdtype(x.dtype, np.integer) else None
    return xp(x).prod(x, axis=_np_dim(dim), keepdims=keepdim, dtype=dtype)


def _prod_vjp(g: Tensor, x: Tensor, out: Tensor, dim: Any, keepdim: bool) -> Tensor:
    # d prod / d x_i is the product of the other elements; handled without dividing by zero.
    shape = x.shape
    if not shape:  # torch hands a 0-d input the gradient itself
        return g
    g = _unsqueeze_reduced(g, shape, dim, keepdim)
    out = _unsqueeze_reduced(out, shape, dim, keepdim)
    zero = x == 0
    zeros = int(zero.sum().item())
    if zeros and _reduced_count(shape, dim) == 1:
        return g  # torch's shortcut: the (unsqueezed) gradient itself, a view
    if dim is None and zeros > 1 and not _engine.grad_mode():
        return x.new_zeros(shape)  # torch: zeros_like(input), whatever g is (inf * 0 is nan)
    safe = x.masked_fill(zero, 1.0)
    others_nonzero = safe.prod_along(dim, keepdim=True)
    zeros_count = zero.sum_along(dim, keepdim=True)
    # At a zero: the product of the others. With two zeros that is the nonzero product times
    # the other zero, written as (sum of the zeros - x) so that its derivative (a double
    # backward) is right, as torch's exclusive products are; with more it stays 0.
    other_zero = x.masked_fill(zero.logical_not(), 0.0).sum_along(dim, keepdim=True) - x
    at_zero = (others_nonzero * other_zero).where(
        zeros_count == 2, others_nonzero.masked_fill(zeros_count != 1, 0.0))
    result = g * (out / safe).where(zero.logical_not(), at_zero)
    if zeros and dim is None and (zeros == 1 or _engine.grad_mode()):
        # torch computes it on the flat contiguous input, then view_as(input)
        return result.reshape(-1).view(shape)
    return result


def _prod_jvp(t: Tensor, x: Tensor, out: Tensor, dim: Any, keepdim: bool) -> Tensor:
    # torch: prod_backward(1, x, out) * t, summed (exact with zeros in x)
    return _contract(t, _prod_vjp(_ones_for(out), x, out, dim, keepdim), dim, keepdim)


prod_p = Primitive("prod", _prod, vjp=(_prod_vjp,), jvp=(_prod_jvp,), node_name="ProdBackward0")
prod_dim_p = Primitive("prod", _prod, vjp=(_prod_vjp,), jvp=(_prod_jvp,),
                       node_name="ProdBackward1")


def _extreme_vjp(g: Tensor, x: Tensor, out: Tensor, dim: Any, keepdim: bool) -> Tensor:
    # amax/amin/max(): the gradient is shared evenly among tied extremes, as in torch.
    shape = x.shape
    g = _unsqueeze_reduced(g, shape, dim, keepdim)
    out = _unsqueeze_reduced(out, shape, dim, keepdim)
    mask = x == out
    count = mask.sum_along(dim, keepdim=True)
    return g * mask / count


def _extreme_jvp(t: Tensor, x: Tensor, out: Tensor, dim: Any, keepdim: bool) -> Tensor:
    # torch: the mean of the tangents at the tied extremes
    return _contract(t, _extreme_vjp(_ones_for(out), x, out, dim, keepdim), dim, keepdim)


amax_p = Primitive("amax", lambda x, *, dim, keepdim: xp(x).max(x, axis=_np_dim(dim),
                                                                keepdims=keepdim),
                   vjp=(_extreme_vjp,), jvp=(_extreme_jvp,))
amin_p = Primitive("amin", lambda x, *, dim, keepdim: xp(x).min(x, axis=_np_dim(dim),
                                                                keepdims=keepdim),
                   vjp=(_extreme_vjp,), jvp=(_extreme_jvp,))


def _extreme_all_vjp(g: Tensor, x: Tensor, out: Tensor) -> Tensor:
    # max()/min(): a nan result shares the gradient among the nan inputs (torch)
    mask = x.isnan() if math.isnan(out.item()) else x == out
    # masked_fill (not a product), so a nan gradient stays off the other inputs
    return x.new_zeros(x.shape).masked_fill(mask, g / mask.sum())


max_all_p = Primitive("max", lambda x, *, dim, keepdim: xp(x).max(x),
                      vjp=(_extreme_all_vjp,), jvp=(_extreme_jvp,), node_name="MaxBackward1")
min_all_p = Primitive("min", lambda x, *, dim, keepdim: xp(x).min(x),
                      vjp=(_extreme_all_vjp,), jvp=(_extreme_jvp,), node_name="MinBackward1")


def _max_dim(x: Any, *, dim: int, keepdim: bool, largest: bool) -> tuple[Any, Any]:
    m = xp(x)
    if x.ndim == 0:
        return x.copy(), m.zeros((), dtype=np.int64)
    if x.shape[dim] == 0:
        raise IndexError(
            f"{'max' if largest else 'min'}(): Expected reduction dim {dim} to have non-zero "
            "size."
        )
    indices = m.argmax(x, axis=dim, keepdims=True) if largest else m.argmin(
        x, axis=dim, keepdims=True)
    values = m.take_along_axis(x, indices, axis=dim)
    if not keepdim:
        values = values.squeeze(dim)
        indices = indices.squeeze(dim)
    return values, indices.astype(np.int64)


def _max_dim_vjp(g: tuple[Tensor, Tensor], out1: Tensor, x_shape: tuple[int, ...],
                 dim: int, keepdim: bool) -> Tensor:
    values_grad = g[0]
    indices = out1  # torch saves the indices only, not the values
    if len(x_shape) == 0:  # torch scatters into fresh zeros here too: not a view
        return values_grad.new_zeros(()).scatter(0, indices, values_grad)
    if not keepdim:
        values_grad = values_grad.unsqueeze(dim)
        indices = indices.unsqueeze(dim)
    return values_grad.new_zeros(x_shape).scatter(dim, indices, values_grad)


def _max_dim_jvp(t: Tensor, out: tuple[Tensor, Tensor], x_shape: tuple[int, ...], dim: int,
                 keepdim: bool) -> tuple[Tensor, None]:
    # the tangent at the selected index; the indices output has none
    if len(x_shape) == 0:
        return t, None
    indices = out[1] if keepdim else out[1].unsqueeze(dim)
    values = t.gather(dim, indices)
    return (values if keepdim else values.squeeze(dim)), None


max_dim_p = Primitive("max", _max_dim, vjp=(_max_dim_vjp,), jvp=(_max_dim_jvp,),
                      multi_output=True)
min_dim_p = Primitive("min", _max_dim, vjp=(_max_dim_vjp,), jvp=(_max_dim_jvp,),
                      multi_output=True)

argmax_p = Primitive("argmax", lambda x, *, dim, keepdim: _arg_extreme(x, dim, keepdim, True))
argmin_p = Primitive("argmin", lambda x, *, dim, keepdim: _arg_extreme(x, dim, keepdim, False))


def _arg_extreme(x: Any, dim: Any, keepdim: bool, largest: bool) -> Any:
    m = xp(x)
    fn = m.argmax if largest else m.argmin
    if dim is None:
        flat = fn(x.reshape(-1))
        out = m.asarray(flat, dtype=np.int64)
        return out.reshape((1,) * x.ndim) if keepdim else out
    return fn(x, axis=dim, keepdims=keepdim).astype(np.int64)


def _logsumexp(x: Any, *, dim: Any, keepdim: bool) -> Any:
    m = xp(x)
    axis = _np_dim(dim)
    peak = m.max(x, axis=axis, keepdims=True, initial=-math.inf) if x.size == 0 else m.max(
        x, axis=axis, keepdims=True)  # over nothing: log(0) = -inf, as torch
    peak = m.where(m.isfinite(peak), peak, 0)
    out = m.log(m.sum(m.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdim else out.squeeze(axis=axis)


def _logsumexp_vjp(g: Tensor, x: Tensor, out: Tensor, dim: Any, keepdim: bool) -> Tensor:
    shape = x.shape
    g = _unsqueeze_reduced(g, shape, dim, keepdim)
    out = _unsqueeze_reduced(out, shape, dim, keepdim)
    return g * (x - out).exp()


logsumexp_p = Primitive(
    "logsumexp", _logsumexp, vjp=(_logsumexp_vjp,),
    jvp=(lambda t, x, out, dim, keepdim: _contract(
        t, _logsumexp_vjp(_ones_for(out), x, out, dim, keepdim), dim, keepdim),),
    promote="float")


def _var(x: Any, *, dim: Any, correction: float, keepdim: bool) -> Any:
    return _variance(x, dim, correction, keepdim, "var")


def _variance(x: Any, dim: Any, correction: float, keepdim: bool, name: str) -> Any:
    m = xp(x)
    count = _reduced_count(x.shape, dim)
    if (count if x.size else 0) - correction <= 0:  # torch: input numel / output numel
        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly "
                      "less than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=7)
    axis = _np_dim(dim)
    if x.size:  # shifted by a first element: equal values give exactly 0 (torch's Welford)
        x = x - x[tuple(slice(0, 1) if axis is None or d in axis else slice(None)
                        for d in range(x.ndim))]
    mean = m.sum(x, axis=axis, keepdims=True) / count  # np.mean warns over nothing
    squares = m.sum((x - mean) ** 2, axis=axis, keepdims=keepdim)
    return (squares / max(count - correction, 0)).astype(x.dtype, copy=False)


def _var_vjp(g: Tensor, x: Tensor, dim: Any, correction: float, keepdim: bool) -> Tensor:
    shape = x.shape
    g = _unsqueeze_reduced(g, shape, dim, keepdim)
    count = _reduced_count(shape, dim)
    centered = x - x.mean_along(dim, keepdim=True)
    dof = count - correction  # torch: no error at dof == 0, the gradient is inf * 0 (nan)
    if dof <= 0 and (dim is None or len(shape) == 0):
        # torch's full reduction: inf, and nan where x equals the mean
        return g * (centered.zeros_like() + math.inf).masked_fill(centered == 0, math.nan)
    return g * centered * (2.0 / dof if dof else math.inf)


def _std_vjp(g: Tensor, x: Tensor, out: Tensor, dim: Any, correction: float,
             keepdim: bool) -> Tensor:
    # torch's: var's backward of grad / (2 std), zero where std is 0. A double backward's nan
    # there (0 / 0) reaches x only through std's own backward, which masks it again.
    return _var_vjp((g / (out * 2)).masked_fill(out == 0, 0.0), x, dim, correction, keepdim)


def _var_jvp(t: Tensor, x: Tensor, dim: Any, correction: float, keepdim: bool) -> Tensor:
    # torch: sum(t * (x - mean)) * 2 / dof, also where dof <= 0 (inf / nan like the forward)
    dof = _reduced_count(x.shape, dim) - correction
    centered = x - x.mean_along(dim, keepdim=True)
    return (t * centered).sum_along(dim, keepdim=keepdim) * (2.0 / dof if dof else math.inf)


def _std_jvp(t: Tensor, x: Tensor, out: Tensor, dim: Any, correction: float,
             keepdim: bool) -> Tensor:
    # torch: var's tangent / (2 * std), zero where std is zero
    var_t = _var_jvp(t, x, dim, correction, keepdim)
    return (var_t / (out * 2)).masked_fill(out == 0, 0.0)


var_p = Primitive("var", _var, vjp=(_var_vjp,), jvp=(_var_jvp,), promote="none")
std_p = Primitive("std", lambda x, *, dim, correction, keepdim: xp(x).sqrt(
    _variance(x, dim, correction, keepdim, "std")), vjp=(_std_vjp,),
                  jvp=(_std_jvp,), promote="none")


def _norm(x: Any, *, p: float, dim: Any, keepdim: bool) -> Any:
    m = xp(x)
    axis = _np_dim(dim)
    a = m.abs(x)
    if p == math.inf:
        out = m.max(a, axis=axis, keepdims=keepdim) if a.size else m.zeros(
            _keepdim_shape(a.shape, dim) if keepdim else (), dtype=x.dtype)
    elif p == -math.inf:
        out = m.min(a, axis=axis, keepdims=keepdim)
    elif p == 0:
        out = m.sum(a != 0, axis=axis, keepdims=keepdim)
    elif p == 1:
        out = m.sum(a, axis=axis, keepdims=keepdim)
    elif p == 2:
        out = m.sqrt(m.sum(a * a, axis=axis, keepdims=keepdim))
    else:
        out = m.sum(a**p, axis=axis, keepdims=keepdim) ** (1.0 / p)
    return m.asarray(out).astype(x.dtype, copy=False)


def _norm_vjp(g: Tensor, x: Tensor, out: Tensor, p: float, dim: Any, keepdim: bool) -> Tensor:
    shape = x.shape
    g = _unsqueeze_reduced(g, shape, dim, keepdim)
    out = _unsqueeze_reduced(out, shape, dim, keepdim)
    if p == 0:
        return g.zeros_like().expand(shape)
    if p == 1:
        return g * x.sign()
    if p in (math.inf, -math.inf):
        mask = x.abs() == out
        return g * x.sign() * mask / mask.sum_along(dim, keepdim=True)
    # torch's forms: where the masks fall decides what a nan upstream gradient gives at 0
    if p == 2:
        return g * (x / out).masked_fill(out == 0, 0.0)
    if p < 1:
        scaled = (x.sign() * x.abs().pow(p - 1)).masked_fill(x == 0, 0.0)
        return scaled * g * out.pow(1 - p)
    scaled = x.sign() * x.abs().pow(p - 1) if p < 2 else x * x.abs().pow(p - 2)
    return scaled * (g / out.pow(p - 1)).masked_fill(out == 0, 0.0)


norm_p = Primitive("norm", _norm, vjp=(_norm_vjp,),
                   jvp=(lambda t, x, out, p, dim, keepdim: _contract(
                       t, _norm_vjp(_ones_for(out), x, out, p, dim, keepdim), dim, keepdim),),
                   promote="float",
                   node_name="LinalgVectorNormBackward0")


def _cumsum(x: Any, *, dim: int) -> Any:
    dtype = np.int64 if x.dtype == np.bool_ or np.issubdtype(x.dtype, np.integer) else None
    return xp(x).cumsum(x, axis=dim, dtype=dtype).reshape(x.shape)  # np flattens 0-d input


cumsum_p = Primitive("cumsum", _cumsum,
                     vjp=(lambda g, dim: g if g.numel() <= 1 or g.shape[dim] == 1  # torch
                          else g.flip(dim).cumsum(dim).flip(dim),), jvp="linear")
all_p = Primitive("all", lambda x, *, dim, keepdim: xp(x).all(x, axis=_np_dim(dim),
                                                             keepdims=keepdim))
any_p = Primitive("any", lambda x, *, dim, keepdim: xp(x).any(x, axis=_np_dim(dim),
                                                             keepdims=keepdim))


# ----------------------------------------------------------------------------- softmax family
def _softmax(x: Any, *, dim: int) -> Any:
    m = xp(x)
    if x.size == 0:
        return m.zeros(x.shape, x.dtype)
    shifted = x - m.max(x, axis=dim, keepdims=True)
    e = m.exp(shifted)
    return e / m.sum(e, axis=dim, keepdims=True)


def _log_softmax(x: Any, *, dim: int) -> Any:
    m = xp(x)
    if x.size == 0:
        return m.zeros(x.shape, x.dtype)
    shifted = x - m.max(x, axis=dim, keepdims=True)
    return shifted - m.log(m.sum(m.exp(shifted), axis=dim, keepdims=True))


softmax_p = Primitive(
    "softmax", _softmax,
    vjp=(lambda g, out, dim: out * (g - (g * out).sum_along(dim, keepdim=True)),),
    jvp=(lambda t, out, dim: out * (t - (t * out).sum_along(dim, keepdim=True)),),
    promote="float", node_name="SoftmaxBackward0")
log_softmax_p = Primitive(
    "log_softmax", _log_softmax,
    vjp=(lambda g, out, dim: g - out.exp() * g.sum_along(dim, keepdim=True),),
    jvp=(lambda t, out, dim: t - (t * out.exp()).sum_along(dim, keepdim=True),),
    promote="float")


# ----------------------------------------------------------------------------- linear algebra
def _check_same_dtype(a: Any, b: Any) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}"
        )


def _matmul(a: Any, b: Any) -> Any:
    _check_same_dtype(a, b)
    return xp(a).matmul(a, b)


def _mm(a: Any, b: Any, *, column_major: tuple[bool, bool]) -> Any:
    if a.shape[1] == 1 and a.shape[0] > 1 and b.shape[1] > 1:
        # torch's BLAS multiplies out one term exactly (-0.0 * 2 stays -0.0), except for a
        # single row or column, which it sums from +0.0 like NumPy
        _check_same_dtype(a, b)
        return a * b
    return _matmul(a, b)


# torch gives a column-major operand (strides (1, rows)) its gradient as a transposed product,
# a view in the operand's own layout; ``column_major`` is each operand's layout at forward time.
def _mm_grad_a(g: Tensor, b: Tensor, column_major: tuple[bool, bool]) -> Tensor:
    return b.mm(g.t()).t() if column_major[0] else g.mm(b.t())


def _mm_grad_b(g: Tensor, a: Tensor, column_major: tuple[bool, bool]) -> Tensor:
    return g.t().mm(a).t() if column_major[1] else a.t().mm(g)


mm_p = Primitive("mm", _mm, vjp=(_mm_grad_a, _mm_grad_b), jvp="linear")
bmm_p = Primitive("bmm", _matmul, vjp=(lambda g, b: g.bmm(b.mT), lambda g, a: a.mT.bmm(g)),
                  jvp="linear")
mv_p = Primitive("mv", _matmul,
                 vjp=(lambda g, b: g.unsqueeze(1) * b.unsqueeze(0), lambda g, a: a.t().mv(g)),
                 jvp="linear")
dot_p = Primitive("dot", _matmul, vjp=(lambda g, b: g * b, lambda g, a: g * a), jvp="linear")


def _einsum(*xs: Any, equation: str) -> Any:
    sizes: dict[str, int] = {}
    for i, (term, x) in enumerate(zip(equation.split("->")[0].split(","), xs, strict=True)):
        for c, n in zip(term, x.shape, strict=True):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise RuntimeError(
                    f"einsum(): subscript {c} has size {n} for operand {i} which does not "
                    f"broadcast with previously seen size {sizes[c]}")
    return xp(xs[0]).einsum(equation, *xs)


def _einsum_vjp(g: Tensor, xs: tuple[Tensor, ...], equation: str) -> tuple[Tensor, ...]:
    """Each operand's gradient is itself an einsum of g with the other operands.

    ``equation`` is explicit (``"ij,jk->ik"``, no ellipsis). Indices repeated within an
    operand (a diagonal) become fresh letters tied by identity matrices; indices summed away
    only inside one operand come back by broadcasting.
    """
    inputs, output = equation.split("->")
    subscripts = inputs.split(",")
    grads = []
    for i, sub in enumerate(subscripts):
        operands: list[Any] = [g]
        terms = [output]
        for j, other in enumerate(subscripts):
            if j != i:
                operands.append(xs[j])
                terms.append(other)
        used = set("".join(terms))
        free = [c for c in map(chr, range(ord("A"), ord("Z") + 1)) if c not in equation]
        target: list[str] = []
        seen: dict[str, str] = {}
        for c in sub:
            if c in seen:  # repeated index: a diagonal, tied by an identity matrix
                fresh = free.pop()
                operands.append(g.new_eye(xs[i].shape[len(target)]))
                terms.append(seen[c] + fresh)
                target.append(fresh)
            else:
                seen[c] = c
                target.append(c)
        missing = [k for k, c in enumerate(target) if c not in used and c in sub
                   and sub.count(c) == 1 and c not in "".join(terms)]
        present = "".join(c for k, c in enumerate(target) if k not in missing)
        grad = operands[0]._einsum_many(",".join(terms) + "->" + present, operands[1:])
        if missing:
            shape = list(xs[i].shape)
            for k in missing:
                grad = grad.unsqueeze(k)
            grad = grad.expand(tuple(shape))
        grads.append(grad)
    return tuple(grads)


einsum_p = Primitive("einsum", _einsum, vjp=_einsum_vjp, jvp="linear", node_name="EinsumBackward0")


# ----------------------------------------------------------------------------- views
def _view_shape(x: Any, shape: tuple[int, ...]) -> Any:
    out = x.view()
    try:
        out.shape = shape
    except AttributeError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    item = x.itemsize
    wanted = _view_strides(x.shape, tuple(s // item for s in x.strides), out.shape)
    strides = _contiguous_strides(out) if wanted is None else tuple(s * item for s in wanted)
    if out.strides != strides:  # NumPy picks other strides for size-1 dims
        out = xp(x).lib.stride_tricks.as_strided(out, strides=strides)
    return out


def _view_strides(old_shape: tuple[int, ...], old_strides: tuple[int, ...],
                  new_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The strides torch gives a view of ``new_shape`` (in elements; the view must exist;
    None: contiguous, torch's choice for a reshaped empty tensor).

    Dims of the old shape are grouped into chunks that are contiguous with each other; each
    chunk is refilled from its innermost stride, and size-1 dims take the stride they would
    have there (NumPy keeps others).
    """
    if not old_shape:
        return (1,) * len(new_shape)
    numel = math.prod(old_shape)
    if numel == 0:
        return tuple(old_strides) if tuple(old_shape) == tuple(new_shape) else None
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_stride = old_strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1
                             and old_strides[tensor_d - 1] != tensor_numel * chunk_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if tensor_d > 0:
                chunk_stride = old_strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    return tuple(new_strides)


view_p = Primitive("view", lambda x, *, shape: _view_shape(x, shape),
                   vjp=(lambda g, x_shape: g.reshape(x_shape),), jvp="linear", view=True)
unsafe_view_p = Primitive("_unsafe_view", lambda x, *, shape: x.reshape(shape),
                          vjp=(lambda g, x_shape: g.reshape(x_shape),), jvp="linear")
alias_p = Primitive("alias", lambda x: x.view(), vjp=(lambda g: g,), jvp="linear", view=True)
permute_p = Primitive("permute", lambda x, *, dims: x.transpose(dims),
                      vjp=(lambda g, dims: g.permute(tuple(np.argsort(dims).tolist())),),
                      jvp="linear", view=True)


def _transpose(x: Any, *, dim0: int, dim1: int) -> Any:
    return xp(x).swapaxes(x, dim0, dim1) if x.ndim else x.view()  # 0-d: dims 0 and -1 wrap


transpose_p = Primitive("transpose", _transpose,
                        vjp=(lambda g, dim0, dim1: g.transpose(dim0, dim1),), jvp="linear",
                        view=True)
t_p = Primitive("t", lambda x: x.T, vjp=(lambda g: g.t(),), jvp="linear", view=True)
def _expand(x: Any, *, shape: tuple[int, ...]) -> Any:
    # A writable stride-0 view (np.broadcast_to's is read-only): in-place ops on it are
    # allowed where nothing repeats, and refused by the in-place funnel where something does.
    # Strides as torch's: a new size-1 dim takes the stride it would have in place (all
    # zeros for a 0-d x).
    lead = len(shape) - x.ndim
    strides = [0] * len(shape)
    for i in range(len(shape) - 1, -1, -1):
        if i >= lead:
            size, stride = x.shape[i - lead], x.strides[i - lead]
        else:
            size, stride = 1, shape[i + 1] * strides[i + 1] if i + 1 < len(shape) else 0
        strides[i] = stride if size == shape[i] else 0
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


expand_p = Primitive("expand", _expand,  # (the engine sums g to the input's shape; torch's
                     # sum_to of a 0-d input is a fresh sum, not g itself)
                     vjp=(lambda g, x_shape: g.sum() if not x_shape else g,), jvp="linear",
                     view=True)
squeeze_p = Primitive("squeeze", lambda x, *, dim: x.squeeze(axis=dim),  # no-op: g itself (torch)
                      vjp=(lambda g, x_shape: g if g.shape == x_shape else g.reshape(x_shape),),
                      jvp="linear", view=True)
# vector @ matrix ends with an in-place squeeze_ in torch: same values, not a view
squeeze_inplace_p = Primitive("squeeze_", lambda x, *, dim: x.squeeze(axis=dim),
                              vjp=(lambda g, x_shape: g.reshape(x_shape),), jvp="linear",
                              node_name="SqueezeBackward4")
squeeze_dim_p = Primitive("squeeze", lambda x, *, dim: x.squeeze(axis=dim),
                          vjp=(lambda g, x_shape: g if g.shape == x_shape else
                               g.reshape(x_shape),), jvp="linear",
                          view=True, node_name="SqueezeBackward1")
def _unsqueeze(x: Any, *, dim: int) -> Any:
    # torch's stride for the new dim: size * stride of the dim it lands before (1 at the end)
    shape, strides = list(x.shape), list(x.strides)
    strides.insert(dim, x.itemsize if dim >= x.ndim else shape[dim] * strides[dim])
    shape.insert(dim, 1)
    return xp(x).lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


unsqueeze_p = Primitive("unsqueeze", _unsqueeze,
                        vjp=(lambda g, dim: g.squeeze(dim),), jvp="linear", view=True)


def _view_scatter(g: Any, *, base_shape: tuple[int, ...], chain: tuple[Any, ...]) -> Any:
    """The adjoint of a chain of views: place ``g`` where the views read from a zero base."""
    m = xp(g)
    if any(prim is expand_p for prim, _ in chain):  # overlapping reads: accumulate
        index = m.arange(int(np.prod(base_shape)), dtype=np.int64).reshape(base_shape)
        for prim, params in chain:
            index = prim.forward(index, **params)
        flat = m.bincount(index.reshape(-1), weights=g.reshape(-1).astype(np.float64),
                          minlength=int(np.prod(base_shape)))
        return flat.astype(g.dtype).reshape(base_shape)
    out = m.zeros(base_shape, dtype=g.dtype)
    view = out
    for prim, params in chain:
        view = prim.forward(view, **params)
    view[...] = g
    return out


def replay(g: Tensor, chain: tuple[Any, ...]) -> Tensor:
    for prim, params in chain:
        g = g._op(prim, **params)
    return g


view_scatter_p = Primitive("view_scatter", _view_scatter,
                           vjp=(lambda g, chain: replay(g, chain),), jvp="linear")


def _select(x: Any, *, dim: int, index: int) -> Any:
    key = (slice(None),) * dim + (index, Ellipsis)  # the Ellipsis keeps a 0-d result a view
    return x[key]


def _slice(x: Any, *, dim: int, start: int, stop: int, step: int) -> Any:
    key = (slice(None),) * dim + (slice(start, stop, step),)
    return x[key]


def _diagonal(x: Any, *, offset: int, dim1: int, dim2: int) -> Any:
    # np.diagonal returns a read-only view; build the same view, writable, from strides.
    n1, n2 = x.shape[dim1], x.shape[dim2]
    length = max(min(n1, n2 - offset), 0) if offset >= 0 else max(min(n1 + offset, n2), 0)
    rest = [i for i in range(x.ndim) if i not in (dim1, dim2)]
    shape = tuple(x.shape[i] for i in rest) + (length,)
    strides = tuple(x.strides[i] for i in rest) + (x.strides[dim1] + x.strides[dim2],)
    if length == 0 or x.size == 0:
        return xp(x).zeros(shape, dtype=x.dtype)
    shift = [slice(None)] * x.ndim  # move the data pointer to the diagonal's first element
    shift[dim2 if offset >= 0 else dim1] = slice(abs(offset), None)
    start = x[tuple(shift)]
    return np.lib.stride_tricks.as_strided(start, shape=shape, strides=strides)


select_p: Primitive = Primitive("select", _select,
                     vjp=(lambda g, x_shape, dim, index: g._op(
                         view_scatter_p, base_shape=x_shape,
                         chain=((select_p, {"dim": dim, "index": index}),)),),
                     jvp="linear", view=True)
slice_p: Primitive = Primitive("slice", _slice,
                    vjp=(lambda g, x_shape, dim, start, stop, step: g._op(
                        view_scatter_p, base_shape=x_shape,
                        chain=((slice_p, {"dim": dim, "start": start, "stop": stop,
                                          "step": step}),)),),
                    jvp="linear", view=True)
diagonal_p: Primitive = Primitive("diagonal", _diagonal,
                       vjp=(lambda g, x_shape, offset, dim1, dim2: g._op(
                           view_scatter_p, base_shape=x_shape,
                           chain=((diagonal_p, {"offset": offset, "dim1": dim1,
                                                "dim2": dim2}),)),),
                       jvp="linear", view=True)
# A regenerated view (after an in-place op on its base): ``chain`` replays it from the base.
def _as_strided_vjp(g: Tensor, x_shape: tuple[int, ...], chain: tuple[Any, ...]) -> Tensor:
    if not math.prod(x_shape) or not g.numel():  # torch: fresh zeros, outside the graph
        return g.detach().new_zeros(x_shape)
    # torch returns a view of the gradient's storage (as_strided)
    return g._op(view_scatter_p, base_shape=x_shape, chain=chain).view(-1).view(x_shape)


as_strided_p = Primitive("as_strided", lambda x, *, chain: _replay_array(x, chain),
                         vjp=(_as_strided_vjp,), jvp="linear", view=True)


def _replay_array(x: Any, chain: tuple[Any, ...]) -> Any:
    for prim, params in chain:
        x = prim.forward(x, **params)
    return x


def _unbind(x: Any, *, dim: int) -> tuple[Any, ...]:
    return tuple(_select(x, dim=dim, index=i) for i in range(x.shape[dim]))


unbind_p = Primitive("unbind", _unbind, vjp=(lambda g, dim: g[0]._stack_many(g, dim),),
                     jvp="linear", view=True, multi_output=True)


def _split(x: Any, *, sizes: tuple[int, ...], dim: int) -> tuple[Any, ...]:
    outs, start = [], 0
    for size in sizes:
        outs.append(_slice(x, dim=dim, start=start, stop=start + size, step=1))
        start += size
    return tuple(outs)


split_p = Primitive("split", _split, vjp=(lambda g, dim: g[0]._cat_many(g, dim),),
                    jvp="linear", view=True, multi_output=True)
split_with_sizes_p = Primitive("split_with_sizes", _split,
                               vjp=(lambda g, dim: g[0]._cat_many(g, dim),), jvp="linear",
                               view=True, multi_output=True)


# ----------------------------------------------------------------------------- copies
def _cast(x: Any, *, dtype: Any) -> Any:
    return x.astype(dtype, copy=True)


to_copy_p = Primitive("_to_copy", _cast, vjp=(lambda g: g,), jvp="linear",
                      node_name="ToCopyBackward0")
clone_p = Primitive("clone", lambda x, *, contiguous: x.copy(), vjp=(lambda g: g,), jvp="linear")
copy_p = Primitive("copy_", lambda x, y: xp(x).broadcast_to(y.astype(x.dtype, copy=False),
                                                            x.shape).copy(),
                   # torch casts src's gradient before summing it to src's shape (a view
                   # where src gained leading dims); the engine would sum first
                   vjp=(lambda g: g.zeros_like(),
                        lambda g, y_shape, y_dtype: g.to(y_dtype).sum_to_size(y_shape)),
                   jvp="joint", node_name="CopyBackwards")
fill_p = Primitive("fill", lambda x, *, value: xp(x).full_like(x, value),
                   vjp=(lambda g: g.zeros_like(),), jvp="elementwise",  # constant: zero
                   node_name="FillBackward2")
fill_tensor_p = Primitive("fill", lambda x, value: xp(x).full_like(x, value),
                          vjp=(lambda g: g.zeros_like(), lambda g: g.sum()), jvp="joint",
                          node_name="FillBackward3")
zero_p = Primitive("zero", lambda x: xp(x).zeros_like(x), vjp=(lambda g: g.zeros_like(),),
                   jvp="linear")


# ----------------------------------------------------------------------------- indexing
def np_index(index: tuple[Any, ...]) -> tuple[Any, ...]:
    """An index key in NumPy's form: its index tensors as arrays."""
    return tuple(getattr(i, "_array", i) for i in index)


def _index(x: Any, *, index: tuple[Any, ...]) -> Any:
    return x[np_index(index)]


def _index_vjp(g: Tensor, x_shape: tuple[int, ...], index: tuple[Any, ...]) -> Tensor:
    if not x_shape and all(hasattr(i, "reshape") for i in index):
        # torch indexes a 0-d tensor by 0-d masks as its (1,) unsqueeze: the gradient is a view
        flat = tuple(i.reshape(1) for i in index)
        return g.new_zeros((1,))._op(index_put_p, g, index=flat, accumulate=True).view(())
    return g.new_zeros(x_shape)._op(index_put_p, g, index=index, accumulate=True)


index_p = Primitive("index", _index, vjp=(_index_vjp,), jvp="linear")


def _index_put(x: Any, values: Any, *, index: tuple[Any, ...], accumulate: bool) -> Any:
    arrays = np_index(index)
    masked_fill = (not accumulate and len(arrays) == 1 and _is_mask(arrays[0])
                   and values.size == 1)  # torch hands this one to masked_fill_
    if values.dtype != x.dtype and not masked_fill:
        names = [_dtype.from_numpy_dtype(d).legacy_name[:-6] for d in (x.dtype, values.dtype)]
        raise RuntimeError("Index put requires the source and destination dtypes match, got "
                           f"{names[0]} for the destination and {names[1]} for the source.")
    target = x[arrays].shape  # values expand to it (NumPy would also drop leading 1-dims)
    if values.ndim > len(target) or any(n not in (1, m) for n, m in zip(
            values.shape[::-1], target[::-1], strict=False)):
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot "
                           f"be broadcast to indexing result of shape {list(target)}")
    out = x.copy()
    index_put_into(out, values, index=arrays, accumulate=accumulate)
    return out


def index_put_into(out: Any, values: Any, *, index: tuple[Any, ...], accumulate: bool) -> None:
    """Write ``values`` at ``index`` of ``out`` element by element, in the index's order (as
    torch's kernel: through the aliasing of an expanded ``out`` too)."""
    index = np_index(index)
    if accumulate:
        xp(out).add.at(out, index, values.astype(out.dtype, copy=False))
    else:
        out[index] = values


index_put_p: Primitive = Primitive(
    "index_put", _index_put,
    vjp=(lambda g, index, accumulate: g if accumulate else g._op(
        index_put_p, g.new_zeros(()), index=index, accumulate=False),
         lambda g, index: g._op(index_p, index=index)),
    jvp="joint", node_name="IndexPutBackward0")


def _check_gather(x: Any, index: Any, dim: int) -> None:
    if index.ndim != x.ndim and index.size:  # torch allows any empty index
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    check_in_bounds(index, dim, x.shape[dim])


def first_out_of_range(index: Any, size: int) -> int | None:
    """The first index (in order) outside [0, size): the index ops take no negative ones."""
    bad = ((index < 0) | (index >= size)).reshape(-1)
    return int(index.reshape(-1)[bad.argmax()]) if bad.any() else None


def check_in_bounds(index: Any, dim: int, size: int) -> None:
    bad = first_out_of_range(index, size)
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {size}")


def _take(x: Any, index: Any, *, dim: int) -> Any:
    if not x.ndim:  # torch gathers from a 0-d tensor as from its (1,) view
        return _take(x.reshape(1), index.reshape(-1), dim=0).reshape(index.shape)
    _check_gather(x, index, dim)
    if not index.size:
        return xp(x).zeros(index.shape, dtype=x.dtype)
    # torch.gather allows index smaller than x in the other dims: slice x to match.
    key = tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(index.shape))
    return xp(x).take_along_axis(x[key], index, axis=dim)


gather_p = Primitive("gather", _take,  # torch saves the input itself, not only its shape
                     vjp=(lambda g, x, index, dim: g.new_zeros(x.shape).scatter_add(
                         dim, index, g), None), jvp="linear")


def _value_selecting_vjp(g: Tensor, x_shape: tuple[int, ...], index: Tensor, dim: int) -> Tensor:
    return g.new_zeros(x_shape).scatter_add(dim, index, g)


# sort/topk values: a gather that saves the input's shape and the indices only (torch)
sort_p = Primitive("sort", _take, vjp=(_value_selecting_vjp, None), jvp="linear")
topk_p = Primitive("topk", _take, vjp=(_value_selecting_vjp, None), jvp="linear")


def _scatter_indices(index: Any, dim: int) -> tuple[Any, ...]:
    m = xp(index)
    grids = m.indices(index.shape, sparse=True)
    return tuple(index if d == dim else grids[d] for d in range(index.ndim))


def _scatter(x: Any, index: Any, src: Any, *, dim: int) -> Any:
    if not x.ndim:  # as on its (1,) view
        return _scatter(x.reshape(1), index.reshape(-1), src.reshape(-1), dim=0).reshape(())
    _check_gather(x, index, dim)
    out = x.copy()
    src = src if src.ndim else xp(x).broadcast_to(src, index.shape)
    key = tuple(slice(0, s) for s in index.shape)
    out[_scatter_indices(index, dim)] = src[key]
    return out


def _scatter_add(x: Any, index: Any, src: Any, *, dim: int) -> Any:
    if not x.ndim:  # as on its (1,) view
        return _scatter_add(x.reshape(1), index.reshape(-1), src.reshape(-1), dim=0).reshape(())
    _check_gather(x, index, dim)
    out = x.copy()
    if not index.size:
        return out
    key = tuple(slice(0, s) for s in index.shape)
    xp(x).add.at(out, _scatter_indices(index, dim), src[key])
    return out


def _src_grad(g: Tensor, index: Tensor, dim: int, src_shape: tuple[int, ...]) -> Tensor:
    taken = g.gather(dim, index)
    if tuple(taken.shape) != tuple(src_shape):
        pads = []
        for d in reversed(range(len(src_shape))):
            pads += [0, src_shape[d] - taken.shape[d]]
        taken = taken._op(pad_p, pad=tuple(pads), value=0.0)
    return taken


scatter_p = Primitive(
    "scatter", _scatter,
    vjp=(lambda g, index, dim: g.scatter(dim, index, 0.0), None,
         lambda g, index, dim, src_shape: _src_grad(g, index, dim, src_shape)),
    jvp="joint", node_name="ScatterBackward0")


def _scatter_value(x: Any, index: Any, *, dim: int, value: Any) -> Any:
    return _scatter(x, index, xp(x).asarray(value, dtype=x.dtype), dim=dim)


scatter_value_p = Primitive(
    "scatter", _scatter_value, vjp=(lambda g, index, dim: g.scatter(dim, index, 0.0), None),
    jvp="elementwise", node_name="ScatterBackward1")
scatter_add_p = Primitive(
    "scatter_add", _scatter_add,
    vjp=(lambda g: g, None, lambda g, index, dim, src_shape: _src_grad(g, index, dim, src_shape)),
    jvp="joint")


def _index_select(x: Any, index: Any, *, dim: int) -> Any:
    if not x.ndim:  # torch: as on the (1,) view, a 0-d result
        return xp(x).take(x.reshape(1), index, axis=0).reshape(())
    return xp(x).take(x, index, axis=dim)


index_select_p = Primitive(
    "index_select", _index_select,
    vjp=(lambda g, x_shape, index, dim: g.new_zeros(x_shape).index_add(dim, index, g), None),
    jvp="linear")


def _index_add(x: Any, index: Any, source: Any, *, dim: int, alpha: Any) -> Any:
    if not x.ndim:  # as on the (1,) view
        return _index_add(x.reshape(1), index, source.reshape(-1), dim=0, alpha=alpha).reshape(())
    out = x.copy()
    key = (slice(None),) * dim + (index,)
    xp(x).add.at(out, key, (source if alpha == 1 else source * alpha).astype(x.dtype))
    return out


index_add_p = Primitive(
    "index_add", _index_add,
    vjp=(lambda g: g, None, lambda g, index, dim, alpha, source: _alpha_scaled(
        g.index_select(dim, index), alpha)),  # torch's formula reads (so saves) source
    jvp="joint")


# ----------------------------------------------------------------------------- joins and shapes
def _cat(*xs: Any, dim: int) -> Any:
    # torch skips legacy empty 1-D inputs (they still get a zero-size gradient)
    kept = [x for x in xs if not (x.ndim == 1 and x.shape[0] == 0)] or list(xs[:1])
    return xp(xs[0]).concatenate(kept, axis=dim)


def _cat_vjp(g: Tensor, xs_shape: tuple[tuple[int, ...], ...], dim: int) -> tuple[Tensor, ...]:
    grads, start = [], 0
    for shape in xs_shape:
        if len(shape) == 1 and shape[0] == 0:  # legacy empty input: torch's plain zeros(0)
            grads.append(g.new_zeros(shape))
            continue
        size = shape[dim]
        grads.append(g.narrow(dim, start, size))
        start += size
    return tuple(grads)


cat_p = Primitive("cat", _cat, vjp=_cat_vjp, jvp="joint", promote="all")
stack_p = Primitive("stack", lambda *xs, dim: xp(xs[0]).stack(xs, axis=dim),
                    # torch selects each input's slice (single views: writable, unlike unbind's)
                    vjp=lambda g, dim: tuple(g.select(dim, i) for i in range(g.shape[dim])),
                    jvp="joint", promote="all")
tril_p = Primitive("tril", lambda x, *, diagonal: xp(x).tril(x, diagonal),
                   vjp=(lambda g, diagonal: g.tril(diagonal),), jvp="linear")
triu_p = Primitive("triu", lambda x, *, diagonal: xp(x).triu(x, diagonal),
                   vjp=(lambda g, diagonal: g.triu(diagonal),), jvp="linear")
flip_p = Primitive("flip", lambda x, *, dims: xp(x).flip(x, axis=dims) if x.ndim else x.copy(),
                   vjp=(lambda g, dims: g.flip(dims),), jvp="linear")


def _roll(x: Any, *, shifts: tuple[int, ...], dims: tuple[int, ...] | None) -> Any:
    if dims is None:  # torch rolls the flattened tensor
        return xp(x).roll(x, shifts[0])
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    return xp(x).roll(x, shifts, axis=dims)


roll_p = Primitive("roll", _roll,
                   vjp=(lambda g, shifts, dims: g.roll(tuple(-s for s in shifts), dims),),
                   jvp="linear")


def _repeat(x: Any, *, repeats: tuple[int, ...]) -> Any:
    extra = len(repeats) - x.ndim
    x = x.reshape((1,) * extra + x.shape)
    return xp(x).tile(x, repeats)


def _repeat_vjp(g: Tensor, x_shape: tuple[int, ...], repeats: tuple[int, ...]) -> Tensor:
    extra = len(repeats) - len(x_shape)
    shape = (1,) * extra + tuple(x_shape)
    split: list[int] = []
    for r, s in zip(repeats, shape, strict=True):
        split += [r, s]
    summed = g.reshape(tuple(split)).sum_along(tuple(range(0, 2 * len(shape), 2)), keepdim=False)
    # a 0-d x repeated: a sum in torch, not a view
    return summed.sum() if repeats and not x_shape else summed.reshape(x_shape)


repeat_p = Primitive("repeat", _repeat, vjp=(_repeat_vjp,), jvp="linear")


def _pad(x: Any, *, pad: tuple[int, ...], value: Any) -> Any:
    m = xp(x)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    widths = [(0, 0)] * x.ndim
    crop = [slice(None)] * x.ndim
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        widths[d] = (max(before, 0), max(after, 0))
        crop[d] = slice(-before if before < 0 else 0, after if after < 0 else None)
    x = x[tuple(crop)]
    return m.pad(x, widths, mode="constant", constant_values=value)


def _pad_jvp(t: Tensor, pad: tuple[int, ...]) -> Tensor:
    return t._op(pad_p, pad=pad, value=0.0)  # the fill value is a constant: zero tangent there


pad_p: Primitive = Primitive("constant_pad_nd", _pad,
                  vjp=(lambda g, pad: g._op(pad_p, pad=tuple(-p for p in pad), value=0.0),),
                  jvp=(_pad_jvp,))


# ---- nn primitives
# Sliding windows for convolution and pooling (torch's im2col / col2im, in a channels-last
# patch layout that feeds a single matmul). Each is the other's vjp, so higher order works.
def _im2col(x: Any, *, kernel_size: tuple[int, ...], dilation: tuple[int, ...],
            stride: tuple[int, ...]) -> Any:
    """``(N, C, *spatial)`` -> contiguous patches ``(N, *out, C, *kernel)``."""
    nd = len(kernel_size)
    spatial = tuple(range(2, 2 + nd))
    windows = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation, strict=True))
    if any(w > x.shape[a] for w, a in zip(windows, spatial, strict=True)):
        out = [max((x.shape[a] - w) // s + 1, 0) for w, a, s in zip(windows, spatial, stride,
                                                                     strict=True)]
        return xp(x).zeros((x.shape[0], *out, x.shape[1], *kernel_size), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, windows, axis=spatial)
    key = (slice(None), slice(None), *(slice(None, None, s) for s in stride),
           *(slice(None, None, d) for d in dilation))
    view = view[key]
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    return xp(x).ascontiguousarray(view.transpose(order))


def _col2im(g: Any, *, size: tuple[int, ...], kernel_size: tuple[int, ...],
            dilation: tuple[int, ...], stride: tuple[int, ...]) -> Any:
    """The adjoint of ``_im2col``: sum patches ``(N, *out, C, *kernel)`` into ``(N, C, *size)``."""
    nd = len(kernel_size)
    out_shape = g.shape[1:1 + nd]
    channels = g.shape[1 + nd]
    result = xp(g).zeros((g.shape[0], channels, *size), dtype=g.dtype)
    # (N, *out, C, *kernel) -> (N, C, *kernel, *out)
    moved = g.transpose(0, 1 + nd, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd))
    for position in np.ndindex(*kernel_size):
        key = tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(
            position, dilation, stride, out_shape, strict=True))
        result[(slice(None), slice(None), *key)] += moved[(slice(None), slice(None), *position)]
    return result


im2col_p = Primitive(
    "im2col", _im2col,
    vjp=(lambda g, x_shape, kernel_size, dilation, stride: g._op(
        col2im_p, size=tuple(x_shape[2:]), kernel_size=kernel_size, dilation=dilation,
        stride=stride),),
    jvp="linear", node_name="Im2ColBackward0")
col2im_p: Primitive = Primitive(
    "col2im", _col2im,
    vjp=(lambda g, kernel_size, dilation, stride: g._op(
        im2col_p, kernel_size=kernel_size, dilation=dilation, stride=stride),),
    jvp="linear", node_name="Col2ImBackward0")


def _binary_cross_entropy(x: Any, y: Any) -> Any:
    m = xp(x)
    log_p = m.maximum(m.log(x), -100.0)
    log_q = m.maximum(m.log1p(-x), -100.0)
    return (-(y * log_p + (1 - y) * log_q)).astype(x.dtype, copy=False)


# Unreduced binary cross entropy with torch's clamps: logs at >= -100 in the forward, and
# torch's input gradient (x - y) / max(x * (1 - x), 1e-12), which stays finite at 0 and 1.
def _mse_loss(x: Any, y: Any, *, reduction: str) -> Any:
    loss = (x - y) ** 2
    if reduction == "none":
        return loss
    total = xp(loss).sum(loss, dtype=loss.dtype)
    return xp(loss).asarray(total / loss.dtype.type(loss.size) if reduction == "mean" else total)


def _mse_reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()


def _mse_vjp(g: Tensor, x: Tensor, y: Tensor, reduction: str) -> Tensor:
    diff = x - y
    scale = 2.0 / max(diff.numel(), 1) if reduction == "mean" else 2.0
    return diff * (g * scale)


# torch's mse_loss is one node saving both operands (a composite saves only their difference)
mse_loss_p = Primitive(
    "mse_loss", _mse_loss,
    vjp=(_mse_vjp, lambda g, x, y, reduction: -_mse_vjp(g, x, y, reduction)),
    jvp=(lambda t, x, y, reduction: _mse_reduce((x - y) * t * 2.0, reduction),
         lambda t, x, y, reduction: _mse_reduce((y - x) * t * 2.0, reduction)),
    promote="float")
binary_cross_entropy_p = Primitive(
    "binary_cross_entropy", _binary_cross_entropy,
    vjp=(lambda g, x, y: g * (x - y) / (x * (1 - x)).clamp_min(1e-12),
         lambda g, x: g * ((1 - x).log().clamp_min(-100.0) - x.log().clamp_min(-100.0))),
    jvp="elementwise", promote="float")


# ----------------------------------------------------------------------------- result layouts
# torch lays out an elementwise result like its operands (TensorIterator), a copy of ``self``
# like ``self`` (empty_like, memory_format=preserve), and every other new tensor contiguously.
_ELEMENTWISE_CONTIGUOUS = (rpow_p, masked_fill_p, masked_fill_tensor_p, scatter_value_p)
_LIKE_OPERANDS = frozenset(
    id(p) for p in list(globals().values()) if isinstance(p, Primitive) and (
        p.jvp == "elementwise" or p.name.startswith(("logical_", "bitwise_", "is")) or p.name in (
            "neg", "mul", "where", "eq", "ne", "lt", "le", "gt", "ge", "remainder",
            "floor_divide")) and not any(p is q for q in _ELEMENTWISE_CONTIGUOUS))
_LIKE_SELF = frozenset(id(p) for p in (clone_p, to_copy_p, flip_p, index_put_p))


def _contiguous_strides(out: Any) -> tuple[int, ...]:
    strides, step = [], out.itemsize
    for size in reversed(out.shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _dense_perm(shape: tuple[int, ...], strides: list[tuple[int, ...]]) -> list[int]:
    """torch's dimension order, innermost first: insertion sort by the operands' strides,
    broadcast (stride 0) dims left where they are, ties to the smaller size."""
    ndim = len(shape)
    perm = list(range(ndim - 1, -1, -1))

    def should_swap(d0: int, d1: int) -> int:
        for s in strides:
            if s[d0] == 0 or s[d1] == 0:
                continue
            if s[d0] != s[d1]:
                return -1 if s[d0] < s[d1] else 1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    for i in range(1, ndim):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            comparison = should_swap(perm[d0], perm[d1])
            if comparison > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif comparison < 0:
                break
    return perm


def _index_operands(x: Any, index: tuple[Any, ...], shape: tuple[int, ...]
                    ) -> list[tuple[int, ...]] | None:
    """The operands' strides of torch's advanced-indexing TensorIterator, whose dim order the
    result takes: ``x`` after its basic items (views) with the indexed dims at stride 0, and the
    broadcast index tensors, all in the result's ``shape`` (None: contiguous)."""
    index = np_index(index)
    sizes, strides = list(x.shape), list(element_strides(x))
    consumed = sum(i.ndim if _is_mask(i) else 1 for i in index
                   if i is not None and i is not Ellipsis)
    indexed: list[Any] = []  # (dim, long index array); a mask counts as its nonzero() columns
    dim = 0
    for item in index:
        if item is None:  # torch's unsqueeze strides
            strides.insert(dim, sizes[dim] * strides[dim] if dim < len(sizes) else 1)
            sizes.insert(dim, 1)
        elif item is Ellipsis:
            dim += x.ndim - consumed - 1
        elif isinstance(item, slice):
            start, stop, step = item.indices(sizes[dim])
            sizes[dim], strides[dim] = len(range(start, stop, step)), strides[dim] * step
        elif getattr(item, "ndim", 0):
            columns = item.nonzero() if _is_mask(item) else (item,)
            indexed += [(dim + i, c) for i, c in enumerate(columns)]
            dim += len(columns) - 1
        else:  # an integer (Tensor.__getitem__ applies those first) or a 0-d index array
            return None
        dim += 1
    if not indexed or not math.prod(shape):
        return None
    common = xp(x).broadcast_shapes(*(i.shape for _, i in indexed))
    arrays = [i if i.shape == common else _expand(i, shape=common) for _, i in indexed]
    # torch then converts int32 indices to int64: same strides where dense, else contiguous
    arrays = [xp(a).ascontiguousarray(a) if a.dtype == "int32" and not is_dense(
        a.shape, element_strides(a), any_order=True) else a for a in arrays]
    dims = [d for d, _ in indexed]
    if dims != list(range(dims[0], dims[0] + len(dims))):  # transposed to the front
        order = dims + [d for d in range(len(sizes)) if d not in dims]
        sizes, strides = [sizes[d] for d in order], [strides[d] for d in order]
        dims = list(range(len(dims)))
    before, after = dims[0], len(sizes) - dims[-1] - 1
    if (*sizes[:before], *common, *sizes[len(sizes) - after:]) != tuple(shape):
        return None
    index_shape = (1,) * before + common + (1,) * after
    operands = [(*strides[:before], *(0,) * len(common), *strides[before + len(dims):])]
    operands += [_view_strides(a.shape, element_strides(a), index_shape) or (0,) * len(shape)
                 for a in arrays]
    if not before and not after and all(is_dense(shape, o) for o in operands):
        return None  # TensorIterator's fast setup
    # TensorIterator broadcasts an index's size-1 dims with stride 0
    return operands[:1] + [tuple(0 if n == 1 != want else st for n, want, st in zip(
        index_shape, shape, o, strict=True)) for o in operands[1:]]


def element_strides(a: Any) -> tuple[int, ...]:
    return tuple(s // a.itemsize for s in a.strides)


def first_grad_copy(grad: Any | None, param: Any, dtype: Any) -> Any:
    """An array for a leaf's first ``.grad`` (holding ``grad`` unless it is None), laid out as
    torch's gradient layout contract says: ``grad``'s own strides where they obey the contract
    (torch steals such a gradient; never with create_graph, which passes None), else a
    non-overlapping dense ``param``'s strides, else contiguous."""
    m = xp(param)
    if param.flags.c_contiguous and (grad is None or grad.flags.c_contiguous):  # the usual case
        return m.empty(param.shape, dtype) if grad is None else m.array(grad, copy=True)
    wanted = element_strides(param)
    dense = is_dense(param.shape, wanted, any_order=True)
    if grad is not None:
        mine = element_strides(grad)
        if grad.flags.c_contiguous if not dense else all(
                (g == p) if n != 1 else g != 0 for n, g, p in zip(grad.shape, mine, wanted,
                                                                   strict=True)):
            wanted, dense = mine, True
    if not dense or not param.size:
        out = m.empty(param.shape, dtype)
    else:  # dense strides: a buffer of exactly size elements
        out = m.lib.stride_tricks.as_strided(m.empty(param.size, dtype), param.shape,
                                             [s * np.dtype(dtype).itemsize for s in wanted])
    if grad is not None:
        out[...] = grad
    return out


def _is_mask(item: Any) -> bool:
    return getattr(item, "dtype", None) is not None and item.dtype.kind == "b"


def is_dense(shape: tuple[int, ...], strides: tuple[int, ...], any_order: bool = False) -> bool:
    """torch's is_contiguous (with ``any_order``: is_non_overlapping_and_dense), in elements."""
    dims = [(stride, size) for size, stride in zip(shape, strides, strict=True) if size != 1]
    expected = 1
    for stride, size in sorted(dims) if any_order else reversed(dims):
        if stride != expected:
            return False
        expected *= size
    return True


def result_layout(prim: Primitive, args: Any, out: Any, params: dict[str, Any]) -> Any:
    """``out`` (a new array, not a view) laid out as torch lays out ``prim``'s result."""
    if out.ndim < 2:  # dense or not, torch gives stride 1
        return out if out.flags.c_contiguous else xp(out).ascontiguousarray(out)
    key = id(prim)
    if prim is index_p:
        operands = _index_operands(args[0]._array, params["index"], out.shape)
        return out if operands is None else _laid_out(out, _dense_perm(out.shape, operands))
    self_only = key in _LIKE_SELF and not params.get("contiguous")
    if self_only or key in _LIKE_OPERANDS:
        operands = args[:1] if self_only else args
        for arg in operands:
            array = getattr(arg, "_array", None)
            # torch's fast setup (contiguous operands of one shape) or its dim order; which
            # differ only in a size-1 dim's stride when every operand is contiguous
            if (array is not None and not array.flags.c_contiguous) or (
                    1 in out.shape and getattr(array, "shape", None) != out.shape):
                return _like_operands([getattr(a, "_array", None) for a in operands], out)
    source = args[0]._array if self_only else None
    if source is not None and source.shape == out.shape and 1 in out.shape:
        # torch's preserve format keeps a dense self's strides, size-1 dims' included
        wanted = tuple(s // source.itemsize * out.itemsize for s in source.strides)
    elif not out.flags.c_contiguous:  # contiguous operands, or an op with a contiguous result
        return xp(out).ascontiguousarray(out)
    elif 1 in out.shape:  # NumPy keeps any stride for a size-1 dim
        wanted = _contiguous_strides(out)
    else:
        return out
    if out.strides == wanted:
        return out
    if out.flags.c_contiguous:  # only size-1 dims' strides differ: the same buffer
        return xp(out).lib.stride_tricks.as_strided(out, strides=wanted)
    fresh = xp(out).lib.stride_tricks.as_strided(xp(out).empty(out.size, out.dtype), out.shape,
                                                 wanted)  # dense strides: a buffer of out.size
    fresh[...] = out
    return fresh


def _like_operands(arrays: list[Any], out: Any) -> Any:
    shape, ndim = out.shape, out.ndim
    strides = []
    for a in arrays:
        if a is None or a.ndim > ndim or a.size == 0 or any(
                n not in (1, m) for n, m in zip(a.shape, shape[ndim - a.ndim:], strict=True)):
            continue
        lead = ndim - a.ndim  # broadcast dims have stride 0
        strides.append((0,) * lead + tuple(
            0 if a.shape[i] == 1 and shape[lead + i] != 1 else abs(a.strides[i])
            for i in range(a.ndim)))
    return _laid_out(out, _dense_perm(shape, strides))


def _laid_out(out: Any, perm: list[int]) -> Any:
    """``out`` with its dims dense in the order ``perm`` (innermost first)."""
    shape, ndim = out.shape, out.ndim
    wanted = [0] * ndim
    step = out.itemsize
    for d in perm:
        wanted[d] = step
        step *= max(shape[d], 1)
    if list(out.strides) == wanted or out.size == 0:
        return out
    fresh = xp(out).empty([shape[d] for d in reversed(perm)], out.dtype).transpose(
        [ndim - 1 - perm.index(d) for d in range(ndim)])
    fresh[...] = out
    return fresh
