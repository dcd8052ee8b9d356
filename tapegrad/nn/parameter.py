"""``Parameter``: a Tensor that a ``Module`` registers as one of its parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.tensor import Tensor, _rebuild

__all__ = ["Buffer", "Parameter"]


class Parameter(Tensor):
    """A leaf tensor that a ``Module`` registers as a parameter when assigned as an attribute.

    It shares storage (and the version counter) with ``data`` and defaults to
    ``requires_grad=True``. Results of operations on a Parameter are plain Tensors.

    Example:
        >>> import tapegrad
        >>> p = tapegrad.nn.Parameter(tapegrad.ones(2))
        >>> p
        Parameter containing:
        tensor([1., 1.], requires_grad=True)
        >>> type(p * 2).__name__
        'Tensor'
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = Tensor._from_array(np.empty((0,), dtype=np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}"
            )
        out = Tensor.__new__(cls)
        out._init(data._array)
        if data._vc is not None:
            out._vc = data._vc
        out._is_inference = data._is_inference
        if requires_grad:
            out.requires_grad_(True)
        return out

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self._array.copy(), self.requires_grad))


def _rebuild_parameter(array: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(_rebuild(array, False), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a ``Module`` attribute.

    Assigning ``module.name = Buffer(t)`` registers ``t`` (not a copy) as a buffer; the
    module keeps the plain tensor, as torch does.

    Example:
        >>> import tapegrad
        >>> m = tapegrad.nn.Module()
        >>> m.count = tapegrad.nn.Buffer(tapegrad.zeros(1))
        >>> list(m.state_dict())
        ['count']
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        if data is None:
            data = Tensor._from_array(np.empty((0,), dtype=np.float32))
        out = Tensor.__new__(cls)
        out._init(data._array)
        if data._vc is not None:
            out._vc = data._vc
        out._tensor = data  # type: ignore[attr-defined]
        out.persistent = persistent  # type: ignore[attr-defined]
        return out

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass
