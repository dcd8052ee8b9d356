"""Finite-difference checks of gradients (mirrors ``torch.autograd.gradcheck``).

``gradcheck`` compares, for every differentiable input and output, the Jacobian obtained by
central finite differences with the one obtained by reverse mode (one
``tapegrad.autograd.grad`` call per output element). ``gradgradcheck`` runs ``gradcheck`` on the
function that maps (inputs, grad_outputs) to the first-order gradients, which checks second
order. Both follow torch's semantics, messages and defaults (``eps=1e-6``, ``atol=1e-5``,
``rtol=1e-3``), which are meant for float64 inputs.

Where tapegrad differs from torch:

- ``check_forward_ad``, ``check_batched_grad``, ``check_batched_forward_grad`` and
  ``check_fwd_over_rev`` need forward AD / vmap, which these checks do not support yet; asking
  for them raises ``NotImplementedError``.
- tapegrad has no "undefined" gradients: ``check_undefined_grad`` checks that all-zero output
  gradients give zero (or no) input gradients.
- the random vectors of ``fast_mode`` and the random ``grad_outputs`` of ``gradgradcheck`` come
  from a private, fixed-seed NumPy generator, so the checks are deterministic and leave
  tapegrad's global RNG untouched.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import product
from typing import Any

import numpy as np

from tapegrad import _engine
from tapegrad._dtype import float64
from tapegrad.autograd.grad_mode import no_grad
from tapegrad.tensor import Tensor, tensor

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]

_SEED = 67280421310721  # torch's default CPU generator seed; any fixed seed would do


class GradcheckError(RuntimeError):
    """Error raised by :func:`gradcheck` and :func:`gradgradcheck`.

    Example:
        >>> from tapegrad.autograd.gradcheck import GradcheckError
        >>> issubclass(GradcheckError, RuntimeError)
        True
    """


# ----------------------------------------------------------------------------- small helpers
def _as_tuple(x: Any) -> tuple[Any, ...]:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _differentiable_outputs(x: Any) -> tuple[Tensor, ...]:
    return tuple(o for o in _as_tuple(x) if isinstance(o, Tensor) and o.requires_grad)


def _diff_inputs(inputs: tuple[Any, ...]) -> list[tuple[int, Tensor]]:
    return [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]


def _values(t: Tensor) -> np.ndarray:
    """A private NumPy copy of ``t``'s values."""
    return np.array(t.detach().numpy(), copy=True)


def _is_float(t: Any) -> bool:
    return isinstance(t, Tensor) and t.dtype.is_floating_point


def _check_inputs(inputs: tuple[Any, ...]) -> None:
    any_requiring_grad = False
    for idx, inp in enumerate(inputs):
        if isinstance(inp, Tensor) and inp.requires_grad:
            if inp.dtype is not float64:
                warnings.warn(
                    f"Input #{idx} requires gradient and "
                    "is not a double precision floating point or complex. "
                    "This check will likely fail if all the inputs are "
                    "not of double precision floating point or complex. ",
                    stacklevel=4,
                )
            # (an empty tensor has nothing to perturb; NumPy gives it all-zero strides)
            if inp.numel() and not all(
                st > 0 or sz <= 1 for st, sz in zip(inp.stride(), inp.shape, strict=True)
            ):
                raise RuntimeError(
                    f"The {idx}th input has a dimension with stride 0. gradcheck only "
                    "supports inputs that are non-overlapping to be able to "
                    "compute the numerical gradients correctly. You should call "
                    ".contiguous on the input before passing it to gradcheck."
                )
            any_requiring_grad = True
    if not any_requiring_grad:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, "
            "but none of them have requires_grad=True."
        )


def _check_same_dtype_and_shape(a: Tensor, b: Tensor, eps: float, idx: Any = None) -> None:
    on_index = f"on index {idx} " if idx is not None else ""
    if a.shape != b.shape:
        raise AssertionError(
            f"Expected `func` to return outputs with the same shape when inputs are perturbed "
            f"{on_index}by {eps}, but got: shapes {a.shape} and {b.shape}."
        )
    if a.dtype != b.dtype:
        raise AssertionError(
            f"Expected `func` to return outputs with the same dtype when inputs are perturbed "
            f"{on_index}by {eps}, but got: dtypes {a.dtype} and {b.dtype}."
        )


