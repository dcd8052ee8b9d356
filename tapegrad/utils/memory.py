"""How many bytes an autograd graph keeps alive for backward (the saved tensors)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._engine import SavedTensor
from tapegrad.tensor import Tensor

__all__ = ["saved_tensor_bytes"]


def _saved_values(node: Any) -> list[Any]:
    values: list[Any] = []
    saved = getattr(node, "saved", None)  # op-table nodes: name -> SavedTensor | value
    if isinstance(saved, dict):
        values.extend(saved.values())
    function_saved = getattr(node, "_saved", None)  # custom Function nodes
    if isinstance(function_saved, tuple):
        values.extend(item[0] for item in function_saved if isinstance(item, tuple))
    inner = getattr(node, "fn", None)  # CopySlices wraps the node of the in-place op
    if inner is not None:
        values.extend(_saved_values(inner))
    return values


def _arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, SavedTensor):
        value = value._value  # None once released by a backward
    if isinstance(value, Tensor):
        return [value._array]
    if isinstance(value, tuple | list):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, np.ndarray):
        return [value]
    return []


def _owner(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory (a view keeps its whole base alive)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def saved_tensor_bytes(output: Any) -> int:
    """Bytes of the arrays saved for backward in the graph behind ``output``.

    Walks ``grad_fn.next_functions`` iteratively from ``output`` (a tensor or a graph node)
    and sums the ``nbytes`` of each distinct array that the nodes keep for backward (a view
    counts its whole base once). A tensor without a ``grad_fn`` - computed under
    ``no_grad`` or ``inference_mode`` - keeps nothing alive and gives 0.

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.memory import saved_tensor_bytes
        >>> x = tapegrad.ones(1000, requires_grad=True)
        >>> saved_tensor_bytes(x.exp().sum())  # exp saves its float32 output
        4000
        >>> with tapegrad.no_grad():
        ...     saved_tensor_bytes(x.exp().sum())
        0
    """
    root = output.grad_fn if isinstance(output, Tensor) else output
    seen_nodes: set[int] = set()
    seen_arrays: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        for value in _saved_values(node):
            for array in _arrays(value):
                owner = _owner(array)
                if id(owner) not in seen_arrays:
                    seen_arrays.add(id(owner))
                    total += int(owner.nbytes)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return total
