"""Forward-mode AD of every op, driven by tests/op_db.py (ids are the op names).

For every differentiable OpSpec row, on float64 samples with random tangents:

- the output tangents equal central finite differences along the tangent (smooth samples);
- the adjoint identity ``<vjp(u), v> == <u, jvp(v)>`` holds for random ``u`` and ``v``;
- the output tangents equal torch 2.13's (``torch.autograd.forward_ad``): values, dtypes,
  shapes, and which outputs have none.

Then: every primitive with a vjp declares a jvp, and every such jvp runs for some row (or in
the targeted tests below, for primitives that only appear inside backward rules).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.autograd.forward_ad as fwAD
from tapegrad import ops
from tests.op_db import OP_DB, OpSpec, Sample
from tests.test_ops import _contiguous, _params, flat, is_diff, make_arrays

torch = pytest.importorskip("torch")
torch_fwAD = pytest.importorskip("torch.autograd.forward_ad")
with warnings.catch_warnings():  # torch's make_dual imports this lazily; it warns on import
    warnings.simplefilter("ignore", DeprecationWarning)
    importlib.import_module("torch._decomp.decompositions_for_jvp")

# Rows for which torch itself has no forward AD: parity is skipped (after checking that torch
# still refuses), finite differences and the adjoint identity still run.
TORCH_HAS_NO_FORWARD_AD = {
    "rmod_scalar": "torch 2.13 has no forward AD formula for remainder(Scalar, Tensor) "
    "(NotImplementedError: Trying to use forward AD with aten::remainder)",
}
# Rows whose tests are expected to fail, with the reason (none at present).
CORE_XFAIL: dict[str, dict[str, str]] = {}


def _jvp_params(kind: str) -> list[Any]:
    params = []
    for param in _params(kind):
        spec: OpSpec = param.values[0]
        if not spec.grad or spec.error is not None:
            continue
        reason = CORE_XFAIL.get(spec.name, {}).get(kind)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(spec, id=spec.name, marks=marks))
    return params


def _samples(spec: OpSpec, rng: np.random.Generator) -> list[tuple[Sample, list[np.ndarray]]]:
    """float64 data for every sample (dtype cases do not matter to tangents)."""
    return [(sample, make_arrays(spec, sample, "float64", rng)) for sample in spec.samples]


def _tangents(sample: Sample, arrays: list[np.ndarray], rng: np.random.Generator) -> list[Any]:
    return [
        rng.standard_normal(a.shape) if is_diff(arg, a) else None
        for arg, a in zip(sample.args, arrays, strict=True)
    ]


def _run_dual(
    lib: Any, fw: Any, spec: OpSpec, arrays: list[np.ndarray], tangents: list[Any]
) -> list[tuple[np.ndarray, Any]]:
    """Run the row on dual inputs: ``(primal, tangent or None)`` of every output as NumPy."""
    with fw.dual_level():
        inputs = []
        for array, tangent in zip(arrays, tangents, strict=True):
            x = lib.tensor(_contiguous(array))
            if tangent is not None:
                x = fw.make_dual(x, lib.tensor(_contiguous(tangent)).to(x.dtype))
            inputs.append(x)
        results = []
        for out in flat(spec.run(lib, *inputs)):
            primal, tangent = fw.unpack_dual(out)
            results.append((primal.detach().numpy().copy(), tangent))
        return [(p, None if t is None else (t.detach().numpy().copy(), t.dtype))
                for p, t in results]


def _run_plain(spec: OpSpec, arrays: list[np.ndarray]) -> list[np.ndarray]:
    outs = flat(spec.run(tapegrad, *[tapegrad.tensor(_contiguous(a)) for a in arrays]))
    return [o.detach().numpy().astype(np.float64) for o in outs]


def _is_float(array: np.ndarray) -> bool:
    return array.dtype.kind == "f"


# ----------------------------------------------------------------------------- generic tests
@pytest.mark.parametrize("spec", _jvp_params("jvp_fd"))
def test_jvp_matches_finite_differences(spec: OpSpec, rng: np.random.Generator) -> None:
    """Each output tangent equals (f(x + eps v) - f(x - eps v)) / (2 eps) on smooth samples."""
    kwargs = spec.gradcheck_kwargs
    eps, atol, rtol = kwargs.get("eps", 1e-6), kwargs.get("atol", 1e-5), kwargs.get("rtol", 1e-3)
    checked = 0
    for sample, arrays in _samples(spec, rng):
        tangents = _tangents(sample, arrays, rng)
        if not sample.gradcheck or all(t is None for t in tangents):
            continue
        ours = _run_dual(tapegrad, fwAD, spec, arrays, tangents)
        plus = _run_plain(spec, [a if t is None else a + eps * t for a, t in
                                 zip(arrays, tangents, strict=True)])
        minus = _run_plain(spec, [a if t is None else a - eps * t for a, t in
                                  zip(arrays, tangents, strict=True)])
        for k, ((primal, tangent), p, m) in enumerate(zip(ours, plus, minus, strict=True)):
            if not _is_float(primal):
                assert tangent is None, f"output {k}: a non-float output has a tangent"
                continue
            numerical = (p - m) / (2 * eps)
            actual = np.zeros_like(numerical) if tangent is None else tangent[0]
            np.testing.assert_allclose(
                actual, numerical, atol=atol, rtol=rtol, err_msg=f"{spec.name} output {k}"
            )
        checked += 1
    assert checked or not any(s.gradcheck for s in spec.samples)


@pytest.mark.parametrize("spec", _jvp_params("jvp_adjoint"))
def test_adjoint_identity(spec: OpSpec, rng: np.random.Generator) -> None:
    """``<vjp(u), v> == <u, jvp(v)>`` for random cotangents u and tangents v (all samples).

    The jvp comes from forward mode on dual inputs, the vjp from a separate reverse-mode run,
    so each checks the other (ties included: both follow torch's conventions).
    """
    for sample, arrays in _samples(spec, rng):
        tangents = _tangents(sample, arrays, rng)
        # an empty input has an empty Jacobian (mean of nothing has a nan tangent, as in torch)
        if all(t is None for t in tangents) or any(a.size == 0 for a in arrays):
            continue
        forward = _run_dual(tapegrad, fwAD, spec, arrays, tangents)
        inputs = [tapegrad.tensor(_contiguous(a)) for a in arrays]
        for x, t in zip(inputs, tangents, strict=True):
            if t is not None:
                x.requires_grad_()
        outs = flat(spec.run(tapegrad, *inputs))
        cotangents = [rng.standard_normal(o.shape) if _is_float(p) else None
                      for o, (p, _) in zip(outs, forward, strict=True)]
        u_dot_jv = sum(
            float(np.sum(u * t[0])) for u, (_, t) in zip(cotangents, forward, strict=True)
            if u is not None and t is not None
        )
        pairs = [(o, u) for o, u in zip(outs, cotangents, strict=True)
                 if u is not None and o.requires_grad]
        vjp_dot_v = 0.0
        if pairs:
            leaves = [x for x in inputs if x.requires_grad]
            grads = tapegrad.autograd.grad(
                [o for o, _ in pairs], leaves,
                [tapegrad.tensor(u).to(o.dtype) for o, u in pairs], allow_unused=True
            )
            used = [t for t in tangents if t is not None]
            vjp_dot_v = sum(
                float(np.sum(g.numpy() * t)) for g, t in zip(grads, used, strict=True)
                if g is not None
            )
        single = any(p.dtype == np.float32 for p, _ in forward)
        tol = {"rtol": 1e-5, "atol": 1e-5} if single else {"rtol": 1e-8, "atol": 1e-10}
        np.testing.assert_allclose(vjp_dot_v, u_dot_jv, err_msg=spec.name, **tol)


@pytest.mark.parametrize("spec", _jvp_params("jvp_torch"))
def test_tangents_match_torch(spec: OpSpec, rng: np.random.Generator) -> None:
    """Output tangents (values, dtypes, shapes, None-ness) equal torch's forward AD."""
    for sample, arrays in _samples(spec, rng):
        tangents = _tangents(sample, arrays, rng)
        if all(t is None for t in tangents):
            continue
        if spec.name in TORCH_HAS_NO_FORWARD_AD:
            with pytest.raises(NotImplementedError, match="forward AD"):
                _run_dual(torch, torch_fwAD, spec, arrays, tangents)
            pytest.skip(TORCH_HAS_NO_FORWARD_AD[spec.name])
        theirs = _run_dual(torch, torch_fwAD, spec, arrays, tangents)
        ours = _run_dual(tapegrad, fwAD, spec, arrays, tangents)
        assert len(ours) == len(theirs)
        for k, ((_, a), (_, b)) in enumerate(zip(ours, theirs, strict=True)):
            what = f"{spec.name} output {k}"
            assert (a is None) == (b is None), f"{what}: tangent {a} vs torch {b}"
            if a is None:
                continue
            assert str(a[1]).split(".")[-1] == str(b[1]).split(".")[-1], f"{what}: dtype"
            assert a[0].shape == b[0].shape, f"{what}: shape"
            tol = ({"atol": 1e-9, "rtol": 1e-7} if a[0].dtype == np.float64
                   else {"atol": spec.atol, "rtol": spec.rtol})
            np.testing.assert_allclose(a[0], b[0], equal_nan=True, err_msg=what, **tol)


# ----------------------------------------------------------------------------- coverage
def _all_primitives() -> dict[int, ops.Primitive]:
    return {id(v): v for v in vars(ops).values() if isinstance(v, ops.Primitive)}


def test_every_differentiable_primitive_declares_a_jvp() -> None:
    missing = sorted(p.name for p in _all_primitives().values()
                     if p.vjp is not None and p.jvp is None)
    assert not missing, f"primitives with a vjp but no jvp: {missing}"


# Primitives that appear only inside backward rules or regenerated views: their jvp is run by
# the targeted tests below instead of by op_db rows.
ONLY_IN_BACKWARD = {"view_scatter", "as_strided"}


def test_every_jvp_is_exercised(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """Each primitive with a jvp computes a tangent for some op_db row (dual inputs)."""
    seen: set[int] = set()
    tensor_module = importlib.import_module("tapegrad.tensor")
    original = tensor_module._jvp

    def recording(prim: ops.Primitive, *args: Any, **kwargs: Any) -> Any:
        seen.add(id(prim))
        return original(prim, *args, **kwargs)

    monkeypatch.setattr(tensor_module, "_jvp", recording)
    for spec in OP_DB:
        if not spec.grad or spec.error is not None:
            continue
        for sample, arrays in _samples(spec, rng):
            tangents = _tangents(sample, arrays, rng)
            if any(t is not None for t in tangents):
                _run_dual(tapegrad, fwAD, spec, arrays, tangents)
    missing = sorted(
        p.name for key, p in _all_primitives().items()
        if p.jvp is not None and key not in seen and p.name not in ONLY_IN_BACKWARD
        and p.node_name != "NotImplemented"  # see test_unsupported_forward_ad_raises_as_torch
    )
    assert not missing, f"jvp rules no op_db row runs: {missing}"


VIEWS = {
    "select": lambda s: s[1],
    "slice": lambda s: s[:, 1:],
    "diagonal": lambda s: s.diagonal(),
    "expand": lambda s: s[:1].expand(2, 3, 3),
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_view_scatter_jvp_matches_torch(view: str, rng: np.random.Generator) -> None:
    """The vjp of a view is ``view_scatter``: a dual upstream gradient gives its tangent."""
    x = rng.standard_normal((3, 3))
    shape = tuple(VIEWS[view](torch.tensor(x)).shape)
    u, v = rng.standard_normal(shape), rng.standard_normal(shape)
    results = []
    for lib, fw in ((tapegrad, fwAD), (torch, torch_fwAD)):
        source = lib.tensor(x, requires_grad=True)
        out = VIEWS[view](source)
        with fw.dual_level():
            seed = fw.make_dual(lib.tensor(u), lib.tensor(v))
            # create_graph: tapegrad detaches (and drops tangents of) grads otherwise (a core bug,
            # see test_forward_ad.py::test_forward_over_reverse_without_create_graph)
            (grad,) = lib.autograd.grad(out, source, seed, create_graph=True)
            results.append(fw.unpack_dual(grad).tangent.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_as_strided_jvp_is_the_replayed_view_of_the_tangent(rng: np.random.Generator) -> None:
    x, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    chain = ((ops.select_p, {"dim": 0, "index": 1}), (ops.slice_p, {"dim": 0, "start": 0,
                                                                    "stop": 3, "step": 2}))
    with fwAD.dual_level():
        dual = fwAD.make_dual(tapegrad.tensor(x), tapegrad.tensor(t))
        out = dual._op(ops.as_strided_p, chain=chain)
        tangent = fwAD.unpack_dual(out).tangent
    np.testing.assert_array_equal(tangent.numpy(), t[1, ::2])


@pytest.mark.parametrize("expr", ["d // 2", "5 % d"])
def test_unsupported_forward_ad_raises_as_torch(expr: str) -> None:
    """torch has no forward AD for floor_divide or remainder(Scalar, Tensor), nor has tapegrad."""
    for lib, fw in ((tapegrad, fwAD), (torch, torch.autograd.forward_ad)):
        with fw.dual_level():
            d = fw.make_dual(lib.tensor([1.5, -2.5]), lib.ones(2))
            with pytest.raises(NotImplementedError, match="Trying to use forward AD with"):
                eval(expr, {"d": d})
