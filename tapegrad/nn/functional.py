"""Stateless layer functions (torch's ``torch.nn.functional``): composites of Tensor ops.

No derivative math lives here: every function is built from Tensor methods and op-table
primitives (``tapegrad.ops``), so gradients, double backward and ``_version`` semantics come
from the core. Convolution and pooling use the ``im2col`` primitive (sliding windows).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _dtype, ops
from tapegrad.autograd.grad_mode import no_grad
from tapegrad.tensor import Tensor, _apply, _inplace, _rng, where

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "fold",
    "gelu",
    "hardtanh",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool1d",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "relu",
    "relu6",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "tanh",
    "unfold",
]


# ----------------------------------------------------------------------------- helpers
def _tuple(value: Any, n: int, name: str = "") -> tuple[int, ...]:
    if isinstance(value, int | np.integer):
        return (int(value),) * n
    out = tuple(int(v) for v in value)
    if len(out) == 1 and n > 1:
        return out * n
    if len(out) != n:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {n} "
            f"values to match the convolution dimensions, but got {name}="
            f"{list(out)}"
        )
    return out


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        result = "mean"
    elif reduce:
        result = "sum"
    else:
        result = "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{result}' "
        "instead.",
        UserWarning,
        stacklevel=3,
    )
    return result


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


# ----------------------------------------------------------------------------- linear
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.linear(tapegrad.ones(1, 2), tapegrad.ones(3, 2), tapegrad.zeros(3))
        tensor([[2., 2., 2.]])
    """
    out = input.matmul(weight.t()) if weight.ndim == 2 else input.matmul(weight)
    return out if bias is None else out + bias


