"""Random tensor programs as a hypothesis strategy.

A program is a tuple of ``Step``s whose ``code`` is a Python expression over the library
``T`` and earlier results ``v0, v1, ...``; the same text runs on tapegrad and on torch.
The generator tracks each result's static shape and dtype so that most steps are valid
(broadcast-compatible operands, dims in range, matching matmul sizes); a few are invalid on
purpose, so that the exception types are compared too. Everything is drawn through
hypothesis, so failures shrink to short programs.

Example:
    >>> sorted(PROFILES)
    ['higher_order', 'mixed', 'modes', 'views_inplace']
    >>> step = Step("eval", "v0.exp()", ("v1",), ("v0",), family="unary", op="exp")
    >>> Program((step,)).names
    ('v1',)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = ["KNOWN_BUGS", "PROFILES", "Program", "Slot", "Step", "programs"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Step:
    """One statement: ``kind`` is ``eval`` (an expression, its results bound to ``binds``),
    ``inplace`` (an expression writing into ``target``), ``enter`` (a mode context manager
    expression) or ``exit`` (leave the innermost mode block)."""

    kind: str
    code: str
    binds: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    family: str = ""
    op: str = ""
    target: str | None = None
    unpack: bool = False  # the expression returns a sequence, one item per bound name
    ignore: tuple[str, ...] = ()  # observations of the results not compared (a known bug)


@dataclass(frozen=True)
class Program:
    """A generated program: its steps, in order."""

    steps: tuple[Step, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every bound name, in binding order."""
        return tuple(name for step in self.steps for name in step.binds)

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class Slot:
    """What the generator knows statically about a bound name."""

    name: str
    shape: Shape | None  # None: data-dependent (boolean-mask indexing)
    dtype: str  # "float32" | "float64" | "bool"
    leaf: bool = False  # a leaf that requires grad (an autograd.grad input)
    created_leaf: bool = False  # made by a factory (so .grad can be read without warnings)
    is_view: bool = False  # a view (or the same object as another slot)
    # Memory layout. ``agree``: both libraries give this tensor the same strides (not so for
    # gradients: torch's engine buffers and .grad follow their own layout rules); ``contig``:
    # and it is contiguous. Layout-sensitive ops (view, reshape, flatten, contiguous) run on a
    # fresh contiguous copy of tensors whose layout may disagree.
    agree: bool = True
    contig: bool = True
    multi_out: bool = False  # an output of unbind/split/chunk
    inference: bool = False  # created inside inference_mode
    storage: str = ""  # the name whose memory a view shares ("": its own)

    @property
    def root(self) -> str:
        return self.storage or self.name

    @property
    def empty(self) -> bool:
        return self.shape is not None and math.prod(self.shape) == 0


# Disagreements with torch that the fuzzer found, each documented by a strict-xfail test.
# The generator avoids them (so that CI and soak runs look for new ones); ``programs(...,
# include_known=True)`` generates them again, to check that they are still there.
KNOWN_BUGS = {
    "hook_none_grad": "test_failures.py::test_hooks_on_outputs_without_a_gradient",
    # not tapegrad bugs: torch's own (see the tests)
    "inference_mean": "test_fuzz.py::test_mean_of_an_inference_tensor_requiring_grad",
    "inplace_alias_order":
        "test_fuzz.py::test_inplace_operand_sharing_the_targets_memory_is_read_before_the_write",
}

# op templates (matched as substrings) and the known bug each one runs into
_AVOIDED_OPS: dict[str, str] = {}

# Op-family weights per profile. A family whose weight is 0 is never generated.
_BASE = {
    "leaf": 6, "unary": 14, "binary": 14, "reduce": 10, "view": 14, "multi": 3, "index": 6,
    "matmul": 4, "cat": 3, "mask": 3, "inplace": 14, "setitem": 5, "backward": 8,
    "grad": 4, "autograd_misc": 6, "mode": 8,
}
PROFILES: dict[str, dict[str, Any]] = {
    # everything, short programs
    "mixed": {"weights": _BASE, "steps": 14},
    # views of views, in-place writes through them, and the modes they meet
    "views_inplace": {
        "weights": {**_BASE, "view": 24, "inplace": 24, "setitem": 10, "mode": 12, "reduce": 4,
                    "matmul": 1, "cat": 1},
        "steps": 16,
    },
    # create_graph, double backward, gradients of gradients, hooks
    "higher_order": {
        "weights": {**_BASE, "backward": 14, "grad": 14, "autograd_misc": 10, "inplace": 6,
                    "setitem": 2, "mode": 4},
        "steps": 16,
    },
    # mode blocks, nested and switched, with ops and in-place inside
    "modes": {"weights": {**_BASE, "mode": 24, "leaf": 10, "inplace": 16}, "steps": 18},
}

SHAPES: tuple[Shape, ...] = (
    (3,), (2, 3), (), (1,), (3, 1), (1, 3), (2, 1, 3), (4,), (3, 3), (2, 3, 2), (0,), (2, 0),
)
SCALARS = ("2.0", "-1.5", "0.5", "3", "0.0", "-2")

UNARY = (
    "neg()", "exp()", "tanh()", "sigmoid()", "sin()", "cos()", "relu()", "abs()", "square()",
    "sqrt()", "log()", "expm1()", "log1p()", "erf()", "rsqrt()", "reciprocal()", "sign()",
    "floor()", "round()", "trunc()", "frac()", "clamp(min=-0.5, max=0.5)", "clamp(min=0.1)",
    "clamp_max(0.3)", "tan()", "log2()", "__neg__()", "__abs__()", "__pos__()",
)
UNARY_FUNCTIONS = ("T.exp({x})", "T.tanh({x})", "T.relu({x})", "T.sigmoid({x})",
                   "T.nn.functional.relu({x})", "T.nn.functional.gelu({x})",
                   "T.nn.functional.silu({x})", "T.nn.functional.softplus({x})")
