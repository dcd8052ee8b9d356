"""User-defined differentiable operations: ``Function``, ``FunctionCtx``, ``once_differentiable``.

Mirrors ``torch.autograd.function``. A subclass of :class:`Function` supplies a static
``forward`` (run under no_grad) and a static ``backward``; :meth:`Function.apply` runs the
forward and, when autograd needs it, attaches a graph node to the outputs. As in torch, that
node *is* the ``ctx`` object handed to ``forward`` and ``backward``: it is an instance of a
per-class subclass of :class:`FunctionNode` named ``<ClassName>Backward``, so
``out.grad_fn.saved_tensors`` and any attribute stored on ``ctx`` are reachable from the graph.

The engine sees such a node only through ``Node.apply``: the node calls the user's backward,
checks the number and the types of the returned gradients, and leaves shape reduction and
dtype casts to the engine (``_engine._fit``), exactly as for built-in ops.

Forward-mode AD: when an input carries a tangent at the live dual level (and forward AD is
enabled), :meth:`Function.apply` calls the static ``jvp(ctx, *tangents)`` (one tangent per
forward argument: the input's tangent, zeros for a tensor without one, None for a non-tensor)
with forward AD disabled, and gives each output the tangent returned for it, with torch's
checks; ``ctx.saved_tensors`` inside ``jvp`` reads what ``ctx.save_for_forward`` saved. A
Function without ``jvp`` raises torch's NotImplementedError there.

Differences from torch: ``vmap`` / ``generate_vmap_rule`` are ignored.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from tapegrad import _state
from tapegrad._engine import Node, SavedTensor
from tapegrad.autograd.forward_ad import _SIZE_MISMATCH
from tapegrad.tensor import (
    _VIEW_OF_LEAF_INPLACE,
    DEFAULT,
    IN_CUSTOM_FUNCTION,
    MULTI_OUTPUT_NODE,
    CopySlices,
    Tensor,
    _view_inplace_error,
    zeros,
)

__all__ = [
    "BackwardCFunction",
    "Function",
    "FunctionCtx",
    "FunctionNode",
    "once_differentiable",
]

_F = TypeVar("_F", bound=Callable[..., Any])

_DIRTY_LEAF = "a leaf Variable that requires grad has been used in an in-place operation."
_DIRTY_NOT_INPUT = (
    "ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that have "
    "been mutated should be passed to ctx.mark_dirty()."
)
_DIRTY_VIEW_MULTI_OUTPUT = (
    "If your Function modifies inplace an input that is a view of another Tensor, your "
    "Function cannot return more than one Tensor. This is not supported by the current "
    "autograd engine. You should either make sure the input is not a view (using .clone() for "
    "example) or make your Function only return one Tensor (potentially splitting it into two "
    "Functions: one doing the inplace that returns a single Tensor and a second one that does "
    "the other operations). You can ask on the forum https://discuss.pytorch.org/ if you need "
    "help to do this change."
)
_DIRTY_NOT_RETURNED = (
    "Some elements marked as dirty during the forward method were not returned as output. The "
    "inputs that are modified inplace must all be outputs of the Function."
)
_SAVED_INPUT_RETURNED = (
    "An input that has been returned as-is as output is being saved for backward. This is not "
    "supported if you override setup_context. You should return and save a view of the input "
    "instead, e.g. with x.view_as(x) or setup ctx inside the forward function itself."
)
_ONCE_DIFFERENTIABLE = (
    "trying to differentiate twice a function that was marked with @once_differentiable"
)
_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class FunctionCtx:
    """The ``ctx`` API of a custom :class:`Function` (torch's ``FunctionCtx``).

    ``forward`` (or ``setup_context``) records what ``backward`` will need; any other
    attribute may be set on ``ctx`` too.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.function import Function
        >>> class MulConst(Function):
        ...     @staticmethod
        ...     def forward(ctx, x, c):
        ...         ctx.c = c  # a non-tensor: store it as an attribute
        ...         return x * c
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return grad * ctx.c, None  # no gradient for the Python number
        >>> x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
        >>> MulConst.apply(x, 3.0).sum().backward()
        >>> x.grad
        tensor([3., 3.])
    """

    to_save: tuple[Any, ...] | None
    dirty_tensors: tuple[Any, ...] | None
    non_differentiable: tuple[Any, ...] | None
    saved_for_forward: tuple[Any, ...] | None
    materialize_grads: bool

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Save tensors (or ``None``) for ``backward``; read them back with ``ctx.saved_tensors``.

        Saved tensors are checked when unpacked: an in-place change after saving raises
        torch's "modified by an inplace operation" error.

        Example:
            >>> import tapegrad
            >>> from tapegrad.autograd.function import Function
            >>> class Square(Function):
            ...     @staticmethod
            ...     def forward(ctx, x):
            ...         ctx.save_for_backward(x)
            ...         return x * x
            ...     @staticmethod
            ...     def backward(ctx, grad):
            ...         (x,) = ctx.saved_tensors
            ...         return 2 * x * grad
            >>> x = tapegrad.tensor([1.0, 3.0], requires_grad=True)
            >>> Square.apply(x).sum().backward()
            >>> x.grad
            tensor([2., 6.])
        """
        self.to_save = tensors

    def save_for_forward(self, *tensors: Tensor | None) -> None:
        """Save tensors for ``jvp``, which reads them back with ``ctx.saved_tensors``.

        Example:
            >>> import tapegrad
            >>> import tapegrad.autograd.forward_ad as fwAD
            >>> from tapegrad.autograd.function import Function
            >>> class Exp(Function):
            ...     @staticmethod
            ...     def forward(ctx, x):
            ...         result = x.exp()
            ...         ctx.save_for_forward(result)
            ...         return result
            ...     @staticmethod
            ...     def jvp(ctx, x_t):
            ...         (result,) = ctx.saved_tensors
            ...         return x_t * result
            >>> with fwAD.dual_level():
            ...     x = fwAD.make_dual(tapegrad.tensor([0.0, 1.0]), tapegrad.ones(2))
            ...     fwAD.unpack_dual(Exp.apply(x)).tangent
            tensor([1.0000, 2.7183])
        """
        for value in tensors:
            if not (isinstance(value, Tensor) or value is None):
                raise AssertionError(
                    "save_for_forward expects all arguments to be tensors; you should save "
                    "non-tensors as attributes on ctx."
                )
        self.saved_for_forward = tensors

    def mark_dirty(self, *args: Tensor) -> None:
        """Declare input tensors that ``forward`` modified in place (they must be returned).

        The returned tensor is the input object itself; its history is rebased onto this
        Function's node and its version counter is bumped, as torch does.

        Example:
            >>> import tapegrad
            >>> from tapegrad.autograd.function import Function
            >>> class Double_(Function):
            ...     @staticmethod
            ...     def forward(ctx, x):
            ...         x.mul_(2)
            ...         ctx.mark_dirty(x)
            ...         return x
            ...     @staticmethod
            ...     def backward(ctx, grad):
            ...         return grad * 2
            >>> leaf = tapegrad.tensor([1.0, 2.0], requires_grad=True)
            >>> a = leaf.clone()
            >>> Double_.apply(a) is a, a.grad_fn.name()
            (True, 'Double_Backward')
            >>> a.sum().backward()
            >>> leaf.grad
            tensor([2., 2.])
        """
        self.dirty_tensors = args

    def mark_non_differentiable(self, *args: Tensor) -> None:
        """Declare outputs that are not differentiable (they will not require grad).

        ``backward`` still receives one gradient per output: a zero tensor for these.

        Example:
            >>> import tapegrad
            >>> from tapegrad.autograd.function import Function
            >>> class SortValues(Function):
            ...     @staticmethod
            ...     def forward(ctx, x):
            ...         values, indices = x.sort()
            ...         ctx.mark_non_differentiable(indices)
            ...         ctx.save_for_backward(indices)
            ...         return values, indices
            ...     @staticmethod
            ...     def backward(ctx, grad_values, grad_indices):
            ...         (indices,) = ctx.saved_tensors
            ...         return grad_values.new_zeros(grad_values.shape).index_add(
            ...             0, indices, grad_values)
            >>> x = tapegrad.tensor([3.0, 1.0, 2.0], requires_grad=True)
            >>> values, indices = SortValues.apply(x)
            >>> values.requires_grad, indices.requires_grad
            (True, False)
        """
        self.non_differentiable = args

    def set_materialize_grads(self, value: bool) -> None:
        """Whether missing output gradients reach ``backward`` as zeros (default) or ``None``.

        Example:
            >>> import tapegrad
            >>> from tapegrad.autograd.function import Function
            >>> class Pair(Function):
            ...     @staticmethod
            ...     def forward(ctx, x):
            ...         ctx.set_materialize_grads(False)
            ...         return x.clone(), x.clone()
            ...     @staticmethod
            ...     def backward(ctx, g1, g2):
            ...         print(g2)
            ...         return g1
            >>> x = tapegrad.tensor([1.0], requires_grad=True)
            >>> first, second = Pair.apply(x)
            >>> first.sum().backward()
            None
        """
        if type(value) is not bool:
            raise TypeError(
                "set_materialize_grads received an invalid combination of arguments - got "
                f"({type(value).__name__}), but expected (bool)"
            )
        self.materialize_grads = value


class FunctionNode(Node, FunctionCtx):
    """The graph node (and ``ctx``) of one :meth:`Function.apply` call.

    Each Function subclass gets its own subclass of this, named ``<ClassName>Backward``, whose
    ``_forward_cls`` is the Function. Unlike op nodes it has a ``__dict__``, so ``forward`` can
    store anything on ``ctx``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.function import Function, FunctionNode
        >>> class Shift(Function):
        ...     @staticmethod
        ...     def forward(ctx, x, by):
        ...         ctx.by = by
        ...         return x + by
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return grad, None
        >>> y = Shift.apply(tapegrad.ones(2, requires_grad=True), 5.0)
        >>> isinstance(y.grad_fn, FunctionNode), type(y.grad_fn).__name__, y.grad_fn.by
        (True, 'ShiftBackward', 5.0)
        >>> y.grad_fn.needs_input_grad
        (True, False)
    """

    _forward_cls: type[Function]

    def __init__(self, next_edges: tuple[Any, ...] = (), in_meta: tuple[Any, ...] = ()) -> None:
        super().__init__(next_edges, in_meta, ())
        self.to_save = None
        self.dirty_tensors = None
        self.non_differentiable = None
        self.saved_for_forward = None
        self.materialize_grads = True
        self.needs_input_grad: tuple[bool, ...] = ()
        self._is_tensor_input: tuple[bool, ...] = ()
        self._saved: tuple[tuple[SavedTensor | None, int], ...] | None = None
        self._freed = False

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        """The tensors given to ``save_for_backward``, checked against in-place changes."""
        if self.saved_for_forward is not None:  # inside jvp: what save_for_forward saved
            return self.saved_for_forward
        if self._freed:
            raise RuntimeError(_SECOND_BACKWARD)
        if self._saved is None:
            return ()
        return tuple(
            None if saved is None else saved.unpack(self, output_nr)
            for saved, output_nr in self._saved
        )

    def apply(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        """Run the user's backward on the output gradients; one gradient per tensor input."""
        cls = self._forward_cls
        backward_fn = cls.backward
        vjp_fn = cls.vjp
        if backward_fn is not Function.backward and vjp_fn is not Function.vjp:
            raise RuntimeError(
                "Implementing both 'backward' and 'vjp' for a custom Function is not allowed. "
                "You should only implement one of them."
            )
        user_fn = vjp_fn if vjp_fn is not Function.vjp else backward_fn
        if self.materialize_grads:
            grads = tuple(
                zeros(meta[0], dtype=meta[1]) if grad is None and meta is not None else grad
                for grad, meta in zip(grads, self.out_meta, strict=True)
            )
        result = user_fn(self, *grads)
        results = result if isinstance(result, tuple) else (result,)
        is_tensor_input = self._is_tensor_input
        expected = len(is_tensor_input)
        if len(results) > expected and all(r is None for r in results[expected:]):
            results = results[:expected]  # extra trailing Nones are allowed
        if len(results) != expected:
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients (expected "
                f"{expected}, got {len(results)})"
            )
        grads_in: list[Tensor | None] = []
        for position, (grad, is_tensor) in enumerate(zip(results, is_tensor_input, strict=True)):
            if not is_tensor:
                if grad is not None:
                    raise RuntimeError(
                        f"function {self.name()} returned a gradient different than None at "
                        f"position {position + 1}, but the corresponding forward input was not "
                        "a Variable"
                    )
                continue
            if grad is not None and not isinstance(grad, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(grad).__name__})")
            grads_in.append(grad)
        return tuple(grads_in)

    def release(self) -> None:
        if self._saved is not None:
            for saved, _ in self._saved:
                if saved is not None:
                    saved.release()
        self._freed = True


# torch's name for the base class of the per-Function node classes
BackwardCFunction = FunctionNode


class Function(FunctionCtx):
    """Base class of custom differentiable operations (torch's ``autograd.Function``).

    Subclasses implement the static methods ``forward(ctx, *args)`` and
    ``backward(ctx, *grad_outputs)`` (or ``vjp``), and are called through :meth:`apply`.
    Alternatively ``forward(*args)`` takes no ``ctx`` and a static
    ``setup_context(ctx, inputs, output)`` fills it.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.function import Function
        >>> class Exp(Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         result = x.exp()
        ...         ctx.save_for_backward(result)
        ...         return result
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (result,) = ctx.saved_tensors
        ...         return grad * result
        >>> x = tapegrad.tensor([0.0, 1.0], requires_grad=True)
        >>> y = Exp.apply(x)
        >>> y.grad_fn.name()
        'ExpBackward'
        >>> y.sum().backward()
        >>> x.grad
        tensor([1.0000, 2.7183])
    """

    generate_vmap_rule = False
    _backward_cls: type[FunctionNode]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"{self.__class__} should not be instantiated. Methods on autograd functions are all "
            "static, so you should invoke them on the class itself. Instantiating an autograd "
            "function will raise an error in a future version of PyTorch.",
            DeprecationWarning,
            stacklevel=2,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use "
            "new-style autograd function with static forward method. (Example: "
            "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
        )

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        """Compute the outputs (runs with grad mode disabled); override in subclasses."""
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> Any:
        """Fill ``ctx`` from the inputs and output, when ``forward`` takes no ``ctx``."""
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        """Map one gradient per output to one gradient (or ``None``) per forward input."""
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        """Map one tangent per forward input to one tangent (or ``None``) per output.

        Called by :meth:`apply` when an input carries a tangent (see ``save_for_forward``).
        """
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )

    @staticmethod
    def vmap(info: Any, in_dims: Any, *args: Any) -> Any:
        """Batching rule (torch.vmap); not supported by tapegrad."""
        raise NotImplementedError(
            "To use autograd.Function with vmap, you must either override the vmap staticmethod "
            "or set generate_vmap_rule=True."
        )

    @classmethod
    def _backward_node_class(cls) -> type[FunctionNode]:
        """The ``<ClassName>Backward`` node class of this Function (made once, on first use)."""
        node_cls = cls.__dict__.get("_backward_cls")
        if node_cls is None:
            node_cls = type(f"{cls.__name__}Backward", (FunctionNode,), {"_forward_cls": cls})
            cls._backward_cls = node_cls
        return node_cls

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on ``args`` and record this Function in the graph when needed.

        Matches torch: ``forward`` runs under no_grad; a node is attached only in grad mode
        (not in inference mode) when some tensor argument requires grad; an input returned
        as-is comes back as a new view of it.

        Example:
            >>> import tapegrad
            >>> from tapegrad.autograd.function import Function
            >>> class Twice(Function):
            ...     @staticmethod
            ...     def forward(ctx, x):
            ...         print("grad enabled in forward:", tapegrad.is_grad_enabled())
            ...         return x * 2
            ...     @staticmethod
            ...     def backward(ctx, grad):
            ...         return grad * 2
            >>> x = tapegrad.tensor([1.0], requires_grad=True)
            >>> y = Twice.apply(x)
            grad enabled in forward: False
            >>> y.requires_grad, y.grad_fn.next_functions[0][0].name()
            (True, 'AccumulateGrad')
            >>> with tapegrad.no_grad():
            ...     z = Twice.apply(x)
            grad enabled in forward: False
            >>> z.requires_grad, z.grad_fn
            (False, None)
        """
        forward = cls.forward
        has_setup = cls.setup_context is not Function.setup_context
        if has_setup:
            bound = inspect.signature(forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        if kwargs:
            args = _keywords_to_positions(forward, args, kwargs, skip_ctx=not has_setup)
        modes = _state.current()
        is_tensor = tuple(isinstance(a, Tensor) for a in args)
        needs_input_grad = tuple(
            tensor_arg and a.requires_grad for a, tensor_arg in zip(args, is_tensor, strict=True)
        )
        tensors = [a for a in args if isinstance(a, Tensor)]
        executable = modes.grad_enabled and not modes.inference_mode and any(needs_input_grad)
        node_cls = cls._backward_node_class()
        if executable:
            node = node_cls(
                tuple(t._edge() for t in tensors),
                tuple((t._array.shape, t.dtype) for t in tensors),
            )
        else:
            node = node_cls()
        node.needs_input_grad = needs_input_grad
        node._is_tensor_input = is_tensor
        with _state.switch(grad_enabled=False, fw_grad_enabled=False):
            if has_setup:
                output = forward(*args)
                cls.setup_context(node, args, output)
            else:
                output = forward(node, *args)
        level = _state.forward_levels.current
        if level is None or not modes.fw_grad_enabled or modes.inference_mode:
            return _wrap_outputs(node, tensors, output, executable, has_setup)
        saved_for_forward = node.saved_for_forward
        dirty = tuple(node.dirty_tensors or ())
        non_differentiable = tuple(node.non_differentiable or ())
        results = _wrap_outputs(node, tensors, output, executable, has_setup)
        node.saved_for_forward = saved_for_forward
        try:
            _forward_ad(node, args, output, results, dirty, non_differentiable, level)
        finally:
            node.saved_for_forward = None
        return results


def _forward_ad(node: FunctionNode, args: tuple[Any, ...], output: Any, results: Any,
                dirty: tuple[Any, ...], non_differentiable: tuple[Any, ...], level: int) -> None:
    """Run the user's ``jvp`` and give the outputs their tangents (torch's checks)."""
    tangents = [a._live_tangent(level) if isinstance(a, Tensor) else None for a in args]
    if all(t is None for t in tangents):
        return
    if node.materialize_grads:
        tangents = [a.detach().zeros_like() if t is None and isinstance(a, Tensor) else t
                    for a, t in zip(args, tangents, strict=True)]
    with _state.switch(fw_grad_enabled=False):
        node.saved_for_forward = node.saved_for_forward or ()
        returned = node._forward_cls.jvp(node, *tangents)
    raw = output if isinstance(output, tuple) else (output,)
    outs = results if isinstance(output, tuple) else (results,)
    returned = returned if isinstance(returned, tuple) else (returned,)
    if len(returned) != len(raw):
        raise RuntimeError("Function's jvp returned an invalid number of forward gradients "
                           f"(expected {len(raw)} but got {len(returned)})")
    for index, (value, out, tangent) in enumerate(zip(raw, outs, returned, strict=True)):
        if tangent is None:
            continue
        if not (isinstance(value, Tensor) and value.dtype.is_floating_point
                and all(value is not t for t in non_differentiable)):
            raise RuntimeError(
                f"Function's jvp returned a gradient at position {index}, but  the corresponding "
                "forward output is not a differentiable Tensor.You should return None at that "
                "position instead.")
        if not isinstance(tangent, Tensor):
            raise RuntimeError(f"expected Variable or None (got {type(tangent).__name__}) for "
                               f"grad output {index}.")
        if tuple(tangent.shape) != tuple(out.shape):
            raise RuntimeError(_SIZE_MISMATCH.format(list(out.shape), list(tangent.shape)))
        if any(value is t for t in dirty):
            if all(tangent is not t for a, t in zip(args, tangents, strict=True) if a is value):
                raise RuntimeError(
                    "An inplace custom Function is not modifying the forward mode gradients "
                    "inplace. If the forward is modifying an input inplace, then the jvp "
                    "function must modify the corresponding gradient inplace.")
        elif out._base is not None and tangent._base is None:
            raise RuntimeError("A custom Function's forward is returning a view (or an input "
                               "as-is) but the jvp is not returning a view.")
        out._tangent = (level, tangent)


def _keywords_to_positions(
    forward: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], skip_ctx: bool
) -> tuple[Any, ...]:
    """Place keyword arguments at their positions in ``forward``'s signature (torch's apply)."""
    names = [
        p.name
        for p in inspect.signature(forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][1 if skip_ctx else 0 :]
    placed: dict[int, Any] = {}
    for name, value in kwargs.items():
        if name not in names:
            raise TypeError(f"forward() got an unexpected keyword argument '{name}'")
        index = names.index(name)
        if index < len(args):
            raise TypeError(f"forward() got multiple values for argument '{name}'")
        placed[index] = value
    merged = list(args)
    for index in range(len(args), max(placed) + 1):
        if index not in placed:
            raise TypeError(
                f"forward() missing required argument: '{names[index]}' (position {index})"
            )
        merged.append(placed[index])
    return tuple(merged)


def _marked(values: tuple[Any, ...] | None, what: str) -> dict[int, Tensor]:
    marked: dict[int, Tensor] = {}
    for index, value in enumerate(values or ()):
        if not isinstance(value, Tensor):
            if what == "mark_dirty":
                raise RuntimeError(
                    "mark_dirty can only accept variables, but argument "
                    f"{index} is of type {type(value).__name__}"
                )
            raise RuntimeError(
                "mark_non_differentiable only accepts variable arguments, but got "
                f"{type(value).__name__}"
            )
        marked[id(value)] = value
    return marked


def _view_as_self(tensor: Tensor) -> Tensor:
    """torch returns an input given back as-is as ``input.view_as(input)`` made under no_grad."""
    with _state.switch(grad_enabled=False, fw_grad_enabled=False):
        return tensor.view_as(tensor)


def _set_edge(tensor: Tensor, node: Node, output_nr: int) -> None:
    tensor._grad_fn = node
    tensor._output_nr = output_nr
    if tensor._vc is not None:
        tensor._attr_version = tensor._vc.value


def _rebase_dirty(tensor: Tensor, node: FunctionNode, output_nr: int, num_outputs: int) -> None:
    """Give an input modified in place by ``forward`` the Function's node as its history."""
    # raw fields: forward's in-place op left a view's cached grad_fn stale on purpose
    if tensor._grad_fn is None and tensor.requires_grad:  # a no_grad view of one too
        raise RuntimeError(_DIRTY_LEAF)
    base = tensor._base
    if base is None:
        old, old_nr = tensor._grad_fn, tensor._output_nr
        _set_edge(tensor, node, output_nr)
        tensor._requires_grad = False
        if tensor._retains_grad:
            # retain_grad follows the tensor to its new node (torch); tensor hooks stay behind
            if old is not None:
                old._drop_retains_grad(old_nr)
            node._set_retains_grad(output_nr, tensor)
        return
    if num_outputs > 1:
        raise RuntimeError(_DIRTY_VIEW_MULTI_OUTPUT)
    if tensor._creation_meta == DEFAULT and tensor.requires_grad and base._grad_fn is None:
        raise RuntimeError(_VIEW_OF_LEAF_INPLACE)  # the root is a leaf, as in _check_writable
    message = _view_inplace_error(tensor, True)
    if message is not None:
        raise RuntimeError(message)
    # In-place on a view: the base gets a CopySlices wrapping this node (torch's rebase_history)
    copy_slices = CopySlices(base, tensor._view_chain, node, base._edge())
    base._grad_fn = copy_slices
    base._output_nr = 0
    base._requires_grad = False
    base._attr_version = base._vc.value
    tensor._attr_version = -1  # the view's grad_fn is regenerated from the base on next access


