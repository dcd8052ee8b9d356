"""The Tensor class, the dispatcher that records graph nodes, in-place ops, views and factories.

This is the hub of tapegrad: the only module that constructs Tensors and graph nodes.
"""

from __future__ import annotations

import builtins
import math
import numbers
import operator
import re
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import _dtype, _engine, _state, ops
from tapegrad._backend import quietly, restore_fp_errors, silence_fp_errors
from tapegrad._dtype import DType
from tapegrad._engine import AccumulateGrad, Node, SavedTensor

__all__ = [
    "arange",
    "as_tensor",
    "broadcast_tensors",
    "cat",
    "concat",
    "concatenate",
    "device",
    "einsum",
    "empty",
    "empty_like",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "Generator",
    "initial_seed",
    "is_tensor",
    "linspace",
    "manual_seed",
    "normal",
    "numel",
    "ones",
    "ones_like",
    "rand",
    "randint",
    "randn",
    "randperm",
    "seed",
    "Size",
    "stack",
    "tensor",
    "Tensor",
    "where",
    "zeros",
    "zeros_like",
]

# How a view came to be; decides which in-place ops on it are allowed (torch's CreationMeta).
DEFAULT, NO_GRAD_MODE, INFERENCE_MODE, MULTI_OUTPUT_NODE, IN_CUSTOM_FUNCTION = range(5)


class Size(tuple[int, ...]):
    """A tensor's shape: a tuple of ints that prints like torch's ``torch.Size``."""

    def numel(self) -> int:
        return int(math.prod(self))

    def __repr__(self) -> str:
        return f"tapegrad.Size({list(self)})"

    def __getitem__(self, item: Any) -> Any:
        result = tuple.__getitem__(self, item)
        return Size(result) if isinstance(item, slice) else result


class _VersionCounter:
    """Shared by a tensor, its views and its ``detach()``-ed aliases."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor)


# ----------------------------------------------------------------------------- dispatcher
def _promoted_arrays(prim: ops.Primitive, args: Sequence[Any]) -> list[Any]:
    """The NumPy operands of ``prim``: promoted to torch's result type where the op asks."""
    # Fast paths: two tensors of one float dtype, a float tensor and a Python float (or small
    # int: torch keeps the tensor's dtype), or one float tensor (most calls).
    count = len(args)
    if count == 2:
        a, b = args
        if isinstance(a, Tensor):
            x = a._array
            if isinstance(b, Tensor):
                y = b._array
                if x.dtype is y.dtype and x.dtype.kind == "f":
                    return [x, y]
            elif x.dtype.kind == "f" and prim.promote != "none" and (
                    type(b) is float or (type(b) is int and -_EXACT_INT <= b <= _EXACT_INT)):
                return [x, np.array(b, dtype=x.dtype)]
    elif count == 1:
        only = args[0]
        if isinstance(only, Tensor) and only._array.dtype.kind == "f":
            return [only._array]
    if prim.promote == "none":
        return [a._array if isinstance(a, Tensor) else a for a in args]
    dims: list[DType] = []
    zero_dims: list[DType] = []
    scalars: list[Any] = []
    for a in args:
        if isinstance(a, Tensor):
            (dims if a._array.ndim else zero_dims).append(a.dtype)
        elif a is not None:
            scalars.append(a)
    dtype = _dtype.result_type(dims, zero_dims, scalars)
    if prim.promote == "float" and not dtype.is_floating_point:
        dtype = _dtype.get_default_dtype()
    target = dtype.np
    arrays: list[Any] = []
    for a in args:
        if isinstance(a, Tensor):
            array = a._array
            arrays.append(array if array.dtype == target else array.astype(target))
        elif a is None:
            arrays.append(None)
        else:
            arrays.append(np.array(a).astype(target))
    return arrays


_NUMPY_TO_DTYPE = _dtype.NUMPY_TO_DTYPE
_EXACT_INT = 1 << 24  # a bound that keeps giant ints on the general path (its errors)
_new_object = object.__new__
_get_modes = _state.modes_var.get
_get_ident = _state._get_ident
_DEFAULT_MODES = _state.DEFAULTS
_SAVE_INPUT, _SAVE_SHAPE, _SAVE_PARAM = ops.SAVE_INPUT, ops.SAVE_SHAPE, ops.SAVE_PARAM
_SAVE_DTYPE = ops.SAVE_DTYPE


def _forward(prim: ops.Primitive, args: Sequence[Any], params: dict[str, Any]) -> Any:
    quiet = silence_fp_errors()  # torch never warns about overflow or nan (casts included)
    try:
        return prim.forward(*_promoted_arrays(prim, args), **params)
    except ValueError as error:
        if "broadcast" in str(error):
            raise _broadcast_error(args) from None
        raise
    finally:
        restore_fp_errors(quiet)


def _broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise _broadcast_error(shapes) from None


def _broadcast_error(args: Sequence[Any]) -> RuntimeError:
    """torch's message for operands (or shapes) that do not broadcast."""
    shapes = [a._array.shape if isinstance(a, Tensor) else a for a in args
              if isinstance(a, Tensor | tuple)]
    a, b = shapes[0], shapes[1] if len(shapes) > 1 else shapes[0]
    for offset in range(1, builtins.max(len(a), len(b)) + 1):
        size_a = a[-offset] if offset <= len(a) else 1
        size_b = b[-offset] if offset <= len(b) else 1
        if size_a != size_b and 1 not in (size_a, size_b):
            dim = builtins.max(len(a), len(b)) - offset
            return RuntimeError(
                f"The size of tensor a ({size_a}) must match the size of tensor b ({size_b}) at "
                f"non-singleton dimension {dim}"
            )
    return RuntimeError(f"shapes {[list(s) for s in shapes]} cannot be broadcast together")


def _apply(prim: ops.Primitive, *args: Any, **params: Any) -> Any:
    """Run ``prim`` on tensors (and Python scalars); record a graph node when autograd needs one.

    Returns a Tensor, or a tuple of Tensors for multi-output primitives.
    """
    try:
        data = _forward(prim, args, params)
    except (IndexError, RuntimeError):
        for arg in args:
            if isinstance(arg, Tensor):
                _stale_view_first(arg)
        raise
    if type(data) is np.ndarray and not prim.view:  # strides as torch gives them
        ndim = data.ndim  # (0-d and contiguous 1-d results, the tiny-op case, are already)
        if ndim > 1 or (ndim == 1 and not data.flags.c_contiguous):
            data = ops.result_layout(prim, args, data, params)
    modes = _get_modes()  # _state.current(), inlined: this is the hottest path
    if modes.thread != _get_ident() and modes is not _DEFAULT_MODES:
        modes = _DEFAULT_MODES
    inference = modes.inference_mode
    if prim.multi_output:
        outs = tuple(Tensor._from_array(d, inference) for d in data)
    else:
        outs = (Tensor._from_array(data, inference),)
    if inference:  # never recorded; views of normal tensors still share their counter (B71)
        if prim.view:
            _make_views(prim, args[0], outs, params, modes)
        return outs if prim.multi_output else outs[0]
    record = False
    if modes.grad_enabled and prim.vjp is not None and outs[0]._array.dtype.kind == "f":
        # torch wraps Python numbers in normal tensors, so only all-inference operands bypass
        all_inference = True
        for arg in args:
            if isinstance(arg, Tensor):
                if arg._is_inference:
                    record = record or arg.requires_grad
                    continue
                all_inference = False
                if arg._requires_grad or arg._grad_fn is not None or (
                        arg._base is not None and arg.requires_grad):
                    record = True
                    break
            else:
                all_inference = False
        record = record and not all_inference
    if prim.view:
        _make_views(prim, args[0], outs, params, modes)
    if record:
        _record(prim, args, outs, params)
    level = _state.forward_levels.current
    if level is not None and modes.fw_grad_enabled and prim.jvp is not None:
        tangents = [a._live_tangent(level) if isinstance(a, Tensor) else None for a in args]
        if any(t is not None for t in tangents):
            _set_tangents(prim, args, outs, tangents, params, level)
            if record:
                _share_saved_output_tangents(outs)
    return outs if prim.multi_output else outs[0]


def _share_saved_output_tangents(outs: Sequence[Tensor]) -> None:
    """A saved output unpacks with its tangent (forward-over-reverse through exp, tanh...)."""
    node = outs[0]._grad_fn
    saved = getattr(node, "saved", None)
    if not saved or "out" not in saved:
        return
    entries = saved["out"] if isinstance(saved["out"], tuple) else (saved["out"],)
    for entry, out in zip(entries, outs, strict=True):
        if entry._value is not None:
            entry._value._tangent = out._tangent


def _set_tangents(prim: ops.Primitive, args: Sequence[Any], outs: Sequence[Tensor],
                  tangents: Sequence[Tensor | None], params: dict[str, Any], level: int) -> None:
    """Forward-mode AD: give each output its tangent (the op's JVP applied to the inputs')."""
    with _state.switch(fw_grad_enabled=False):  # one level only: no tangents of tangents
        results = _jvp(prim, args, outs, tangents, params)
    for out, tangent in zip(outs, results, strict=True):
        if tangent is None or out._array.dtype.kind != "f":
            continue
        if tuple(tangent.shape) != tuple(out.shape):
            tangent = tangent.expand(out.shape)
        if tangent.dtype is not out.dtype:
            tangent = tangent.to(out.dtype)
        out._tangent = (level, tangent)


def _jvp(prim: ops.Primitive, args: Sequence[Any], outs: Sequence[Tensor],
         tangents: Sequence[Tensor | None], params: dict[str, Any]) -> tuple[Any, ...]:
    """The output tangents of ``prim`` (one per output), per its ``jvp`` declaration."""
    kind = prim.jvp
    if kind == "linear":  # multilinear: sum over inputs of the op with input i -> tangent i
        total: Any = None
        for index, tangent in enumerate(tangents):
            if tangent is None:
                continue
            replaced = list(args)
            replaced[index] = tangent
            term = _apply(prim, *replaced, **params)
            total = term if total is None else _add_tangents(total, term)
        return total if prim.multi_output else (total,)
    if kind == "joint":  # linear in all inputs together: the op on the tangents (zeros if none)
        replaced = [
            a if rule is None or a is None else t if t is not None else _zero_tangent(a)
            for a, t, rule in zip(args, tangents, _rules(prim, len(args)), strict=True)
        ]
        result = _apply(prim, *replaced, **params)
        return result if prim.multi_output else (result,)
    env = _rule_env(prim, args, outs, params)
    rules = prim.vjp if kind == "elementwise" else kind
    total = None
    names = prim.rule_args if kind == "elementwise" else prim.jvp_args
    for tangent, rule, arg_names in zip(tangents, rules, names, strict=False):
        if tangent is None or rule is None:
            continue
        env["g"] = env["t"] = tangent
        term = rule(**{name: env[name] for name in arg_names})
        total = term if total is None else _add_tangents(total, term)
    return total if prim.multi_output else (total,)


def _zero_tangent(value: Any) -> Any:
    """The tangent of a differentiable input that has none: zeros (a Python number: 0)."""
    return value.zeros_like() if isinstance(value, Tensor) else type(value)(0)


def _add_tangents(a: Any, b: Any) -> Any:
    if isinstance(a, tuple):
        return tuple(x if y is None else (y if x is None else x + y) for x, y in zip(a, b,
                                                                                     strict=True))
    return a + b


def _rules(prim: ops.Primitive, count: int) -> tuple[Any, ...]:
    if prim.variadic:
        return (True,) * count
    return tuple(prim.vjp) if prim.vjp is not None else (None,) * count


def _rule_env(prim: ops.Primitive, args: Sequence[Any], outs: Sequence[Tensor],
              params: dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = dict(params)
    env["out"] = outs if prim.multi_output else outs[0]
    for name, arg in zip(prim.input_names, args, strict=False):
        env[name] = arg
        env[f"{name}_shape"] = _shape_of(arg)
        env[f"{name}_dtype"] = getattr(arg, "dtype", None)
    return env



def _make_views(prim: ops.Primitive, source: Tensor, outs: tuple[Tensor, ...],
                params: dict[str, Any], modes: _state.Modes) -> None:
    """Make ``outs`` views of ``source``: shared version counter, ``_base``, replay chain.

    A view without a node requires grad exactly when its root base does (``requires_grad``).
    """
    if source._is_inference:  # views of inference tensors are plain inference tensors (B59)
        for out in outs:
            out._vc = None
            out._is_inference = True
        return
    base = source._base if source._base is not None else source
    if modes.inference_mode:
        meta = INFERENCE_MODE
    elif not modes.grad_enabled:
        meta = NO_GRAD_MODE
    elif prim.multi_output:
        meta = MULTI_OUTPUT_NODE
    else:
        meta = DEFAULT
    if source._base is not None and source._creation_meta != DEFAULT and meta == DEFAULT:
        meta = source._creation_meta  # a view of a special view stays special
    chain = source._view_chain
    for index, out in enumerate(outs):
        out._is_inference = False
        out._multi_output_view = prim.multi_output or source._multi_output_view
        out._vc = source._vc
        out._base = base
        out._attr_version = source._vc.value
        out._creation_meta = meta
        if prim.multi_output:
            step = ops.select_p if prim is ops.unbind_p else ops.slice_p
            out._view_chain = chain + ((step, _multi_output_params(prim, params, index)),)
        else:
            out._view_chain = chain + ((prim, params),)


def _multi_output_params(prim: ops.Primitive, params: dict[str, Any], index: int) -> dict[str, Any]:
    if prim is ops.unbind_p:
        return {"dim": params["dim"], "index": index}
    start = builtins.sum(params["sizes"][:index])
    return {"dim": params["dim"], "start": start, "stop": start + params["sizes"][index],
            "step": 1}


def _shape_of(value: Any) -> tuple[int, ...]:
    return tuple(value._array.shape) if isinstance(value, Tensor) else ()


def _record(prim: ops.Primitive, args: Sequence[Any], outs: Sequence[Tensor],
            params: dict[str, Any], saved_inputs: Sequence[Any] | None = None,
            force_first: bool = False) -> Node:
    """Attach a backward node for ``prim`` to ``outs`` (the only constructor of op nodes).

    Saves exactly what the rules of the inputs that need a gradient read.
    ``force_first``: compute input 0's gradient even without an edge (CopySlices needs it).
    """
    edges: list[Any] = []
    in_meta: list[Any] = []
    needs: list[bool] = []
    for arg in args:
        if isinstance(arg, Tensor):
            # _edge() inlined for the two common cases: a non-view result, a constant
            if arg._base is None and arg._grad_fn is not None:
                edges.append((arg._grad_fn, arg._output_nr))
                needs.append(True)
            elif arg._base is None and not arg._requires_grad:
                edges.append(None)
                needs.append(False)
            else:
                edge = arg._edge()
                edges.append(edge)
                needs.append(edge is not None)
            array = arg._array
            in_meta.append((array.shape, _NUMPY_TO_DTYPE[array.dtype]))
        else:
            edges.append(None)
            in_meta.append(None)
            needs.append(False)
    if force_first:
        needs[0] = True
    needs_tuple = tuple(needs)
    saved: dict[str, Any] = {}
    sources = args if saved_inputs is None else saved_inputs
    variadic = prim.variadic
    for name, kind, index in prim.save_plan(needs_tuple):
        if kind == _SAVE_INPUT:
            if variadic:
                saved[name] = tuple(SavedTensor(a) for a in sources)
            else:
                # a Python number is a wrapped tensor in torch: saved, and freed, like one
                value = sources[index]
                saved[name] = value if isinstance(value, SavedTensor) else SavedTensor(value)
        elif kind == _SAVE_SHAPE:
            saved[name] = (tuple(_shape_of(a) for a in sources) if variadic
                           else _shape_of(args[index]))
        elif kind == _SAVE_DTYPE:
            saved[name] = args[index].dtype
        elif kind == _SAVE_PARAM:
            value = params[name]
            # index tensors, saved as torch saves them: version-checked, freed after backward
            is_index = type(value) is tuple and builtins.any(
                isinstance(v, np.ndarray | Tensor) for v in value)
            saved[name] = tuple(SavedTensor(v) if isinstance(v, np.ndarray | Tensor) else v
                                for v in value) if is_index else value
        elif index >= 0:
            saved[name] = SavedTensor(outs[index], is_output=True, output_nr=index)
        elif prim.multi_output:
            saved[name] = tuple(SavedTensor(o, is_output=True, output_nr=k)
                                for k, o in enumerate(outs))
        else:
            saved[name] = SavedTensor(outs[0], is_output=True)
    if len(outs) == 1:
        out = outs[0]
        array = out._array
        node = prim.node_class(prim, tuple(edges), tuple(in_meta),
                               ((array.shape, _NUMPY_TO_DTYPE[array.dtype]),), saved, needs_tuple)
        if array.dtype.kind == "f":
            out._grad_fn = node
            if out._base is not None:  # a view's node is fresh as of this version
                out._attr_version = out._vc.value if out._vc is not None else 0
        return node
    out_meta = tuple((o._array.shape, _NUMPY_TO_DTYPE[o._array.dtype]) for o in outs)
    node = prim.node_class(prim, tuple(edges), tuple(in_meta), out_meta, saved, needs_tuple)
    for index, out in enumerate(outs):
        if out._array.dtype.kind == "f":
            out._grad_fn = node
            if index:
                out._output_nr = index
            if out._base is not None:  # a view's node is fresh as of this version
                out._attr_version = out._vc.value if out._vc is not None else 0
    return node


def _record_forced(prim: ops.Primitive, args: Sequence[Any], outs: Sequence[Tensor],
                   params: dict[str, Any]) -> Node:
    with _state.switch(grad_enabled=True, inference_mode=False):
        return _record(prim, args, outs, params)


# ----------------------------------------------------------------------------- in-place funnel
_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
_VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
_NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)
_INFERENCE_INPLACE = (
    "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
    "clone to get a normal tensor before doing inplace update.See "
    "https://github.com/pytorch/rfcs/pull/17 for more details."
)
_NO_GRAD_VIEW_ADVICE = (
    " Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify "
    "your code by moving both the view and the inplace either both inside the no_grad block (if "
    "you don't want the inplace to be tracked) or both outside (if you want the inplace to be "
    "tracked)."
)
_MULTI_OUTPUT_ADVICE = (
    " This view is the output of a function that returns multiple views. Such functions do not "
    "allow the output views to be modified inplace. You should replace the inplace operation by "
    "an out-of-place one."
)
_CUSTOM_FUNCTION_ADVICE = (
    " This view was created inside a custom Function (or because an input was returned as-is) "
    "and the autograd logic to handle view+inplace would override the custom backward "
    "associated with the custom Function, leading to incorrect gradients. This behavior is "
    "forbidden. You can fix this by cloning the output of the custom Function."
)