CASTS = (("float()", "float32"), ("double()", "float64"), ("to(T.float64)", "float64"),
         ("to(T.float32)", "float32"), ("type_as({x})", None))
BINARY = (
    "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / {b}", "{a}.add({b}, alpha=2)",
    "{a}.sub({b}, alpha=0.5)", "T.mul({a}, {b})", "T.div({a}, {b})", "{b} + {a}",
    "T.where({a} > 0, {a}, {b})", "{a}.lerp({b}, 0.3)", "{a}.addcmul({b}, {b}, value=0.5)",
    "{a}.addcdiv({b}, {b}.abs() + 1, value=2)",
)
TENSOR_BINARY = ("T.maximum({a}, {b})", "T.minimum({a}, {b})", "{a} ** {b}")
SCALAR_BINARY = ("{a} ** 2", "{a} ** 3", "{a} ** 0.5", "{a} ** -1", "{a}.pow(0)", "2 ** {a}",
                 "{s} - {a}", "{s} / {a}", "{a} * {s}", "{a} + {s}", "{a} / {s}",
                 "{a}.masked_fill({a} > 0.5, {s})", "T.where({a} > 0, {a}, {s})",
                 # a tensor bound; exact (a float32 mean's rounding depends on summation order)
                 "{a}.clamp(T.tensor(0.5), None)")
REDUCE_DIM = ("sum({d}, keepdim={k})", "mean({d}, keepdim={k})", "amax({d}, keepdim={k})",
              "amin({d}, keepdim={k})", "prod({d}, keepdim={k})", "logsumexp({d}, keepdim={k})",
              "var({d}, keepdim={k})", "std({d}, keepdim={k})", "sum([{d}], keepdim={k})",
              "norm(dim={d}, keepdim={k})", "max({d}, keepdim={k}).values")
REDUCE_SAME = ("softmax({d})", "log_softmax({d})", "cumsum({d})")
REDUCE_ALL = ("sum()", "mean()", "amax()", "prod()", "norm()", "max()", "min()", "var()",
              "std()", "logsumexp(tuple(range({n})))", "abs().sum()")
GET_KEYS = ("0", "-1", "1:", "::2", ":1", "None", "...", "..., 0", ":, None", "1", "..., ::2",
            ":, 1:")
INPLACE_UNARY = ("zero_()", "fill_(1.5)", "relu_()", "exp_()", "sigmoid_()", "tanh_()",
                 "neg_()", "abs_()", "sqrt_()", "clamp_(min=-0.5, max=0.5)", "pow_(2)",
                 "mul_(2)", "add_(1)", "div_(4)", "sub_(0.5)", "sin_()")
INPLACE_BINARY = ("add_({b})", "sub_({b})", "mul_({b})", "div_({b})", "copy_({b})",
                  "add_({b}, alpha=2)", "__iadd__({b})", "__imul__({b})", "lerp_({b}, 0.5)",
                  "addcmul_({b}, {b})", "masked_fill_({b} > 0, 0.25)", "clamp_({b}, None)")
MODES = ("T.no_grad()", "T.enable_grad()", "T.inference_mode()", "T.inference_mode(False)",
         "T.set_grad_enabled(False)", "T.set_grad_enabled(True)", "T.inference_mode(True)")


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _promote(a: Slot, b: Slot | None) -> str:
    """torch's float promotion, with 0-d tensors not promoting dimensioned ones."""
    if b is None or a.dtype == b.dtype:
        return a.dtype
    floats = [s for s in (a, b) if s.dtype != "bool"]
    if len(floats) == 1:
        return floats[0].dtype
    a_dims = a.shape is None or len(a.shape) > 0
    b_dims = b.shape is None or len(b.shape) > 0
    if a_dims != b_dims:
        return a.dtype if a_dims else b.dtype
    return "float64"


def _literal(array: np.ndarray) -> str:
    return repr(array.tolist())


