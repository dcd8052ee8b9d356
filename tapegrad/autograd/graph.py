"""Graph-level autograd helpers (mirrors part of ``torch.autograd.graph``).

``Node`` is the base class of every ``grad_fn``; ``increment_version`` tells autograd that a
tensor changed behind its back.
"""

from __future__ import annotations

from collections.abc import Iterable

from tapegrad._engine import Node
from tapegrad.tensor import Tensor

__all__ = ["Node", "increment_version"]


def increment_version(tensor: Tensor | Iterable[Tensor]) -> None:
    """Bump the version counter of a tensor (or of each tensor in an iterable).

    Call it after changing a tensor's data in a way tapegrad cannot see (through its NumPy
    array, say), so that a backward that saved the old value raises instead of using the new
    one. Inference tensors have no counter: they are left alone.

    Example:
        >>> import tapegrad
        >>> x = tapegrad.ones(2)
        >>> tapegrad.autograd.graph.increment_version(x)
        >>> x._version
        1
    """
    if isinstance(tensor, Tensor):
        tensors: tuple[object, ...] = (tensor,)
    elif isinstance(tensor, Iterable):
        tensors = tuple(tensor)
    else:  # torch's messages and type
        raise RuntimeError("increment_version expect a Iterable[Tensor] as input")
    if not all(isinstance(item, Tensor) for item in tensors):  # checked before any bump
        raise RuntimeError("increment_version expects each element of the iterable to be a tensor")
    for item in tensors:
        item._bump()  # type: ignore[attr-defined]