def _short_name(node_name: str) -> str:
    return node_name[: node_name.rindex("Backward")] if "Backward" in node_name else node_name


def _view_inplace_error(view: Tensor, value_requires_grad: bool) -> str | None:
    """torch's creation-meta checks for an in-place op on ``view`` with grad mode on."""
    meta = view._creation_meta
    if meta == DEFAULT or not (view.requires_grad or value_requires_grad):
        return None
    node = view._grad_fn
    if meta in (NO_GRAD_MODE, INFERENCE_MODE) and node is not None:
        # a view recorded in grad mode from a view that was made in no_grad/inference mode
        made, where = (("no_grad mode", "with grad mode enabled") if meta == NO_GRAD_MODE
                       else ("inference mode", "in normal mode"))
        return (
            f"Output {view._output_nr} of {_short_name(node.name())} is a view of a view which "
            f"was created in {made} and is being modified inplace {where}."
            + _NO_GRAD_VIEW_ADVICE
        )
    if meta == INFERENCE_MODE:
        return (
            "A view was created in inference mode and is being modified inplace in normal mode."
            + _NO_GRAD_VIEW_ADVICE.replace("no_grad block", "inference_mode block")
        )
    if meta == MULTI_OUTPUT_NODE:
        if node is None:
            return (
                "A view was created in no_grad mode and is being modified inplace with grad mode "
                "enabled." + _MULTI_OUTPUT_ADVICE
            )
        return (
            f"Output {view._output_nr} of {_short_name(node.name())} is a view and is being "
            "modified inplace." + _MULTI_OUTPUT_ADVICE
        )
    if meta == IN_CUSTOM_FUNCTION:
        if node is None:
            return (
                "A view was created in no_grad mode and is being modified inplace with grad "
                "mode enabled." + _CUSTOM_FUNCTION_ADVICE
            )
        return (
            f"Output {view._output_nr} of {_short_name(node.name())} is a view and is being "
            "modified inplace." + _CUSTOM_FUNCTION_ADVICE
        )
    text = (
        "A view was created in no_grad mode and is being modified inplace with grad mode "
        "enabled."
    )
    return text + (_MULTI_OUTPUT_ADVICE if view._multi_output_view else _NO_GRAD_VIEW_ADVICE)


def _check_writable(target: Tensor, value_requires_grad: bool, modes: _state.Modes,
                    check_overlap: bool = True, autograd: bool = True,
                    kernel: bool = True) -> None:
    """Every check that must pass before an in-place op writes (nothing half-changed).

    torch runs the ``autograd`` ones first, then the op's own argument checks, then the
    ``kernel`` ones: a method with argument checks runs the two halves separately.
    """
    if autograd and modes.grad_enabled and not modes.inference_mode:
        base = target._base
        if base is not None:
            message = _view_inplace_error(target, value_requires_grad)
            if message is not None:
                raise RuntimeError(message)
            # torch asks whether the root base is a leaf, not whether it requires grad: a view
            # turned into a leaf, views of it, views of a leaf that stopped requiring grad
            if target.requires_grad and base._grad_fn is None:
                raise RuntimeError(_VIEW_OF_LEAF_INPLACE)
        if target._is_leaf_requiring_grad():
            raise RuntimeError(_LEAF_INPLACE)
    if not kernel:
        return
    if target._vc is None and not modes.inference_mode:  # an inference tensor
        # tapegrad raises before writing (torch writes first, B64).
        raise RuntimeError(_INFERENCE_INPLACE)
    array = target._array
    if check_overlap and array.size and any(stride == 0 and size > 1
                          for stride, size in zip(array.strides, array.shape, strict=True)):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )


def _autograd_checks(target: Tensor, others: Sequence[Any], modes: _state.Modes) -> bool:
    """torch's autograd in-place checks, then the operands' edges (a stale view operand
    raises there): all before the op checks its arguments or writes. Whether a value
    written requires grad."""
    tensors = [o for o in others if isinstance(o, Tensor)]
    value_requires_grad = builtins.any(o.requires_grad for o in tensors)
    _check_writable(target, value_requires_grad, modes, kernel=False)
    if modes.grad_enabled and not modes.inference_mode and (
            value_requires_grad or target.requires_grad):
        for o in tensors:
            o.grad_fn  # noqa: B018
    return value_requires_grad


# writes torch lets through on a target with internal overlap (e.g. an expand), with a warning
_EXPANDED_WARNING = ("Use of {}_ on expanded tensors is deprecated. Please clone() the tensor "
                     "before performing this operation. This also applies to advanced indexing "
                     "e.g. tensor[{}] = {}")
_SPREAD_WRITES = {  # by id: primitives do not hash
    id(ops.zero_p): "", id(ops.fill_p): "",
    id(ops.masked_fill_p): _EXPANDED_WARNING.format("masked_fill", "mask", "scalar"),
    id(ops.index_put_p): _EXPANDED_WARNING.format("index_put", "indices", "tensor")}
# these refuse an operand that fully aliases the target too
_NO_ALIAS = {id(p) for p in (ops.index_put_p, ops.index_add_p, ops.scatter_p, ops.scatter_add_p)}


def _internal_overlap(array: np.ndarray) -> bool:
    return array.size > 1 and any(stride == 0 and size > 1
                                  for stride, size in zip(array.strides, array.shape, strict=True))


def _dense_extent(array: np.ndarray) -> tuple[int, int] | None:
    """The byte range of a non-overlapping and dense array; None where torch gives up."""
    if not ops.is_dense(array.shape, ops.element_strides(array), any_order=True):
        return None
    start = array.__array_interface__["data"][0]
    return start, start + array.size * array.itemsize


def _check_operand_overlap(target: Tensor, prim: ops.Primitive, operands: Sequence[Tensor]) -> None:
    """torch refuses an operand that shares only part of the written memory."""
    if prim is ops.fill_tensor_p or not target._array.size:
        return
    mine = _dense_extent(target._array)
    for operand in operands:
        if operand is target:  # torch: the same tensor overlaps fully, dense or not
            if id(prim) in _NO_ALIAS:
                raise RuntimeError(_PARTIAL_OVERLAP)
            continue
        theirs = _dense_extent(operand._array) if mine and operand._array.size else None
        if mine is None or theirs is None or not (theirs[0] < mine[1] and mine[0] < theirs[1]):
            continue
        # torch compares every stride, a size-1 dim's too
        full = mine == theirs and operand._array.shape == target._array.shape and (
            operand._array.strides == target._array.strides)
        if not full or id(prim) in _NO_ALIAS:
            raise RuntimeError(_PARTIAL_OVERLAP)


_PARTIAL_OVERLAP = ("unsupported operation: some elements of the input tensor and the written-to "
                    "tensor refer to a single memory location. Please clone() the tensor before "
                    "performing the operation.")


# ----------------------------------------------------------------------------- out= variants
def with_out(fn: Callable[..., Any], name: str | None, factory: bool = False
             ) -> Callable[..., Any]:
    """``fn`` (a functional form) taking torch's ``out=``: the result is written into ``out``,
    which is returned. ``name`` is the op torch's autograd error names (None: an op whose
    result is never differentiable, such as a comparison). A ``factory`` (and sum, prod,
    cumsum) computes in ``out``'s dtype unless given one."""

    def call(*args: Any, out: Tensor | None = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        if (factory or fn.__name__ in ("sum", "prod", "cumsum")) and isinstance(out, Tensor):
            kwargs.setdefault("dtype", out.dtype)  # computed in out's dtype, as in torch
        return _write_out(name, out, fn, args, kwargs, warn_resize=not factory)

    call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return call


def _write_out(name: str | None, out: Any, fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any], warn_resize: bool) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"{fn.__name__}(): argument 'out' must be Tensor, not "
                        f"{type(out).__name__}")
    inputs = [a for a in (*args, *kwargs.values()) for a in (a if isinstance(a, list | tuple)
                                                           else (a,)) if isinstance(a, Tensor)]
    modes = _state.current()
    if name is not None and modes.grad_enabled and not modes.inference_mode and (
            out.requires_grad or builtins.any(t.requires_grad for t in inputs)):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    with _state.switch(grad_enabled=False):
        result = fn(*args, **kwargs)
        _check_out_dtype(fn.__name__, result.dtype, out.dtype)
        if out._vc is None and not modes.inference_mode:
            raise RuntimeError(_INFERENCE_INPLACE)
        _check_operand_overlap(out, ops.copy_p, inputs)  # before resizing: nothing half-done
        if out.shape != result.shape:
            _resize_out(out, result.shape, warn_resize)
        out.copy_(result)
    return out


_C_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int32": "int",
                 "int16": "short", "int8": "signed char", "uint8": "unsigned char",
                 "int64": "long int", "bool": "bool"}
_EXPECTED_DTYPE = "Expected out tensor to have dtype {want_c}, but got {got_c} instead"
# torch's out= dtype rule per op, where it is not "the result must cast to out's dtype"
_OUT_DTYPE_RULES = {
    **dict.fromkeys(("gather", "tril", "triu", "mm", "mv", "bmm", "matmul", "norm", "argmax",
                     "argmin"), _EXPECTED_DTYPE),
    **dict.fromkeys(("index_select", "masked_select"),
                    "{name}(): self and result must have the same scalar type"),
    **dict.fromkeys(("all", "any"), "{name} only supports bool tensor for result, got: {got}"),
    **dict.fromkeys(("amax", "amin"), "Expected the dtype for input and out to match, but got "
                    "{want} for input's dtype and {got} for out's dtype."),
    "where": "Expected out type to be {want} but got {got}",
    "dot": "result dtype {got} does not match input dtype {want}",
}


def _check_out_dtype(name: str, want: DType, got: DType) -> None:
    rule = _OUT_DTYPE_RULES.get(name)
    if rule is not None:
        if want is not got:
            raise RuntimeError(rule.format(name=name, want=_type_title(want),
                                           got=_type_title(got), want_c=_C_TYPE_NAMES[want.name],
                                           got_c=_C_TYPE_NAMES[got.name]))
    elif name == "logsumexp" and not got.is_floating_point:
        raise RuntimeError("logsumexp(): Expected floating point type for result tensor, but "
                           f"got: {_type_title(got)}")
    elif want.category > got.category:
        message = f"can't be cast to the desired output type {_type_title(got)}"
        if name in ("cat", "stack"):
            raise TypeError(f"torch.cat(): input types {message}")
        raise RuntimeError(f"result type {_type_title(want)} {message}")


def _resize_out(out: Tensor, shape: tuple[int, ...], warn: bool) -> None:
    """torch resizes an ``out=`` tensor of another shape (warning unless it was empty)."""
    if warn and out.numel():
        warnings.warn(
            f"An output with one or more elements was resized since it had shape "
            f"{list(out.shape)}, which does not match the required output shape {list(shape)}. "
            "This behavior is deprecated, and in a future PyTorch release outputs will not be "
            "resized unless they have zero elements. You can explicitly reuse an out tensor t "
            "by resizing it, inplace, to zero elements with t.resize_(0).", UserWarning,
            stacklevel=_engine.user_stacklevel())
    numel = math.prod(shape)
    if out._base is None:
        out._array = np.empty(shape, out._array.dtype)
        return
    # a view takes the elements after its first one in its base's memory, where they fit
    base = out._base._array
    offset = (out._array.__array_interface__["data"][0]
              - base.__array_interface__["data"][0]) // base.itemsize
    if not base.flags.c_contiguous or offset + numel > base.size:
        raise RuntimeError("Trying to resize storage that is not resizable")
    out._array = base.reshape(-1)[offset:offset + numel].reshape(shape)


def _selected(target: Tensor, prim: ops.Primitive, others: Sequence[Any],
              params: dict[str, Any]) -> Any:
    """The elements a masked or indexed write changes (True: all of them)."""
    if prim is ops.masked_fill_p:
        return others[0]._array
    return True


def _inplace(self: Tensor, prim: ops.Primitive, *others: Any, check_overlap: bool = True,
             **params: Any) -> Tensor:
    """The one funnel for mutations: check, compute, write, bump the version, rebase history.

    ``check_overlap=False`` only for a copy_ from the very same elements, which torch allows
    even on an expand.
    """
    modes = _state.current()
    other_tensors = [o for o in others if isinstance(o, Tensor)]
    value_requires_grad = _autograd_checks(self, other_tensors, modes)
    spread = check_overlap and _internal_overlap(self._array)
    spread_write = _SPREAD_WRITES.get(id(prim)) if spread else None
    _check_writable(self, value_requires_grad, modes, spread and spread_write is None,
                    autograd=False)
    if spread_write:  # (torch warns before its operand-overlap check)
        warnings.warn(spread_write, UserWarning, stacklevel=_engine.user_stacklevel())
    if check_overlap:
        _check_operand_overlap(self, prim, other_tensors)
    args = (self, *others)
    record = (
        prim.vjp is not None
        and modes.grad_enabled
        and not modes.inference_mode
        and (self.requires_grad or value_requires_grad)
        and not (self._is_inference and builtins.all(o._is_inference for o in other_tensors))
    )
    if (not record and spread_write is None and prim.into is not None
            and _state.forward_levels.current is None and _write_into(self, prim, args, params)):
        return self
    data = _forward(prim, args, params)
    if data.shape != self._array.shape:
        raise RuntimeError(
            f"output with shape {list(self._array.shape)} doesn't match the broadcast shape "
            f"{list(data.shape)}"
        )
    result_dtype = _dtype.from_numpy_dtype(data.dtype)
    if result_dtype.category > self.dtype.category:
        raise RuntimeError(
            f"result type {_type_title(result_dtype)} can't be cast to the desired output type "
            f"{_type_title(self.dtype)}"
        )
    if record:
        # Keep the pre-write value of self if a rule needs it (torch's "original self").
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        first = prim.input_names[0]
        old_self = self._snapshot() if first in prim.saved_names(needs) else self
        saved_names = prim.saved_names(needs)
        for position, arg in enumerate(args[1:], start=1):
            # fail before writing if an inference tensor would have to be saved
            if isinstance(arg, Tensor) and arg._is_inference and (
                prim.variadic or prim.input_names[position] in saved_names
            ):
                SavedTensor(arg)
        # an operand sharing self's memory is saved before the write (torch: backward then
        # finds it modified)
        saved_others = tuple(
            SavedTensor(o) if isinstance(o, Tensor) and o._vc is self._vc is not None else o
            for o in others)
        old_edge_tensor = self._detached_history()
        # a view operand of self's memory goes stale with the write: torch takes its edge first
        edge_others = tuple(
            o._detached_history() if isinstance(o, Tensor) and o is not self
            and o._base is not None and o._vc is self._vc else o for o in others)
    new_tangent = _inplace_tangent(self, prim, args, data, params, modes)
    if prim is ops.index_put_p and spread_write is not None:  # through the aliasing
        ops.index_put_into(self._array, others[0]._array, **params)
    elif spread_write is not None:  # only the selected elements: others alias them
        np.copyto(self._array, data, where=_selected(self, prim, others, params))
    else:
        self._array[...] = data
    self._bump()
    if record:
        _rebase(self, prim, old_edge_tensor, old_self, edge_others, params, saved_others)
    if new_tangent is not None:
        level, tangent = new_tangent
        current = self._live_tangent(level)
        if current is not None:  # write through, so a view's tangent updates its base's
            current._array[...] = tangent._array
        else:
            self._tangent = (level, tangent)
    return self


def _write_into(self: Tensor, prim: ops.Primitive, args: Sequence[Any],
                params: dict[str, Any]) -> bool:
    """Run ``prim``'s fused kernel straight into ``self`` (nothing to record); False when the
    result would need a cast or a broadcast of ``self``: the general path then reports it."""
    kernel = prim.into
    quiet = silence_fp_errors()
    try:
        arrays = _promoted_arrays(prim, args)
        if kernel is None or arrays[0] is not self._array:  # a cast of self: not in place
            return False
        kernel(*arrays, **params)
    except (ValueError, TypeError):  # NumPy refuses before writing (shape, cast, read-only)
        return False
    finally:
        restore_fp_errors(quiet)
    self._bump()
    return True


def _inplace_tangent(self: Tensor, prim: ops.Primitive, args: Sequence[Any], data: Any,
                     params: dict[str, Any], modes: _state.Modes) -> tuple[int, Tensor] | None:
    """Forward AD through an in-place op: the new tangent, computed from the old values."""
    level = _state.forward_levels.current
    if (level is None or not modes.fw_grad_enabled or prim.jvp is None
            or self._array.dtype.kind != "f"):
        return None
    tangents = [a._live_tangent(level) if isinstance(a, Tensor) else None for a in args]
    if builtins.all(t is None for t in tangents):
        return None
    out = Tensor._from_array(data.astype(self._array.dtype, copy=False), False)
    primals = [self._snapshot() if i == 0 else a for i, a in enumerate(args)]
    with _state.switch(fw_grad_enabled=False):
        (tangent,) = _jvp(prim, primals, (out,), tangents, params)
        if tangent is None:
            return None
        if tuple(tangent.shape) != tuple(self.shape):
            tangent = tangent.expand(self.shape)
        tangent = tangent.to(self.dtype).contiguous().clone()
        base = self._base
        if base is not None and tangents[0] is None:
            # torch: a view without a tangent written with one gives its base a tangent (zeros
            # outside the view), and the view's tangent is the matching view of it
            base_tangent = base._live_tangent(level)
            if base_tangent is None:
                base_tangent = base.detach().zeros_like()
                base._tangent = (level, base_tangent)
            self._tangent = (level, ops.replay(base_tangent, self._view_chain))
    return level, tangent


def _type_title(dtype: DType) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
            "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool"}[dtype.name]


def _rebase(self: Tensor, prim: ops.Primitive, old: Tensor, old_self: Tensor,
            others: Sequence[Any], params: dict[str, Any],
            saved_others: Sequence[Any]) -> None:
    """Give ``self`` (and, for a view, its base) the history of the in-place op."""
    if self._base is None:
        previous = self._grad_fn
        node = _record(prim, (old, *others), (self,), params,
                       saved_inputs=(old_self, *saved_others))
        self._requires_grad = False
        _move_retained_grad(self, previous, node)
        return
    # In-place on a view: record the op on the view's value, then a CopySlices on the base.
    result = self._alias()
    node = _record(prim, (old, *others), (result,), params,
                   saved_inputs=(old_self, *saved_others), force_first=True)
    base = self._base
    base_edge = base._edge()
    copy_slices = CopySlices(base, self._view_chain, node, base_edge)
    _move_retained_grad(base, base._grad_fn, copy_slices)
    base._grad_fn = copy_slices
    base._output_nr = 0
    base._requires_grad = False
    base._attr_version = base._vc.value
    # the view's own grad_fn is regenerated from the base on next access (stale version)
    self._attr_version = -1