class _Builder:
    """Draws one program step by step, keeping the slots' static shapes and flags."""

    def __init__(self, draw: Callable[[Any], Any], profile: dict[str, Any],
                 include_known: bool = False) -> None:
        self.draw = draw
        self.profile = profile
        self.include_known = include_known
        self.steps: list[Step] = []
        self.slots: list[Slot] = []
        # the grad state of each open mode block: True, False or "inference"
        self.modes: list[bool | str] = [True]
        weights = profile["weights"]
        self.families = [(name, w) for name, w in weights.items() if w > 0]
        self.total = sum(w for _, w in self.families)

    # -- drawing helpers (every choice shrinks towards the first option) -----------------
    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def pick(self, options: Any) -> Any:
        options = tuple(options)
        return options[self.integer(0, len(options) - 1)]

    def coin(self, percent: int) -> bool:
        """True with ``percent``% probability; shrinks to False."""
        return self.integer(0, 99) >= 100 - percent

    def avoid(self, bug: str, condition: bool) -> bool:
        """Whether to steer clear of the known bug ``bug`` (a ``KNOWN_BUGS`` key) here."""
        assert bug in KNOWN_BUGS
        return condition and not self.include_known

    def pick_op(self, options: tuple[str, ...]) -> str:
        """An op template, away from those that run into a known bug (``_AVOIDED_OPS``)."""
        if not self.include_known:
            options = tuple(o for o in options if not any(k in o for k in _AVOIDED_OPS))
            assert options, "every option runs into a known bug"
        return str(self.pick(options))

    @property
    def inference(self) -> bool:
        return self.modes[-1] == "inference"

    # -- slots -----------------------------------------------------------------------------
    def name(self, offset: int = 0) -> str:
        """The next free name (``offset`` further names for multi-output steps)."""
        return f"v{sum(len(s.binds) for s in self.steps) + offset}"

    def emit(self, kind: str, code: str, family: str, op: str, refs: tuple[str, ...] = (),
             outs: tuple[Slot, ...] = (), target: str | None = None,
             unpack: bool = False, ignore: tuple[str, ...] = ()) -> tuple[Slot, ...]:
        self.steps.append(Step(kind, code, tuple(s.name for s in outs), tuple(dict.fromkeys(refs)),
                               family, op, target, unpack, ignore))
        self.slots.extend(outs)
        return outs

    def fresh(self, shape: Shape | None, dtype: str, inputs: tuple[Slot, ...] = (),
              offset: int = 0) -> Slot:
        """A new tensor computed from ``inputs``: laid out alike when they are."""
        agree = all(s.agree for s in inputs)
        return Slot(self.name(offset), shape, dtype, agree=agree,
                    contig=agree and all(s.contig for s in inputs),
                    inference=self.inference)

    def view_of(self, x: Slot, shape: Shape | None, offset: int = 0,
                contig: bool = False) -> Slot:
        """A view of ``x`` (or ``x`` itself under a new name): shares its storage and flags."""
        return Slot(self.name(offset), shape, x.dtype, is_view=True, agree=x.agree,
                    contig=contig and x.contig, inference=x.inference, storage=x.root)

    def alias(self, x: Slot) -> Slot:
        """``x`` itself, bound to a new name (``x.float()`` on a float32 tensor)."""
        out = self.view_of(x, x.shape, contig=True)
        out.is_view, out.leaf, out.created_leaf = x.is_view, x.leaf, x.created_leaf
        return out

    def tensors(self, known_shape: bool = True, floats: bool = True) -> list[Slot]:
        return [s for s in self.slots
                if (s.shape is not None or not known_shape) and ((s.dtype != "bool") == floats)]

    def some_tensor(self, known_shape: bool = True) -> Slot:
        candidates = self.tensors(known_shape)
        if not candidates:
            return self.leaf()
        # prefer recent results: they carry the longest histories
        if len(candidates) > 3 and self.coin(50):
            candidates = candidates[-3:]
        return self.pick(candidates)

    def writable(self) -> Slot:
        """A target for an in-place op (away from the known in-place bugs)."""
        candidates = self.tensors(known_shape=False)
        if not candidates:
            return self.leaf(shape=(3,))
        if len(candidates) > 3 and self.coin(50):
            candidates = candidates[-3:]
        return self.pick(candidates)

    def unaliased(self, operand: Slot, target: Slot, into_view: bool = False) -> str:
        """``operand``'s name, or a copy of it where it may share the target's memory as other
        elements (torch's kernels then read some operand values after writing them): another
        view of the same memory, or the target itself when the write goes ``into_view`` of it."""
        if self.avoid("inplace_alias_order", operand.root == target.root
                      and (operand.name != target.name or into_view)):
            return f"{operand.name}.clone()"
        return operand.name

    def dim(self, ndim: int, invalid_percent: int = 3) -> int:
        if self.coin(invalid_percent):
            return ndim + 1 if ndim else 2  # out of range: IndexError in both
        if ndim == 0:
            return self.pick((0, -1))
        return self.integer(-ndim, ndim - 1)

    def layout_safe(self, x: Slot) -> str:
        """``x``'s name, or a fresh contiguous copy of it when the layouts may disagree."""
        if x.agree or self.include_known:
            return x.name
        if x.empty:  # torch's contiguous() keeps an empty tensor's strides; a reshape does not
            return f"{x.name}.clone().reshape(-1).reshape({x.shape})"
        return f"{x.name}.clone().contiguous()"

    # -- leaves and constants --------------------------------------------------------------
    def leaf(self, shape: Shape | None = None, dtype: str | None = None,
             requires_grad: bool | None = None) -> Slot:
        if shape is None:
            shape = self.pick(SHAPES)
        if dtype is None:
            dtype = self.pick(("float64", "float32", "float64"))
        if requires_grad is None:
            requires_grad = not self.coin(30)
        style = self.pick(("normal", "ints", "positive"))
        rng = np.random.default_rng(self.integer(0, 1 << 16))
        layout = "plain"
        if len(shape) >= 2 and self.coin(25):
            layout = "transposed"
        elif len(shape) >= 1 and math.prod(shape) > 0 and self.coin(15):
            layout = "strided"
        data_shape = shape
        if layout == "transposed":
            data_shape = (*shape[:-2], shape[-1], shape[-2])
        elif layout == "strided":
            data_shape = (shape[0] * 2, *shape[1:])
        if style == "normal":
            data = rng.standard_normal(data_shape).round(2)
        elif style == "ints":
            data = rng.integers(-2, 3, data_shape).astype(np.float64)
        else:
            data = rng.uniform(0.1, 2.0, data_shape).round(2)
        if math.prod(data_shape) == 0:
            code = f"T.zeros({data_shape}, dtype=T.{dtype})"
        else:
            code = f"T.tensor({_literal(data)}, dtype=T.{dtype})"
        if layout == "transposed":
            code += ".transpose(-1, -2)"
        elif layout == "strided":
            code += "[::2]"
        if requires_grad:
            code += ".requires_grad_()"
        # an empty tensor's strides are contiguous in tapegrad (NumPy keeps none; README)
        slot = Slot(self.name(), shape, dtype, leaf=requires_grad, created_leaf=True,
                    is_view=layout != "plain", agree=layout == "plain" or math.prod(shape) > 0,
                    contig=layout == "plain", inference=self.inference)
        self.emit("eval", code, "leaf", layout, outs=(slot,))
        return slot

    def operand_shape(self, shape: Shape, inplace: bool) -> Shape:
        """A shape that broadcasts with ``shape`` (to exactly ``shape`` when ``inplace``)."""
        if self.coin(4):  # mismatched on purpose
            return (*shape[:-1], shape[-1] + 1) if shape else (2,)
        variant = self.pick(("same", "ones", "suffix", "scalar", "lead"))
        if variant == "ones" and shape:
            return tuple(1 if self.coin(50) else s for s in shape)
        if variant == "suffix" and shape:
            return shape[self.integer(1, len(shape)):]
        if variant == "scalar":
            return ()
        if variant == "lead" and not inplace and len(shape) < 3:
            return (2, *shape)
        return shape

    def operand(self, shape: Shape, inplace: bool = False, scalar_ok: bool = True) -> str | Slot:
        if scalar_ok and self.coin(25):
            return self.pick(SCALARS)
        if self.coin(55):
            if inplace:
                fits = [s for s in self.tensors() if _broadcast(s.shape, shape) == shape]
            else:
                fits = [s for s in self.tensors() if _broadcast(s.shape, shape) is not None]
            if fits:
                return self.pick(fits)
        return self.leaf(self.operand_shape(shape, inplace))

    # -- families --------------------------------------------------------------------------
    def f_leaf(self) -> None:
        self.leaf()

    def f_unary(self) -> None:
        x = self.some_tensor(known_shape=False)
        kind = self.pick(("method", "function", "cast"))
        if kind == "cast":
            op, cast = self.pick(CASTS)
            other = self.some_tensor()
            dtype = cast or other.dtype
            code = f"{x.name}.{op.format(x=other.name)}"
            out = self.alias(x) if dtype == x.dtype else self.fresh(x.shape, dtype, (x,))
            self.emit("eval", code, "unary", op.split("(")[0], (x.name, other.name), (out,))
            return
        if kind == "method":
            op = self.pick_op(UNARY)
            if "abs" in op and self.avoid("inference_mean", x.inference and not self.inference):
                op = "neg()"
            code = f"{x.name}.{op}"
            if op == "__pos__()":  # returns the tensor itself, in torch and in tapegrad
                self.emit("eval", code, "unary", "__pos__", (x.name,), (self.alias(x),))
                return
        else:
            op = self.pick_op(UNARY_FUNCTIONS)
            code = op.format(x=x.name)
        self.emit("eval", code, "unary", op.split("(")[0].replace("T.", ""), (x.name,),
                  (self.fresh(x.shape, x.dtype, (x,)),))

    def f_binary(self) -> None:
        a = self.some_tensor()
        assert a.shape is not None
        kind = self.pick(("any", "tensor", "scalar"))
        if kind == "scalar":
            op = self.pick_op(SCALAR_BINARY)
            # torch builds a number ** tensor on an out= variant too (see inference_mean)
            if op.startswith("2 **") and self.avoid("inference_mean", a.inference
                                                   and not self.inference):
                op = "{a} ** 2"
            code = op.format(a=a.name, s=self.pick(SCALARS))
            self.emit("eval", code, "binary", op, (a.name,), (self.fresh(a.shape, a.dtype, (a,)),))
            return
        op = self.pick_op(BINARY if kind == "any" else TENSOR_BINARY)
        b = self.operand(a.shape, scalar_ok=kind == "any" and "{b}.abs" not in op)
        if "{b}.abs" in op and self.avoid("inference_mean", isinstance(b, Slot) and b.inference
                                          and not self.inference):
            op = op.replace("{b}.abs()", "{b}.exp()")
        if isinstance(b, str):
            out = self.fresh(a.shape, a.dtype, (a,))
            refs: tuple[str, ...] = (a.name,)
            b_text = b
        else:
            shape = _broadcast(a.shape, b.shape) if b.shape is not None else None
            # a mismatched operand (an error on purpose) keeps a plausible shape
            out = self.fresh(shape or a.shape, _promote(a, b), (a, b))
            refs, b_text = (a.name, b.name), b.name
        self.emit("eval", op.format(a=a.name, b=b_text), "binary", op, refs, (out,))

    def f_mask(self) -> None:
        a = self.some_tensor()
        assert a.shape is not None
        if self.coin(50):
            code, shape, refs, ins = f"{a.name} > 0", a.shape, (a.name,), (a,)
        else:
            b = self.operand(a.shape, scalar_ok=False)
            assert isinstance(b, Slot)
            assert b.shape is not None
            shape = _broadcast(a.shape, b.shape) or a.shape
            code, refs, ins = f"{a.name} <= {b.name}", (a.name, b.name), (a, b)
        mask = self.emit("eval", code, "mask", "compare", refs, (self.fresh(shape, "bool", ins),))
        if self.coin(50):  # use it right away
            same = [s for s in self.tensors() if s.shape == shape]
            x = self.pick(same) if same and self.coin(70) else self.some_tensor()
            choice = self.pick(("where", "masked_fill", "select"))
            out_shape: Shape | None
            if choice == "where":
                code = f"T.where({mask[0].name}, {x.name}, {self.pick(SCALARS)})"
                out_shape = _broadcast(shape, x.shape)
            elif choice == "masked_fill":
                code = f"{x.name}.masked_fill({mask[0].name}, {self.pick(SCALARS)})"
                out_shape = _broadcast(shape, x.shape)
            else:
                code = f"{x.name}[{mask[0].name}]"
                out_shape = None
            self.emit("eval", code, "mask", choice, (mask[0].name, x.name),
                      (self.fresh(out_shape, x.dtype, (mask[0], x)),))

    def f_reduce(self) -> None:
        x = self.some_tensor(known_shape=False)
        # torch's own bug: these refuse inference tensors outside inference mode (see the test)
        # (norm too: with keepdim over a dim of one element torch computes abs)
        out_variants = ("mean", "var", "std", "logsumexp", "abs", "norm")
        torch_refuses = self.avoid("inference_mean", x.inference and not self.inference)
        if x.shape is None or self.coin(25):
            op = self.pick_op(REDUCE_ALL)
            if torch_refuses and op.startswith(out_variants):
                op = "sum()"
            ndim = len(x.shape) if x.shape is not None else 1
            code = f"{x.name}.{op.format(n=ndim)}"
            self.emit("eval", code, "reduce", op.split("(")[0], (x.name,),
                      (self.fresh((), x.dtype, (x,)),))
            return
        ndim = len(x.shape)
        d = self.dim(ndim)
        if self.coin(25):
            op = self.pick(REDUCE_SAME)
            shape: Shape = x.shape
        else:
            op = self.pick_op(REDUCE_DIM)
            if torch_refuses and op.startswith(out_variants):
                op = "sum({d}, keepdim={k})"
            keep = self.coin(40)
            if ndim == 0:
                shape = ()
            else:
                axis = d % ndim if -ndim <= d < ndim else 0
                shape = tuple(1 if i == axis else s for i, s in enumerate(x.shape) if keep
                              or i != axis)
            op = op.replace("{k}", str(keep))
        self.emit("eval", f"{x.name}.{op.format(d=d)}", "reduce", op.split("(")[0], (x.name,),
                  (self.fresh(shape, x.dtype, (x,)),))

    def f_view(self) -> None:
        x = self.some_tensor()
        shape = x.shape
        assert shape is not None
        ndim = len(shape)
        numel = math.prod(shape)
        options = ["reshape", "view", "permute", "transpose", "expand", "unsqueeze", "squeeze",
                   "getitem", "detach", "flatten", "movedim", "clone", "contiguous", "data",
                   "view_as", "expand_as"]
        if ndim >= 1 and all(shape):
            options += ["narrow", "select"]
        if ndim <= 2:
            options.append("t")
        if ndim >= 2:
            options.append("diagonal")
        op = self.pick(options)
        new: Shape | None = shape
        extra: tuple[str, ...] = ()
        name = x.name
        contig = False  # whether the view of a contiguous tensor stays contiguous
        if op in ("reshape", "view", "flatten", "view_as", "contiguous"):
            name = self.layout_safe(x)  # layout-sensitive: see Slot.agree
            contig = True
        if op in ("reshape", "view"):
            target = self.pick(("-1", "flip", "pair"))
            if target == "-1":
                code, new = f"{name}.{op}(-1)", (numel,)
            elif target == "flip":
                new = tuple(reversed(shape))
                code = f"{name}.{op}({new})"
            else:
                new = (numel, 1) if numel else (1, 0)
                code = f"{name}.{op}({new[0]}, {new[1]})"
        elif op == "permute":
            perm = list(range(ndim))
            for i in range(ndim - 1, 0, -1):
                j = self.integer(0, i)
                perm[i], perm[j] = perm[j], perm[i]
            new = tuple(shape[p] for p in perm)
            code = f"{x.name}.permute({', '.join(map(str, perm))})"
            if not ndim:
                code = f"{x.name}.permute(())"
        elif op == "transpose":
            d0, d1 = self.dim(ndim), self.dim(ndim)
            if ndim and -ndim <= d0 < ndim and -ndim <= d1 < ndim:
                dims = list(shape)
                dims[d0], dims[d1] = dims[d1], dims[d0]
                new = tuple(dims)
            code = f"{x.name}.transpose({d0}, {d1})"
        elif op == "t":
            new = tuple(reversed(shape))
            code = f"{x.name}.t()"
        elif op == "expand":
            lead = [2] if self.coin(40) or not shape else []
            dims = [self.pick((1, 2, 3)) if s == 1 else s for s in shape]
            new = (*lead, *dims)
            if dims and self.coin(30):
                dims[0] = -1
            code = f"{x.name}.expand({', '.join(map(str, (*lead, *dims)))})"
        elif op in ("expand_as", "view_as"):
            other = self.some_tensor()
            if op == "expand_as":
                code = f"{x.name}.expand_as({other.name})"
                new = other.shape if _broadcast(shape, other.shape or ()) == other.shape else None
            else:
                code = f"{name}.view_as({other.name})"
                new = other.shape if math.prod(other.shape or (-1,)) == numel else None
            extra = (other.name,)
        elif op == "unsqueeze":
            d = self.integer(-ndim - 1, ndim)
            dims = list(shape)
            dims.insert(d % (ndim + 1), 1)
            new = tuple(dims)
            code = f"{x.name}.unsqueeze({d})"
            contig = True
        elif op == "squeeze":
            contig = True
            if self.coin(50) or ndim == 0:
                new = tuple(s for s in shape if s != 1)
                code = f"{x.name}.squeeze()"
            else:
                d = self.dim(ndim)
                new = tuple(s for i, s in enumerate(shape) if not (i == d % ndim and s == 1))
                code = f"{x.name}.squeeze({d})"
        elif op == "getitem":
            key = self.pick(GET_KEYS)
            try:
                new = np.empty(shape)[eval(f"np.s_[{key}]")].shape
            except IndexError:
                new = None
            code = f"{x.name}[{key}]"
        elif op == "narrow":
            d = self.integer(0, ndim - 1)
            start = self.integer(0, shape[d] - 1)
            length = self.integer(0, shape[d] - start)
            new = tuple(length if i == d else s for i, s in enumerate(shape))
            code = f"{x.name}.narrow({d}, {start}, {length})"
        elif op == "select":
            d = self.integer(0, ndim - 1)
            index = self.integer(-shape[d], shape[d] - 1)
            new = tuple(s for i, s in enumerate(shape) if i != d)
            code = f"{x.name}.select({d}, {index})"
        elif op == "diagonal":
            new = (*shape[2:], min(shape[0], shape[1]))
            code = f"{x.name}.diagonal()"
        elif op == "flatten":
            new = (numel,)
            code = f"{name}.flatten()"
        elif op == "movedim":
            if ndim == 0:
                code = f"{x.name}.movedim(0, 0)"
            else:
                src, dst = self.integer(0, ndim - 1), self.integer(0, ndim - 1)
                dims = list(shape)
                dims.insert(dst, dims.pop(src))
                new = tuple(dims)
                code = f"{x.name}.movedim({src}, {dst})"
        elif op == "data":
            code = f"{x.name}.data"
        else:  # detach, clone, contiguous
            code = f"{name}.{op}()"
        if op == "clone":  # keeps the layout
            out = self.fresh(new, x.dtype, (x,))
        elif name != x.name:  # a view of a fresh contiguous copy
            out = self.fresh(new, x.dtype)
        else:
            out = self.view_of(x, new, contig=contig)
        self.emit("eval", code, "view", op, (x.name, *extra), (out,))

    def f_multi(self) -> None:
        x = self.some_tensor()
        shape = x.shape
        assert shape is not None
        if not shape or not all(shape):
            return self.f_view()
        d = self.integer(0, len(shape) - 1)
        size = shape[d]
        op = self.pick(("unbind", "split", "chunk"))
        if op == "unbind":
            parts = [1] * size
            code = f"{x.name}.unbind({d})"
        elif op == "split":
            k = self.integer(1, size)
            parts = [min(k, size - i) for i in range(0, size, k)]
            code = f"{x.name}.split({k}, {d})"
        else:
            n = self.integer(1, size)
            k = -(-size // n)
            parts = [min(k, size - i) for i in range(0, size, k)]
            code = f"{x.name}.chunk({n}, {d})"
        outs = []
        for part in parts:
            piece = tuple(part if i == d else s for i, s in enumerate(shape))
            if op == "unbind":
                piece = tuple(s for i, s in enumerate(shape) if i != d)
            outs.append(self.view_of(x, piece, offset=len(outs)))
            outs[-1].multi_out = True
        self.emit("eval", code, "multi", op, (x.name,), tuple(outs), unpack=True)
        return None

    def f_index(self) -> None:
        x = self.some_tensor()
        shape = x.shape
        assert shape is not None
        if not shape or shape[0] == 0:
            return self.f_view()
        rng = np.random.default_rng(self.integer(0, 1 << 16))
        count = self.integer(1, 4)
        index = rng.integers(-shape[0], shape[0], count).tolist()
        op = self.pick(("getitem", "index_select", "gather", "index_put"))
        new: Shape = (count, *shape[1:])
        if op == "getitem":
            key, new, _ = self.index_key(shape, count, rng)
            code = f"{x.name}[{key}]"
        elif op == "index_select":
            index = [i % shape[0] for i in index]
            code = f"{x.name}.index_select(0, T.tensor({index}))"
        elif op == "gather":
            idx = rng.integers(0, shape[0], (count, *shape[1:])).tolist()
            code = f"{x.name}.gather(0, T.tensor({idx}, dtype=T.int64))"
        else:
            index = sorted(set(i % shape[0] for i in index))
            code = (f"{x.name}.index_put((T.tensor({index}),), T.tensor(2.0, dtype=T.{x.dtype}),"
                    f" accumulate={self.coin(50)})")
            new = shape
        out = self.fresh(new, x.dtype, (x,))
        self.emit("eval", code, "index", op, (x.name,), (out,))
        return None

    def index_key(self, shape: Shape, count: int, rng: Any,
                  unique: bool = False) -> tuple[str, Shape, bool]:
        """A key with one index tensor at some dim, maybe an integer at another dim and a
        leading None; the result's shape as torch computes it (integers are selects first);
        whether torch indexes a view of x (it applies the None or integer first).
        ``unique``: no index twice (torch writes repeated ones in an unspecified order)."""
        dim = self.integer(0, len(shape) - 1) if self.coin(50) else 0
        dim = dim if shape[dim] else 0  # (the caller checks that dim 0 has elements)
        if unique:
            count = min(count, shape[dim])
            picked = rng.permutation(shape[dim])[:count]
            index = [int(i) - shape[dim] if self.coin(30) else int(i) for i in picked]
        else:
            index = rng.integers(-shape[dim], shape[dim], count).tolist()
        at = self.integer(0, len(shape) - 1) if len(shape) > 1 and self.coin(30) else dim
        items = [":"] * len(shape)
        items[dim] = f"T.tensor({index})"
        if at != dim and shape[at]:
            items[at] = str(self.integer(-shape[at], shape[at] - 1))
        else:
            at = dim
        lead = self.coin(20)
        while len(items) > dim + 1 and items[-1] == ":":
            items.pop()
        new = [count if d == dim else n for d, n in enumerate(shape) if d != at or at == dim]
        return (f"{'None, ' if lead else ''}{', '.join(items)}",
                ((1,) if lead else ()) + tuple(new), lead or at != dim)

    def f_matmul(self) -> None:
        a = self.some_tensor()
        shape = a.shape
        assert shape is not None
        m = self.pick((2, 1, 3))
        if len(shape) == 0:
            b_shape: Shape = (2,)
            new: Shape | None = None
        elif len(shape) == 1:
            b_shape = self.pick(((shape[0],), (shape[0], m)))
            new = () if len(b_shape) == 1 else (m,)
        elif len(shape) == 2:
            b_shape = self.pick(((shape[1], m), (shape[1],)))
            new = (shape[0], m) if len(b_shape) == 2 else (shape[0],)
        else:
            b_shape = self.pick(((shape[-1], m), (shape[0], shape[-1], m)))
            new = (*shape[:-1], m)
        fits = [s for s in self.tensors() if s.shape == b_shape and s.dtype == a.dtype]
        b = self.pick(fits) if fits and self.coin(50) else self.leaf(b_shape, a.dtype)
        # torch's mv writes into a fresh tensor (out=), so two inference operands are saved
        if self.avoid("inference_mean", len(shape) >= 2 and len(b_shape) == 1 and a.inference
                      and b.inference and not self.inference):
            return self.f_binary()
        form = self.pick(("{a} @ {b}", "T.matmul({a}, {b})", "{a}.matmul({b})"))
        # layout-sensitive: a column-major operand's gradient is a transposed view
        code = form.format(a=self.layout_safe(a), b=self.layout_safe(b))
        self.emit("eval", code, "matmul", "matmul", (a.name, b.name),
                  (self.fresh(new, a.dtype),))

    def f_cat(self) -> None:
        a = self.some_tensor()
        shape = a.shape
        assert shape is not None
        if not shape:
            return self.f_binary()
        d = self.integer(0, len(shape) - 1)
        stack = self.coin(40)
        if stack:
            b_shape = shape
        else:
            b_shape = tuple(self.pick((1, 2)) if i == d else s for i, s in enumerate(shape))
        fits = [s for s in self.tensors() if s.shape == b_shape]
        b = self.pick(fits) if fits and self.coin(50) else self.leaf(b_shape)
        if stack:
            new: Shape = (*shape[:d], 2, *shape[d:])
            code = f"T.stack([{a.name}, {b.name}], {d})"
        else:
            new = tuple(s + b_shape[d] if i == d else s for i, s in enumerate(shape))
            code = f"T.cat([{a.name}, {b.name}], {d})"
        self.emit("eval", code, "cat", "stack" if stack else "cat", (a.name, b.name),
                  (self.fresh(new, _promote(a, b), (a, b)),))
        return None

    def f_inplace(self) -> None:
        x = self.writable()
        if x.shape is None or self.coin(40):
            op = self.pick_op(INPLACE_UNARY)
            self.emit("inplace", f"{x.name}.{op}", "inplace", op.split("(")[0], (x.name,),
                      target=x.name)
            return
        op = self.pick_op(INPLACE_BINARY)
        b = self.operand(x.shape, inplace=True,
                         scalar_ok="{b} >" not in op and "clamp" not in op and "lerp" not in op)
        b_text = b if isinstance(b, str) else self.unaliased(b, x)
        refs = (x.name,) if isinstance(b, str) else (x.name, b.name)
        self.emit("inplace", f"{x.name}.{op.format(b=b_text)}", "inplace", op.split("(")[0], refs,
                  target=x.name)

    def f_setitem(self) -> None:
        x = self.writable()
        if x.shape is None:
            return self.f_inplace()
        sub: Shape | None
        writes_view = False  # a view of x: x itself as the value overlaps it as other elements
        if x.shape and x.shape[0] and all(x.shape) and self.coin(25):  # index tensors
            rng = np.random.default_rng(self.integer(0, 1 << 16))
            key, sub, writes_view = self.index_key(x.shape, self.integer(1, 3), rng, unique=True)
        else:
            key = self.pick(GET_KEYS)
            try:
                sub = np.empty(x.shape)[eval(f"np.s_[{key}]")].shape
            except IndexError:
                sub = None
        if sub is None or self.coin(40):
            value = self.pick(SCALARS)
            refs: tuple[str, ...] = (x.name,)
        else:
            b = self.operand(sub, inplace=True)
            value = b if isinstance(b, str) else self.unaliased(b, x, writes_view)
            refs = (x.name,) if isinstance(b, str) else (x.name, b.name)
        if self.coin(15):
            masks = [s for s in self.tensors(floats=False) if s.shape == x.shape]
            if masks:
                mask = self.pick(masks)
                self.emit("inplace", f"{x.name}[{mask.name}] = {self.pick(SCALARS)}",
                          "setitem", "mask", (x.name, mask.name), target=x.name)
                return
        self.emit("inplace", f"{x.name}[{key}] = {value}", "setitem", key, refs, target=x.name)
        return None

    def backward_root(self) -> tuple[Slot, str]:
        x = self.some_tensor(known_shape=False)
        form = self.pick(("sum", "sum", "plain", "gradient", "square"))
        if form == "sum":
            return x, f"{x.name}.sum()"
        if form == "square":
            return x, f"({x.name} * {x.name}).sum()"
        return x, x.name  # plain, or with an explicit ones_like gradient

    def f_backward(self) -> None:
        x, root = self.backward_root()
        retain = self.pick(("None", "True", "False"))
        create = self.coin(30)
        refs = [x.name]
        if root == x.name and self.coin(50):
            code = (f"{root}.backward(T.ones_like({x.name}), retain_graph={retain}, "
                    f"create_graph={create})")
        elif self.coin(15):
            leaves = [s for s in self.slots if s.leaf]
            inputs = ""
            if leaves:
                chosen = self.pick(leaves)
                refs.append(chosen.name)
                inputs = f", inputs=[{chosen.name}]"
            code = f"T.autograd.backward([{root}], retain_graph={retain}{inputs})"
            create = False
        else:
            code = f"{root}.backward(retain_graph={retain}, create_graph={create})"
        self.emit("eval", code, "backward", "create_graph" if create else "backward",
                  tuple(refs))
        return None

    def f_grad(self) -> None:
        leaves = [s for s in self.slots if s.leaf]
        if not leaves:
            self.leaf(requires_grad=True)
            leaves = [s for s in self.slots if s.leaf]
        x, root = self.backward_root()
        if root == x.name:
            root = f"{x.name}.sum()"
        count = self.integer(1, min(2, len(leaves)))
        inputs = [self.pick(leaves) for _ in range(count)]
        create = self.coin(40)
        retain = self.pick(("None", "True"))
        unused = self.pick(("True", "False"))
        code = (f"T.autograd.grad({root}, [{', '.join(s.name for s in inputs)}], "
                f"retain_graph={retain}, create_graph={create}, allow_unused={unused})")
        # the engine's buffers: torch may hand out expanded views of them
        outs = [Slot(self.name(i), s.shape, s.dtype, agree=False, contig=False, is_view=True)
                for i, s in enumerate(inputs)]
        self.emit("eval", code, "grad", "create_graph" if create else "grad",
                  (x.name, *(s.name for s in inputs)), tuple(outs), unpack=True)
        return None

    def f_autograd_misc(self) -> None:
        x = self.some_tensor(known_shape=False)
        op = self.pick(("retain_grad", "grab_grad", "requires_grad_", "hook", "detach_",
                        "clear_grad", "no_requires_grad", "bad_hook", "requires_grad_attr"))
        if op == "bad_hook" and self.coin(50):
            op = "dtype_hook"
        if "hook" in op and self.avoid("hook_none_grad", x.multi_out):
            op = "retain_grad"
        if op == "grab_grad":
            leaves = [s for s in self.slots if s.leaf]
            if leaves:
                x = self.pick(leaves)
                # torch's .grad follows its parameter's layout (the "layout contract")
                out = Slot(self.name(), x.shape, x.dtype, agree=False, contig=False)
                # (its version counts the engine's in-place work: not compared, the docstring
                # of interpreter.py; torch's .grad can even share a buffer with another's)
                self.emit("eval", f"{x.name}.grad", "autograd", "grad", (x.name,), (out,),
                          ignore=("version",))
                return
            op = "retain_grad"
        code: Any = {
            "retain_grad": f"{x.name}.retain_grad()",
            "requires_grad_": f"{x.name}.requires_grad_()",
            "no_requires_grad": f"{x.name}.requires_grad_(False)",
            "hook": f"{x.name}.register_hook(lambda g: g + 1)",
            "bad_hook": f"{x.name}.register_hook(lambda g: g[None])",
            "dtype_hook": f"{x.name}.register_hook(lambda g: g.double())",
            "detach_": f"{x.name}.detach_()",
            "clear_grad": f"{x.name}.grad = None",
            "requires_grad_attr": f"{x.name}.requires_grad = True",
        }
        code = code[op]
        if op == "requires_grad_":
            x.leaf = x.leaf or x.created_leaf
        self.emit("inplace" if op == "detach_" else "eval", code, "autograd", op, (x.name,),
                  target=x.name if op == "detach_" else None)

    def f_mode(self) -> None:
        if len(self.modes) > 1 and self.coin(40):
            self.modes.pop()
            self.emit("exit", "", "mode", "exit")
            return
        if len(self.modes) < 4 and not self.coin(15):
            code = self.pick(MODES)
            state: bool | str = {"T.no_grad()": False, "T.enable_grad()": True,
                                 "T.inference_mode()": "inference",
                                 "T.inference_mode(True)": "inference",
                                 "T.inference_mode(False)": True,
                                 "T.set_grad_enabled(False)": False,
                                 "T.set_grad_enabled(True)": True}[code]
            if self.inference and "inference_mode" not in code:
                state = "inference"  # a grad mode inside inference mode: still inference
            self.modes.append(state)
            self.emit("enter", code, "mode", code.replace("T.", ""))
            return
        enabled = self.coin(50)
        if not self.inference:
            self.modes[-1] = enabled
        self.emit("eval", f"T.set_grad_enabled({enabled})", "mode", "set_grad_enabled_call")

    # -- the program -----------------------------------------------------------------------
    def build(self) -> Program:
        for _ in range(self.integer(1, 3)):
            self.leaf()
        for _ in range(self.integer(1, self.profile["steps"])):
            roll = self.integer(0, self.total - 1)
            for family, weight in self.families:
                if roll < weight:
                    getattr(self, f"f_{family}")()
                    break
                roll -= weight
        while len(self.modes) > 1:
            self.modes.pop()
            self.emit("exit", "", "mode", "exit")
        if self.coin(60):  # finish with a backward, so most programs produce gradients
            self.f_backward()
        return Program(tuple(self.steps))


def programs(profile: str = "mixed", overrides: dict[str, int] | None = None,
             include_known: bool = False) -> st.SearchStrategy[Program]:
    """A strategy of programs for ``profile`` (a key of ``PROFILES``).

    ``overrides`` replaces family weights (0 removes a family); ``include_known`` also
    generates the known disagreements (``KNOWN_BUGS``).
    """
    chosen = dict(PROFILES[profile])
    if overrides:
        chosen["weights"] = {**chosen["weights"], **overrides}

    @st.composite
    def build(draw: Callable[[Any], Any]) -> Program:
        return _Builder(draw, chosen, include_known).build()

    return build()
