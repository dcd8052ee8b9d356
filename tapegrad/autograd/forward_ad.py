"""Forward-mode AD (mirrors ``torch.autograd.forward_ad``).

A dual tensor carries a tangent tagged with the dual level it was made in. Ops propagate
tangents through their JVP rules (``tapegrad.ops``) while the level is alive; when the level
exits, every tangent made in it becomes invisible. As in PyTorch, only one level exists at a
time and levels are process-global. ``no_grad`` does not stop forward AD; ``inference_mode``
does. Tangents are computed with Tensor ops, so they are themselves differentiable in reverse
mode. See ``docs/forward-ad.md``.

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
from tapegrad.utils._contextlib import _DecoratorContextManager

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]

_SIZE_MISMATCH = (
    "Trying to set a forward gradient that has a different size than that of the original "
    "Tensor, this is not supported. Tensor is of size {} while the given forward gradient is of "
    "size {}."
)


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
    """Exit the current dual level; the tangents made in it are gone.

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> level = fwAD.enter_dual_level()
        >>> d = fwAD.make_dual(tapegrad.ones(1), tapegrad.ones(1))
        >>> fwAD.exit_dual_level(level=level)
        >>> fwAD.unpack_dual(d).tangent is None
        True
    """
    levels = _state.forward_levels
    with levels.lock:
        current = -1 if levels.current is None else 0
        if level is None:
            level = current
        if level != current:
            raise RuntimeError(
                "Trying to exit a forward AD level that was not the last one that was created. "
                "This is not supported."
            )
        if level < 0:
            raise RuntimeError("Dual level must be a positive number.")
        levels.current = None


class dual_level(_DecoratorContextManager):  # noqa: N801 (torch's name)
    """Context manager (or decorator) for one forward-AD level; ``as`` binds its index (0).

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> with fwAD.dual_level() as level:
        ...     level
        0
        >>> @fwAD.dual_level()
        ... def tangent_of_square(x, v):
        ...     return fwAD.unpack_dual(fwAD.make_dual(x, v) ** 2).tangent
        >>> tangent_of_square(tapegrad.tensor([3.0]), tapegrad.tensor([1.0]))
        tensor([6.])
    """

    def __init__(self) -> None:  # no effect until entered: no "never entered" warning
        pass

    def __enter__(self) -> int:  # type: ignore[override]
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()


def _live_level(level: int | None) -> int:
    """The live level's id for the public index ``level`` (torch's errors otherwise)."""
    current = _state.forward_levels.current
    if (level is None and current is None) or (level is not None and level < 0):
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, "
                           "make sure to enter_dual_level() first.")
    if current is None:
        raise RuntimeError("Trying to access a forward AD level with an invalid index. This "
                           "index was either not created or is already deleted.")
    if level not in (None, 0):
        raise RuntimeError("Invalid level given to _make_dual")
    return current


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of ``tensor`` carrying ``tangent`` at the current level.

    The tangent is kept as-is when its layout matches the primal's, copied otherwise. Like
    torch, the result is differentiable in reverse mode (its ``grad_fn`` is a view node).

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> with fwAD.dual_level():
        ...     d = fwAD.make_dual(tapegrad.tensor([1.0]), tapegrad.tensor([2.0]))
        ...     fwAD.unpack_dual(d.exp()).tangent
        tensor([5.4366])
    """
    if level is None or level < 0:
        _live_level(level)  # torch checks for a level before the dtypes
    for name, value in (("primal", tensor), ("tangent", tangent)):
        if not value.dtype.is_floating_point:
            raise ValueError(
                f"Expected {name} to be floating point or complex, but got: {value.dtype}")
    current = _live_level(level)
    if tensor._live_tangent(current) is not None:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the "
            "same level 0 is not supported."
        )
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(_SIZE_MISMATCH.format(list(tensor.shape), list(tangent.shape)))
    dual = _apply(ops.view_p, tensor, shape=tuple(tensor.shape))  # torch: ViewBackward0
    if _state.current().inference_mode:  # forward AD is off: no tangent, now or later (B111)
        return dual
    if tangent.stride() != tensor.stride():  # torch copies a tangent of another layout
        tangent = tangent.clone(memory_format="contiguous")
    dual._tangent = (current, tangent)
    return dual


class UnpackedDualTensor(NamedTuple):
    """``(primal, tangent)`` as returned by :func:`unpack_dual`.

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> primal, tangent = fwAD.unpack_dual(tapegrad.ones(1))
        >>> tangent is None
        True
    """

    primal: Tensor
    tangent: Tensor | None


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """Split a dual tensor into a primal view (without tangent) and its tangent (or None).

    Outside any level the tensor itself comes back with tangent None; inside one, the primal
    is a new view, as in torch. The tangent is the stored tensor itself.

    Example:
        >>> import tapegrad, tapegrad.autograd.forward_ad as fwAD
        >>> fwAD.unpack_dual(tapegrad.ones(1)).tangent is None
        True
        >>> with fwAD.dual_level():
        ...     v = tapegrad.tensor([3.0])
        ...     fwAD.unpack_dual(fwAD.make_dual(tapegrad.ones(1), v)).tangent is v
        True
    """
    current = _state.forward_levels.current
    if current is None or level not in (None, 0):
        return UnpackedDualTensor(tensor, None)
    tangent = None
    if _state.current().fw_grad_enabled:
        tangent = tensor._live_tangent(current)
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