# ----------------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Rectified linear unit, ``max(x, 0)`` (gradient 0 at 0, as in torch).

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.relu(tapegrad.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """
    return input.relu_() if inplace else input.relu()


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.relu6(tapegrad.tensor([-1.0, 3.0, 9.0]))
        tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """Clamp to ``[min_val, max_val]``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.hardtanh(tapegrad.tensor([-3.0, 0.5, 3.0]))
        tensor([-1.0000,  0.5000,  1.0000])
    """
    if inplace:
        return _inplace(input, ops.hardtanh_p, min_val=min_val, max_val=max_val)
    return _apply(ops.hardtanh_p, input, min_val=min_val, max_val=max_val)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` for ``x > 0`` else ``negative_slope * x``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.leaky_relu(tapegrad.tensor([-2.0, 3.0]), 0.5)
        tensor([-1.,  3.])
    """
    if inplace:
        return _inplace(input, ops.leaky_relu_inplace_p, negative_slope=negative_slope)
    return _apply(ops.leaky_relu_p, input, negative_slope=negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for ``x > 0`` else ``alpha * (exp(x) - 1)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.elu(tapegrad.tensor([0.0, 1.0]))
        tensor([0., 1.])
    """
    if inplace:
        return input.copy_(elu(input.clone(), alpha))
    return where(input > 0, input, input.clamp(max=0.0).expm1() * alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit; ``approximate="tanh"`` uses the tanh approximation.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.gelu(tapegrad.tensor([0.0, 1.0]))
        tensor([0.0000, 0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _apply(ops.gelu_p, input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (swish).

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.silu(tapegrad.tensor([0.0, 1.0]))
        tensor([0.0000, 0.7311])
    """
    if inplace:
        return _inplace(input, ops.silu_p)
    return _apply(ops.silu_p, input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.softplus(tapegrad.tensor([0.0]))
        tensor([0.6931])
    """
    return _apply(ops.softplus_p, input, beta=beta, threshold=threshold)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.tanh(tapegrad.tensor([0.0]))
        tensor([0.])
    """
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    """Logistic sigmoid.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.sigmoid(tapegrad.tensor([0.0]))
        tensor([0.5000])
    """
    return input.sigmoid()


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """Softmax along ``dim``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.softmax(tapegrad.tensor([0.0, 0.0]), dim=0)
        tensor([0.5000, 0.5000])
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    return input.softmax(dim, dtype=dtype)


def log_softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """Log of softmax along ``dim``, computed stably.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.log_softmax(tapegrad.tensor([0.0, 0.0]), dim=0)
        tensor([-0.6931, -0.6931])
    """
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    return input.log_softmax(dim, dtype=dtype)


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None
) -> Tensor:
    """Divide by the ``p``-norm along ``dim`` (at least ``eps``).

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.normalize(tapegrad.tensor([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])
    """
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    result = input / denom
    return result if out is None else out.copy_(result)


# ----------------------------------------------------------------------------- dropout
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Identity when ``training`` is False. Randomness comes from tapegrad's default generator.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.dropout(tapegrad.ones(3), p=0.5, training=False)
        tensor([1., 1., 1.])
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input.mul_(0.0) if inplace else input * 0.0
    keep = _rng(None).random(input.shape) >= p
    mask = Tensor._from_array((keep / (1.0 - p)).astype(input._array.dtype))
    return input.mul_(mask) if inplace else input * mask


# ----------------------------------------------------------------------------- padding
def pad(
    input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``(left, right, top, bottom, ...)``; negative crops.

    Only ``mode="constant"`` is supported.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.pad(tapegrad.ones(1, 2), (1, 0), value=5.0)
        tensor([[5., 1., 1.]])
    """
    if mode != "constant":
        raise NotImplementedError(f"pad(mode={mode!r}) is not supported; only 'constant'")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input "
            "dimension but got padding length "
            f"{len(pad)} and input of dimension {input.ndim}"
        )
    return _apply(ops.pad_p, input, pad=pad, value=0.0 if value is None else value)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices to an int64 one-hot tensor with a trailing class dim.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.one_hot(tapegrad.tensor([0, 2]), 3)
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    if tensor.dtype is not _dtype.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    array = tensor._array
    if num_classes == -1:
        if array.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(array.max()) + 1
    if array.size and array.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if array.size and array.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return Tensor._from_array((array[..., None] == np.arange(num_classes)).astype(np.int64))


# ----------------------------------------------------------------------------- convolution
def _patches(
    x: Tensor, kernel: tuple[int, ...], dilation: tuple[int, ...], stride: tuple[int, ...]
) -> Tensor:
    return _apply(ops.im2col_p, x, kernel_size=kernel, dilation=dilation, stride=stride)


def _conv_padding(
    padding: Any,
    kernel: tuple[int, ...],
    dilation: tuple[int, ...],
    stride: tuple[int, ...],
    nd: int,
) -> tuple[int, ...]:
    """Padding as the flat ``F.pad`` tuple (last dim first)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * nd)
        if padding != "same":
            raise ValueError(
                f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}"
            )
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        flat: list[int] = []
        for k, d in reversed(list(zip(kernel, dilation, strict=True))):
            total = d * (k - 1)
            flat += [total // 2, total - total // 2]
        return tuple(flat)
    sizes = _tuple(padding, nd, "padding")
    if any(p < 0 for p in sizes):
        raise RuntimeError("negative padding is not supported")
    flat = []
    for p in reversed(sizes):
        flat += [p, p]
    return tuple(flat)


def _conv(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    nd: int,
) -> Tensor:
    name = f"conv{nd}d"
    unbatched = input.ndim == nd + 1
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
            f"{name}, but got input of size: {list(input.shape)}"
        )
    x = input.unsqueeze(0) if unbatched else input
    kernel = tuple(weight.shape[2:])
    stride_t = _tuple(stride, nd, "stride")
    dilation_t = _tuple(dilation, nd, "dilation")
    pads = _conv_padding(padding, kernel, dilation_t, stride_t, nd)
    out_channels, in_per_group = weight.shape[0], weight.shape[1]
    channels = x.shape[1]
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if channels != in_per_group * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {in_per_group * groups} channels, but got {channels} "
            "channels instead"
        )
    if out_channels % groups:
        raise RuntimeError(
            "Given groups=" + str(groups) + ", expected weight to be divisible "
            f"by {groups} at dimension 0, but got weight of size "
            f"{list(weight.shape)} instead"
        )
    if x.dtype is not weight.dtype:
        raise RuntimeError(
            f"Input type ({x.dtype}) and weight type ({weight.dtype}) should be the same"
        )
    if any(pads):
        x = _apply(ops.pad_p, x, pad=pads, value=0.0)
    for size, k, d in zip(x.shape[2:], kernel, dilation_t, strict=True):
        if size < d * (k - 1) + 1:
            sizes = " x ".join(map(str, x.shape[2:]))
            raise RuntimeError(
                f"Calculated padded input size per channel: ({sizes}). "
                f"Kernel size: ({' x '.join(map(str, kernel))}). Kernel size can't be greater "
                "than actual input size"
            )
    batch = x.shape[0]
    cols = _patches(x, kernel, dilation_t, stride_t)  # (N, *out, C, *k)
    out_spatial = tuple(cols.shape[1 : 1 + nd])
    rows = batch * math.prod(out_spatial)
    per_group = in_per_group * math.prod(kernel)
    if groups == 1:
        out = cols.reshape(rows, per_group).matmul(weight.reshape(out_channels, per_group).t())
    else:
        grouped = cols.reshape(rows, groups, per_group).permute(1, 0, 2)
        w = weight.reshape(groups, out_channels // groups, per_group).transpose(1, 2)
        out = grouped.matmul(w).permute(1, 0, 2).reshape(rows, out_channels)
    if bias is not None:
        out = out + bias
    out = out.reshape(batch, *out_spatial, out_channels)
    out = out.permute(0, nd + 1, *range(1, nd + 1)).contiguous()
    return out.squeeze(0) if unbatched else out


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution (cross-correlation) over ``(N, C, L)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.conv1d(tapegrad.ones(1, 1, 4), tapegrad.ones(1, 1, 2))
        tensor([[[2., 2., 2.]]])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation) over ``(N, C, H, W)``: strides, padding
    (ints or ``"same"``/``"valid"``), dilation and groups, as in torch.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.conv2d(tapegrad.ones(1, 1, 3, 3), tapegrad.ones(1, 1, 2, 2), padding=1).shape
        tapegrad.Size([1, 1, 4, 4])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def unfold(
    input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """Sliding local blocks: ``(N, C, H, W)`` -> ``(N, C * kh * kw, L)`` (torch's layout).

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.unfold(tapegrad.ones(1, 2, 3, 3), 2).shape
        tapegrad.Size([1, 8, 4])
    """
    if input.ndim != 4:
        raise NotImplementedError("unfold supports 4-D (batched 2-D) input only")
    kernel = _tuple(kernel_size, 2)
    pads = _conv_padding(padding, kernel, _tuple(dilation, 2), _tuple(stride, 2), 2)
    x = _apply(ops.pad_p, input, pad=pads, value=0.0) if any(pads) else input
    cols = _patches(x, kernel, _tuple(dilation, 2), _tuple(stride, 2))  # (N, oh, ow, C, kh, kw)
    n, oh, ow = cols.shape[:3]
    return cols.reshape(n, oh * ow, -1).transpose(1, 2)


def fold(
    input: Tensor,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """The adjoint of ``unfold``: sum blocks ``(N, C * kh * kw, L)`` into ``(N, C, H, W)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.fold(F.unfold(tapegrad.ones(1, 1, 3, 3), 2), (3, 3), 2)[0, 0]
        tensor([[1., 2., 1.],
                [2., 4., 2.],
                [1., 2., 1.]])
    """
    kernel = _tuple(kernel_size, 2)
    dil, strd, size = _tuple(dilation, 2), _tuple(stride, 2), _tuple(output_size, 2)
    pad_hw = _tuple(padding, 2)
    padded = tuple(s + 2 * p for s, p in zip(size, pad_hw, strict=True))
    out_hw = tuple(
        (s - d * (k - 1) - 1) // st + 1
        for s, d, k, st in zip(padded, dil, kernel, strd, strict=True)
    )
    n = input.shape[0]
    channels = input.shape[1] // (kernel[0] * kernel[1])
    cols = input.transpose(1, 2).reshape(n, *out_hw, channels, *kernel)
    out = _apply(ops.col2im_p, cols, size=padded, kernel_size=kernel, dilation=dil, stride=strd)
    if any(pad_hw):
        out = _apply(
            ops.pad_p, out, pad=(-pad_hw[1], -pad_hw[1], -pad_hw[0], -pad_hw[0]), value=0.0
        )
    return out


# ----------------------------------------------------------------------------- pooling
def _pool_geometry(
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    nd: int,
    name: str,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    kernel = _tuple(kernel_size, nd)
    stride_t = (
        kernel
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _tuple(stride, nd)
    )
    pads = _tuple(padding, nd)
    dil = _tuple(dilation, nd)
    for k, p, d in zip(kernel, pads, dil, strict=True):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={p}, "
                f"kernel_size={k} and dilation={d}"
            )
    extra = []
    for size, k, s, p, d in zip(input.shape[-nd:], kernel, stride_t, pads, dil, strict=True):
        span = size + 2 * p - d * (k - 1) - 1
        if ceil_mode:
            out = -(-span // s) + 1
            if (out - 1) * s >= size + p:  # the last window must start inside the input
                out -= 1
        else:
            out = span // s + 1
        if out <= 0:
            raise RuntimeError(
                f"Given input size: ({'x'.join(map(str, input.shape[-nd - 1 :]))}). Calculated "
                f"output size: ({'x'.join(map(str, [input.shape[-nd - 1]] + [out]))}). Output "
                "size is too small"
            )
        extra.append(max((out - 1) * s + d * (k - 1) + 1 - (size + 2 * p), 0))
    return kernel, stride_t, pads, dil, tuple(extra)


def _pool_input(input: Tensor, nd: int, name: str) -> tuple[Tensor, bool]:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}: Expected {nd + 1}D or {nd + 2}D input, got {input.ndim}D")
    unbatched = input.ndim == nd + 1
    return (input.unsqueeze(0) if unbatched else input), unbatched


def _flat_pad(pads: tuple[int, ...], extra: tuple[int, ...]) -> tuple[int, ...]:
    flat: list[int] = []
    for p, e in zip(reversed(pads), reversed(extra), strict=True):
        flat += [p, p + e]
    return tuple(flat)


def _max_pool(
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
    nd: int,
) -> Any:
    name = f"max_pool{nd}d"
    x, unbatched = _pool_input(input, nd, name)
    kernel, stride_t, pads, dil, extra = _pool_geometry(
        x, kernel_size, stride, padding, dilation, ceil_mode, nd, name
    )
    flat = _flat_pad(pads, extra)
    padded = _apply(ops.pad_p, x, pad=flat, value=-math.inf) if any(flat) else x
    cols = _patches(padded, kernel, dil, stride_t)  # (N, *out, C, *k)
    out_spatial = tuple(cols.shape[1 : 1 + nd])
    values, arg = cols.flatten(2 + nd).max(dim=-1)  # first maximum wins, as in torch
    order = (0, nd + 1, *range(1, nd + 1))
    out = values.permute(*order).contiguous()
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    # flat index into the (unpadded) input plane of each window's maximum
    k_pos = np.unravel_index(arg._array, kernel)
    flat_index = np.zeros(arg.shape, dtype=np.int64)
    plane = x.shape[2:]
    for axis in range(nd):
        shape = [1] * arg.ndim
        shape[1 + axis] = out_spatial[axis]
        start = (np.arange(out_spatial[axis]) * stride_t[axis] - pads[axis]).reshape(shape)
        coord = start + k_pos[axis] * dil[axis]
        flat_index = flat_index * plane[axis] + coord
    indices = Tensor._from_array(np.ascontiguousarray(flat_index.transpose(order)))
    return out, (indices.squeeze(0) if unbatched else indices)


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """1-D max pooling over ``(N, C, L)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.max_pool1d(tapegrad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2)
        tensor([[[3., 2.]]])
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling over ``(N, C, H, W)``; the gradient goes to the first maximum.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.max_pool2d(tapegrad.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def _avg_pool(
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    nd: int,
) -> Tensor:
    name = f"avg_pool{nd}d"
    x, unbatched = _pool_input(input, nd, name)
    kernel, stride_t, pads, dil, extra = _pool_geometry(
        x, kernel_size, stride, padding, 1, ceil_mode, nd, name
    )
    flat = _flat_pad(pads, extra)
    padded = _apply(ops.pad_p, x, pad=flat, value=0.0) if any(flat) else x
    cols = _patches(padded, kernel, dil, stride_t)  # (N, *out, C, *k)
    sums = cols.flatten(2 + nd).sum(-1)  # (N, *out, C)
    if divisor_override is not None:
        out = sums / divisor_override
    elif not any(flat):
        out = sums / math.prod(kernel)
    else:
        # torch divides by the window clipped to input + padding (or to the input alone)
        plane = np.zeros((1, 1, *x.shape[2:]), dtype=np.float64)
        plane[...] = 1.0
        if count_include_pad:
            plane = np.pad(plane, [(0, 0), (0, 0), *((p, p) for p in pads)], constant_values=1)
            plane = np.pad(plane, [(0, 0), (0, 0), *((0, e) for e in extra)])
        else:
            plane = np.pad(
                plane, [(0, 0), (0, 0), *((p, p + e) for p, e in zip(pads, extra, strict=True))]
            )
        counts = ops._im2col(plane, kernel_size=kernel, dilation=dil, stride=stride_t)
        counts = counts.reshape(*counts.shape[: 1 + nd], -1).sum(-1)  # (1, *out)
        divisor = Tensor._from_array(counts[..., None].astype(sums._array.dtype))
        out = sums / divisor
    out = out.permute(0, nd + 1, *range(1, nd + 1)).contiguous()
    return out.squeeze(0) if unbatched else out


def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling over ``(N, C, L)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.avg_pool1d(tapegrad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2)
        tensor([[[2., 1.]]])
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling over ``(N, C, H, W)``.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.avg_pool2d(tapegrad.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
    """
    return _avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2
    )


def _adaptive_matrix(size: int, out: int, dtype: Any) -> Tensor:
    matrix = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start = (i * size) // out
        end = -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return Tensor._from_array(matrix)


def _adaptive_avg_pool(input: Tensor, output_size: Any, nd: int) -> Tensor:
    name = f"adaptive_avg_pool{nd}d"
    x, unbatched = _pool_input(input, nd, name)
    given = (output_size,) * nd if isinstance(output_size, int | None) else tuple(output_size)
    if len(given) != nd:
        raise RuntimeError(f"{name}: output_size must be {nd}")
    sizes = tuple(int(s) if s is not None else int(x.shape[2 + i]) for i, s in enumerate(given))
    spatial = tuple(x.shape[2:])
    if all(s == 1 for s in sizes):
        out = x.mean(dim=tuple(range(2, 2 + nd)), keepdim=True)
    elif all(i % o == 0 for i, o in zip(spatial, sizes, strict=True)):
        kernel = tuple(i // o for i, o in zip(spatial, sizes, strict=True))
        out = _avg_pool(x, kernel, kernel, 0, False, True, None, nd)
    else:  # separable averaging matrices over torch's windows [floor(i*I/O), ceil((i+1)*I/O))
        out = x
        for axis in range(nd):
            matrix = _adaptive_matrix(spatial[axis], sizes[axis], x._array.dtype)
            out = out.movedim(2 + axis, -1).matmul(matrix.t()).movedim(-1, 2 + axis)
        out = out.contiguous()
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output length.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.adaptive_avg_pool1d(tapegrad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 1)
        tensor([[[1.5000]]])
    """
    return _adaptive_avg_pool(input, output_size, 1)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (windows as in torch, overlapping if needed).

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.adaptive_avg_pool2d(tapegrad.ones(1, 3, 5, 7), (2, 3)).shape
        tapegrad.Size([1, 3, 2, 3])
    """
    return _adaptive_avg_pool(input, output_size, 2)


# ----------------------------------------------------------------------------- normalization
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-05,
) -> Tensor:
    """Batch normalization over every dim but the channel dim (1).

    In training (or without running statistics) it normalizes with the batch statistics
    (biased variance) and updates ``running_mean``/``running_var`` in place with
    ``momentum`` (unbiased variance, as torch); otherwise it uses the running statistics.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> x = tapegrad.tensor([[1.0], [3.0]])
        >>> mean, var = tapegrad.zeros(1), tapegrad.ones(1)
        >>> F.batch_norm(x, mean, var, training=True)
        tensor([[-1.0000],
                [ 1.0000]])
        >>> mean, var
        (tensor([0.2000]), tensor([1.1000]))
    """
    if input.ndim < 2:
        raise ValueError(f"Expected 2D or more input (got {input.ndim}D input)")
    dims = (0, *range(2, input.ndim))
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input "
                f"size {input.shape}"
            )
        mean = input.mean(dims)
        var = input.var(dims, correction=0)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean._write(
                        running_mean._array * (1 - momentum) + mean._array * momentum
                    )
                if running_var is not None:
                    unbiased = var._array * (count / (count - 1))
                    running_var._write(running_var._array * (1 - momentum) + unbiased * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        mean, var = running_mean, running_var
    out = (input - mean.reshape(shape)) * (var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def layer_norm(
    input: Tensor,
    normalized_shape: Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-05,
) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims (biased variance).

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.layer_norm(tapegrad.tensor([[1.0, 3.0]]), (2,))
        tensor([[-1.0000,  1.0000]])
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if tuple(input.shape[input.ndim - n :]) != shape or n > input.ndim:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, "
            f"{', '.join(map(str, shape))}], but got input of size{input.shape}"
        )
    dims = tuple(range(input.ndim - n, input.ndim))
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, correction=0, keepdim=True)
    out = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


# ----------------------------------------------------------------------------- embedding
def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` picked by the integer ``input``; ``padding_idx`` gets no gradient.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.embedding(tapegrad.tensor([2, 0]), tapegrad.arange(6.0).reshape(3, 2))
        tensor([[4., 5.],
                [0., 1.]])
    """
    if input.dtype not in (_dtype.int64, _dtype.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {input.type()} instead (while checking arguments for "
            "embedding)"
        )
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse are not supported")
    num = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if padding_idx < -num:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = num + padding_idx
    index = input._array
    if index.size and (index.min() < -num or index.max() >= num or index.min() < 0):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        with no_grad():
            rows = np.unique(index)
            norms = np.linalg.norm(weight._array[rows], ord=norm_type, axis=1)
            scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
            updated = weight._array.copy()
            updated[rows] *= scale[:, None].astype(updated.dtype)
            weight._write(updated)
    out = weight[input]
    if padding_idx is not None and weight.requires_grad:
        keep = Tensor._from_array((index != padding_idx)[..., None])
        out = where(keep, out, out.detach())  # torch: no gradient flows to padding_idx
    return out


# ----------------------------------------------------------------------------- losses
def _check_same_size(input: Tensor, target: Tensor, name: str) -> None:
    if input.shape != target.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.mse_loss(tapegrad.tensor([1.0, 3.0]), tapegrad.tensor([0.0, 1.0]))
        tensor(2.5000)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_same_size(input, target, "mse_loss")
    if weight is None:
        return _apply(ops.mse_loss_p, input, target, reduction=reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = (input - target).pow(2) * weight  # torch: the weighted mean divides by sum(weight)
    return loss.sum() / weight.sum() if reduction == "mean" else _reduce(loss, reduction)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.l1_loss(tapegrad.tensor([1.0, 3.0]), tapegrad.tensor([0.0, 1.0]))
        tensor(1.5000)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_same_size(input, target, "l1_loss")
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Huber-like loss: quadratic below ``beta``, linear above.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.smooth_l1_loss(tapegrad.tensor([0.5, 3.0]), tapegrad.tensor([0.0, 0.0]))
        tensor(1.3125)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    diff = (input - target).abs()
    if beta == 0:
        return _reduce(diff, reduction)
    loss = where(diff < beta, diff.square() * (0.5 / beta), diff - 0.5 * beta)
    return _reduce(loss, reduction)


def _class_dim_shape(input: Tensor, n: int) -> tuple[int, ...]:
    return (1, n) + (1,) * (input.ndim - 2) if input.ndim >= 2 else (n,)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities ``(N, C, ...)``.

    ``weight`` rescales classes (the mean divides by the summed weights of the targets);
    targets equal to ``ignore_index`` contribute nothing.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> logp = tapegrad.tensor([[-1.0, -2.0], [-3.0, -4.0]])
        >>> F.nll_loss(logp, tapegrad.tensor([1, 0]))
        tensor(2.5000)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if target.dtype is not _dtype.int64:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.legacy_name[:-6]}")
    unbatched = input.ndim == 1
    if unbatched:
        if target.ndim != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        input, target = input.unsqueeze(0), target.unsqueeze(0)  # noqa: A001 (torch's name)
    elif input.shape[0] != target.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target "
            f"batch_size ({target.shape[0]})."
        )
    classes = input.shape[1]
    labels = target._array
    ignored = labels == ignore_index
    safe = np.where(ignored, 0, labels)
    if safe.size and (safe.min() < 0 or safe.max() >= classes):
        bad = int(safe[(safe < 0) | (safe >= classes)].reshape(-1)[0])
        raise IndexError(f"Target {bad} is out of bounds.")
    if weight is not None and weight.shape != (classes,):
        raise RuntimeError(
            f"weight tensor should be defined either for all {classes} classes "
            f"or no classes but got weight tensor of shape: {list(weight.shape)}"
        )
    index = Tensor._from_array(safe[:, None])
    picked = input.gather(1, index).squeeze(1)  # (N, ...)
    keep = Tensor._from_array((~ignored).astype(input._array.dtype))
    if weight is not None:
        w = weight[Tensor._from_array(safe)] * keep
    else:
        w = keep
    loss = -(picked * w)
    if reduction == "none":
        return loss.squeeze(0) if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits ``(N, C, ...)`` against class indices or class probabilities.

    Supports ``weight``, ``ignore_index`` (class indices only), ``label_smoothing`` and
    ``reduction`` with torch's formulas.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> logits = tapegrad.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> F.cross_entropy(logits, tapegrad.tensor([0, 1]))
        tensor(0.1269)
        >>> F.cross_entropy(logits, tapegrad.tensor([[1.0, 0.0], [0.0, 1.0]]))
        tensor(0.1269)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    logp = input.log_softmax(class_dim)
    if target.is_floating_point():  # class probabilities
        if target.shape != input.shape:
            raise RuntimeError(
                f"Expected target size {list(input.shape)}, got {list(target.shape)}"
            )
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        product = logp * target
        if weight is not None:
            product = product * weight.reshape(_class_dim_shape(input, classes))
        if reduction == "none":
            return -product.sum(class_dim)
        if reduction == "sum":
            return -product.sum()
        return -product.sum() / (input.numel() / classes)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    ignored = Tensor._from_array(target._array == ignore_index)
    if weight is not None:
        smooth = -(logp * weight.reshape(_class_dim_shape(input, classes))).sum(class_dim)
    else:
        smooth = -logp.sum(class_dim)
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "mean":
        kept = target._array != ignore_index
        total: Tensor | float = (
            weight[Tensor._from_array(target._array[kept])].sum()
            if weight is not None
            else float(kept.sum())
        )
        smooth = smooth.sum() / total
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross entropy of probabilities; logs are clamped at -100 as in torch.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.binary_cross_entropy(tapegrad.tensor([0.5]), tapegrad.tensor([1.0]))
        tensor(0.6931)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size."
        )
    array = input._array
    if array.size and not ((array >= 0) & (array <= 1)).all():  # nan fails too (torch)
        raise RuntimeError("all elements of input should be between 0 and 1")
    # a primitive: torch's gradient (x - y) / max(x (1 - x), 1e-12) is not the composite's
    loss = _apply(ops.binary_cross_entropy_p, input, target.to(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross entropy in one stable expression; ``pos_weight`` weighs positives.

    Example:
        >>> import tapegrad
        >>> import tapegrad.nn.functional as F
        >>> F.binary_cross_entropy_with_logits(tapegrad.tensor([0.0]), tapegrad.tensor([1.0]))
        tensor(0.6931)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({target.shape}) must be the same as input size ({input.shape})"
        )
    # softplus(-x) = log(1 + exp(-x)), exact and stable (no threshold)
    log_sigmoid_neg = _apply(ops.softplus_p, -input, beta=1.0, threshold=math.inf)
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * log_sigmoid_neg
    else:
        loss = (1 - target) * input + log_sigmoid_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