def _wrap_outputs(
    node: FunctionNode, inputs: list[Tensor], output: Any, executable: bool, has_setup: bool
) -> Any:
    """torch's ``_wrap_outputs``: set each output's history, view kind and requires_grad."""
    raw = tuple(output) if isinstance(output, tuple) else (output,)
    dirty = _marked(node.dirty_tensors, "mark_dirty")
    node.dirty_tensors = None
    for tensor in dirty.values():
        tensor._bump()  # torch bumps marked-dirty tensors once more
    non_differentiable = _marked(node.non_differentiable, "mark_non_differentiable")
    node.non_differentiable = None
    input_ids = {id(t) for t in inputs}
    saved_ids = {id(t) for t in node.to_save or () if isinstance(t, Tensor)} if has_setup else set()
    num_outputs = len(raw)
    results: list[Any] = []
    out_meta: list[Any] = []
    returned: set[int] = set()
    num_differentiable = 0
    for index, value in enumerate(raw):
        if not isinstance(value, Tensor):
            results.append(value)
            out_meta.append(None)
            continue
        var = value
        key = id(var)
        returned.add(key)
        out_meta.append((var._array.shape, var.dtype))
        is_input = key in input_ids
        is_modified = key in dirty
        is_differentiable = (
            executable and key not in non_differentiable and var.dtype.is_floating_point
        )
        if not is_differentiable:
            if not var.requires_grad:
                if is_input and not is_modified:
                    var = _view_as_self(var)
            elif is_input:
                var = var.detach()
            elif var._base is None:
                var.detach_()
            # a view made inside forward keeps requires_grad without a node (torch, B86)
        elif is_modified:
            if not is_input:
                warnings.warn(_DIRTY_NOT_INPUT, UserWarning, stacklevel=3)
            _rebase_dirty(var, node, index, num_outputs)
        elif is_input:
            if key in saved_ids:
                raise RuntimeError(_SAVED_INPUT_RETURNED)
            var = _view_as_self(var)
            _set_edge(var, node, index)
        else:
            _set_edge(var, node, index)
        if not (is_input and is_modified) and var._base is not None:
            var._creation_meta = IN_CUSTOM_FUNCTION
        if is_differentiable:
            num_differentiable += 1
        results.append(var)
    if num_differentiable > 1:
        for var in results:
            if isinstance(var, Tensor) and var._base is not None:
                var._creation_meta = MULTI_OUTPUT_NODE
    if any(key not in returned for key in dirty):
        raise RuntimeError(_DIRTY_NOT_RETURNED)
    node.out_meta = tuple(out_meta)
    if executable:
        node._saved = tuple(
            _save(node, index, value) for index, value in enumerate(node.to_save or ())
        )
    node.to_save = None
    node.saved_for_forward = None
    return tuple(results) if isinstance(output, tuple) else results[0]


