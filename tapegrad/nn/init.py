"""In-place parameter initialisers (torch's ``torch.nn.init``), all run under ``no_grad``.

Distributions, bounds and gains follow torch exactly; the random numbers come from
tapegrad's generator (``tapegrad.manual_seed``), so the values differ from torch's stream.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad.autograd.grad_mode import no_grad
from tapegrad.tensor import Tensor, _rng

__all__ = [
    "calculate_gain",
    "constant_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (torch's table).

    Example:
        >>> from tapegrad.nn import init
        >>> init.calculate_gain("relu")
        1.4142135623730951
        >>> init.calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    linear_fns = [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    ]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, int | float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``in * receptive field``, ``out * receptive field``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init._calculate_fan_in_and_fan_out(tapegrad.empty(8, 3, 5, 5))
        (75, 200)
    """
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples from U(a, b).

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> w = init.uniform_(tapegrad.empty(100), -1, 1)
        >>> bool((w.abs() <= 1).all())
        True
    """
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples from N(mean, std^2).

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.normal_(tapegrad.empty(2, 3)).shape
        tapegrad.Size([2, 3])
    """
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill with N(mean, std^2) samples truncated to ``[a, b]`` (by rejection).

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> w = init.trunc_normal_(tapegrad.empty(1000), std=1.0, a=-0.5, b=0.5)
        >>> bool((w.abs() <= 0.5).all())
        True
    """
    rng = _rng(generator)
    values = rng.normal(mean, std, tensor.shape)
    bad = (values < a) | (values > b)
    while bad.any():
        values[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (values < a) | (values > b)
    with no_grad():
        return tensor.copy_(Tensor._from_array(values.astype(tensor._array.dtype)))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.constant_(tapegrad.empty(2), 0.5)
        tensor([0.5000, 0.5000])
    """
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.ones_(tapegrad.empty(2))
        tensor([1., 1.])
    """
    with no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.zeros_(tapegrad.ones(2))
        tensor([0., 0.])
    """
    with no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.eye_(tapegrad.empty(2, 2))
        tensor([[1., 0.],
                [0., 1.]])
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        eye = np.eye(*tensor.shape, dtype=tensor._array.dtype)
        return tensor.copy_(Tensor._from_array(eye))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> w = init.xavier_uniform_(tapegrad.empty(3, 5))
        >>> bool((w.abs() <= (6 / 8) ** 0.5).all())
        True
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.xavier_normal_(tapegrad.empty(3, 5)).shape
        tapegrad.Size([3, 5])
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> w = init.kaiming_uniform_(tapegrad.empty(4, 6), a=5 ** 0.5)
        >>> bool((w.abs() <= 1 / 6 ** 0.5).all())
        True
    """
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> init.kaiming_normal_(tapegrad.empty(4, 6), nonlinearity="relu").shape
        tapegrad.Size([4, 6])
    """
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a normal sample, times ``gain``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.nn import init
        >>> w = init.orthogonal_(tapegrad.empty(3, 3, dtype=tapegrad.float64))
        >>> bool(((w @ w.t()) - tapegrad.eye(3, dtype=tapegrad.float64)).abs().max() < 1e-12)
        True
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    values = (gain * q).reshape(tensor.shape).astype(tensor._array.dtype)
    with no_grad():
        return tensor.copy_(Tensor._from_array(values))
