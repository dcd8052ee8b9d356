"""Run a generated program on one library and compare what two runs observed.

``run(program, T)`` executes each step with ``T`` bound to the library (tapegrad or torch)
and records, per step: the results (values, shape, dtype, ``requires_grad``, ``is_leaf``,
``grad_fn`` presence, ``_version``, inference and view flags, ``.grad`` of leaves), the
raised exception type, the warning categories, and the modes after mode steps. A failing
in-place step also records its target afterwards, so "a failed call leaves the data and
``_version`` as they were" is checked on every error. The final entry describes every
bound name and the modes.

What is bridged, not compared (each a torch implementation detail or a documented
deliberate difference, never a tapegrad bug):

- torch writes an inference tensor *before* refusing an in-place update outside inference
  mode (spec B64); tapegrad refuses first (README "Where tapegrad differs"). The torch run
  restores the target after that error, so both runs continue from the same data.
- Likewise torch writes the elements before an out-of-bounds index of a write through index
  tensors, then raises; tapegrad checks every index first (README). The torch run restores
  the target (values and version) after that error.
- torch's double backward can leave a ZeroTensor in ``.grad`` (of ``abs``, whose second
  derivative is zero), which a later backward refuses to accumulate into ("ZeroTensors are
  immutable"); tapegrad accumulates (README). The torch run materializes such a ``.grad``.
- Both engines hand their own gradient buffers to ``.grad`` and to ``autograd.grad``'s
  results, whose versions count in-place work inside the engine (torch accumulates in place
  in its input buffers, and through copies for non-contiguous leaves). In both runs a new
  ``.grad`` and every ``autograd.grad`` result are reset to version 0 (a result that is a view
  is re-made after the reset in the torch run, see ``_fresh_view``), and the version of
  ``.grad`` is not compared at all.
- ``x.data`` of an inference tensor reports a version counter in torch although it is an
  inference tensor (every other inference tensor refuses, spec B58); versions of inference
  tensors are not compared.
- Several torch ops build their result with in-place kernels (``matmul`` of a 1-D tensor
  squeezes in place, ``to``/``prod`` copy into a new tensor), so a brand-new result can come
  out at version 1. In the torch run a result that shares no storage with an earlier tensor
  gets version 0.
- A backward that fails part-way may already have accumulated into some leaves; which
  ones depends on how ops are split into nodes and in which order each engine runs them.
  After a failing ``backward``/``autograd.grad`` both runs put back every leaf's ``.grad``
  as it was (a fresh copy of the old value).
- torch warns about ``backward(create_graph=True)`` and about a ``.grad`` that breaks the
  gradient layout contract once per process. Those warnings are not compared.
- Known core bugs, documented by strict-xfail tests, are kept out of the comparison where
  the generator cannot avoid them: the observations a step lists in ``Step.ignore`` (the
  view flag of ``autograd.grad`` results), and the view flag of ``.grad``.

Example:
    >>> import tapegrad
    >>> from tests.fuzzing.generator import Program, Step
    >>> p = Program((Step("eval", "T.tensor([1.0, 2.0]).requires_grad_()", ("v0",)),
    ...              Step("eval", "v0.exp().sum()", ("v1",), ("v0",))))
    >>> trace = run(p, tapegrad)
    >>> first_difference(trace, trace) is None
    True
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.fuzzing.generator import Program, Step

__all__ = ["Raised", "first_difference", "render", "run"]

_INFERENCE_WRITE = "Inplace update to inference tensor outside InferenceMode"
# torch emits these once per process (TORCH_WARN_ONCE / warn-once), so they are not compared
_ONCE_WARNINGS = ("Using backward() with create_graph=True",
                  "grad and param do not obey the gradient layout contract",
                  "Tensor.T is deprecated on 0-D", "The use of `x.T` on tensors")


@dataclass(frozen=True)
class Raised:
    """An exception seen by a step or by reading an attribute; compared by type only."""

    kind: str
    message: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raised) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"{self.kind}({self.message[:90]!r})"


@dataclass(frozen=True)
class Values:
    """A tensor's values as float64, compared with a dtype-dependent tolerance."""

    array: np.ndarray
    dtype: str

    def close_to(self, other: Values) -> bool:
        a, b = self.array, other.array
        if a.shape != b.shape:
            return False
        if a.size == 0:
            return True
        finite = np.abs(b[np.isfinite(b)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        # float32 tolerances even for float64 results: they may come from float32 inputs.
        # float32 chains drift further: NumPy's and torch's float32 exp differ in the last
        # bit, which sin((sum of exps) ** 2) magnifies to 1e-4 (found by a soak)
        rtol, atol = 2e-4, (1e-4 if "float32" in (self.dtype, other.dtype) else 2e-5)
        return bool(np.allclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True))

    def __repr__(self) -> str:
        return np.array2string(self.array, precision=5, threshold=20).replace("\n", "")


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except Exception as error:
        return Raised(type(error).__name__, str(error))


def _dtype_name(t: Any) -> str:
    return str(t.dtype).rsplit(".", 1)[-1]


def summary(t: Any, with_grad: bool = True, ignored: dict[int, tuple[str, ...]] | None = None
            ) -> Any:
    """What a user can observe about ``t`` (a tensor, a tuple of them, None or other).

    ``ignored`` maps ``id(tensor)`` to observations left out for that tensor (those of a
    known bug, see ``Step.ignore``).
    """
    if t is None:
        return None
    if isinstance(t, tuple | list):
        return tuple(summary(item, with_grad, ignored) for item in t)
    if not hasattr(type(t), "requires_grad"):
        return ("object", type(t).__name__)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dtype = _dtype_name(t)
        values = _outcome(lambda: Values(np.array(_numpy(t), dtype=np.float64), dtype))
        grad_fn = _outcome(lambda: t.grad_fn)
        is_leaf = _outcome(lambda: t.is_leaf)
        info: dict[str, Any] = {
            "shape": tuple(t.shape),
            "dtype": dtype,
            "values": values,
            "requires_grad": t.requires_grad,
            "is_leaf": is_leaf,
            "grad_fn": grad_fn if isinstance(grad_fn, Raised) else grad_fn is not None,
            "version": "n/a" if t.is_inference() else _outcome(lambda: t._version),
            "inference": t.is_inference(),
            "view": t._is_view(),
        }
        if with_grad and (is_leaf is True or _outcome(lambda: t.retains_grad) is True):
            # torch's engine bumps versions of the buffers it hands to .grad: not compared
            info["grad"] = summary(t.grad, with_grad=False, ignored={id(t.grad): ("version",)})
    for key in (ignored or {}).get(id(t), ()):
        info.pop(key, None)
    return info


def _numpy(t: Any) -> Any:
    # torch's autograd.grad can return a ZeroTensor, which refuses a plain .numpy()
    if getattr(t, "_is_zerotensor", lambda: False)():
        return np.zeros(tuple(t.shape))
    return t.detach().numpy()


def _modes(T: Any) -> tuple[bool, bool]:
    return (T.is_grad_enabled(), T.is_inference_mode_enabled())


@functools.lru_cache(maxsize=4096)
def _compiled(code: str) -> tuple[Any, bool]:
    try:
        return compile(code, "<fuzz>", "eval"), True
    except SyntaxError:
        return compile(code, "<fuzz>", "exec"), False


def _execute(code: str, namespace: dict[str, Any]) -> Any:
    compiled, is_expression = _compiled(code)
    if is_expression:
        return eval(compiled, namespace)
    exec(compiled, namespace)
    return None


def _run_step(step: Step, ns: dict[str, Any], T: Any, blocks: list[Any], is_torch: bool) -> Any:
    if step.kind == "exit":
        blocks.pop().__exit__(None, None, None)
        return ("exit", _modes(T))
    if any(ns.get(ref) is None for ref in step.refs):
        for name in step.binds:
            ns[name] = None
        return ("skip",)
    if step.kind == "enter":
        manager = _execute(step.code, ns)
        manager.__enter__()
        blocks.append(manager)
        return ("enter", _modes(T))
    target = ns.get(step.target) if step.target else None
    saved = None
    if is_torch and target is not None and target.is_inference() and \
            not T.is_inference_mode_enabled():
        # torch writes before refusing (B64): see the docstring; kept whole through the base
        root = target if target._base is None else target._base
        saved = root.detach().clone()
    bounds = None  # torch writes the elements before an out-of-bounds index: the docstring
    if is_torch and target is not None and step.family == "setitem" and \
            not target.is_inference():
        bounds = (target.detach().clone(), target._version)
    grads_before = _grads(ns)
    snapshot = _snapshot(grads_before, T) if step.family in ("backward", "grad") else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = _execute(step.code, ns), None
        except Exception as exc:
            result, error = None, Raised(type(exc).__name__, str(exc))
            if saved is not None and _INFERENCE_WRITE in str(exc):
                # (through NumPy: an expanded inference tensor has no base to write back to)
                np.copyto(root.detach().numpy(), saved.numpy())
            if bounds is not None and "out of bounds" in str(exc):
                with T.no_grad(), contextlib.suppress(RuntimeError):  # (an expanded target)
                    target.copy_(bounds[0])
                    _set_version(T, target, bounds[1])
    warned = tuple(sorted({w.category.__name__ for w in caught
                           if not str(w.message).startswith(_ONCE_WARNINGS)}))
    if error is None:
        result = _bridge(step, result, T, grads_before, ns)
    if error is not None and snapshot is not None:
        _restore(snapshot, T)
    if not step.unpack and step.binds:
        ns[step.binds[0]] = result
    elif step.binds:
        results = tuple(result) if result is not None else ()
        for index, name in enumerate(step.binds):
            ns[name] = results[index] if index < len(results) else None
    ignored = ns["__ignored__"]
    if step.ignore and result is not None:
        for item in result if step.unpack else (result,):
            if item is not None:
                ignored[id(item)] = step.ignore
    if step.kind == "inplace":
        return ("inplace", error, warned, summary(target, ignored=ignored), result is target)
    return ("eval", error, warned, summary(result, ignored=ignored))


def _grads(ns: dict[str, Any]) -> dict[int, tuple[Any, Any]]:
    """id(tensor) -> (tensor, its .grad) for every bound tensor whose .grad can be read."""
    found: dict[int, tuple[Any, Any]] = {}
    for value in ns.values():
        if hasattr(type(value), "grad_fn") and id(value) not in found:
            try:
                readable = value.is_leaf or value.retains_grad
            except RuntimeError:
                continue
            if readable:
                found[id(value)] = (value, value.grad)
    return found


def _snapshot(grads: dict[int, tuple[Any, Any]], T: Any) -> list[tuple[Any, Any, Any, int]]:
    """(leaf, its .grad, a copy of it, its version) for every leaf."""
    with T.no_grad():
        return [(t, g, None if g is None else g.detach().clone(),
                 0 if g is None or g.is_inference() else g._version)
                for t, g in grads.values() if t.is_leaf]


def _restore(snapshot: list[tuple[Any, Any, Any, int]], T: Any) -> None:
    """Put back the leaves' .grad after a failing backward (see the module docstring)."""
    for tensor, grad, copy, version in snapshot:
        current = tensor.grad
        # an inference .grad has no version: torch may have written it before refusing (B64)
        changed = current is not grad or (
            grad is not None and (grad.is_inference() or grad._version != version))
        if changed:
            if grad is not None and grad.is_inference():
                with T.inference_mode():  # other names may hold the old buffer (B64)
                    grad.copy_(copy)
            tensor.grad = copy


def _storage(T: Any, t: Any) -> int:
    return t.untyped_storage().data_ptr() if T.__name__ == "torch" else 0


def _set_version(T: Any, tensor: Any, version: int) -> None:
    if tensor.is_inference():
        return
    if T.__name__ == "torch":
        T._C._autograd._unsafe_set_version_counter((tensor,), (version,))
    else:
        tensor._vc.value = version  # the test harness's own reach into tapegrad


def _bridge(step: Step, result: Any, T: Any, grads_before: dict[int, Any],
            ns: dict[str, Any]) -> Any:
    """Hide the engines' buffer versions and torch's in-place-kernel ones (module docstring);
    the step's result, where the bridge had to replace part of it."""
    for tensor, old in grads_before.values():
        try:
            grad = tensor.grad if tensor.is_leaf or tensor.retains_grad else None
        except RuntimeError:
            continue
        if grad is not None and getattr(grad, "_is_zerotensor", lambda: False)():
            tensor.grad = grad = grad.clone()  # torch's immutable ZeroTensor: the docstring
        if grad is not None and grad is not old:
            _set_version(T, grad, 0)
    if step.family == "grad" and result is not None:
        for item in result:
            if item is not None:
                _set_version(T, item, 0)
        if T.__name__ == "torch":  # a view remembers the version it was made at: see below
            remade: dict[int, Any] = {}  # (the same tensor twice stays one tensor)
            for item in result:
                if id(item) not in remade:
                    remade[id(item)] = _fresh_view(T, item)
            result = tuple(remade[id(item)] for item in result)
    if T.__name__ != "torch":
        return result
    if step.kind == "eval" and result is not None and step.family not in ("grad", "autograd"):
        bound = list(ns.values())
        fresh = [r for r in (result if step.unpack else (result,))
                 if isinstance(r, T.Tensor) and not r.is_inference() and r._version != 0
                 and all(v is not r for v in bound)
                 # a view of an unbound intermediate (x.clone().reshape(-1)) counts as new
                 and (not r._is_view() or all(
                     v is not r._base and getattr(v, "_base", None) is not r._base
                     for v in bound))]
        if fresh:
            taken = {_storage(T, v) for v in bound
                     if isinstance(v, T.Tensor) and all(v is not r for r in fresh)}
            for r in fresh:
                empty_and_new = r.numel() == 0 and step.op not in ("detach", "data")
                if empty_and_new or _storage(T, r) not in taken:
                    _set_version(T, r, 0)
    return result


def _fresh_view(T: Any, item: Any) -> Any:
    """torch refreshes a view's grad_fn after an in-place op only when its version differs from
    the one the view was made at; a version reset makes the next bump look like no change. A
    gradient that is a view (and needs no grad) is re-made after the reset, alike in all else."""
    if item is None or not item._is_view() or item.requires_grad:
        return item
    fresh = item._base.as_strided(item.size(), item.stride(), item.storage_offset())
    autograd = T._C._autograd
    autograd._set_creation_meta(fresh, autograd._get_creation_meta(item))  # no_grad-made or not
    return fresh


def run(program: Program, T: Any) -> list[Any]:
    """Execute ``program`` with ``T`` as the library; return its trace (one entry a step)."""
    ns: dict[str, Any] = {"T": T, "__ignored__": {}}
    is_torch = T.__name__ == "torch"
    trace: list[Any] = []
    blocks: list[Any] = []
    # inference_mode(False) starts from grad on, inference off, and restores the caller's
    # modes afterwards, whatever a plain set_grad_enabled(...) step did
    with T.inference_mode(False):
        try:
            trace.extend(_run_step(step, ns, T, blocks, is_torch) for step in program.steps)
        finally:
            while blocks:
                blocks.pop().__exit__(None, None, None)
        trace.append(("end", _modes(T), tuple(summary(ns.get(n), ignored=ns["__ignored__"])
                                              for n in program.names)))
    return trace


def _diff(ours: Any, theirs: Any, path: str) -> str | None:
    if isinstance(ours, Values) and isinstance(theirs, Values):
        return None if ours.close_to(theirs) else f"{path}: {ours!r} != {theirs!r}"
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in dict.fromkeys((*ours, *theirs)):
            found = _diff(ours.get(key, "<absent>"), theirs.get(key, "<absent>"), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(ours, tuple) and isinstance(theirs, tuple) and len(ours) == len(theirs):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found = _diff(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if ours == theirs else f"{path}: {ours!r} != {theirs!r}"


@dataclass(frozen=True)
class Difference:
    """The first place where the tapegrad trace and the torch trace disagree."""

    index: int  # step index (len(steps) for the final description)
    step: Step | None
    detail: str

    @property
    def signature(self) -> tuple[str, str, str]:
        """(family, op, observation): groups repeated findings of one bug."""
        field = self.detail.split(":", 1)[0]
        field = "".join(c for c in field if not c.isdigit())
        if self.step is None:
            return ("end", "", field)
        return (self.step.family, self.step.op, field)

    def __str__(self) -> str:
        where = "final state" if self.step is None else f"step {self.index}: {self.step.code}"
        return f"{where}\n    tapegrad vs torch at {self.detail}"


def first_difference(ours: list[Any], theirs: list[Any], program: Program | None = None
                     ) -> Difference | None:
    """The first disagreement between two traces of one program, or None."""
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        found = _diff(a, b, "step" if a and a[0] != "end" else "end")
        if found:
            step = None
            if program is not None and index < len(program.steps):
                step = program.steps[index]
            return Difference(index, step, found)
    return None


def render(program: Program) -> str:
    """A standalone script that replays ``program`` on tapegrad and torch and prints both."""
    lines = [
        "import numpy as np",
        "import tapegrad",
        "import torch",
        "",
        "",
        "def attempt(fn):",
        "    try:",
        "        return fn()",
        "    except Exception as error:",
        "        print('    raised', type(error).__name__, str(error)[:100])",
        "",
        "",
        "def program(T):",
    ]
    indent = 1
    empty_block = False
    for step in program.steps:
        pad = "    " * indent
        if step.kind == "exit":
            if empty_block:
                lines.append(pad + "pass")
            indent -= 1
            empty_block = False
            continue
        empty_block = False
        if step.kind == "enter":
            lines.append(f"{pad}with {step.code}:")
            indent += 1
            empty_block = True
            continue
        _, is_expression = _compiled(step.code)
        if not is_expression:
            target, value = step.code.split(" = ", 1)
            if "[" in target:
                obj, key = target.split("[", 1)
                body = f"{obj}.__setitem__(np.s_[{key[:-1]}], {value})"
            else:
                obj, attr = target.rsplit(".", 1)
                body = f"setattr({obj}, {attr!r}, {value})"
        else:
            body = step.code
        call = f"attempt(lambda: {body})"
        if not step.unpack and step.binds:
            lines.append(f"{pad}{step.binds[0]} = {call}")
        elif step.binds:
            nones = ", ".join("None" for _ in step.binds)
            lines.append(f"{pad}{', '.join(step.binds)}, *_ = {call} or ({nones},)")
        else:
            lines.append(f"{pad}{call}")
    names = ", ".join(f"{n!r}: {n}" for n in program.names)
    lines += [
        "    return {" + names + "}",
        "",
        "",
        "for T in (tapegrad, torch):",
        "    print(T.__name__)",
        "    with T.inference_mode(False):",
        "        for name, value in program(T).items():",
        "            grad = getattr(value, 'grad', None) if getattr(value, 'is_leaf', 0) else None",
        "            print(' ', name, value, 'version', attempt(lambda: value._version),",
        "                  'grad', grad)",
    ]
    return "\n".join(lines) + "\n"