def _save(node: FunctionNode, index: int, value: Any) -> tuple[SavedTensor | None, int]:
    if value is None:
        return None, 0
    if not isinstance(value, Tensor):
        raise TypeError(
            f"save_for_backward can only save variables, but argument {index} is of type "
            f"{type(value).__name__}"
        )
    # an output of this node is saved without its grad_fn (no reference cycle)
    is_output = value._grad_fn is node
    return SavedTensor(value, is_output=is_output), value._output_nr if is_output else 0


class Error(Node):
    """torch's ``Error`` node: the history of ``@once_differentiable`` results; raises if used."""

    __slots__ = ("message",)

    def __init__(
        self, message: str, next_edges: tuple[Any, ...], out_meta: tuple[Any, ...]
    ) -> None:
        super().__init__(next_edges, out_meta, out_meta)
        self.message = message

    def apply(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        raise RuntimeError(self.message)


def once_differentiable(fn: _F) -> _F:
    """Decorate a ``backward`` that cannot itself be differentiated.

    It runs under no_grad; when a double backward would need its results (``create_graph``
    with gradients that require grad), they get an ``Error`` node that raises torch's
    "trying to differentiate twice a function that was marked with @once_differentiable".

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.function import Function, once_differentiable
        >>> class Cube(Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x ** 3
        ...     @staticmethod
        ...     @once_differentiable
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved_tensors
        ...         return 3 * x ** 2 * grad
        >>> x = tapegrad.tensor([2.0], requires_grad=True)
        >>> seed = tapegrad.ones(1, requires_grad=True)
        >>> (gx,) = tapegrad.autograd.grad(Cube.apply(x), x, seed, create_graph=True)
        >>> gx
        tensor([12.], grad_fn=<Error>)
        >>> try:
        ...     gx.sum().backward()
        ... except RuntimeError as error:
        ...     print(error)
        trying to differentiate twice a function that was marked with @once_differentiable
    """

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        with _state.switch(grad_enabled=False):
            outputs = fn(ctx, *args, **kwargs)
        if not _state.current().grad_enabled:
            return outputs
        if not any(isinstance(arg, Tensor) and arg.requires_grad for arg in args):
            return outputs
        values = outputs if isinstance(outputs, tuple) else (outputs,)
        edges: list[Any] = []
        metas: list[Any] = []
        for value in values:
            if isinstance(value, Tensor):
                leaf = value.detach()
                leaf.requires_grad_(True)
                edges.append(leaf._edge())
                metas.append((value._array.shape, value.dtype))
            else:
                edges.append(None)
                metas.append(None)
        node = Error(_ONCE_DIFFERENTIABLE, tuple(edges), tuple(metas))
        wrapped: list[Any] = []
        for index, value in enumerate(values):
            if isinstance(value, Tensor):
                value = value.data  # torch: a fresh alias (own version counter) on the Error node
                _set_edge(value, node, index)
            wrapped.append(value)
        return wrapped[0] if len(wrapped) == 1 else tuple(wrapped)

    return wrapper  # type: ignore[return-value]