def _notallclose_msg(
    analytical: np.ndarray, numerical: np.ndarray, output_idx: int, input_idx: int
) -> str:
    return (
        f"Jacobian mismatch for output {output_idx:d} with respect to input {input_idx:d},\n"
        f"numerical:{tensor(numerical)}\nanalytical:{tensor(analytical)}\n"
    )


def _allclose(a: np.ndarray, n: np.ndarray, rtol: float, atol: float) -> bool:
    dtype = np.promote_types(a.dtype, n.dtype)
    return bool(np.allclose(a.astype(dtype), n.astype(dtype), rtol=rtol, atol=atol))


# ----------------------------------------------------------------------------- numerical side
def _evaluate(func: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    return tuple(o.detach().clone() for o in _as_tuple(func(*inputs)))


def _central_difference(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    entry: Tensor,
    delta: np.ndarray,
    eps: float,
    idx: Any = None,
) -> list[np.ndarray]:
    """(f(x + delta) - f(x - delta)) / (2 eps), flattened per output; ``entry`` aliases x."""
    with no_grad():
        orig = entry.clone()
        step = tensor(delta, dtype=entry.dtype)
        entry.copy_(orig - step)
    outa = _evaluate(func, inputs)
    with no_grad():
        entry.copy_(orig + step)
    outb = _evaluate(func, inputs)
    with no_grad():
        entry.copy_(orig)
    columns = []
    for a, b in zip(outa, outb, strict=True):
        _check_same_dtype_and_shape(a, b, eps, idx)
        columns.append(((b.numpy() - a.numpy()) / (2 * eps)).reshape(-1))
    return columns


def _numerical_jacobian(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    outputs: tuple[Tensor, ...],
    input_idx: int,
    eps: float,
) -> list[np.ndarray]:
    """The Jacobians of every output with respect to input ``input_idx``: (in_numel, out_numel)."""
    x = inputs[input_idx]
    jacobians = [
        np.zeros((x.numel(), o.numel()), dtype=o.dtype.np if _is_float(o) else np.float64)
        for o in outputs
    ]
    data = x.data  # shares storage; writes to it are invisible to autograd (as in torch)
    for d_idx, x_idx in enumerate(product(*[range(m) for m in x.shape])):
        entry = data[x_idx] if x_idx else data[...]
        columns = _central_difference(func, inputs, entry, np.array(eps), eps, x_idx)
        for jacobian, column in zip(jacobians, columns, strict=True):
            jacobian[d_idx] = column
    return jacobians


# ----------------------------------------------------------------------------- analytical side
def _vjp(output: Tensor, diff_inputs: list[Tensor], grad_output: Tensor) -> tuple[Any, ...]:
    return _engine.grad(output, diff_inputs, grad_output, retain_graph=True, allow_unused=True)


def _stack_rows(
    rows: list[tuple[Any, ...]], diff_inputs: list[Tensor], out_numel: int
) -> tuple[list[np.ndarray], bool, bool]:
    """Jacobians (in_numel, out_numel) from VJP rows; also whether sizes and dtypes match."""
    jacobians = [np.zeros((x.numel(), out_numel), dtype=x.dtype.np) for x in diff_inputs]
    sizes_ok = types_ok = True
    for j, grads in enumerate(rows):
        for i, (g, x) in enumerate(zip(grads, diff_inputs, strict=True)):
            if g is None:
                continue
            if g.shape != x.shape:
                sizes_ok = False
            elif g.dtype != x.dtype:
                types_ok = False
            values = _values(g).reshape(-1)
            if values.size != jacobians[i].shape[0]:
                raise GradcheckError("Analytical gradient has incorrect size")
            jacobians[i][:, j] = values
    return jacobians, sizes_ok, types_ok


def _jacobian_rows(
    output: Tensor, diff_inputs: list[Tensor], v: np.ndarray | None
) -> list[tuple[Any, ...]]:
    if v is not None:  # fast mode: one VJP with the random vector v
        return [
            _vjp(output, diff_inputs, tensor(v.reshape(tuple(output.shape)), dtype=output.dtype))
        ]
    rows = []
    for j in range(output.numel()):
        basis = np.zeros(output.numel(), dtype=output.dtype.np)
        basis[j] = 1.0
        rows.append(_vjp(output, diff_inputs, tensor(basis.reshape(tuple(output.shape)))))
    return rows


def _analytical_jacobian(
    diff_inputs: list[Tensor],
    output: Tensor,
    nondet_tol: float,
    check_grad_dtypes: bool,
    v: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Reverse-mode Jacobians of ``output`` w.r.t. each input, computed twice (reentrancy)."""
    out_numel = 1 if v is not None else output.numel()
    first, sizes_ok, types_ok = _stack_rows(
        _jacobian_rows(output, diff_inputs, v), diff_inputs, out_numel
    )
    second, _, _ = _stack_rows(_jacobian_rows(output, diff_inputs, v), diff_inputs, out_numel)
    reentrant = not any(  # as in torch, NaN differences do not count as nondeterminism
        a.size and float(np.abs(a - b).max()) > nondet_tol
        for a, b in zip(first, second, strict=True)
    )
    if not types_ok and check_grad_dtypes:
        raise GradcheckError("Gradient has dtype mismatch")
    if not sizes_ok:
        raise GradcheckError("Analytical gradient has incorrect size")
    if not reentrant:
        raise GradcheckError(
            "Backward is not reentrant, i.e., running backward with "
            "same input and grad_output multiple times gives different values, "
            "although analytical gradient matches numerical gradient."
            f"The tolerance for nondeterminism was {nondet_tol}."
        )
    return first


# ----------------------------------------------------------------------------- the two modes
def _check_no_differentiable_outputs(
    func: Callable[..., Any], inputs: tuple[Any, ...], func_out: tuple[Tensor, ...], eps: float
) -> bool:
    for input_idx, _ in _diff_inputs(inputs):
        for jacobian in _numerical_jacobian(func, inputs, func_out, input_idx, eps):
            if np.count_nonzero(jacobian):
                raise GradcheckError("Numerical gradient for function expected to be zero")
    return True


def _slow_gradcheck(
    func: Callable[..., Any],
    func_out: tuple[Tensor, ...],
    inputs: tuple[Any, ...],
    eps: float,
    rtol: float,
    atol: float,
    check_grad_dtypes: bool,
    nondet_tol: float,
) -> bool:
    if not _differentiable_outputs(func_out):
        return _check_no_differentiable_outputs(func, inputs, func_out, eps)
    diff = _diff_inputs(inputs)
    diff_inputs = [t for _, t in diff]
    kept = [k for k, o in enumerate(func_out) if o.requires_grad]
    # numerical[j][i]: output i (differentiable outputs only) w.r.t. differentiable input j
    numerical = [
        [per_out[k] for k in kept]
        for per_out in (_numerical_jacobian(func, inputs, func_out, idx, eps) for idx, _ in diff)
    ]
    for i, k in enumerate(kept):
        analytical = _analytical_jacobian(diff_inputs, func_out[k], nondet_tol, check_grad_dtypes)
        for j, a in enumerate(analytical):
            n = numerical[j][i]
            if not _allclose(a, n, rtol, atol):
                raise GradcheckError(_notallclose_msg(a, n, i, j))
    return True


def _unit_vector(rng: np.random.Generator, numel: int, dtype: Any) -> np.ndarray:
    vec = rng.random(numel).astype(dtype)
    norm = np.linalg.norm(vec)
    return vec / norm if norm else vec


def _fast_gradcheck(
    func: Callable[..., Any],
    func_out: tuple[Tensor, ...],
    inputs: tuple[Any, ...],
    eps: float,
    rtol: float,
    atol: float,
    check_grad_dtypes: bool,
    nondet_tol: float,
) -> bool:
    """Compare v^T J u computed both ways, for random unit vectors u (inputs), v (outputs)."""
    rng = np.random.default_rng(_SEED)
    diff = _diff_inputs(inputs)
    diff_inputs = [t for _, t in diff]
    outputs = _differentiable_outputs(func_out)
    all_u = [_unit_vector(rng, x.numel(), x.dtype.np) for x in diff_inputs]
    all_v = [_unit_vector(rng, o.numel(), o.dtype.np) for o in outputs]
    kept = [k for k, o in enumerate(func_out) if o.requires_grad]
    numerical = []  # numerical[i][j]: input i, output j
    for (_, x), u in zip(diff, all_u, strict=True):
        delta = (u * eps).reshape(tuple(x.shape))
        ju = _central_difference(func, inputs, x.data, delta, eps)
        if not outputs:
            for column in ju:
                if column.size and float(np.abs(column).max()) > nondet_tol:
                    raise GradcheckError("Numerical gradient for function expected to be zero")
            continue
        numerical.append([np.dot(v, ju[k]) for v, k in zip(all_v, kept, strict=True)])
    if not outputs:
        return True
    for j, (output, v) in enumerate(zip(outputs, all_v, strict=True)):
        vj = _analytical_jacobian(diff_inputs, output, nondet_tol, check_grad_dtypes, v)
        for i, (vj_i, u) in enumerate(zip(vj, all_u, strict=True)):
            a = np.dot(vj_i[:, 0], u)
            n = numerical[i][j]
            adjusted_atol = atol * float(u.sum()) * float(v.sum())
            if not _allclose(np.asarray(a), np.asarray(n), rtol, adjusted_atol):
                raise GradcheckError(
                    _notallclose_msg(np.asarray(a), np.asarray(n), j, i)
                    + _slow_mode_error(func, func_out, inputs, i, kept[j], rtol, atol, eps)
                )
    return True


def _slow_mode_error(
    func: Callable[..., Any],
    func_out: tuple[Tensor, ...],
    inputs: tuple[Any, ...],
    input_idx: int,
    output_idx: int,
    rtol: float,
    atol: float,
    eps: float,
) -> str:
    diff = _diff_inputs(inputs)
    numerical = _numerical_jacobian(func, inputs, func_out, diff[input_idx][0], eps)[output_idx]
    analytical = _analytical_jacobian(
        [t for _, t in diff], func_out[output_idx], float("inf"), False
    )[input_idx]
    max_diff = float(np.abs(numerical - analytical).max()) if numerical.size else 0.0
    msg = (
        "\nThe above quantities relating the numerical and analytical jacobians are computed \n"
        "in fast mode. See: https://github.com/pytorch/pytorch/issues/53876 for more background "
        "\nabout fast mode. Below, we recompute numerical and analytical jacobians in slow "
        f"mode:\n\nNumerical:\n {tensor(numerical)}\nAnalytical:\n{tensor(analytical)}\n\n"
        f"The max per-element difference (slow mode) is: {max_diff}.\n"
    )
    if _allclose(analytical, numerical, rtol, atol):
        msg += (
            "\nFast gradcheck failed but element-wise differences are small. This means that "
            "the\ntest might've passed in slow_mode!"
        )
    return msg


def _test_backward_mul_by_grad_output(outputs: tuple[Tensor, ...], inputs: tuple[Any, ...]) -> bool:
    diff_inputs = [t for _, t in _diff_inputs(inputs)]
    if not diff_inputs:
        raise GradcheckError("no Tensors requiring grad found in input")
    grads = _engine.grad(
        outputs, diff_inputs, [o.detach().zeros_like() for o in outputs], allow_unused=True
    )
    for gi, di in zip(grads, diff_inputs, strict=True):
        if gi is None:
            continue
        if np.any(_values(gi) != 0):
            raise GradcheckError("backward not multiplied by grad_output")
        if gi.dtype != di.dtype:
            raise GradcheckError("grad is incorrect type")
        if gi.shape != di.shape:
            raise GradcheckError("grad is incorrect size")
    return True


def _test_undefined_backward_mode(func: Callable[..., Any], inputs: tuple[Any, ...]) -> bool:
    """tapegrad has no undefined gradients: all-zero output gradients must give zero grads."""
    diff_inputs = [t for _, t in _diff_inputs(inputs)]
    outputs = _differentiable_outputs(func(*inputs))
    try:
        grads = _engine.grad(
            outputs, diff_inputs, [o.detach().zeros_like() for o in outputs], allow_unused=True
        )
    except RuntimeError as error:
        raise GradcheckError(
            "Expected backward function to handle undefined output grads. "
            'Please look at "Notes about undefined output gradients" in '
            '"tools/autograd/derivatives.yaml"'
        ) from error
    for gi in grads:
        if gi is not None and np.any(_values(gi) != 0):
            raise GradcheckError(
                "Expected all input grads to be undefined or zero when all output grads are "
                'undefined or zero. Please look at "Notes about undefined output gradients" in '
                '"tools/autograd/derivatives.yaml"'
            )
    return True


# ----------------------------------------------------------------------------- public API
def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check reverse-mode gradients against central finite differences (torch's gradcheck).

    For each input that requires grad and each output that requires grad, the numerical
    Jacobian ``(f(x + eps) - f(x - eps)) / (2 eps)`` (one input element at a time) must be
    ``allclose`` (``|analytical - numerical| <= atol + rtol * |numerical|``) to the analytical
    one built from ``tapegrad.autograd.grad`` with one-hot output gradients. The defaults are
    meant for float64 inputs; other dtypes warn as in torch. ``fast_mode=True`` compares
    ``v^T J u`` for random unit vectors instead of the whole Jacobian.

    Args:
        func: takes the inputs and returns a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of inputs (non-tensors are passed through).
        eps, atol, rtol: finite-difference step and tolerances.
        raise_exception: raise :class:`GradcheckError` on failure (else return False).
        nondet_tol: tolerance between two identical backward runs.
        check_undefined_grad: check that all-zero output grads give zero input grads.
        check_grad_dtypes: fail if a gradient's dtype differs from its input's.
        fast_mode: the faster random-projection check.

    Returns:
        True when every check passes.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.gradcheck import gradcheck, GradcheckError
        >>> x = tapegrad.tensor([0.5, -1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
        >>> gradcheck(lambda t: (t * t.sin()).sum(), (x,))
        True
        >>> y = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
        >>> z = tapegrad.tensor([0.3, 0.7], dtype=tapegrad.float64, requires_grad=True)
        >>> gradcheck(lambda a, b: (a.exp() * b, a + b), (y, z), fast_mode=True)
        True
        >>> def wrong(t):  # detach hides the dependence of one factor on t
        ...     return t * t.detach()
        >>> gradcheck(wrong, (y,), raise_exception=False)
        False
        >>> try:
        ...     gradcheck(wrong, (y,))
        ... except GradcheckError as error:
        ...     print(str(error).splitlines()[0])
        Jacobian mismatch for output 0 with respect to input 0,
    """
    del masked  # only meaningful for sparse tensors, which tapegrad does not have
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    if check_batched_grad and not check_backward_ad:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_backward_ad to be True"
        )
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError(
            "Setting check_batched_forward_grad=True requires check_forward_ad to be True"
        )
    if check_forward_ad or check_batched_grad or check_batched_forward_grad:
        raise NotImplementedError(
            "tapegrad's gradcheck supports only check_backward_ad (no forward-mode or batched "
            "checks yet)"
        )
    try:
        return _gradcheck_helper(
            func,
            inputs,
            eps,
            atol,
            rtol,
            nondet_tol,
            check_undefined_grad,
            check_grad_dtypes,
            fast_mode,
        )
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck_helper(
    func: Callable[..., Any],
    inputs: Any,
    eps: float,
    atol: float,
    rtol: float,
    nondet_tol: float,
    check_undefined_grad: bool,
    check_grad_dtypes: bool,
    fast_mode: bool,
) -> bool:
    tupled_inputs = _as_tuple(inputs)
    _check_inputs(tupled_inputs)
    func_out = _as_tuple(func(*tupled_inputs))
    outputs = _differentiable_outputs(func_out)
    check = _fast_gradcheck if fast_mode else _slow_gradcheck
    check(func, func_out, tupled_inputs, eps, rtol, atol, check_grad_dtypes, nondet_tol)
    if outputs:
        _test_backward_mul_by_grad_output(outputs, tupled_inputs)
        if check_undefined_grad:
            _test_undefined_backward_mode(func, tupled_inputs)
    return True


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second-order gradients against finite differences (torch's gradgradcheck).

    Runs :func:`gradcheck` on ``(inputs, grad_outputs) -> autograd.grad(func(inputs), inputs,
    grad_outputs, create_graph=True)``. Without ``grad_outputs``, random ones in [-1, 1) of
    each output's shape and dtype (float64 for non-float outputs) are made, requiring grad;
    ``gen_non_contig_grad_outputs=True`` makes them non-contiguous.

    Example:
        >>> import tapegrad
        >>> from tapegrad.autograd.gradcheck import gradgradcheck
        >>> x = tapegrad.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=tapegrad.float64,
        ...                     requires_grad=True)
        >>> gradgradcheck(lambda t: t.tanh() * t, (x,))
        True
        >>> gradgradcheck(lambda t: t.exp(), (x,), gen_non_contig_grad_outputs=True)
        True
    """
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    if check_undefined_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_undefined_grad=True requires check_rev_over_rev to be True"
        )
    if check_batched_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_rev_over_rev to be True"
        )
    tupled_inputs = _as_tuple(inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(_SEED)
        outputs = _differentiable_outputs(func(*tupled_inputs))
        tupled_grad_outputs = tuple(
            _random_grad_output(rng, o, gen_non_contig_grad_outputs) for o in outputs
        )
    else:
        tupled_grad_outputs = _as_tuple(grad_outputs)
    num_outputs = len(tupled_grad_outputs)
    diff_input_indices = {
        i for i, x in enumerate(tupled_inputs) if isinstance(x, Tensor) and x.requires_grad
    }
    diff_grad_output_indices = {
        i for i, x in enumerate(tupled_grad_outputs) if isinstance(x, Tensor) and x.requires_grad
    }

    def new_func(*args: Any) -> tuple[Tensor, ...]:
        input_args = tuple(
            x.requires_grad_() if i in diff_input_indices else x
            for i, x in enumerate(args[:-num_outputs] if num_outputs else args)
        )
        outputs = _differentiable_outputs(func(*input_args))
        grads_out = tuple(
            x.requires_grad_() if i in diff_grad_output_indices else x
            for i, x in enumerate(args[-num_outputs:] if num_outputs else ())
        )
        diff_input_args = [x for i, x in enumerate(input_args) if i in diff_input_indices]
        grad_inputs = _engine.grad(
            outputs, diff_input_args, list(grads_out), create_graph=True, allow_unused=True
        )
        return tuple(g for g in grad_inputs if g is not None)

    return gradcheck(
        new_func,
        tupled_inputs + tupled_grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        fast_mode=fast_mode,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        masked=masked,
    )


def _random_grad_output(rng: np.random.Generator, output: Tensor, non_contiguous: bool) -> Tensor:
    dtype = output.dtype if output.dtype.is_floating_point else float64
    shape = tuple(output.shape)
    if non_contiguous and len(shape) and output.numel() > 1:
        values = rng.uniform(-1.0, 1.0, (*shape[:-1], 2 * shape[-1]))
        base = tensor(values, dtype=dtype)
        return base[..., ::2].requires_grad_()
    return tensor(rng.uniform(-1.0, 1.0, shape), dtype=dtype, requires_grad=True)
