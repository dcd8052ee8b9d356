"""Higher-level differentiation of whole functions (mirrors ``torch.autograd.functional``).

``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp`` and ``vhp`` take a function of Tensors (a
Tensor or a tuple of Tensors in, a Tensor or a tuple of Tensors out) and return results with
torch's structure: a single Tensor where torch gives one, tuples (of tuples) otherwise. The
``create_graph`` and ``strict`` arguments, and the errors for bad arguments, follow torch.

As in torch, ``jvp`` and ``hvp`` use the "double backward trick" (reverse mode applied to the
linear map ``v -> vjp(v)``), and ``jacobian(strategy="forward-mode")`` uses forward-mode AD
(``tapegrad.autograd.forward_ad``). Where torch batches with ``vmap`` (``vectorize=True``),
tapegrad loops over the basis vectors: the results are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapegrad import _engine, _state
from tapegrad.autograd import forward_ad as fwAD
from tapegrad.tensor import Tensor, stack, zeros, zeros_like

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]

_STRICT = " This is not allowed in strict mode."
_INDEPENDENT = {  # _check_requires_grad's messages for a result that does not require grad
    "outputs": "Output {i} of the user-provided function does not require gradients. The "
    "outputs must be computed in a differentiable manner from the input when running in "
    "strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the "
    "user-provided function." + _STRICT,
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided "
    "function with respect to input {i} is independent of the input." + _STRICT + " You should "
    "ensure that your function is twice differentiable and that the jacobian depends on the "
    "inputs (this would be violated by a linear function for example).",
    "hessian": "The hessian of the user-provided function with respect to input {i} is "
    "independent of the input." + _STRICT + " You should ensure that your function is thrice "
    "differentiable and that the hessian depends on the inputs.",
}
_UNUSED = {  # _fill_in_zeros's messages for a missing gradient, per stage
    "back": "The output of the user-provided function is independent of input {i}." + _STRICT,
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
    "grad_outputs when using the double backward trick to compute forward mode gradients."
    + _STRICT,
    "double_back": "The jacobian of the user-provided function is independent of input {i}."
    + _STRICT,
    "double_back_trick": "The hessian of the user-provided function is independent of entry "
    "{i} in the grad_jacobian." + _STRICT[:-1] + " as it prevents from using the double "
    "backward trick to replace forward mode AD.",
}
_NOT_DIFFERENTIABLE = ("The {} of the user-provided function is independent of input {}."
                       + _STRICT[:-1] + " when create_graph=True.")


# ----------------------------------------------------------------------------- helpers
def _as_tuple(value: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    is_tuple = isinstance(value, tuple)
    values = value if is_tuple else (value,)
    for i, item in enumerate(values):
        if not isinstance(item, Tensor):
            where = (f"the value at index {i} has type {type(item)}" if is_tuple
                     else f"the given {arg_name} has type {type(item)}")
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                            f"tuple of Tensors but {where}.")
    return is_tuple, values


def _unpack(result: Any, to_unpack: Any) -> Any:
    """torch's _tuple_postprocess: unwrap the tuples standing for a single Tensor."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            result = tuple(item[0] for item in result)
        return result if to_unpack[0] else result[0]
    return result if to_unpack else result[0]


def _preprocess(values: tuple[Tensor, ...], create_graph: bool,
                need_graph: bool) -> tuple[Tensor, ...]:
    # torch: keep the user's graph only when building a graph through the result
    return tuple(
        x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_(need_graph)
        for x in values
    )


def _postprocess(values: Any, create_graph: bool) -> Any:
    if isinstance(values[0], Tensor):
        return values if create_graph else tuple(v.detach() for v in values)
    return tuple(_postprocess(v, create_graph) for v in values)


def _inputs(inputs: Any, fn_name: str, create_graph: bool) -> tuple[bool, tuple[Tensor, ...]]:
    is_tuple, values = _as_tuple(inputs, "inputs", fn_name)
    return is_tuple, _preprocess(values, create_graph, need_graph=True)


def _outputs(func: Callable[..., Any], inputs: tuple[Tensor, ...], fn_name: str, strict: bool,
             single: bool = False) -> tuple[bool, tuple[Tensor, ...]]:
    """Call ``func``; check its outputs (and, if ``single``, that it gives one element)."""
    is_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                  fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    if single and is_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if single and outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should "
                           "contain a single element")
    return is_tuple, outputs


def _check_v(v: Any, refs: tuple[Tensor, ...], is_refs_tuple: bool, fn_name: str,
             create_graph: bool, what: str) -> tuple[Tensor, ...] | None:
    """Validate ``v`` against ``refs`` (inputs or outputs); ``None`` needs one element."""
    if v is None:
        if len(refs) != 1 or refs[0].numel() != 1:
            raise RuntimeError(f"The vector v can only be None if the {what} a single Tensor "
                               "with a single element.")
        return None
    v = _preprocess(_as_tuple(v, "v", fn_name)[1], create_graph, need_graph=False)
    if len(refs) != len(v):
        if is_refs_tuple:
            raise RuntimeError(
                f"v is a tuple of invalid length: should be {len(refs)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (item, ref) in enumerate(zip(v, refs, strict=True)):
        if item.shape != ref.shape:
            prefix = f"Entry {i} in " if is_refs_tuple else ""
            raise RuntimeError(
                f"{prefix}v has invalid size: should be {ref.shape} but got {item.shape}.")
    return v


def _check_requires_grad(values: tuple[Any, ...], kind: str, strict: bool) -> None:
    for i, value in enumerate(values if strict else ()):
        if value is None:
            raise RuntimeError(_UNUSED["back"].format(i=i))
        if not value.requires_grad:
            raise RuntimeError(_INDEPENDENT[kind].format(i=i))


def _autograd_grad(outputs: tuple[Any, ...], inputs: tuple[Tensor, ...],
                   grad_outputs: tuple[Any, ...] | None = None, create_graph: bool = False,
                   retain_graph: bool | None = None) -> tuple[Tensor | None, ...]:
    """``autograd.grad`` over the outputs that require grad (None for every input if none)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs or (None,) * len(outputs),
                                    strict=True) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return _engine.grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                        retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)


def _last_backward(outputs: tuple[Tensor, ...], is_outputs_tuple: bool, roots: Any,
                   wrt: tuple[Tensor, ...], v: Any, refs: tuple[Tensor, ...],
                   is_refs_tuple: bool, strict: bool, create_graph: bool, stage: str) -> Any:
    """The final ``v``-weighted backward of every API but jacobian, and torch's return value.

    Missing gradients become zeros shaped like ``refs`` (torch's _fill_in_zeros).
    """
    with _state.switch(grad_enabled=create_graph or _state.current().grad_enabled):
        grads = _autograd_grad(roots, wrt, v, create_graph)
        result = []
        for i, grad in enumerate(grads):
            if grad is None:
                if strict:
                    raise RuntimeError(_UNUSED[stage].format(i=i))
                grad = zeros_like(refs[i])
            elif strict and create_graph and not grad.requires_grad:
                what = "hessian" if "double" in stage else "jacobian"
                raise RuntimeError(_NOT_DIFFERENTIABLE.format(what, i))
            result.append(grad)
    return (_unpack(_postprocess(outputs, create_graph), is_outputs_tuple),
            _unpack(_postprocess(tuple(result), create_graph), is_refs_tuple))


# ----------------------------------------------------------------------------- the API
def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), v^T J)``: the vector-Jacobian product at ``inputs``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.functional import vjp
        >>> out, grads = vjp(lambda x, y: 2 * x + 3 * y, (tapegrad.ones(2), tapegrad.ones(2)),
        ...                  tapegrad.tensor([1.0, -1.0]))
        >>> out, grads
        (tensor([5., 5.]), (tensor([ 2., -2.]), tensor([ 3., -3.])))
    """
    with _state.switch(grad_enabled=True):
        is_inputs_tuple, inputs = _inputs(inputs, "vjp", create_graph)
        is_outputs_tuple, outputs = _outputs(func, inputs, "vjp", strict)
        v = _check_v(v, outputs, is_outputs_tuple, "vjp", create_graph,
                     "user-provided function returns")
    return _last_backward(outputs, is_outputs_tuple, outputs, inputs, v, inputs,
                          is_inputs_tuple, strict, create_graph, "back")


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), J v)``: the Jacobian-vector product at ``inputs``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.functional import jvp
        >>> jvp(lambda x: x ** 2, tapegrad.tensor([1.0, 3.0]), tapegrad.tensor([1.0, 0.5]))
        (tensor([1., 9.]), tensor([2., 3.]))
    """
    with _state.switch(grad_enabled=True):
        is_inputs_tuple, inputs = _inputs(inputs, "jvp", create_graph)
        v = _check_v(v, inputs, is_inputs_tuple, "jvp", create_graph,
                     "input to the user-provided function is")
        is_outputs_tuple, outputs = _outputs(func, inputs, "jvp", strict)
        # the double backward trick: J v is the gradient of (u -> J^T u) . v with respect to u
        grad_outputs = tuple(zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    return _last_backward(outputs, is_outputs_tuple, grad_inputs, grad_outputs, v, outputs,
                          is_outputs_tuple, strict, create_graph, "back_trick")


def _jacobian_forward(func: Callable[..., Any], inputs: Any, strict: bool,
                      vectorize: bool) -> Any:
    """The Jacobian column by column, one forward-mode pass per input basis vector."""
    if strict:
        raise RuntimeError(
            'torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` '
            'are not supported together (yet). Please either set `strict=False` or '
            '`strategy="reverse-mode"`.')
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
            "only implemented for `vectorize=True`.")
    columns: list[list[Tensor]] = []  # for each input element: the tangents of the outputs
    outputs: tuple[Tensor, ...] = ()
    is_outputs_tuple = False
    basis = [(j, k) for j, x in enumerate(inputs) for k in range(x.numel())]
    for j, k in basis or [(-1, -1)]:  # (with no element at all: one pass for the outputs)
        tangents = [zeros_like(x) for x in inputs]
        if j >= 0:
            tangents[j].reshape(-1)[k] = 1.0
        with fwAD.dual_level():
            duals = tuple(fwAD.make_dual(x, t) for x, t in zip(inputs, tangents, strict=True))
            is_outputs_tuple, dual_outputs = _as_tuple(func(*duals), "outputs", "jacobian")
            unpacked = [fwAD.unpack_dual(out) for out in dual_outputs]
        outputs = tuple(u.primal for u in unpacked)
        if j >= 0:
            columns.append([zeros_like(u.primal) if u.tangent is None else u.tangent
                            for u in unpacked])
    starts = [sum(x.numel() for x in inputs[:j]) for j in range(len(inputs))]
    # torch's forward-mode result is made of lists where its reverse-mode one has tuples
    result = [[stack([c[i] for c in columns[a:a + x.numel()]], dim=-1).reshape(
        *out.shape, *x.shape) if x.numel() else zeros(*out.shape, *x.shape, dtype=out.dtype)
        for a, x in zip(starts, inputs, strict=True)] for i, out in enumerate(outputs)]
    return _unpack(result, (is_outputs_tuple, is_inputs_tuple))


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: entry ``[i][j]`` has shape ``out_i + in_j``.

    ``strategy="forward-mode"`` (which needs ``vectorize=True``, as in torch) builds it with
    forward-mode AD, one column per input element (and, like torch, returns lists where
    reverse mode returns tuples); reverse mode builds it one row per output element.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.functional import jacobian
        >>> jacobian(lambda x: x ** 2, tapegrad.tensor([1.0, 3.0]))
        tensor([[2., 0.],
                [0., 6.]])
        >>> jacobian(lambda x, y: x * y, (tapegrad.tensor(2.0), tapegrad.tensor(5.0)),
        ...          vectorize=True, strategy="forward-mode")
        [tensor(5.), tensor(2.)]
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more '
            'performant. Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either '
                'set `create_graph=False` or `strategy="reverse-mode"`.')
        return _jacobian_forward(func, inputs, strict, vectorize)
    with _state.switch(grad_enabled=True):
        is_inputs_tuple, inputs = _inputs(inputs, "jacobian", create_graph)
        is_outputs_tuple, outputs = _outputs(func, inputs, "jacobian", strict)
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are "
                "not supported together. Please either set `strict=False` or `vectorize=False`.")
        rows: list[list[Tensor]] = [[] for _ in inputs]  # per input: one row per output element
        for i, out in enumerate(outputs):
            for k in range(out.numel()):
                grads = _autograd_grad((out.reshape(-1)[k],), inputs, retain_graph=True,
                                       create_graph=create_graph)
                for j, (grad, x) in enumerate(zip(grads, inputs, strict=True)):
                    if grad is None and strict:
                        raise RuntimeError(f"Output {i} of the user-provided function is "
                                           f"independent of input {j}." + _STRICT)
                    if grad is not None and strict and create_graph and not grad.requires_grad:
                        raise RuntimeError(_NOT_DIFFERENTIABLE.format("jacobian", i))
                    rows[j].append(zeros_like(x) if grad is None else grad)
        numels = [out.numel() for out in outputs]
        starts = [sum(numels[:i]) for i in range(len(numels))]
        result = []
        for row in rows:  # vectorized, torch splits one tensor per input: shared requires_grad
            pieces = (stack(row).split(numels) if vectorize
                      else [stack(row[a:a + n]) for a, n in zip(starts, numels, strict=True)])
            result.append(pieces)
        jac = tuple(tuple(result[j][i].view(*out.shape, *x.shape) for j, x in enumerate(inputs))
                    for i, out in enumerate(outputs))
    return _unpack(_postprocess(jac, create_graph), (is_outputs_tuple, is_inputs_tuple))


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a function with a single-element output (entry ``[i][j]``: ``in_i +
    in_j`` shaped); ``outer_jacobian_strategy="forward-mode"`` is forward-over-reverse.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.functional import hessian
        >>> hessian(lambda x: (x ** 3).sum(), tapegrad.tensor([1.0, 2.0]))
        tensor([[ 6.,  0.],
                [ 0., 12.]])
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def single_output(*args: Tensor) -> Tensor:
        return _outputs(func, args, "hessian", strict, single=True)[1][0].squeeze()

    def jacobian_of(*args: Tensor) -> Any:
        if outer_jacobian_strategy == "forward-mode":
            args = tuple(x.requires_grad_(True) for x in args)
        jac = jacobian(single_output, args, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    result = jacobian(jacobian_of, inputs, create_graph=create_graph, strict=strict,
                      vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _unpack(result, (is_inputs_tuple, is_inputs_tuple))


def _gradient_with_graph(func: Callable[..., Any], inputs: Any, v: Any, create_graph: bool,
                         strict: bool, fn_name: str) -> Any:
    """Shared start of vhp / hvp: inputs, v, the output, and its gradient with a graph."""
    is_inputs_tuple, inputs = _inputs(inputs, fn_name, create_graph)
    v = _check_v(v, inputs, is_inputs_tuple, fn_name, create_graph,
                 "input to the user-provided function is")
    is_outputs_tuple, outputs = _outputs(func, inputs, fn_name, strict, single=True)
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac


def vhp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), v^T H)`` for a function with a single-element output.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.functional import vhp
        >>> vhp(lambda x: (x ** 3).sum(), tapegrad.tensor([1.0, 2.0]), tapegrad.ones(2))
        (tensor(9.), tensor([ 6., 12.]))
    """
    with _state.switch(grad_enabled=True):
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _gradient_with_graph(
            func, inputs, v, create_graph, strict, "vhp")
    return _last_backward(outputs, is_outputs_tuple, jac, inputs, v, inputs, is_inputs_tuple,
                          strict, create_graph, "double_back")


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(inputs), H v)`` for a function with a single-element output.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.functional import hvp
        >>> hvp(lambda x: (x ** 3).sum(), tapegrad.tensor([1.0, 2.0]), tapegrad.ones(2))
        (tensor(9.), tensor([ 6., 12.]))
    """
    with _state.switch(grad_enabled=True):
        is_inputs_tuple, inputs, v, is_outputs_tuple, outputs, jac = _gradient_with_graph(
            func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(zeros_like(x, requires_grad=True) for x in inputs)
        double_back = _autograd_grad(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
    return _last_backward(outputs, is_outputs_tuple, double_back, grad_jac, v, inputs,
                          is_inputs_tuple, strict, create_graph, "double_back_trick")
