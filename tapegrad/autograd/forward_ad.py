"""Forward-mode AD (mirrors ``torch.autograd.forward_ad``).

A dual tensor carries a tangent tagged with the dual level it was made in. Ops propagate
tangents through their JVP rules (``tapegrad.ops``) while the level is alive; when the level
exits, every tangent made in it becomes invisible. As in PyTorch, only one level exists at a
time and levels are process-global. ``no_grad`` does not stop forward AD; ``inference_mode``
does.

Example:
    >>> import tapegrad
    >>> import tapegrad.autograd.forward_ad as fwAD
    >>> x = tapegrad.tensor([1.0, 2.0])
    >>> with fwAD.dual_level():
    ...     d = fwAD.make_dual(x, tapegrad.ones(2))
    ...     y = (d * d).sum()
    ...     fwAD.unpack_dual(y).tangent
    tensor(6.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tapegrad import _state, ops
from tapegrad.tensor import Tensor, _apply

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]


def enter_dual_level() -> int:
    """Enter a new dual level and return its index (always 0: levels do not nest).

    Example:
        >>> import tapegrad.autograd.forward_ad as fwAD
        >>> fwAD.enter_dual_level()
        0
        >>> fwAD.exit_dual_level()
    """
    levels = _state.forward_levels
    with levels.lock:
        if levels.current is not None:
            raise RuntimeError("Nested forward mode AD is not supported at the moment")
        levels.current = next(levels.ids)
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """Exit the current dual level; the tangents made in it are gone."""
    levels = _state.forward_levels
    with levels.lock:
        if levels.current is None or level not in (None, 0):
            raise RuntimeError(
                "Trying to exit a forward AD level that was not the last one that was created. "
                "This is not supported."
            )
        levels.current = None


class dual_level:  # noqa: N801 (torch's name)
    """Context manager for one forward-AD level; ``as`` binds the level index (0).

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> with fwAD.dual_level() as level:
        ...     level
        0
    """

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of ``tensor`` carrying ``tangent`` at the current level.

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> with fwAD.dual_level():
        ...     d = fwAD.make_dual(tapegrad.tensor([1.0]), tapegrad.tensor([2.0]))
        ...     fwAD.unpack_dual(d.exp()).tangent
        tensor([5.4366])
    """
    current = _state.forward_levels.current
    if current is None:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    if not tensor.dtype.is_floating_point:
        raise ValueError(
            f"Expected primal to be floating point or complex, but got: {tensor.dtype}"
        )
    if not tangent.dtype.is_floating_point:
        raise ValueError(
            f"Expected tangent to be floating point or complex, but got: {tangent.dtype}"
        )
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    if _state.current().inference_mode:  # forward AD is off: a plain copy, no tangent (B111)
        return tensor.clone()
    dual = _apply(ops.alias_p, tensor)
    if tangent.dtype is not tensor.dtype:
        tangent = tangent.to(tensor.dtype)
    dual._tangent = (current, tangent)
    return dual


class UnpackedDualTensor(NamedTuple):
    """``(primal, tangent)`` as returned by :func:`unpack_dual`."""

    primal: Tensor
    tangent: Tensor | None


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """Split a dual tensor into a primal view (without tangent) and its tangent (or None).

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> fwAD.unpack_dual(tapegrad.ones(1)).tangent is None
        True
    """
    current = _state.forward_levels.current
    tangent = None
    if current is not None and _state.current().fw_grad_enabled:
        tangent = tensor._live_tangent(current)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    with _state.switch(fw_grad_enabled=False):
        primal = _apply(ops.alias_p, tensor)
    return UnpackedDualTensor(primal, tangent)


def _is_fwd_grad_enabled() -> bool:
    return _state.current().fw_grad_enabled


class _set_fwd_grad_enabled:  # noqa: N801 (torch's name)
    """Private toggle of forward-AD propagation for the current thread (as torch's)."""

    def __init__(self, mode: bool) -> None:
        self.previous = _state.update(fw_grad_enabled=mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _state.install(self.previous)
