"""Parameter utilities (torch's ``torch.nn.utils``): gradient clipping and flattening."""

from __future__ import annotations

import math
from collections.abc import Iterable

from tapegrad.autograd.grad_mode import no_grad
from tapegrad.tensor import Tensor, cat, stack, tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale gradients in place so that their joint ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping. As in torch, the gradients are multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``.

    Example:
        >>> import tapegrad
        >>> p = tapegrad.nn.Parameter(tapegrad.zeros(2))
        >>> p.grad = tapegrad.tensor([3.0, 4.0])
        >>> tapegrad.nn.utils.clip_grad_norm_([p], max_norm=1.0)
        tensor(5.)
        >>> p.grad
        tensor([0.6000, 0.8000])
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    with no_grad():
        norms = [g.detach().norm(norm_type) for g in grads]
        total = stack([n.to(norms[0].dtype) for n in norms]).norm(norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
            )
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]``.

    Example:
        >>> import tapegrad
        >>> p = tapegrad.nn.Parameter(tapegrad.zeros(2))
        >>> p.grad = tapegrad.tensor([-3.0, 0.5])
        >>> tapegrad.nn.utils.clip_grad_value_(p, 1.0)
        >>> p.grad
        tensor([-1.0000,  0.5000])
    """
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Concatenate the flattened parameters into one vector.

    Example:
        >>> import tapegrad
        >>> tapegrad.nn.utils.parameters_to_vector(tapegrad.nn.Linear(2, 3).parameters()).shape
        tapegrad.Size([9])
    """
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy slices of ``vec`` into the parameters (replacing their data, as torch).

    Example:
        >>> import tapegrad
        >>> fc = tapegrad.nn.Linear(1, 1)
        >>> tapegrad.nn.utils.vector_to_parameters(tapegrad.tensor([2.0, 3.0]), fc.parameters())
        >>> fc.weight.item(), fc.bias.item()
        (2.0, 3.0)
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        param.data = vec[pointer : pointer + n].reshape(param.shape).detach().clone()
        pointer += n