def _move_retained_grad(tensor: Tensor, previous: Node | None, node: Node) -> None:
    """``retain_grad`` follows a tensor onto the node an in-place op gave it (torch)."""
    if not tensor._retains_grad:
        return
    if previous is not None:
        previous._drop_retains_grad(tensor._output_nr)
    node._set_retains_grad(0, tensor)


class CopySlices(Node):
    """The base's node after an in-place op on one of its views (torch's ``CopySlices``).

    The gradient for the base is the incoming gradient with the view's region replaced by
    what the wrapped op's backward gives for the view's old value.
    """

    __slots__ = ("chain", "fn")

    def __init__(self, base: Tensor, chain: tuple[Any, ...], fn: Node, base_edge: Any) -> None:
        meta = (base._array.shape, base.dtype)
        super().__init__((base_edge, *fn.next_edges[1:]), (meta, *fn.in_meta[1:]), (meta,))
        self.chain = chain
        self.fn: Node | None = fn

    def apply(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        return self.apply_needed(grads, None)

    def apply_needed(self, grads: tuple[Any, ...], needed: set[Node] | None) -> tuple[Any, ...]:
        if self.fn is None:
            raise RuntimeError(_engine._SECOND_BACKWARD)
        # a contiguous buffer (torch: the base's layout), so the view chain replays on it
        grad = grads[0].clone(memory_format="contiguous")
        region = ops.replay(grad, self.chain)
        results = self.fn.apply((region.clone(),))
        if not self._needs_input(0, needed):
            # torch writes into the base's gradient only when it is wanted: the write into
            # an overlapping view (an expanded base) raises, so it must not run needlessly
            return (None, *results[1:])
        view_grad = results[0]
        if view_grad is None:
            view_grad = region.zeros_like()
        elif tuple(view_grad.shape) != tuple(region.shape):
            view_grad = view_grad.sum_to_size(region.shape)
        ops.replay(grad, self.chain).copy_(view_grad)
        return (grad, *results[1:])

    def release(self) -> None:
        if self.fn is not None:  # torch drops the wrapped node: a second backward raises
            self.fn.release()
            self.fn = None


# ----------------------------------------------------------------------------- the Tensor
class Tensor:
    """A multi-dimensional array with autograd, shaped after ``torch.Tensor``.

    Example:
        >>> import tapegrad
        >>> x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * x).sum()
        >>> y.backward()
        >>> x.grad
        tensor([2., 4.])
    """

    # The fields every tensor sets live in slots; the rarely set ones are class-level
    # defaults (shadowed per instance when set), which keeps creating a tensor cheap.
    __slots__ = (
        "_array",
        "_vc",
        "_base",
        "_requires_grad",
        "_grad_fn",
        "_is_inference",
        "__weakref__",
        "__dict__",
    )
    __array_ufunc__ = None  # ndarray * Tensor defers to Tensor.__rmul__
    __array_priority__ = 1000

    _array: np.ndarray
    _vc: Any  # the shared _VersionCounter; None for inference tensors
    _base: Tensor | None
    _requires_grad: bool
    _grad_fn: Node | None
    _is_inference: bool
    _view_chain: tuple[tuple[ops.Primitive, dict[str, Any]], ...] = ()
    _creation_meta: int = DEFAULT
    _attr_version: int = 0
    _output_nr: int = 0
    _grad: Tensor | None = None
    _hooks: dict[int, Any] | None = None
    _post_accumulate_hooks: dict[int, Any] | None = None
    _retains_grad: bool = False
    _accumulator: weakref.ReferenceType[AccumulateGrad] | None = None
    _tangent: tuple[int, Tensor] | None = None
    _multi_output_view: bool = False

    # -- construction -----------------------------------------------------------------
    def __init__(self, data: Any = None, *, dtype: Any = None, requires_grad: bool = False) -> None:
        if data is None:
            data = []
        array = _to_array(data, dtype)
        self._init(array)
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, array: np.ndarray) -> None:
        self._array = array
        self._vc = _VersionCounter()
        self._base = None
        self._requires_grad = False
        self._grad_fn = None
        self._is_inference = False

    @classmethod
    def _from_array(cls, array: Any, inference: bool | None = None) -> Tensor:
        """Wrap an array; in inference mode the tensor is an inference tensor (no counter)."""
        if type(array) is not np.ndarray:
            array = np.asarray(array)
        if array.dtype not in _NUMPY_TO_DTYPE:
            _dtype.from_numpy_dtype(array.dtype)  # raises torch's TypeError
        if inference is None:
            inference = _state.current().inference_mode
        out = _new_object(Tensor)
        out._array = array
        out._base = None
        out._requires_grad = False
        out._grad_fn = None
        if inference:  # no version counter to allocate or bump (torch: no tracking)
            out._vc = None
            out._is_inference = True
        else:
            out._vc = counter = _new_object(_VersionCounter)  # no __init__ frame: hot
            counter.value = 0
            out._is_inference = False
        return out

    def _alias(self) -> Tensor:
        """A detached tensor sharing storage and version counter (used for saved outputs)."""
        out = _new_object(Tensor)
        out._array = self._array
        out._vc = self._vc
        out._base = None
        out._requires_grad = False
        out._grad_fn = None
        out._is_inference = self._is_inference
        return out

    def _with_history(self, node: Node | None, output_nr: int) -> Tensor:
        out = self._alias()
        out._grad_fn = node
        if output_nr:
            out._output_nr = output_nr
        if self._tangent is not None:
            out._tangent = self._tangent
        return out

    def _snapshot(self) -> Tensor:
        """A copy of the current value that keeps this tensor's place in the graph."""
        out = Tensor._from_array(self._array.copy())
        out._is_inference = False
        out._vc = _VersionCounter()
        out._grad_fn = self._grad_fn
        out._output_nr = self._output_nr
        out._requires_grad = self._requires_grad
        return out

    def _live_tangent(self, level: int) -> Tensor | None:
        tangent = self._tangent
        if tangent is not None and tangent[0] == level:
            return tangent[1]
        base = self._base
        if base is not None:  # a view sees the tangent its base has (maybe gained later)
            base_tangent = base._live_tangent(level)
            if base_tangent is not None:
                with _state.switch(fw_grad_enabled=False):
                    view_tangent = ops.replay(base_tangent, self._view_chain)
                self._tangent = (level, view_tangent)
                return view_tangent
        return None

    def _detached_history(self) -> Tensor:
        """A stand-in carrying this tensor's current graph edge (before an in-place rebase)."""
        out = Tensor.__new__(Tensor)
        out._init(self._array)
        out._vc = self._vc
        edge = self._edge()
        if edge is not None:
            node, nr = edge
            if isinstance(node, AccumulateGrad):
                out._accumulator = weakref.ref(node)
                out._requires_grad = True
                out._keep_accumulator = node  # type: ignore[attr-defined]
            else:
                out._grad_fn = node
                out._output_nr = nr
        return out

    # -- autograd state --------------------------------------------------------------
    @property
    def grad_fn(self) -> Node | None:
        if self._base is not None and self._attr_version != self._vc.value:
            self._refresh_view()
        return self._grad_fn

    def _refresh_view(self) -> None:
        """Regenerate a stale view's node from its (modified) base (torch does this lazily)."""
        base = self._base
        assert base is not None
        if self._grad_fn is None and not base.requires_grad:
            return  # nothing to regenerate; it stays stale until its base requires grad (torch)
        if self._creation_meta != DEFAULT:
            raise RuntimeError(_indirect_view_error(self))
        previous = self._grad_fn
        if _state.current().view_replay:
            value: Tensor = base
            with _state.switch(grad_enabled=True, inference_mode=False):
                for prim, params in self._view_chain:
                    value = _apply(prim, value, **params)
            self._grad_fn = value._grad_fn
        else:  # recorded even when the base does not require grad: a node with no edge
            _record_forced(ops.as_strided_p, (base,), (self,), {"chain": self._view_chain})
        if self._retains_grad and self._grad_fn is not None:  # retain_grad follows (torch)
            _move_retained_grad(self, previous, self._grad_fn)
        self._output_nr = 0
        self._attr_version = self._vc.value

    @property
    def requires_grad(self) -> bool:
        if self._requires_grad or self._grad_fn is not None:
            return True
        base = self._base  # a view requires grad whenever its base does (torch)
        return base is not None and base.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not value and not self._leaf_by_node():
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and not self._leaf_by_node():
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad_(value)

    @property
    def output_nr(self) -> int:
        return self._output_nr

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether autograd records operations on this (leaf) tensor; returns ``self``.

        Example:
            >>> import tapegrad
            >>> tapegrad.zeros(2).requires_grad_().requires_grad
            True
        """
        if not self._leaf_by_node():
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach()."
                )
            return self
        if requires_grad:
            if not self.dtype.is_floating_point:
                raise RuntimeError("only Tensors of floating point dtype can require gradients")
            if self._is_inference and not _state.current().inference_mode:
                raise RuntimeError(
                    "Setting requires_grad=True on inference tensor outside InferenceMode is "
                    "not allowed."
                )
        self._requires_grad = bool(requires_grad)
        return self

    def _is_leaf_requiring_grad(self) -> bool:
        return self._requires_grad and self.grad_fn is None

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def _leaf_by_node(self) -> bool:
        """torch's internal is_leaf: a stale view's node is not regenerated (nor refused)."""
        return self._grad_fn is None and self._attr_version != -1  # -1: rebased in place

    def _edge(self) -> tuple[Node, int] | None:
        """Where the gradient for this tensor goes: its node, or its leaf accumulator."""
        grad_fn = self.grad_fn
        if grad_fn is not None:
            return (grad_fn, self._output_nr)
        if not self._requires_grad:
            return None
        accumulator = self._accumulator() if self._accumulator is not None else None
        if accumulator is None:
            accumulator = AccumulateGrad(self)
            self._accumulator = weakref.ref(accumulator)
        return (accumulator, 0)

    @property
    def grad(self) -> Tensor | None:
        grad = self._grad
        if grad is None and self._grad_fn is not None and not self._retains_grad:
            warnings.warn(_NON_LEAF_GRAD, UserWarning, stacklevel=2)  # torch: raw grad_fn
        return grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value.dtype is not self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_dtype_str(value.dtype)}' to a "
                    f"tensor with grad_dtype '{_type_title(self.dtype)}'. The gradient must match "
                    "the tensor's grad_dtype (defaults to the tensor's dtype)."
                )
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size"
                )
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    def _accumulate_grad(self, grad: Tensor, create_graph: bool) -> None:
        """AccumulateGrad's body: store or add ``grad`` into ``self.grad`` (torch semantics)."""
        if self._grad is None:  # laid out by torch's gradient layout contract
            if create_graph:  # torch copies into a fresh tensor, recording the copy_
                self._grad = Tensor._from_array(
                    ops.first_grad_copy(None, self._array, self._array.dtype))
                self._grad.copy_(grad)
            else:
                self._grad = Tensor._from_array(
                    ops.first_grad_copy(grad._array, self._array, grad._array.dtype))
                self._grad._is_inference = grad._is_inference
                if grad._is_inference:
                    self._grad._vc = None
        elif create_graph or _state.current().grad_enabled:
            self._grad = self._grad + grad
        else:
            current = self._grad
            if current._vc is None and not _state.current().inference_mode:  # B54
                raise RuntimeError(_INFERENCE_INPLACE)  # before writing (B64: torch after)
            quietly(np.add, current._array, grad._array.astype(current._array.dtype, copy=False),
                    out=current._array)  # inf + -inf is nan silently, as in torch
            current._bump()

    def _retain(self, grad: Tensor) -> None:
        if self._grad is None:  # always a copy: the incoming gradient may be a caller's tensor
            self._grad = grad.detach().clone() if not _state.current().grad_enabled else (
                grad.clone())
        else:
            self._grad = self._grad + grad

    def retain_grad(self) -> None:
        """Populate ``.grad`` for this non-leaf tensor during backward.

        Example:
            >>> import tapegrad
            >>> x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
            >>> y = x * 3
            >>> y.retain_grad()
            >>> y.sum().backward()
            >>> y.grad
            tensor([1., 1.])
        """
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._leaf_by_node() or self._retains_grad:  # before a stale view's regeneration
            return
        grad_fn = self.grad_fn
        if grad_fn is None:
            return
        grad_fn._set_retains_grad(self._output_nr, self)
        self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        # torch reads the flag alone (no stale-view check; detach_ keeps it)
        return self._retains_grad

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one.

        Example:
            >>> import tapegrad
            >>> x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
            >>> handle = x.register_hook(lambda g: g * 2)
            >>> x.sum().backward()
            >>> x.grad
            tensor([2., 2.])
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        grad_fn = self.grad_fn
        if grad_fn is not None:
            return grad_fn._register_tensor_prehook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = {}
        return _engine._add_hook(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(tensor)`` after a gradient was accumulated into this leaf's ``.grad``."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        return _engine._add_hook(self._post_accumulate_hooks, hook)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate the gradient of this tensor with respect to graph leaves into ``.grad``.

        Example:
            >>> import tapegrad
            >>> x = tapegrad.tensor(3.0, requires_grad=True)
            >>> (x ** 2).backward()
            >>> x.grad
            tensor(6.)
        """
        if isinstance(inputs, Tensor):
            inputs = (inputs,)
        elif inputs is not None:
            inputs = tuple(inputs)
        _engine.backward((self,), (gradient,), retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """A tensor sharing storage and version counter, outside the graph (no tangent)."""
        out = self._alias()
        if out._vc is None and not _state.current().inference_mode:
            # torch: still an inference tensor, but it may be updated in place
            out._vc = _VersionCounter()
        return out

    def detach_(self) -> Tensor:
        """Detach this tensor from the graph in place (not allowed for views)."""
        if _state.current().inference_mode or self._is_inference:
            return self  # torch skips the autograd kernel: a no-op, even on a view
        if self._base is not None:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        self._grad_fn = None
        self._requires_grad = False
        self._tangent = None
        return self

    @property
    def data(self) -> Tensor:
        """This tensor's values with no autograd history and a fresh version counter."""
        out = Tensor.__new__(Tensor)
        out._init(self._array)
        out._is_inference = self._is_inference  # with a counter of its own, as torch,
        if self._is_inference and _state.current().inference_mode:
            out._vc = None  # except inside inference mode: a true inference tensor there
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        self._array = value._array

    @property
    def _version(self) -> int:
        if self._vc is None:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._vc.value

    def _bump(self) -> None:
        if self._vc is not None:
            self._vc.value += 1

    def is_inference(self) -> bool:
        """Whether this tensor was created in inference mode."""
        return self._is_inference

    def _is_view(self) -> bool:
        return self._base is not None

    def _grad_fn_for_message(self) -> Node | None:
        try:
            return self.grad_fn
        except RuntimeError:
            return self._grad_fn

    # -- metadata ----------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[_wrap_dim(dim, self._array.ndim)]

    @property
    def dtype(self) -> DType:
        return _NUMPY_TO_DTYPE[self._array.dtype]

    @property
    def device(self) -> device:
        return device("cpu")

    @property
    def is_cuda(self) -> bool:
        return False

    def dim(self) -> int:
        return self._array.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def numel(self) -> int:
        return int(self._array.size)

    nelement = numel

    def element_size(self) -> int:
        return int(self._array.itemsize)

    def stride(self, dim: int | None = None) -> Any:
        array = self._array
        if array.size == 0:  # NumPy reports zeros; torch reports contiguous strides
            strides = tuple(int(math.prod(max(n, 1) for n in array.shape[i + 1:]))
                            for i in range(array.ndim))
        else:
            strides = ops.element_strides(array)
        return strides if dim is None else strides[_wrap_dim(dim, self._array.ndim)]

    def is_contiguous(self) -> bool:
        return bool(self._array.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return False

    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def item(self) -> Any:
        if self._array.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._array.size} elements cannot be converted to Scalar"
            )
        return self._array.reshape(-1)[0].item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The NumPy array sharing this tensor's memory (refused for tensors requiring grad)."""
        if self.requires_grad and not force and _state.current().grad_enabled:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._array if dtype is None else self._array.astype(dtype)

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous"
            )
        return bool(self._array.reshape(-1)[0])

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> Any:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __repr__(self) -> str:
        return _format_tensor(self)

    def __str__(self) -> str:
        return _format_tensor(self)

    def __format__(self, spec: str) -> str:
        if self._array.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild, (self._array.copy(), self.requires_grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment."
            )
        out = type(self).__new__(type(self))
        out._init(self._array.copy())
        out._requires_grad = self._requires_grad
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        if self.__dict__:
            import copy as _copy

            for key, value in self.__dict__.items():
                setattr(out, key, _copy.deepcopy(value, memo))
        return out

    # -- internal op entry points used by rules -----------------------------------------
    def _op(self, prim: ops.Primitive, *others: Any, **params: Any) -> Any:
        return _apply(prim, self, *others, **params)

    def _stack_many(self, tensors: Sequence[Tensor], dim: int) -> Tensor:
        return stack(list(tensors), dim)

    def _cat_many(self, tensors: Sequence[Tensor], dim: int) -> Tensor:
        return cat(list(tensors), dim)

    def _einsum_many(self, equation: str, others: Sequence[Tensor]) -> Tensor:
        return _apply(ops.einsum_p, self, *others, equation=equation)

    def new_eye(self, n: int) -> Tensor:
        return eye(n, dtype=self.dtype)

    # -- arithmetic ---------------------------------------------------------------------
    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return _apply(ops.add_p, self, _operand(other), alpha=alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        _check_not_bool_sub(self, other)
        return _apply(ops.sub_p, self, _operand(other), alpha=alpha)

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        return _apply(ops.mul_p, self, _operand(other))

    multiply = mul

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return _apply(ops.div_p, self, _operand(other))
        if rounding_mode in ("floor", "trunc"):
            return _apply(ops.div_rounding_p, self, _operand(other), rounding_mode=rounding_mode)
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                         f"found '{rounding_mode}'")

    divide = div
    true_divide = div

    def floor_divide(self, other: Any) -> Tensor:
        return _apply(ops.floor_divide_p, self, _operand(other))

    def remainder(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return _apply(ops.remainder_p, self, other)
        return _apply(ops.remainder_scalar_p, self, _operand(other))

    def pow(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor):
            return _apply(ops.pow_p, self, exponent)
        if not self.dtype.is_floating_point and isinstance(exponent, float):
            return _apply(ops.pow_p, self, exponent)
        if not self.dtype.is_floating_point and isinstance(exponent, int) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return _apply(ops.pow_scalar_p, self, exponent=exponent)

    def __add__(self, other: Any) -> Tensor:
        return self.add(other)

    def __radd__(self, other: Any) -> Tensor:
        return _apply(ops.add_p, self, _operand(other), alpha=1)

    def __sub__(self, other: Any) -> Tensor:
        return self.sub(other)

    def __rsub__(self, other: Any) -> Tensor:
        _check_not_bool_sub(self, other)
        return _apply(ops.rsub_p, self, _operand(other), alpha=1)

    def __mul__(self, other: Any) -> Tensor:
        return _apply(ops.mul_p, self, _operand(other))

    def __rmul__(self, other: Any) -> Tensor:
        return _apply(ops.mul_p, self, _operand(other))

    def __truediv__(self, other: Any) -> Tensor:
        return _apply(ops.div_p, self, _operand(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _apply(ops.mul_p, self.reciprocal(), _operand(other))

    def __floordiv__(self, other: Any) -> Tensor:
        return _apply(ops.floor_divide_p, self, _operand(other))

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _apply(ops.floor_divide_p, _scalar_tensor(other, self), self)

    def __mod__(self, other: Any) -> Tensor:
        return self.remainder(other)

    def __rmod__(self, other: Any) -> Tensor:
        return _apply(ops.rremainder_p, _scalar_tensor(other, self), self)

    def __pow__(self, exponent: Any) -> Tensor:
        return self.pow(exponent)

    def __rpow__(self, base: Any) -> Tensor:
        if isinstance(base, Tensor):
            return base.pow(self)
        if not self.dtype.is_floating_point:
            return _apply(ops.pow_p, _scalar_tensor(base, self), self)
        return _apply(ops.rpow_p, self, base=base)

    def __matmul__(self, other: Any) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _as_tensor_like(other, self).matmul(self)

    def __neg__(self) -> Tensor:
        if self.dtype is _dtype.bool_:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                "to invert a mask, use the `~` or `logical_not()` operator instead."
            )
        return _apply(ops.neg_p, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __invert__(self) -> Tensor:
        if self.dtype.is_floating_point:
            raise TypeError("bitwise_not is only supported for integer and boolean tensors")
        if self.dtype is _dtype.bool_:
            return _apply(ops.logical_not_p, self)
        return _apply(ops.bitwise_not_p, self)

    def __and__(self, other: Any) -> Tensor:
        return _apply(ops.bitwise_and_p, self, _operand(other))

    __rand__ = __and__

    def __or__(self, other: Any) -> Tensor:
        return _apply(ops.bitwise_or_p, self, _operand(other))

    __ror__ = __or__

    def __xor__(self, other: Any) -> Tensor:
        return _apply(ops.bitwise_xor_p, self, _operand(other))

    __rxor__ = __xor__

    def __eq__(self, other: Any) -> Any:
        if not isinstance(other, Tensor | numbers.Number | np.ndarray | np.generic):
            return NotImplemented
        return _apply(ops.eq_p, self, _operand(other))

    def __ne__(self, other: Any) -> Any:
        if not isinstance(other, Tensor | numbers.Number | np.ndarray | np.generic):
            return NotImplemented
        return _apply(ops.ne_p, self, _operand(other))

    def __lt__(self, other: Any) -> Tensor:
        return _apply(ops.lt_p, self, _operand(other))

    def __le__(self, other: Any) -> Tensor:
        return _apply(ops.le_p, self, _operand(other))

    def __gt__(self, other: Any) -> Tensor:
        return _apply(ops.gt_p, self, _operand(other))

    def __ge__(self, other: Any) -> Tensor:
        return _apply(ops.ge_p, self, _operand(other))

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__
    greater = __gt__
    less = __lt__

    def equal(self, other: Tensor) -> bool:
        return tuple(self.shape) == tuple(other.shape) and bool(
            np.array_equal(self._array, other._array))

    def logical_and(self, other: Any) -> Tensor:
        return _apply(ops.logical_and_p, self, _operand_tensor(other, self))

    def logical_or(self, other: Any) -> Tensor:
        return _apply(ops.logical_or_p, self, _operand_tensor(other, self))

    def logical_xor(self, other: Any) -> Tensor:
        return _apply(ops.logical_xor_p, self, _operand_tensor(other, self))

    def logical_not(self) -> Tensor:
        return _apply(ops.logical_not_p, self)

    def bitwise_not(self) -> Tensor:
        return self.__invert__()

    def isnan(self) -> Tensor:
        return _apply(ops.isnan_p, self)

    def isinf(self) -> Tensor:
        return _apply(ops.isinf_p, self)

    def isfinite(self) -> Tensor:
        return _apply(ops.isfinite_p, self)

    def allclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:
        return bool(np.allclose(self._array, _as_array(other), rtol=rtol, atol=atol,
                                equal_nan=equal_nan))

    def isclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Tensor:
        return Tensor._from_array(np.isclose(self._array, _as_array(other), rtol=rtol, atol=atol,
                                             equal_nan=equal_nan))

    # -- elementwise math ---------------------------------------------------------------
    def neg(self) -> Tensor:
        return self.__neg__()

    negative = neg

    def exp(self) -> Tensor:
        return _apply(ops.exp_p, self)

    def expm1(self) -> Tensor:
        return _apply(ops.expm1_p, self)

    def log(self) -> Tensor:
        return _apply(ops.log_p, self)

    def log1p(self) -> Tensor:
        return _apply(ops.log1p_p, self)

    def log2(self) -> Tensor:
        return _apply(ops.log2_p, self)

    def log10(self) -> Tensor:
        return _apply(ops.log10_p, self)

    def sqrt(self) -> Tensor:
        return _apply(ops.sqrt_p, self)

    def rsqrt(self) -> Tensor:
        return _apply(ops.rsqrt_p, self)

    def square(self) -> Tensor:
        return self.pow(2)

    def reciprocal(self) -> Tensor:
        return _apply(ops.reciprocal_p, self)

    def sin(self) -> Tensor:
        return _apply(ops.sin_p, self)

    def cos(self) -> Tensor:
        return _apply(ops.cos_p, self)

    def tan(self) -> Tensor:
        return _apply(ops.tan_p, self)

    def tanh(self) -> Tensor:
        return _apply(ops.tanh_p, self)

    def sigmoid(self) -> Tensor:
        return _apply(ops.sigmoid_p, self)

    def relu(self) -> Tensor:
        return _apply(ops.relu_p, self)

    def erf(self) -> Tensor:
        return _apply(ops.erf_p, self)

    def abs(self) -> Tensor:
        return _apply(ops.abs_p, self)

    absolute = abs

    def sign(self) -> Tensor:
        return _apply(ops.sign_p, self)

    def floor(self) -> Tensor:
        return self.clone() if not self.dtype.is_floating_point else _apply(ops.floor_p, self)

    def ceil(self) -> Tensor:
        return self.clone() if not self.dtype.is_floating_point else _apply(ops.ceil_p, self)

    def round(self, decimals: int = 0) -> Tensor:
        if decimals:
            return _apply(ops.round_decimals_p, self, decimals=decimals)
        return _apply(ops.round_p, self, decimals=0)

    def trunc(self) -> Tensor:
        return self.clone() if not self.dtype.is_floating_point else _apply(ops.trunc_p, self)

    fix = trunc

    def frac(self) -> Tensor:
        if not self.dtype.is_floating_point:
            raise NotImplementedError(f'"frac_cpu" not implemented for {_type_title(self.dtype)!r}')
        return _apply(ops.frac_p, self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            low = _operand_tensor(-math.inf if min is None else min, self)
            high = _operand_tensor(math.inf if max is None else max, self)
            return _apply(ops.clamp_tensor_p, self, low, high)
        return _apply(ops.clamp_p, self, min=min, max=max)

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:
        return self.clamp(max=max)

    def maximum(self, other: Tensor) -> Tensor:
        return _apply(ops.maximum_p, self, _operand_tensor(other, self))

    def minimum(self, other: Tensor) -> Tensor:
        return _apply(ops.minimum_p, self, _operand_tensor(other, self))

    def where(self, condition: Any, other: Any) -> Tensor:
        return where(condition, self, other)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        mask = _check_mask(mask)
        if isinstance(value, Tensor):
            if value.dim() != 0:
                raise RuntimeError(
                    "masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                    f"with {value.dim()} dimension(s)."
                )
            return _apply(ops.masked_fill_tensor_p, self, mask, value)
        return _apply(ops.masked_fill_p, self, mask, value=value)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        if not isinstance(end, Tensor):
            raise TypeError(
                "lerp() received an invalid combination of arguments - got "
                f"({type(end).__name__}, {type(weight).__name__}), but expected one of:\n"
                " * (Tensor end, Tensor weight)\n * (Tensor end, Number weight)"
            )
        if end.dtype is not self.dtype:
            raise RuntimeError(
                f"expected dtype {_dtype_str(self.dtype)} for `end` but got dtype "
                f"{_dtype_str(end.dtype)}"
            )
        if isinstance(weight, Tensor):
            return _apply(ops.lerp_tensor_p, self, end, weight)
        return _apply(ops.lerp_p, self, end, weight=weight)

    def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        _check_tensor_argument("addcmul", "tensor1", 1, tensor1)
        _check_tensor_argument("addcmul", "tensor2", 2, tensor2)
        return _apply(ops.addcmul_p, self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        _check_tensor_argument("addcdiv", "tensor1", 1, tensor1)
        _check_tensor_argument("addcdiv", "tensor2", 2, tensor2)
        return _apply(ops.addcdiv_p, self, tensor1, tensor2, value=value)

    # -- reductions ---------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        np_dtype = None if dtype is None else _dtype.to_dtype(dtype).np
        if dim is None or dim == ():
            return _apply(ops.sum_p, self, dim=None, keepdim=False, dtype=np_dtype)
        return _apply(ops.sum_dim_p, self, dim=_dims(dim, self.ndim), keepdim=keepdim,
                      dtype=np_dtype)

    def sum_along(self, dim: Any, keepdim: bool = True) -> Tensor:
        """``sum`` over ``dim`` where ``None`` means every dim (used by derivative rules)."""
        if dim is None:
            return self.sum().reshape((1,) * self.ndim if keepdim else ())
        return self.sum(dim, keepdim)

    def mean_along(self, dim: Any, keepdim: bool = True) -> Tensor:
        if dim is None:
            return self.mean().reshape((1,) * self.ndim if keepdim else ())
        return self.mean(dim, keepdim)

    def prod_along(self, dim: Any, keepdim: bool = True) -> Tensor:
        if dim is None or dim == ():  # every dim (a 0-d tensor's dims are ())
            return self.prod().reshape((1,) * self.ndim if keepdim else ())
        return self.prod(dim[0] if isinstance(dim, tuple) else dim, keepdim)

    def sum_to_size(self, *size: Any) -> Tensor:
        shape = _shape_arg(size)
        if tuple(self.shape) == shape:
            return self
        if not shape:  # a plain sum, not a view of one (torch)
            return self.sum()
        lead = self.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(shape) if s == 1 and self.shape[lead + i] != 1)
        out = self.sum(dims, keepdim=True) if dims else self
        return out.reshape(shape) if lead or tuple(out.shape) != shape else out

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        if not source.dtype.is_floating_point:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {_type_title(source.dtype)}"
            )
        if dim is None:
            return _apply(ops.mean_p, source, dim=None, keepdim=False)
        return _apply(ops.mean_dim_p, source, dim=_dims(dim, self.ndim), keepdim=keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        if dim is None:
            return _apply(ops.prod_p, source, dim=None, keepdim=False)
        return _apply(ops.prod_dim_p, source, dim=_dims(dim, self.ndim), keepdim=keepdim)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:
        correction = _correction(unbiased, correction)
        _stale_view_first(self)  # before the forward's degrees-of-freedom warning (torch)
        return _apply(ops.var_p, _float_input(self, "var"), dim=_dims_or_none(dim, self.ndim),
                      correction=correction, keepdim=keepdim)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:
        correction = _correction(unbiased, correction)
        _stale_view_first(self)  # before the forward's degrees-of-freedom warning (torch)
        return _apply(ops.std_p, _float_input(self, "std"), dim=_dims_or_none(dim, self.ndim),
                      correction=correction, keepdim=keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        _check_nonempty_reduction(self, dim, "amax")
        return _apply(ops.amax_p, self, dim=_dims_or_none(dim, self.ndim), keepdim=keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        _check_nonempty_reduction(self, dim, "amin")
        return _apply(ops.amin_p, self, dim=_dims_or_none(dim, self.ndim), keepdim=keepdim)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(
                    "max(): Expected reduction dim to be specified for input.numel() == 0. "
                    "Specify the reduction dim with the 'dim' argument."
                )
            return _apply(ops.max_all_p, self, dim=None, keepdim=False)
        values, indices = _apply(ops.max_dim_p, self, dim=_wrap_dim(dim, self.ndim),
                                 keepdim=keepdim, largest=True)
        return MinMax(values, indices, "max")

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(
                    "min(): Expected reduction dim to be specified for input.numel() == 0. "
                    "Specify the reduction dim with the 'dim' argument."
                )
            return _apply(ops.min_all_p, self, dim=None, keepdim=False)
        values, indices = _apply(ops.min_dim_p, self, dim=_wrap_dim(dim, self.ndim),
                                 keepdim=keepdim, largest=False)
        return MinMax(values, indices, "min")

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        _check_nonempty_reduction(self, dim, "argmax")
        dim = None if dim is None else _wrap_dim(dim, self.ndim)
        return _apply(ops.argmax_p, self, dim=dim, keepdim=keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        _check_nonempty_reduction(self, dim, "argmin")
        dim = None if dim is None else _wrap_dim(dim, self.ndim)
        return _apply(ops.argmin_p, self, dim=dim, keepdim=keepdim)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return _apply(ops.logsumexp_p, self, dim=_dims(dim, self.ndim), keepdim=keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Tensor:
        if p == "fro" or p is None:
            p = 2
        source = self if dtype is None else self.to(dtype)
        if not source.dtype.is_floating_point:
            raise RuntimeError(
                "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                f"{_type_title(source.dtype)}"
            )
        return _apply(ops.norm_p, source, p=float(p), dim=_dims_or_none(dim, self.ndim),
                      keepdim=keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _apply(ops.all_p, self, dim=_dims_or_none(dim, self.ndim), keepdim=keepdim)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _apply(ops.any_p, self, dim=_dims_or_none(dim, self.ndim), keepdim=keepdim)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        return _apply(ops.cumsum_p, source, dim=_wrap_dim(dim, self.ndim))

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return (self != 0).sum(dim) if dim is not None else (self != 0).sum()

    def softmax(self, dim: int, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        return _apply(ops.softmax_p, source, dim=_wrap_dim(dim, self.ndim))

    def log_softmax(self, dim: int, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        return _apply(ops.log_softmax_p, source, dim=_wrap_dim(dim, self.ndim))

    # -- linear algebra -----------------------------------------------------------------
    def matmul(self, other: Tensor) -> Tensor:
        other = _as_tensor_like(other, self)
        a, b = self.ndim, other.ndim
        if a == 0 or b == 0:
            raise RuntimeError(
                f"both arguments to matmul need to be at least 1D, but they are {a}D and {b}D"
            )
        _check_matmul_shapes(self, other, "matmul")
        if a == 1 and b == 1:
            return self.dot(other)
        if a == 2 and b == 1:
            return self.mv(other)
        if a == 1 and b == 2:  # torch: unsqueeze, mm, squeeze_
            return _apply(ops.squeeze_inplace_p, self.unsqueeze(0).mm(other), dim=(0,))
        if a == 2 and b == 2:
            return self.mm(other)
        if _should_fold(self, other):  # the batch dims folded into rows of one mm or mv
            transpose = b > a
            big = other.mT if transpose else self
            small = (self.t() if a == 2 else self) if transpose else other
            shape = tuple(big.shape[:-1])
            folded = big.reshape(math.prod(shape), big.shape[-1])
            if small.ndim == 1:
                return _apply(ops.unsafe_view_p, folded.mv(small), shape=shape)
            out = _apply(ops.unsafe_view_p, folded.mm(small), shape=(*shape, small.shape[1]))
            return out.mT.contiguous() if transpose else out
        if a == 3 and b == 3 and self.shape[0] != other.shape[0]:  # a batch of 1 that needs a
            if self.shape[0] == 1 and self.requires_grad:  # gradient: folded, as torch
                return self.squeeze(0).matmul(other)
            if other.shape[0] == 1 and other.requires_grad:
                return self.matmul(other.squeeze(0))
        # torch: both sides expanded to the broadcast batch, flattened, one bmm
        batch = _broadcast_shape(self.shape[:-2], other.shape[:-2])
        count, n, m = math.prod(batch), (self.shape[-2] if a > 1 else 1), self.shape[-1]
        left = self.expand(*batch, n, m).reshape(count, n, m)
        if b == 1:
            product = left.bmm(other.expand(*batch, m).reshape(count, m).unsqueeze(2))
            return _apply(ops.unsafe_view_p, product.squeeze(-1), shape=(*batch, n))
        p = other.shape[-1]
        product = left.bmm(other.expand(*batch, m, p).reshape(count, m, p))
        return _apply(ops.unsafe_view_p, product, shape=(*batch, *((n,) if a > 1 else ()), p))

    def mm(self, other: Tensor) -> Tensor:
        if self.ndim != 2:
            raise RuntimeError("self must be a matrix")
        if other.ndim != 2:
            raise RuntimeError("mat2 must be a matrix")
        _check_matmul_shapes(self, other, "mm")
        return _apply(ops.mm_p, self, other,
                      column_major=(_column_major(self._array), _column_major(other._array)))

    def bmm(self, other: Tensor) -> Tensor:
        if self.ndim != 3 or other.ndim != 3:
            raise RuntimeError("batch1 must be a 3D tensor")
        _check_matmul_shapes(self, other, "bmm")
        return _apply(ops.bmm_p, self, other)

    def mv(self, vec: Tensor) -> Tensor:
        _check_matmul_shapes(self, vec, "mv")
        return _apply(ops.mv_p, self, vec)

    def dot(self, other: Tensor) -> Tensor:
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(
                f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors"
            )
        _check_same_dtype(self, other, "dot")
        if self.shape[0] != other.shape[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{self.shape[0]}] and src "
                f"[{other.shape[0]}] to have the same number of elements, but got "
                f"{self.shape[0]} and {other.shape[0]} elements respectively"
            )
        return _apply(ops.dot_p, self, other)

    def outer(self, other: Tensor) -> Tensor:
        return self.reshape(-1, 1) * other.reshape(1, -1)

    ger = outer

    # -- shape and views ----------------------------------------------------------------
    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], DType | type) and not isinstance(
                shape[0], int):
            raise NotImplementedError("view(dtype) is not supported")
        return _apply(ops.view_p, self, shape=_infer_shape(_shape_arg(shape), self.numel()))

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape(self, *shape: Any) -> Tensor:
        target = _infer_shape(_shape_arg(shape), self.numel())
        array = self._array
        probe = array.view()
        try:
            probe.shape = target
        except AttributeError:
            return _apply(ops.unsafe_view_p, self.clone(), shape=target)
        return _apply(ops.view_p, self, shape=target)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start = _wrap_dim(start_dim, self.ndim)
        end = _wrap_dim(end_dim, self.ndim)
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if start == end:
            return self
        shape = self.shape
        new = (*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:])
        return self.reshape(new)

    def ravel(self) -> Tensor:
        return self.contiguous().view(-1)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        dim = _wrap_dim(dim, self.ndim)
        sizes = _infer_shape(tuple(sizes), self.shape[dim])
        return self.view(*self.shape[:dim], *sizes, *self.shape[dim + 1:])

    def permute(self, *dims: Any) -> Tensor:
        if len(dims) == 0:
            raise TypeError('permute() missing 1 required positional arguments: "dims"')
        order = tuple(_wrap_dim(d, self.ndim) for d in _shape_arg(dims))
        if sorted(order) != list(range(self.ndim)):
            raise RuntimeError(
                "permute(sparse_coo): number of dimensions in the tensor input does not match "
                "the length of the desired ordering of dimensions i.e. input.dim() = "
                f"{self.ndim} is not equal to len(dims) = {len(order)}"
                if len(order) != self.ndim else "permute(): duplicate dims are not allowed."
            )
        return _apply(ops.permute_p, self, dims=order)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        n = self.ndim
        return _apply(ops.transpose_p, self, dim0=_wrap_dim(dim0, n), dim1=_wrap_dim(dim1, n))

    swapaxes = transpose
    swapdims = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")
        return _apply(ops.t_p, self)

    @property
    def T(self) -> Tensor:
        message = _T_ZERO_D if self.ndim == 0 else _T_OTHER
        if self.ndim != 2 and message not in _T_WARNED:  # torch warns once per process
            _T_WARNED.add(message)
            warnings.warn(message, UserWarning, stacklevel=2)
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def H(self) -> Tensor:
        return self.T

    @property
    def mH(self) -> Tensor:
        return self.mT

    def adjoint(self) -> Tensor:
        return self.mT

    def expand(self, *sizes: Any) -> Tensor:
        target = list(_shape_arg(sizes))
        if len(target) < self.ndim:
            raise RuntimeError(
                f"expand({_expand_type(self)}{{{list(self.shape)}}}, size={target}): the number of "
                "sizes provided "
                f"({len(target)}) must be greater or equal to the number of dimensions in the "
                f"tensor ({self.ndim})"
            )
        return _apply(ops.expand_p, self, shape=_expanded_shape(tuple(self.shape), target))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def broadcast_to(self, *shape: Any) -> Tensor:
        return self.expand(*shape)

    def squeeze(self, dim: Any = None) -> Tensor:
        if dim is None:
            dims = tuple(i for i, s in enumerate(self.shape) if s == 1)
            return _apply(ops.squeeze_p, self, dim=dims)
        dims = _dims(dim, builtins.max(self.ndim, 1)) if self.ndim else ()
        dims = tuple(d for d in dims if self.shape[d] == 1)
        return _apply(ops.squeeze_dim_p, self, dim=dims)

    def unsqueeze(self, dim: int) -> Tensor:
        return _apply(ops.unsqueeze_p, self, dim=_wrap_dim(dim, self.ndim + 1))

    def movedim(self, source: Any, destination: Any) -> Tensor:
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        src = [_wrap_dim(s, self.ndim) for s in src]
        dst = [_wrap_dim(d, self.ndim) for d in dst]
        if self.ndim == 0:  # dims were checked above; nothing moves
            return _apply(ops.alias_p, self)
        order = [i for i in range(self.ndim) if i not in src]
        for d, s in sorted(zip(dst, src, strict=True)):
            order.insert(d, s)
        return self.permute(tuple(order))

    moveaxis = movedim

    def narrow(self, dim: int, start: Any, length: int) -> Tensor:
        if not self.ndim:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        dim = _wrap_dim(dim, self.ndim)
        start = int(start)
        size = self.shape[dim]
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], "
                             f"but got {start})")
        if start < 0:
            start += size
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if length > size - start:
            raise RuntimeError(
                f"start ({start}) + length ({length}) exceeds dimension size ({size})."
            )
        return _apply(ops.slice_p, self, dim=dim, start=start, stop=start + length, step=1)

    def select(self, dim: int, index: int) -> Tensor:
        dim = _wrap_dim(dim, self.ndim)
        size = self.shape[dim]
        index = int(index)
        if not -size <= index < size:
            raise IndexError(
                f"select(): index {index} out of range for tensor of size {list(self.shape)} at "
                f"dimension {dim}"
            )
        return _apply(ops.select_p, self, dim=dim, index=index % size if size else index)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return _apply(ops.unbind_p, self, dim=_wrap_dim(dim, self.ndim))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        if not self.ndim:
            raise RuntimeError("split expects at least a 1-dimensional tensor")
        dim = _wrap_dim(dim, self.ndim)
        size = self.shape[dim]
        if isinstance(split_size, int):
            if split_size <= 0 and size:
                raise RuntimeError("split_size can only be 0 if dimension size is 0")
            step = builtins.max(split_size, 1)
            sizes = tuple(builtins.min(step, size - s) for s in range(0, size, step)) or (0,)
            return _apply(ops.split_p, self, sizes=sizes, dim=dim)
        sizes = tuple(int(s) for s in split_size)
        if builtins.sum(sizes) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {dim}), but got split_sizes={list(sizes)}"
            )
        return _apply(ops.split_with_sizes_p, self, sizes=sizes, dim=dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
        if not self.ndim:
            raise RuntimeError("chunk expects at least a 1-dimensional tensor")
        size = self.shape[_wrap_dim(dim, self.ndim)]
        return self.split(builtins.max(-(-size // chunks), 1) if size else 1, dim)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return _apply(ops.diagonal_p, self, offset=offset, dim1=_wrap_dim(dim1, self.ndim),
                      dim2=_wrap_dim(dim2, self.ndim))

    def diag(self, diagonal: int = 0) -> Tensor:
        if self.ndim == 2:
            return self.diagonal(diagonal).clone()
        n = self.shape[0] + abs(diagonal)
        out = self.new_zeros((n, n))
        index = np.arange(self.shape[0])
        rows = index + builtins.max(-diagonal, 0)
        cols = index + builtins.max(diagonal, 0)
        return out.index_put((Tensor(rows), Tensor(cols)), self)

    def tril(self, diagonal: int = 0) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError("tril: input tensor must have at least 2 dimensions")
        return _apply(ops.tril_p, self, diagonal=diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError("triu: input tensor must have at least 2 dimensions")
        return _apply(ops.triu_p, self, diagonal=diagonal)

    def flip(self, *dims: Any) -> Tensor:
        return _apply(ops.flip_p, self, dims=tuple(_wrap_dim(d, self.ndim)
                                                   for d in _shape_arg(dims)))

    def fliplr(self) -> Tensor:
        return self.flip(1)

    def flipud(self) -> Tensor:
        return self.flip(0)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        if dims is None:
            shift = shifts if isinstance(shifts, int) else builtins.sum(shifts)
            return _apply(ops.roll_p, self, shifts=(shift,), dims=None)
        shifts_t = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims_t = (dims,) if isinstance(dims, int) else tuple(dims)
        if not self.ndim:
            raise IndexError(f"Dimension specified as {dims_t[0]} but tensor has no dimensions")
        return _apply(ops.roll_p, self, shifts=shifts_t,
                      dims=tuple(_wrap_dim(d, self.ndim) for d in dims_t))

    def repeat(self, *sizes: Any) -> Tensor:
        repeats = _shape_arg(sizes)
        if len(repeats) < self.ndim:
            raise RuntimeError(
                "Number of dimensions of repeat dims can not be smaller than number of "
                "dimensions of tensor"
            )
        return _apply(ops.repeat_p, self, repeats=repeats)

    def tile(self, *dims: Any) -> Tensor:
        reps = _shape_arg(dims)
        if len(reps) < self.ndim:
            reps = (1,) * (self.ndim - len(reps)) + reps
        return self.repeat(*reps)

    def contiguous(self, memory_format: Any = None) -> Tensor:
        return self if self._array.flags.c_contiguous else self.clone(memory_format="contiguous")

    def clone(self, *, memory_format: Any = None) -> Tensor:
        if self._is_inference and not _state.current().inference_mode:
            return self._copy_of_inference(self._array.dtype)
        # torch's default keeps the layout (memory_format=preserve); contiguous() does not
        return _apply(ops.clone_p, self, contiguous=memory_format == "contiguous")

    def _copy_of_inference(self, dtype: Any) -> Tensor:
        # torch's clone/to of an inference tensor outside inference mode is copy_ into a fresh
        # normal tensor: CopyBackwards when it requires grad (beyond B62)
        out = Tensor._from_array(np.empty(self._array.shape, dtype), False).copy_(self)
        out._vc.value = 0  # torch: 1, from its in-place kernel (not followed, as for ``to``)
        return out

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        return _getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _setitem(self, key, value)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        _check_index_tensor(index, "gather")
        dim = _wrap_dim(dim, self.ndim)
        _check_gather_index(self, index, dim, "gather")
        return _apply(ops.gather_p, self, index, dim=dim)

    def scatter(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Tensor:
        if reduce is not None:
            raise NotImplementedError("scatter with reduce is not supported; use scatter_add")
        _check_index_tensor(index, "scatter")
        src = value if src is None else src
        if not isinstance(src, Tensor):
            return _apply(ops.scatter_value_p, self, index, dim=_wrap_dim(dim, self.ndim),
                          value=src)
        return _apply(ops.scatter_p, self, index, src, dim=_wrap_dim(dim, self.ndim))

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        _check_index_tensor(index, "scatter_add")
        return _apply(ops.scatter_add_p, self, index, src, dim=_wrap_dim(dim, self.ndim))

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        _check_index_tensor(index, "index_select")
        if index.ndim > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        dim = _wrap_dim(dim, builtins.max(self.ndim, 1))
        _check_select_range(self, dim, index)
        return _apply(ops.index_select_p, self, index.reshape(-1), dim=dim)

    def index_add(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        dim = _check_index_add(self, dim, index, source, "index_add")
        return _apply(ops.index_add_p, self, index, source, dim=dim, alpha=alpha)

    def index_put(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        index = _advanced_index(tuple(indices))
        values = _operand_tensor(values, self)
        modes = _state.current()
        forced = False
        if not modes.inference_mode:  # index tensors are operands (B62), saved ones (B66)
            inference = [i for i in indices if isinstance(i, Tensor) and i._is_inference]
            if inference and modes.grad_enabled and (self.requires_grad or values.requires_grad):
                SavedTensor(inference[0])  # raises
            if self._is_inference and values._is_inference and len(inference) < len(indices):
                forced = modes.grad_enabled and (self.requires_grad or values.requires_grad)
        out = _apply(ops.index_put_p, self, values, index=index, accumulate=accumulate)
        if forced and out._array.dtype.kind == "f":
            _record(ops.index_put_p, (self, values), (out,), {"index": index,
                                                              "accumulate": accumulate})
        return out

    def masked_select(self, mask: Tensor) -> Tensor:
        return _apply(ops.masked_select_p, self, _check_mask(mask))

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        indices = np.nonzero(self._array)
        if as_tuple:
            return tuple(Tensor._from_array(i.astype(np.int64)) for i in indices)
        return Tensor._from_array(np.stack(indices, axis=1).astype(np.int64))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        if not self.ndim:
            _wrap_dim(dim, 0)
            return Tensor._from_array(np.zeros((), dtype=np.int64))
        array = -self._array if descending else self._array
        return Tensor._from_array(np.argsort(array, axis=dim, kind="stable").astype(np.int64))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        indices = self.argsort(dim, descending)
        return SortResult(_apply(ops.sort_p, self, indices, dim=_wrap_dim(dim, self.ndim)),
                          indices)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        if not 0 <= k <= (self.shape[_wrap_dim(dim, self.ndim)] if self.ndim else 1):
            raise RuntimeError("selected index k out of range")
        indices = self.argsort(dim, descending=largest)
        indices = indices.narrow(dim, 0, k) if self.ndim else indices  # (0-d for k = 0 too)
        return TopkResult(_apply(ops.topk_p, self, indices, dim=_wrap_dim(dim, self.ndim)),
                          indices)

    # -- in-place -------------------------------------------------------------------------
    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return _inplace(self, ops.add_p, _inplace_operand("add_", other), alpha=alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return _inplace(self, ops.sub_p, _inplace_operand("sub_", other), alpha=alpha)

    def mul_(self, other: Any) -> Tensor:
        return _inplace(self, ops.mul_p, _inplace_operand("mul_", other))

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        other = _inplace_operand("div_", other)
        if rounding_mode is not None:
            return self.copy_(self.div(other, rounding_mode=rounding_mode))
        return _inplace(self, ops.div_p, other)

    def pow_(self, exponent: Any) -> Tensor:
        _check_overloads("pow_", (exponent,), "Tensor exponent", "Number exponent")
        if isinstance(exponent, Tensor):
            return _inplace(self, ops.pow_p, exponent)
        return _inplace(self, ops.pow_scalar_p, exponent=exponent)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __ipow__(self, other: Any) -> Tensor:
        return self.pow_(other)

    def __imatmul__(self, other: Any) -> Tensor:
        return self.copy_(self.matmul(other))

    def neg_(self) -> Tensor:
        return _inplace(self, ops.neg_p)

    def exp_(self) -> Tensor:
        return _inplace(self, ops.exp_p)

    def log_(self) -> Tensor:
        return _inplace(self, ops.log_p)

    def sqrt_(self) -> Tensor:
        return _inplace(self, ops.sqrt_p)

    def sin_(self) -> Tensor:
        return _inplace(self, ops.sin_p)

    def cos_(self) -> Tensor:
        return _inplace(self, ops.cos_p)

    def tanh_(self) -> Tensor:
        return _inplace(self, ops.tanh_p)

    def sigmoid_(self) -> Tensor:
        return _inplace(self, ops.sigmoid_p)

    def relu_(self) -> Tensor:
        return _inplace(self, ops.relu_p)

    def abs_(self) -> Tensor:
        return _inplace(self, ops.abs_p)

    def floor_(self) -> Tensor:
        return _inplace(self, ops.floor_p)

    def ceil_(self) -> Tensor:
        return _inplace(self, ops.ceil_p)

    def round_(self, decimals: int = 0) -> Tensor:
        return _inplace(self, ops.round_p, decimals=decimals)

    def sign_(self) -> Tensor:
        return _inplace(self, ops.sign_p)

    def reciprocal_(self) -> Tensor:
        return _inplace(self, ops.pow_scalar_p, exponent=-1)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        _check_overloads("clamp_", [a for a in (min, max) if a is not None],
                         "Tensor min = None, Tensor max = None",
                         "Number min = None, Number max = None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            low = _operand_tensor(-math.inf if min is None else min, self)
            high = _operand_tensor(math.inf if max is None else max, self)
            return _inplace(self, ops.clamp_tensor_p, low, high)
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        return _inplace(self, ops.clamp_p, min=min, max=max)

    clip_ = clamp_

    def clamp_min_(self, min: Any) -> Tensor:
        return self.clamp_(min=min)

    def clamp_max_(self, max: Any) -> Tensor:
        return self.clamp_(max=max)

    def zero_(self) -> Tensor:
        return _inplace(self, ops.zero_p)

    def fill_(self, value: Any) -> Tensor:
        _check_overloads("fill_", (value,), "Tensor value", "Number value")
        if isinstance(value, Tensor):
            _autograd_checks(self, (value,), _state.current())
            if value.dim() != 0:
                raise RuntimeError(
                    "fill_ only supports 0-dimension value tensor but got tensor with "
                    f"{value.dim()} dimensions."
                )
            return _inplace(self, ops.fill_tensor_p, value)
        return _inplace(self, ops.fill_p, value=_checked_scalar(value, self._array.dtype))

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        src = src if isinstance(src, Tensor) else Tensor(src)
        try:
            np.broadcast_shapes(src._array.shape, self._array.shape)
        except ValueError:
            raise RuntimeError(
                f"The size of tensor a ({self.shape[-1] if self.ndim else 1}) must match the "
                f"size of tensor b ({src.shape[-1] if src.ndim else 1}) at non-singleton "
                "dimension"
            ) from None
        if np.broadcast_shapes(src._array.shape, self._array.shape) != self._array.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(np.broadcast_shapes(src._array.shape, self._array.shape))}"
            )
        return _inplace(self, ops.copy_p, src, check_overlap=not _same_data(self, src))

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        _check_overloads("masked_fill_", (mask, value), "Tensor mask, Tensor value",
                         "Tensor mask, Number value", tensors=1)
        _autograd_checks(self, (value,), _state.current())
        mask = _check_mask(mask)
        if isinstance(value, Tensor):
            if value.requires_grad:
                return self.copy_(self.masked_fill(mask, value))
            value = value.item()
        return _inplace(self, ops.masked_fill_p, mask, value=value)

    def index_add_(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        dim = _check_index_add(self, dim, index, source, "index_add_")
        return _inplace(self, ops.index_add_p, index, source, dim=dim, alpha=alpha)

    def index_put_(self, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
        index = _advanced_index(tuple(indices))
        values = _operand_tensor(values, self)
        _inplace(self, ops.index_put_p, values, index=index, accumulate=accumulate)
        if (not accumulate and len(indices) == 1 and isinstance(indices[0], Tensor)
                and indices[0].dtype is _dtype.bool_ and values.numel() == 1
                and _internal_overlap(self._array)):  # torch hands this one to masked_fill_
            warnings.warn(_SPREAD_WRITES[id(ops.masked_fill_p)], UserWarning,
                          stacklevel=_engine.user_stacklevel())
        return self

    def scatter_(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        if reduce is not None:
            raise NotImplementedError("scatter_ with reduce is not supported; use scatter_add_")
        _check_index_tensor(index, "scatter_")
        src = value if src is None else src
        if not isinstance(src, Tensor):
            src = Tensor._from_array(np.array(src, dtype=self._array.dtype))
        return _inplace(self, ops.scatter_p, index, src, dim=_wrap_dim(dim, self.ndim))

    def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        _check_index_tensor(index, "scatter_add_")
        return _inplace(self, ops.scatter_add_p, index, src, dim=_wrap_dim(dim, self.ndim))

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        _check_overloads("lerp_", (end, weight), "Tensor end, Tensor weight",
                         "Tensor end, Number weight", tensors=1)
        _autograd_checks(self, (end, weight), _state.current())
        value = self.lerp(end, weight)
        _check_operand_overlap(self, ops.lerp_p, [t for t in (end, weight)
                                                  if isinstance(t, Tensor)])
        return self.copy_(value)

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        _check_tensor_argument("addcmul_", "tensor1", 1, tensor1)
        _check_tensor_argument("addcmul_", "tensor2", 2, tensor2)
        return _inplace(self, ops.addcmul_p, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        _check_tensor_argument("addcdiv_", "tensor1", 1, tensor1)
        _check_tensor_argument("addcdiv_", "tensor2", 2, tensor2)
        return _inplace(self, ops.addcdiv_p, tensor1, tensor2, value=value)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        for name, bound in (("from", a), ("to", b)):
            if not math.isfinite(bound):
                raise RuntimeError(f"{name} is out of bounds for {_dtype_str(self.dtype)}")
        if a > b:
            raise RuntimeError(
                f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
            )
        return self._fill_random(_rng(generator).uniform(a, b, self._array.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        if not std >= 0.0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
        return self._fill_random(_rng(generator).normal(mean, std, self._array.shape))

    def bernoulli_(self, p: float = 0.5, *, generator: Any = None) -> Tensor:
        if not 0.0 <= p <= 1.0:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
        return self._fill_random(_rng(generator).random(self._array.shape) < p)

    def random_(self, low: int = 0, high: int | None = None, *, generator: Any = None) -> Tensor:
        if high is None:
            low, high = 0, low if low else 2**24
        if low >= high:
            raise RuntimeError(
                f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
            )
        return self._fill_random(_rng(generator).integers(low, high, self._array.shape))

    def exponential_(self, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
        return self._fill_random(_rng(generator).exponential(1.0 / lambd, self._array.shape))

    def _fill_random(self, values: np.ndarray) -> Tensor:
        return _inplace(self, ops.copy_p, Tensor._from_array(np.asarray(values)))

    def _write(self, values: Any) -> None:
        """Overwrite the data and bump the version, recording nothing (optimizers, init)."""
        array = values._array if isinstance(values, Tensor) else values
        self._array[...] = array
        self._bump()

    # -- conversion -----------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        dtype = kwargs.get("dtype")
        copy = kwargs.get("copy", False)
        for arg in args:
            if isinstance(arg, DType) or arg in (float, int, bool):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, str | device) or arg is None:
                _check_device(arg)
            elif isinstance(arg, np.dtype | type):
                dtype = arg
        if "device" in kwargs:
            _check_device(kwargs["device"])
        if dtype is None:
            return self.clone() if copy else self
        dtype = _dtype.to_dtype(dtype)
        if dtype is self.dtype and not copy:
            return self
        if self._is_inference and not _state.current().inference_mode:
            return self._copy_of_inference(dtype.np)
        return _apply(ops.to_copy_p, self, dtype=dtype.np)

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"tapegrad.{self.dtype.legacy_name}"
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(_dtype.float32)

    def double(self) -> Tensor:
        return self.to(_dtype.float64)

    def half(self) -> Tensor:
        return self.to(_dtype.float16)

    def long(self) -> Tensor:
        return self.to(_dtype.int64)

    def int(self) -> Tensor:
        return self.to(_dtype.int32)

    def short(self) -> Tensor:
        return self.to(_dtype.int16)

    def char(self) -> Tensor:
        return self.to(_dtype.int8)

    def byte(self) -> Tensor:
        return self.to(_dtype.uint8)

    def bool(self) -> Tensor:
        return self.to(_dtype.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("tapegrad has no CUDA backend yet (CuPy support is planned)")

    # -- new tensors like this one --------------------------------------------------------
    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: builtins.bool = False
                  ) -> Tensor:
        if isinstance(data, Tensor):
            data = data._array.copy()
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False
                  ) -> Tensor:
        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False
                  ) -> Tensor:
        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None,
                 requires_grad: builtins.bool = False
                  ) -> Tensor:
        return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False
                  ) -> Tensor:
        return empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def zeros_like(self) -> Tensor:
        return zeros_like(self)

    def apply_(self, fn: Callable[[Any], Any]) -> Tensor:
        return self._fill_random(np.vectorize(fn)(self._array).astype(self._array.dtype))


# ----------------------------------------------------------------------------- helper records
def _stale_view_first(tensor: Tensor) -> None:
    """Raise a stale view's error, if it has one, before an op's argument error (torch).

    torch's autograd kernels collect their inputs' edges, regenerating a stale view's node (and
    raising for a view that may not be modified in place), before the op checks its arguments.
    Called only on the error path, so the hot path pays nothing.
    """
    modes = _state.current()  # (inference mode collects no edges: no stale-view error)
    if tensor._base is not None and modes.grad_enabled and not modes.inference_mode:
        try:
            tensor.grad_fn  # noqa: B018 -- regenerates a stale view, or raises its error
        except RuntimeError as stale:
            raise stale from None


def _stale_view_first_method(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a differentiable Tensor method that checks its own arguments before ``_apply``."""

    def checked(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (IndexError, RuntimeError):  # numpy's AxisError is an IndexError
            _stale_view_first(self)
            raise

    checked.__name__ = method.__name__
    checked.__qualname__ = method.__qualname__
    checked.__doc__ = method.__doc__
    checked.__wrapped__ = method  # type: ignore[attr-defined]
    return checked


# Differentiable methods whose argument checks run before ``_apply`` (torch's composite ops, such
# as narrow, flatten, movedim, chunk and unflatten, check their arguments first: not listed).
for _name in (
    "sum", "mean", "prod", "var", "std", "amax", "amin", "max", "min", "logsumexp", "norm",
    "cumsum", "softmax", "log_softmax", "view", "reshape", "permute", "transpose", "swapaxes",
    "swapdims", "expand", "squeeze", "unsqueeze", "select", "unbind", "split", "diagonal",
    "flip", "roll", "repeat", "gather", "scatter", "index_select", "index_add", "sort", "topk",
):
    setattr(Tensor, _name, _stale_view_first_method(getattr(Tensor, _name)))
del _name


class MinMax(tuple[Any, ...]):
    """``(values, indices)`` as returned by ``max(dim)`` / ``min(dim)``."""

    def __new__(cls, values: Tensor, indices: Tensor, name: str) -> MinMax:
        out = super().__new__(cls, (values, indices))
        out._name = name  # type: ignore[attr-defined]
        return out

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]

    def __repr__(self) -> str:
        return (f"tapegrad.return_types.{self._name}(\nvalues={self[0]!r},\n"  # type: ignore
                f"indices={self[1]!r})")


class SortResult(MinMax):
    def __new__(cls, values: Tensor, indices: Tensor) -> SortResult:
        return super().__new__(cls, values, indices, "sort")  # type: ignore[return-value]


class TopkResult(MinMax):
    def __new__(cls, values: Tensor, indices: Tensor) -> TopkResult:
        return super().__new__(cls, values, indices, "topk")  # type: ignore[return-value]


class device:  # noqa: N801 (torch's name)
    """A device description; tapegrad runs on ``"cpu"``."""

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: Any = "cpu", index: int | None = None) -> None:  # noqa: A002
        kind = type
        if isinstance(kind, device):
            index = kind.index
            kind = kind.type
        name = str(kind)
        if ":" in name:
            name, idx = name.split(":")
            index = int(idx)
        self.type = name
        self.index = index

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


# ----------------------------------------------------------------------------- argument helpers
def _column_major(array: np.ndarray) -> bool:
    """torch's test for a column-major matrix: strides (1, rows), in elements."""
    item = array.itemsize
    return array.strides[0] == item and array.strides[1] == item * array.shape[0]


def _operand(value: Any) -> Any:
    """A binary op's other operand: a Tensor, or a Python number kept "weak" for promotion."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool | int | float):
        if type(value) is int and not -(1 << 63) <= value < 1 << 64:  # torch's C conversion
            raise OverflowError("int too big to convert" if value > 0
                                else "can't convert negative int to unsigned")
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | list | tuple):
        return Tensor(value)
    raise TypeError(f"unsupported operand type: '{type(value).__name__}'")


def _operand_tensor(value: Any, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return _scalar_tensor(value, like)


def _scalar_tensor(value: Any, like: Tensor) -> Tensor:
    """A 0-d tensor for a Python scalar, typed as torch would type it next to ``like``."""
    if isinstance(value, Tensor):
        return value
    dtype = _dtype.result_type([like.dtype] if like.ndim else [],
                               [] if like.ndim else [like.dtype], [value])
    return Tensor._from_array(np.array(value).astype(dtype.np))


def _as_tensor_like(value: Any, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return Tensor(value, dtype=like.dtype)


def _as_array(value: Any) -> np.ndarray:
    return value._array if isinstance(value, Tensor) else np.asarray(value)


def _check_not_bool_sub(x: Tensor, other: Any) -> None:
    if x.dtype is _dtype.bool_ or isinstance(other, bool) or (
        isinstance(other, Tensor) and other.dtype is _dtype.bool_
    ):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead."
        )


def _wrap_dim(dim: Any, ndim: int) -> int:
    dim = int(dim)
    bound = builtins.max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-bound}, {bound - 1}], but "
            f"got {dim})"
        )
    return dim % bound if ndim else 0


def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(dim, int | np.integer):
        dims: tuple[int, ...] = (_wrap_dim(dim, ndim),)
    else:
        dims = tuple(_wrap_dim(d, ndim) for d in dim)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dims[0]} appears multiple times in the list of dims")
    if ndim == 0:
        return ()
    return dims


def _dims_or_none(dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None or (isinstance(dim, tuple | list) and len(dim) == 0):
        return None
    dims = _dims(dim, ndim)
    return dims if dims or ndim else None


def _shape_arg(args: Sequence[Any]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], tuple | list | Size):
        args = args[0]
    if len(args) == 1 and isinstance(args[0], Tensor) and args[0].ndim == 1:
        args = args[0].tolist()
    return tuple(int(a) for a in args)


def _infer_shape(shape: tuple[int, ...], numel: int) -> tuple[int, ...]:
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if math.prod(shape) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _correction(unbiased: Any, correction: Any) -> float:
    if isinstance(unbiased, int | tuple | list) and not isinstance(unbiased, bool):
        raise TypeError("var(): argument 'unbiased' must be bool")
    if correction is not None:
        return float(correction)
    return 0.0 if unbiased is False else 1.0


def _float_input(x: Tensor, name: str) -> Tensor:
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{name}(): input dtype should be either floating point or complex. Got "
            f"{_type_title(x.dtype)} instead."
        )
    return x


def _check_nonempty_reduction(x: Tensor, dim: Any, name: str) -> None:
    if x.numel() == 0 and (dim is None or dim == ()):
        error = IndexError if name in ("argmax", "argmin") else RuntimeError
        raise error(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
        )
    if x.numel() == 0 and dim is not None and dim != ():
        for d in (dim,) if isinstance(dim, int) else dim:
            if x.shape[_wrap_dim(d, x.ndim)] == 0:  # argmax names the wrapped dim, amax not
                shown = _wrap_dim(d, x.ndim) if name in ("argmax", "argmin") else d
                raise IndexError(
                    f"{name}(): Expected reduction dim {shown} to have non-zero size.")


def _should_fold(a: Tensor, b: Tensor) -> bool:
    """Whether torch's matmul of an N-d (N >= 3) and a 1-d or 2-d tensor folds the big one's
    batch dims into rows: when the small one needs a gradient (torch would otherwise expand
    it), else when the fold needs no copy (never for a 2-d ``a``: that needs a transpose)."""
    big, small = (a, b) if a.ndim >= b.ndim else (b.mT, a)
    if big.ndim < 3 or small.ndim > 2:
        return False
    if small.requires_grad:
        return True
    if a.ndim == 2:
        return False
    if big.numel() == 0:
        return True
    shape, strides = big.shape, big.stride()
    return builtins.all(strides[i] == strides[i + 1] * shape[i + 1]
                        for i in range(len(shape) - 2))


def _check_matmul_shapes(a: Tensor, b: Tensor, op: str) -> None:
    """The inner sizes must agree, and the dtypes but for matmul (its parts check them)."""
    if op != "matmul":
        _check_same_dtype(a, b, op)
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if inner_a != inner_b:
        rows = a.shape[-2] if a.ndim >= 2 else 1
        cols = b.shape[-1] if b.ndim >= 2 else 1
        if a.ndim == 2 and b.ndim == 1:
            raise RuntimeError(
                f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), vec "
                f"({b.shape[0]})"
            )
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{inner_a} and {inner_b}x{cols})"
        )


def _check_same_dtype(a: Tensor, b: Tensor, op: str) -> None:
    """Each product names a dtype mismatch its own way."""
    if a.dtype is b.dtype:
        return
    x, y = _type_title(a.dtype), _type_title(b.dtype)
    raise RuntimeError({
        "mm": f"expected m1 and m2 to have the same dtype, but got: {_dtype_str(a.dtype)} != "
              f"{_dtype_str(b.dtype)}",
        "bmm": f"expected scalar type {x} but found {y}",
        "mv": f"addmv input tensors must have the same dtype, but got {y}, {x}, and {y}",
        "dot": f"dot : expected both vectors to have same dtype, but found {x} and {y}"}[op])


def _dtype_str(dtype: DType) -> str:
    return {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
            "int32": "int", "int16": "short int", "int8": "signed char",
            "uint8": "unsigned char", "bool": "bool"}[dtype.name]


def _py_type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _check_overloads(op: str, args: Sequence[Any], *signatures: str, tensors: int = 0) -> None:
    """torch's argument parser for ``(Tensor ...)`` / ``(Number ...)`` overloads: a TypeError
    before any other check. The first ``tensors`` arguments must be tensors."""
    if builtins.all(isinstance(a, Tensor) for a in args[:tensors]) and builtins.all(
            isinstance(a, Tensor | numbers.Number) for a in args[tensors:]):
        return
    got = ", ".join(_py_type_name(a) for a in args)
    raise TypeError(f"{op}() received an invalid combination of arguments - got ({got}), but "
                    "expected one of:\n" + "".join(f" * ({s})\n" for s in signatures))


def _inplace_operand(op: str, value: Any) -> Any:
    """``other`` of add_/sub_/mul_/div_: a Tensor or a number, never a sequence (torch)."""
    if not isinstance(value, Tensor | numbers.Number):
        raise TypeError(f"{op}(): argument 'other' (position 1) must be Tensor, not "
                        f"{_py_type_name(value)}")
    return _operand(value)


def _check_tensor_argument(op: str, name: str, position: int, value: Any) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
            f"{type(value).__name__}"
        )


def _check_mask(mask: Any) -> Tensor:
    if not isinstance(mask, Tensor):
        mask = Tensor(mask)
    if mask.dtype is not _dtype.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{_dtype_str(mask.dtype)}"
        )
    return mask


def _expanded_shape(shape: tuple[int, ...], target: list[int]) -> tuple[int, ...]:
    """``target`` with -1 resolved; torch's error when ``shape`` cannot expand to it."""
    target = list(target)
    lead = len(target) - len(shape)
    for i, size in enumerate(shape):
        want = target[lead + i]
        if want == -1:
            target[lead + i] = size
        elif size != want and size != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size "
                f"({size}) at non-singleton dimension {lead + i}.  Target sizes: "
                f"{list(target)}.  Tensor sizes: {list(shape)}"
            )
    return tuple(target)


def _check_index_tensor(index: Any, name: str) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype is not _dtype.int64 and index.dtype is not _dtype.int32:
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


def _check_gather_index(x: Tensor, index: Tensor, dim: int, name: str) -> None:
    """torch's checks for gather/scatter indices: sizes no larger than self, in bounds."""
    if index.ndim != x.ndim and index.numel() and x.ndim:
        raise RuntimeError(
            "Index tensor must have the same number of dimensions as input tensor"
        )
    for d in range(min(index.ndim, x.ndim)):
        if d != dim and index.shape[d] > x.shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                f"no larger than self {list(x.shape)} apart from dimension {dim}"
            )
    ops.check_in_bounds(index._array, dim, x.shape[dim] if x.ndim else 1)


def _check_index_add(x: Tensor, dim: int, index: Tensor, source: Any, op: str) -> int:
    """index_add's checks (a 0-d ``x`` works as its (1,) view); the wrapped dim."""
    _check_index_tensor(index, op)
    dim = _wrap_dim(dim, x.ndim)
    if x.ndim <= 1 and ops.first_out_of_range(index._array, x.shape[dim] if x.ndim else 1) \
            is not None:  # torch's 1-d kernel
        raise IndexError("index out of range in self")
    ops.check_in_bounds(index._array, dim, x.shape[dim] if x.ndim else 1)
    if isinstance(source, Tensor) and source.ndim != x.ndim and x.ndim <= 1:
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(x.shape)} source.shape "
                           f"= {list(source.shape)}")
    return dim


def _check_select_range(x: Tensor, dim: int, index: Tensor) -> None:
    """index_select's bounds, in torch's kernels' words: RuntimeError from the kernels for
    dim 1 and for an empty self, IndexError from the others."""
    array = index._array
    size = x.shape[dim] if x.ndim else 1
    if x.ndim > 1 and not array.size:
        return
    if x.ndim > 1 and not x.numel() and not size:
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    bad = ops.first_out_of_range(array, size)
    if bad is None:
        return
    if x.ndim <= 1 or (dim != 1 and x.numel()):  # dim 1 has a kernel of its own
        raise IndexError("index out of range in self")
    raise RuntimeError(f"INDICES element is out of DATA bounds, id={bad} axis_dim={size}")


def _is_advanced(item: Any) -> bool:
    if isinstance(item, Tensor):
        return not (item.ndim == 0 and not item.dtype.is_floating_point
                    and item.dtype is not _dtype.bool_)
    return isinstance(item, list | np.ndarray | bool | np.bool_)


def _advanced_index(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """An indexing key for the index primitives: lists become arrays; tensors stay, to be
    saved (and version-checked) as torch saves them (``ops.np_index`` gives NumPy's form)."""
    out: list[Any] = []
    for item in key:
        if isinstance(item, Tensor):
            if item.dtype.is_floating_point:
                raise IndexError(
                    "tensors used as indices must be long, int, byte or bool tensors"
                )
            out.append(item)
        elif isinstance(item, list):
            array = np.asarray(item)
            if array.dtype.kind == "f":
                raise IndexError(
                    "tensors used as indices must be long, int, byte or bool tensors"
                )
            out.append(array)
        else:
            out.append(item)
    return tuple(out)


def _check_masks(x: Tensor, key: tuple[Any, ...]) -> None:
    """torch's error for a boolean mask whose shape does not match the dims it indexes."""
    consumed = builtins.sum(
        (item.ndim if _is_bool_index(item) else 1) for item in key
        if item is not None and item is not Ellipsis
    )
    dim = 0
    for item in key:
        if item is None:
            continue
        if item is Ellipsis:
            dim += x.ndim - consumed
            continue
        if _is_bool_index(item):
            shape = tuple(item.shape)
            for offset, size in enumerate(shape):
                if dim + offset >= x.ndim or x.shape[dim + offset] != size:
                    target = list(x.shape)
                    raise IndexError(
                        f"The shape of the mask {list(shape)} at index {offset} does not match "
                        f"the shape of the indexed tensor {target} at index {dim + offset}"
                    )
            dim += len(shape)
        else:
            dim += 1


def _strip_leading_ones(shape: Sequence[int]) -> list[int]:
    sizes = list(shape)
    while sizes and sizes[0] == 1:
        del sizes[0]
    return sizes


def _selects_first(x: Tensor, key: tuple[Any, ...], views: bool = False
                   ) -> tuple[Tensor, tuple[Any, ...]]:
    """torch applies a key's integers as selects (views) before its index tensors, where NumPy
    would broadcast them with the index arrays: that view, and what is left of the key. With
    ``views`` (setitem, which then writes the view) its other basic items too, as torch, but
    for whole slices."""
    mask_dims = [_index_dims(k) for k in key]
    consumed = builtins.sum(n for n in mask_dims if n is not None)
    basic: list[Any] = []
    rest: list[Any] = []
    dim, split = 0, False
    for item, used in zip(key, mask_dims, strict=True):
        if item is Ellipsis:
            used = x.ndim - consumed
            basic.append(item)
            rest.append(item)
        elif _is_advanced(item):
            basic += [slice(None)] * (used or 1)
            rest.append(item)
        else:
            basic.append(item)
            if item is None or isinstance(item, slice):
                rest.append(slice(None))
                split |= views and not _whole_slice(item, x.shape[dim] if dim < x.ndim else 0)
            else:  # an integer
                split = True
        dim += used or 0
    if not split or builtins.any(isinstance(k, bool | np.bool_) for k in key):
        return x, key
    return _getitem(x, tuple(basic)), tuple(rest)


def _index_dims(item: Any) -> int | None:
    """How many of x's dims an index item consumes (None for None and Ellipsis)."""
    if item is None or item is Ellipsis:
        return None
    if isinstance(item, Tensor | np.ndarray | list) and _is_advanced(item):
        array = np.asarray(item._array if isinstance(item, Tensor) else item)
        return array.ndim if array.dtype == np.bool_ else 1
    return 1


def _is_bool_index(item: Any) -> bool:
    if isinstance(item, Tensor):
        return item.dtype is _dtype.bool_ and item.ndim > 0
    return isinstance(item, np.ndarray) and item.dtype == np.bool_ and item.ndim > 0


def _index_records_inference(x: Tensor, key: tuple[Any, ...]) -> bool:
    """Whether ``x[key]`` of an inference ``x`` records anyway: index tensors are operands
    (B62), unless torch's basic items (applied first, as views) drop requires_grad. Refuses
    the inference index tensors a recording index would save (B66)."""
    modes = _state.current()
    if not (modes.grad_enabled and not modes.inference_mode and x.requires_grad):
        return False
    advanced = [k for k in key if _is_advanced(k)]
    if x._is_inference:
        dims = [k.ndim if _is_bool_index(k) else 0 if k is None or k is Ellipsis else 1
                for k in key]
        dim = 0
        for item, used in zip(key, dims, strict=True):
            if item is Ellipsis:
                used = x.ndim - builtins.sum(dims)
            elif isinstance(item, bool | np.bool_) or (
                    not _is_advanced(item) and not _whole_slice(item, x.shape[dim])):
                return False  # a view (torch skips only whole slices): no grad
            dim += used
        if builtins.all(isinstance(k, Tensor) and k._is_inference for k in advanced):
            return False
    for item in advanced:
        if isinstance(item, Tensor) and item._is_inference:
            SavedTensor(item)  # raises: IndexBackward0 saves its indices
    return x._is_inference


def _checked_index(x: Tensor, key: tuple[Any, ...]) -> tuple[Any, ...]:
    """``key`` for the index primitives (``_advanced_index``), its bounds and shapes checked
    as torch checks them: torch checks no bounds where the result is empty (then the
    out-of-bounds indices are replaced by zeros, in NumPy's form)."""
    index = _advanced_index(key)
    try:
        x._array[ops.np_index(index)]
    except IndexError as error:
        if "out of bounds" in str(error):
            safe = tuple(np.zeros_like(i) if isinstance(i, np.ndarray) and i.dtype != np.bool_
                         else i for i in ops.np_index(index))
            try:
                if x._array[safe].size == 0:
                    return safe
            except IndexError:
                pass
        raise _index_error(error, key, x.shape) from None
    return index


def _index_error(error: IndexError, key: tuple[Any, ...], shape: tuple[int, ...]) -> IndexError:
    """torch's words for NumPy's advanced-indexing error. An index out of bounds names the
    index tensor's place among the index tensors, and the first element torch checks: it
    checks element by element, each against every index tensor."""
    message = str(error)
    if message.startswith("index ") and "out of bounds" in message:
        used = [_index_dims(k) for k in key]
        dim, sizes, arrays = 0, [], []
        for item, n in zip(key, used, strict=True):
            n = len(shape) - builtins.sum(u or 0 for u in used) if item is Ellipsis else n or 0
            if _is_advanced(item) and n == 1:
                sizes.append(shape[dim])
                arrays.append(np.asarray(item._array if isinstance(item, Tensor) else item))
            dim += n
        firsts = []  # (first bad element, place) of each index tensor with one
        for place, (a, size) in enumerate(zip(np.broadcast_arrays(*arrays), sizes, strict=True)):
            bad = ((a < -size) | (a >= size)).reshape(-1)
            if bad.any():
                firsts.append((int(np.argmax(bad)), place, a.reshape(-1)))
        if firsts:
            element, place, flat = builtins.min(firsts, key=lambda f: f[:2])
            message = (f"index {flat[element]} is out of bounds for axis {place} with size "
                       f"{sizes[place]}")
    if message.startswith("shape mismatch: indexing arrays"):
        shapes = re.findall(r"\(([\d, ]*)\)", message)
        message = "shape mismatch: indexing tensors could not be broadcast together with " \
            "shapes " + ", ".join("[" + ", ".join(s.replace(",", " ").split()) + "]"
                                  for s in shapes)
    return IndexError(message.replace("axis", "dimension"))


def _getitem(x: Tensor, key: Any) -> Tensor:
    bare_slice = isinstance(key, slice)  # torch always slices then; full slices in a tuple not
    if not isinstance(key, tuple):
        if x.ndim == 0 and isinstance(key, slice):
            if key.step is not None and key.step <= 0:
                raise ValueError("step must be greater than zero")
            modes = _state.current()
            if modes.grad_enabled and not modes.inference_mode and x.requires_grad:
                x.grad_fn  # noqa: B018 (torch collects x's edge, so a stale view raises first)
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        if x.ndim == 0 and isinstance(key, int | np.integer) and not isinstance(key, bool):
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        key = (key,)
    if any(_is_advanced(item) for item in key):
        _check_masks(x, key)
        x, key = _selects_first(x, key, views=True)
        index = _checked_index(x, key)  # before recording anything
        forced = _index_records_inference(x, key)
        out = _apply(ops.index_p, x, index=index)
        if forced:
            _record(ops.index_p, (x,), (out,), {"index": index})
        return out
    key = tuple(int(k) if isinstance(k, Tensor) else k for k in key)
    consumed = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if consumed > x.ndim:
        raise IndexError(
            f"too many indices for tensor of dimension {x.ndim}"
        )
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    out, dim, applied = x, 0, False
    for position, item in enumerate(key):  # torch's errors name the item's position
        if item is None:
            out = out.unsqueeze(dim)
            dim += 1
            applied = True
        elif item is Ellipsis:
            dim += x.ndim - consumed
        elif isinstance(item, slice):
            size = out.shape[dim]
            start, stop, step = item.indices(size)
            if item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            stop = builtins.max(stop, start)
            if not _whole_slice(item, size):  # torch compares the bounds unclamped
                out = _apply(ops.slice_p, out, dim=dim, start=start, stop=stop, step=step)
                applied = True
            dim += 1
        elif isinstance(item, int | np.integer):
            size = out.shape[dim]
            if not -size <= item < size:
                raise IndexError(
                    f"index {item} is out of bounds for dimension {position} with size {size}"
                )
            out = _apply(ops.select_p, out, dim=dim, index=int(item) % size)
            applied = True
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                "are valid indices (got " + type(item).__name__ + ")"
            )
    if not applied:
        if bare_slice:
            return _apply(ops.slice_p, x, dim=0, start=0, stop=x.shape[0], step=1)
        return _apply(ops.alias_p, x)
    return out


def _setitem(x: Tensor, key: Any, value: Any) -> None:
    single = key
    if not isinstance(key, tuple):
        key = (key,)
    if any(_is_advanced(item) for item in key):
        _check_masks(x, key)
        x, key = _selects_first(x, key, views=True)
        values = value if isinstance(value, Tensor) else Tensor._from_array(
            _checked_scalar(value, x._array.dtype))
        try:
            _checked_index(x, key)
        except IndexError:  # torch's autograd checks of the write come first, and its warning
            _autograd_checks(x, [values], _state.current())  # of a write into an expanded x
            if _internal_overlap(x._array):
                warnings.warn(_SPREAD_WRITES[id(ops.index_put_p)], UserWarning,
                              stacklevel=_engine.user_stacklevel())
            raise
        if values.ndim and values.shape[0] == 1:  # torch views the value without them
            values = values.view(_strip_leading_ones(values.shape))
        x.index_put_(key, values)
        return
    # a bare slice or int on a 0-d tensor has its own errors
    view = x if _whole(x, key) else _getitem(x, single)
    if not isinstance(value, Tensor):  # torch makes a 0-d tensor of a number
        value = Tensor._from_array(_checked_scalar(value, view._array.dtype))
    original = value
    if value.shape != view.shape:
        if value.ndim:  # torch's copy_to views the value without its leading 1-dims
            value = value.view(_strip_leading_ones(value.shape))
        value = value.expand(view.shape)
    check_overlap = _setitem_check(view, original, value)
    if original.ndim == 0 and view.ndim:  # torch's copy_to fills with a 0-d value
        _inplace(view, ops.fill_tensor_p, original, check_overlap=False)
    else:
        _inplace(view, ops.copy_p, value, check_overlap=check_overlap)


_C_TYPES = {"int64": "int64_t", "int32": "int", "int16": "int16_t", "int8": "int8_t",
            "uint8": "uint8_t", "float64": "double", "float32": "float", "float16": "c10::Half"}


def _checked_scalar(value: Any, dtype: np.dtype) -> np.ndarray:
    """A Python number as a 0-d array of ``dtype``; torch refuses one that overflows it."""
    if dtype.kind in "iuf" and not isinstance(value, bool | np.bool_):
        number = complex(value).real if isinstance(value, complex) else value
        if isinstance(number, int) and not -2**63 <= number < 2**63:
            raise OverflowError("int too big to convert")
        info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
        high = float(info.max)
        low = float(info.min) if dtype.kind != "u" else -high if isinstance(number, int) else 0
        # (torch wraps an int such as -1 into uint8, and refuses a negative float)
        finite = math.isfinite(number)
        if (not finite and dtype.kind != "f") or (finite and not low <= number <= high):
            raise RuntimeError(
                f"value cannot be converted to type {_C_TYPES[dtype.name]} without overflow")
    return np.array(value).astype(dtype)


_T_WARNED: set[str] = set()
_T_ZERO_D = "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
_T_OTHER = ("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
            "deprecated and it will throw an error in a future release. Consider `x.mT` to "
            "transpose batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to "
            "reverse the dimensions of a tensor.")


def _expand_type(t: Tensor) -> str:
    """How torch names a tensor's type in expand's error (legacy names; bool has none)."""
    return "CPUBoolType" if t.dtype is _dtype.bool_ else "torch." + t.type().rsplit(".", 1)[-1]


def _same_data(a: Tensor, b: Tensor) -> bool:
    """torch's copy_ returns early, before any overlap check, for the very same elements."""
    x, y = a._array, b._array
    return (x.__array_interface__["data"][0] == y.__array_interface__["data"][0]
            and x.shape == y.shape and x.strides == y.strides and x.dtype == y.dtype)


def _whole(x: Tensor, key: tuple[Any, ...]) -> bool:
    """Whether the key is only ``...`` and full slices: torch's setitem then writes ``x``
    itself, not a view of it (no CopySlices)."""
    if not x.ndim:
        return len(key) == 0 or key == (Ellipsis,)
    if not builtins.all(item is Ellipsis or isinstance(item, slice) for item in key):
        return False
    slices = [item for item in key if item is not Ellipsis]
    if len(slices) > x.ndim or len(key) - len(slices) > 1:
        return False
    before = next((i for i, item in enumerate(key) if item is Ellipsis), len(key))
    dims = [*range(before), *range(x.ndim - (len(slices) - before), x.ndim)]
    return builtins.all(_whole_slice(item, x.shape[dim])
                        for item, dim in zip(slices, dims, strict=True))


def _whole_slice(item: Any, size: int) -> bool:
    """Whether torch skips a slice as a no-op: it compares the bounds before wrapping negative
    ones, so [-n:] makes a view."""
    try:
        return isinstance(item, slice) and (
            (item.start is None or operator.index(item.start) == 0)
            and (item.stop is None or operator.index(item.stop) >= size)
            and (item.step is None or operator.index(item.step) == 1))
    except TypeError:
        return False


def _setitem_check(view: Tensor, original: Tensor, value: Tensor) -> bool:
    """torch's copy_to: a 0-d value goes to fill_ (no overlap check); another is stripped of
    its leading 1-dims and expanded, then copy_ refuses a partial overlap comparing every
    stride, and skips its checks for the very same elements. Whether copy_ still checks."""
    fill = original.ndim == 0 and view.ndim > 0
    strides = value.stride()  # torch's view of the stripped value, expanded
    x, y = view._array, value._array
    if not fill and (x.__array_interface__["data"][0] == y.__array_interface__["data"][0]
                     and x.dtype == y.dtype and strides == view.stride()):
        return False
    modes = _state.current()
    _check_writable(view, _autograd_checks(view, (value,), modes), modes,
                    _internal_overlap(x), autograd=False)
    if fill:  # fill_ copies a value that aliases the target first
        return False
    mine = _dense_extent(x) if x.size else None
    theirs = _dense_extent(y) if mine else None
    if mine and theirs and theirs[0] < mine[1] and mine[0] < theirs[1] and (
            mine != theirs or strides != view.stride()):
        raise RuntimeError(_PARTIAL_OVERLAP)
    return True


def _indirect_view_error(view: Tensor) -> str:
    """torch's error for a stale view whose creation forbids regenerating its node."""
    meta = view._creation_meta
    node = view._grad_fn
    modified = "its base or another view of its base has been modified inplace"
    if meta in (INFERENCE_MODE, NO_GRAD_MODE) or node is None:  # no node: made in no_grad
        prefix = "A view was created in" if node is None else (
            f"Output {view._output_nr} of {_short_name(node.name())} is a view of a view which "
            "was created in")
        text = (f"{prefix} inference mode and {modified} in normal mode."
                if meta == INFERENCE_MODE else
                f"{prefix} no_grad mode and {modified} with grad mode enabled.")
    else:
        text = f"Output {view._output_nr} of {_short_name(node.name())} is a view and {modified}."
    if meta == MULTI_OUTPUT_NODE:
        return text + _MULTI_OUTPUT_ADVICE
    if meta == IN_CUSTOM_FUNCTION:
        return text + _CUSTOM_FUNCTION_ADVICE
    if meta == INFERENCE_MODE:
        return text + _NO_GRAD_VIEW_ADVICE.replace("no_grad block", "inference_mode block")
    return text + _NO_GRAD_VIEW_ADVICE


def _check_device(value: Any) -> None:
    if value is None:
        return
    if device(value).type != "cpu":
        raise RuntimeError(
            f"tapegrad has no '{device(value).type}' backend yet; only 'cpu' is supported"
        )


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """Build a fresh array for ``tensor(data)`` with torch's dtype inference."""
    target = None if dtype is None else _dtype.to_dtype(dtype)
    if isinstance(data, Tensor):
        array = data._array.copy()
    elif isinstance(data, np.ndarray | np.generic):  # NumPy data keeps its dtype (torch)
        _dtype.from_numpy_dtype(data.dtype)
        array = np.array(data, copy=True)
    else:
        array = np.array(_unwrap_nested(data))
        if array.dtype == object:
            raise TypeError("tensor(): could not build a tensor from ragged or mixed data")
        if target is None:
            if array.dtype.kind == "f":
                array = array.astype(_dtype.get_default_dtype().np)
            elif array.dtype.kind in "iu":
                array = array.astype(np.int64)
            elif array.dtype.kind == "b":
                pass
            elif array.size == 0:
                array = array.astype(_dtype.get_default_dtype().np)
            else:
                raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if target is not None and array.dtype != target.np:
        array = array.astype(target.np)
    return array


def _unwrap_nested(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data._array
    if isinstance(data, list | tuple):
        return [_unwrap_nested(d) for d in data]
    return data


def _rebuild(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def _rng(generator: Any) -> np.random.Generator:
    if generator is None:
        return _state.default_generator.rng
    return generator._rng


# ----------------------------------------------------------------------------- printing
def _format_tensor(t: Tensor) -> str:
    prefix = "tensor("
    array = t._array
    summarize = array.size > 1000
    body = _tensor_body(array, len(prefix), summarize)
    suffixes = []
    dtype = t.dtype
    if array.size == 0 and array.shape != (0,):
        suffixes.append(f"size={tuple(array.shape)}")
    if dtype not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool_) or (
        array.size == 0 and dtype is not _dtype.get_default_dtype()
    ):
        suffixes.append(f"dtype={dtype!r}")
    grad_fn = None
    try:
        grad_fn = t.grad_fn
        if grad_fn is not None:
            suffixes.append(f"grad_fn=<{grad_fn.name()}>")
        elif t.requires_grad:
            suffixes.append("requires_grad=True")
    except RuntimeError:
        suffixes.append("grad_fn=<Invalid>")
    level = _state.forward_levels.current
    if level is not None and _state.current().fw_grad_enabled:
        tangent = t._live_tangent(level)
        if tangent is not None:
            suffixes.append(f"tangent={tangent!r}")
    text = prefix + body
    for suffix in suffixes:
        text += ", " + suffix
    return text + ")"


def _tensor_body(array: np.ndarray, indent: int, summarize: bool) -> str:
    if array.size == 0:
        return "[]"
    values = _summarized(array) if summarize else array
    formatter = _Formatter(values)
    if array.ndim == 0:
        return formatter.format(array.item())
    return _nested_str(array, indent, summarize, formatter)


def _summarized(array: np.ndarray, edge: int = 3) -> np.ndarray:
    if array.ndim == 0:
        return array
    if array.shape[0] > 2 * edge:
        parts = [array[:edge], array[-edge:]]
    else:
        parts = [array]
    pieces = [np.stack([_summarized(p[i], edge) for i in range(p.shape[0])])
              if p.ndim > 1 and p.shape[0] else p for p in parts]
    flat = [p.reshape(-1) for p in pieces]
    return np.concatenate(flat) if flat else array.reshape(-1)


def _nested_str(array: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    edge = 3
    if array.ndim == 1:
        items = [formatter.format(v) for v in array.tolist()]
        if summarize and len(items) > 2 * edge:
            items = [*items[:edge], " ...", *items[-edge:]]
        per_line = builtins.max(1, (80 - indent) // (formatter.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    count = array.shape[0]
    if summarize and count > 2 * edge:
        rows = [_nested_str(array[i], indent + 1, summarize, formatter) for i in range(edge)]
        rows += ["..."]
        rows += [_nested_str(array[i], indent + 1, summarize, formatter)
                 for i in range(count - edge, count)]
    else:
        rows = [_nested_str(array[i], indent + 1, summarize, formatter) for i in range(count)]
    separator = "," + "\n" * (array.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(rows) + "]"


class _Formatter:
    """torch's element formatter: shared width, integer/fixed/scientific float modes."""

    def __init__(self, values: np.ndarray) -> None:
        self.kind = values.dtype.kind
        self.mode = "int"
        flat = values.reshape(-1)
        if self.kind == "f":
            finite = flat[np.isfinite(flat)].astype(np.float64)
            nonzero = np.abs(finite[finite != 0])
            if nonzero.size == 0:
                self.mode = "int_float"
            else:
                big, small = nonzero.max(), nonzero.min()
                integral = bool(np.all(np.ceil(finite) == finite))
                if integral:
                    self.mode = "sci" if big / small > 1000 or big > 1e8 else "int_float"
                else:
                    self.mode = "sci" if big / small > 1000 or big > 1e8 or small < 1e-4 \
                        else "fixed"
        if self.kind == "f":  # torch sizes columns by the nonzero finite values only
            finite = flat[np.isfinite(flat) & (flat != 0)]
            values = finite.tolist()
        else:
            values = flat.tolist()  # type: ignore[assignment]
        self.width = builtins.max((len(self._raw(v)) for v in values), default=1)

    def _raw(self, value: Any) -> str:
        if self.kind == "b":
            return str(bool(value))
        if self.kind != "f":
            return str(value)
        if math.isnan(value) or math.isinf(value):
            return str(value).replace("inf", "inf")
        if self.mode == "int_float":
            return f"{value:.0f}."
        if self.mode == "sci":
            return f"{value:.4e}"
        return f"{value:.4f}"

    def format(self, value: Any) -> str:
        text = self._raw(value)
        return " " * (self.width - len(text)) + text


# ----------------------------------------------------------------------------- factories
def _factory(array: np.ndarray, requires_grad: bool) -> Tensor:
    out = Tensor._from_array(array)
    if requires_grad:
        if not out.dtype.is_floating_point:
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        out._requires_grad = True  # factories honour requires_grad in every mode (B76, B57)
    return out


def _factory_dtype(dtype: Any) -> np.dtype[Any]:
    return (_dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)).np


def tensor(data: Any, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, arrays or tensors).

    Example:
        >>> import tapegrad
        >>> tapegrad.tensor([[1, 2], [3, 4]])
        tensor([[1, 2],
                [3, 4]])
        >>> tapegrad.tensor([1.0, 2.0], requires_grad=True)
        tensor([1., 2.], requires_grad=True)
    """
    _check_device(device)
    return _factory(_to_array(data, dtype), requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with a tensor or NumPy array when the dtype fits."""
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or _dtype.to_dtype(dtype).np == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (writes through both ways).

    Example:
        >>> import numpy as np, tapegrad
        >>> a = np.zeros(2, dtype=np.float32)
        >>> t = tapegrad.from_numpy(a)
        >>> t[0] = 5
        >>> a
        array([5., 0.], dtype=float32)
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtype.from_numpy_dtype(array.dtype)
    return Tensor._from_array(array)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
          ) -> Tensor:
    """A tensor of zeros. Example: ``tapegrad.zeros(2, 3)``.

    Example:
        >>> import tapegrad
        >>> tapegrad.zeros(2)
        tensor([0., 0.])
    """
    _check_device(device)
    return _factory(np.zeros(_shape_arg(size), dtype=_factory_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones.

    Example:
        >>> import tapegrad
        >>> tapegrad.ones(2, dtype=tapegrad.int64)
        tensor([1, 1])
    """
    _check_device(device)
    return _factory(np.ones(_shape_arg(size), dtype=_factory_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as in torch).

    Example:
        >>> import tapegrad
        >>> tapegrad.full((2,), 7)
        tensor([7, 7])
    """
    _check_device(device)
    if dtype is None:
        dtype = _dtype.scalar_dtype(fill_value)
    dtype = _factory_dtype(dtype)
    return _factory(np.full(_shape_arg((size,)), _checked_scalar(fill_value, np.dtype(dtype)),
                            dtype=dtype), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (tapegrad fills it with zeros).

    Example:
        >>> import tapegrad
        >>> tapegrad.empty(2, 3).shape
        tapegrad.Size([2, 3])
    """
    _check_device(device)
    return _factory(np.zeros(_shape_arg(size), dtype=_factory_dtype(dtype)), requires_grad)


def _like_dtype(x: Tensor, dtype: Any) -> Any:
    return x.dtype if dtype is None else dtype


def zeros_like(x: Tensor, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Zeros with the shape (and dtype) of ``x``.

    Example:
        >>> import tapegrad
        >>> tapegrad.zeros_like(tapegrad.ones(2))
        tensor([0., 0.])
    """
    return zeros(x.shape, dtype=_like_dtype(x, dtype), device=device, requires_grad=requires_grad)


def ones_like(x: Tensor, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Ones with the shape (and dtype) of ``x``.

    Example:
        >>> import tapegrad
        >>> tapegrad.ones_like(tapegrad.zeros(2))
        tensor([1., 1.])
    """
    return ones(x.shape, dtype=_like_dtype(x, dtype), device=device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """``fill_value`` with the shape (and dtype) of ``x``.

    Example:
        >>> import tapegrad
        >>> tapegrad.full_like(tapegrad.zeros(2), 3.5)
        tensor([3.5000, 3.5000])
    """
    return full(x.shape, fill_value, dtype=_like_dtype(x, dtype), device=device,
                requires_grad=requires_grad)


def empty_like(x: Tensor, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """An uninitialised tensor shaped like ``x``.

    Example:
        >>> import tapegrad
        >>> tapegrad.empty_like(tapegrad.ones(3)).shape
        tapegrad.Size([3])
    """
    return empty(x.shape, dtype=_like_dtype(x, dtype), device=device, requires_grad=requires_grad)


class Generator:
    """A random-number generator; pass it as ``generator=`` to random functions.

    Example:
        >>> import tapegrad
        >>> g = tapegrad.Generator().manual_seed(0)
        >>> a = tapegrad.rand(2, generator=g)
        >>> b = tapegrad.rand(2, generator=tapegrad.Generator().manual_seed(0))
        >>> bool((a == b).all())
        True
    """

    def __init__(self, device: Any = "cpu") -> None:
        self._seed = 67280421310721
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        self.manual_seed(seed)
        return seed

    def get_state(self) -> Tensor:
        state = self._rng.bit_generator.state
        text = repr(state).encode()
        return Tensor._from_array(np.frombuffer(text, dtype=np.uint8).copy())

    def set_state(self, state: Tensor) -> Generator:
        import ast

        self._rng.bit_generator.state = ast.literal_eval(bytes(state._array).decode())
        return self


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (affects rand, randn, randint, normal, dropout, init).

    Example:
        >>> import tapegrad
        >>> _ = tapegrad.manual_seed(0)
        >>> a = tapegrad.rand(3)
        >>> _ = tapegrad.manual_seed(0)
        >>> bool((a == tapegrad.rand(3)).all())
        True
    """
    generator = Generator().manual_seed(seed)
    _state.default_generator.rng = generator._rng
    return generator


def seed() -> int:
    """Seed the default generator non-deterministically; return the seed."""
    value = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    manual_seed(value)
    return value


def initial_seed() -> int:
    return 0


def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1).

    Example:
        >>> import tapegrad
        >>> x = tapegrad.rand(2, 3)
        >>> x.shape, bool(((x >= 0) & (x < 1)).all())
        (tapegrad.Size([2, 3]), True)
    """
    _check_device(device)
    values = _rng(generator).random(_shape_arg(size))
    return _factory(values.astype(_factory_dtype(dtype)), requires_grad)


def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples.

    Example:
        >>> import tapegrad
        >>> tapegrad.randn(4, requires_grad=True).requires_grad
        True
    """
    _check_device(device)
    values = _rng(generator).standard_normal(_shape_arg(size))
    return _factory(values.astype(_factory_dtype(dtype)), requires_grad)


def randint(low: int, high: Any = None, size: Any = None, *, generator: Any = None,
            dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Random integers in [low, high) (``randint(high, size)`` also works, as in torch).

    Example:
        >>> import tapegrad
        >>> x = tapegrad.randint(0, 10, (5,))
        >>> x.dtype, bool(((x >= 0) & (x < 10)).all())
        (tapegrad.int64, True)
    """
    _check_device(device)
    if size is None:
        low, high, size = 0, low, high
    values = _rng(generator).integers(low, high, _shape_arg((size,)))
    target = _dtype.int64 if dtype is None else _dtype.to_dtype(dtype)
    return _factory(values.astype(target.np), requires_grad)


def randperm(n: int, *, generator: Any = None, dtype: Any = None) -> Tensor:
    """A random permutation of ``0..n-1``.

    Example:
        >>> import tapegrad
        >>> sorted(tapegrad.randperm(4).tolist())
        [0, 1, 2, 3]
    """
    target = _dtype.int64 if dtype is None else _dtype.to_dtype(dtype)
    return _factory(_rng(generator).permutation(n).astype(target.np), False)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None,
           dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with the given mean and std (tensors broadcast, as in torch).

    Example:
        >>> import tapegrad
        >>> tapegrad.normal(0.0, 1.0, size=(3,)).shape
        tapegrad.Size([3])
    """
    rng = _rng(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m, s = _as_array(mean), _as_array(std)
        shape = np.broadcast_shapes(m.shape, s.shape)
        like = mean if isinstance(mean, Tensor) else std
        values = rng.normal(m, s, shape).astype(like._array.dtype)
        return _factory(values, requires_grad)
    if size is None:
        raise TypeError("normal() missing required argument 'size'")
    values = rng.normal(mean, std, _shape_arg((size,)))
    return _factory(values.astype(_factory_dtype(dtype)), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``.

    Example:
        >>> import tapegrad
        >>> tapegrad.arange(3)
        tensor([0, 1, 2])
        >>> tapegrad.arange(0, 1, 0.25)
        tensor([0.0000, 0.2500, 0.5000, 0.7500])
    """
    _check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    args = (start, end, step)
    if dtype is None:
        is_float = any(isinstance(a, float) or (isinstance(a, Tensor) and a.is_floating_point())
                       for a in args)
        dtype = _dtype.get_default_dtype() if is_float else _dtype.int64
    args = tuple(a.item() if isinstance(a, Tensor) else a for a in args)
    if not all(math.isfinite(a) for a in args):
        raise RuntimeError(f"unsupported range: {args[0]} -> {args[1]}")
    count = builtins.max(math.ceil((args[1] - args[0]) / args[2]), 0)
    values = args[0] + np.arange(count, dtype=np.float64) * args[2]
    target = _dtype.to_dtype(dtype)
    if not target.is_floating_point:
        values = np.arange(args[0], args[1], args[2])
    return _factory(values.astype(target.np), requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    Example:
        >>> import tapegrad
        >>> tapegrad.linspace(0, 1, 3)
        tensor([0.0000, 0.5000, 1.0000])
    """
    _check_device(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    values = np.linspace(float(start), float(end), steps)
    return _factory(values.astype(_factory_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n x m``).

    Example:
        >>> import tapegrad
        >>> tapegrad.eye(2)
        tensor([[1., 0.],
                [0., 1.]])
    """
    _check_device(device)
    return _factory(np.eye(n, m, dtype=_factory_dtype(dtype)), requires_grad)


# ----------------------------------------------------------------------------- functions
def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """Elements of ``input`` where ``condition`` holds, else of ``other``.

    Example:
        >>> import tapegrad
        >>> x = tapegrad.tensor([1.0, -2.0, 3.0])
        >>> tapegrad.where(x > 0, x, 0.0)
        tensor([1., 0., 3.])
    """
    condition = condition if isinstance(condition, Tensor) else Tensor(condition)
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if condition.dtype is not _dtype.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{_type_title(condition.dtype)}"
        )
    tensors = [a for a in (input, other) if isinstance(a, Tensor)]
    scalars = [a for a in (input, other) if not isinstance(a, Tensor)]
    dtype = _dtype.result_type([t.dtype for t in tensors if t.ndim],
                               [t.dtype for t in tensors if not t.ndim], scalars)
    x = input.to(dtype) if isinstance(input, Tensor) else Tensor._from_array(
        np.array(input).astype(dtype.np))
    y = other.to(dtype) if isinstance(other, Tensor) else Tensor._from_array(
        np.array(other).astype(dtype.np))
    return _apply(ops.where_p, condition, x, y)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dimension.

    Example:
        >>> import tapegrad
        >>> tapegrad.cat([tapegrad.ones(2), tapegrad.zeros(1)])
        tensor([1., 1., 0.])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(
                "expected Tensor as element 0 in argument 0, but got " + type(t).__name__
            )
    kept = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    reference = kept[0]
    dim = _wrap_dim(dim, reference.ndim)
    for index, t in enumerate(kept):
        if t.ndim != reference.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {reference.ndim} and {t.ndim}"
            )
        for d in range(t.ndim):
            if d != dim and t.shape[d] != reference.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {dim}. Expected size "
                    f"{reference.shape[d]} but got size {t.shape[d]} for tensor number {index} "
                    "in the list."
                )
    return _apply(ops.cat_p, *tensors, dim=dim)  # the primitive promotes dtypes


concat = cat
concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack same-shaped tensors along a new dimension.

    Example:
        >>> import tapegrad
        >>> tapegrad.stack([tapegrad.ones(2), tapegrad.zeros(2)]).shape
        tapegrad.Size([2, 2])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for index, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t.shape)} at entry {index}"
            )
    dim = _wrap_dim(dim, len(shape) + 1)
    if dim < len(shape) and not _state.current().inference_mode and builtins.all(
            t._is_inference for t in tensors):  # torch: a view of their cat (its decomposition)
        return cat(tensors, dim).view(*shape[:dim], len(tensors), *shape[dim:])
    return _apply(ops.stack_p, *tensors, dim=dim)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. ``einsum("ij,jk->ik", a, b)``.

    Example:
        >>> import tapegrad
        >>> a = tapegrad.ones(2, 3)
        >>> tapegrad.einsum("ij->j", a)
        tensor([2., 2., 2.])
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    explicit = _explicit_einsum(equation.replace(" ", ""), [t.ndim for t in operands])
    return _apply(ops.einsum_p, *operands, equation=explicit)


def _explicit_einsum(equation: str, ndims: list[int]) -> str:
    """Spell out ``...`` and the implicit output so the gradient rule sees plain letters."""
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ndims):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    letters = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               if c not in equation]
    ellipsis_len = builtins.max(
        [n - len(t.replace("...", "")) for t, n in zip(terms, ndims, strict=True) if "..." in t],
        default=0)
    fill = "".join(letters[:ellipsis_len])
    expanded = []
    for t, n in zip(terms, ndims, strict=True):
        if "..." in t:
            k = n - len(t.replace("...", ""))
            t = t.replace("...", fill[ellipsis_len - k:])
        if len(t) != n:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(t)}) does not match "
                f"the number of dimensions ({n}) for operand 0 and no ellipsis was given"
            )
        expanded.append(t)
    if arrow:
        output = output.replace("...", fill)
    else:
        counts: dict[str, int] = {}
        for c in "".join(expanded):
            counts[c] = counts.get(c, 0) + 1
        output = fill + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in fill))
    return ",".join(expanded) + "->" + output


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_inference(input: Tensor) -> bool:
    """Whether ``input`` is an inference tensor (``torch.is_inference``).

    Example:
        >>> import tapegrad
        >>> with tapegrad.inference_mode():
        ...     x = tapegrad.ones(2)
        >>> tapegrad.is_inference(x), tapegrad.is_inference(tapegrad.ones(2))
        (True, False)
    """
    _check_tensor_argument("is_inference", "input", 1, input)
    return input._is_inference


def numel(x: Tensor) -> int:
    return x.numel()
