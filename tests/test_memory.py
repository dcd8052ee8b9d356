"""Memory: graphs die by reference counting, training loops stay flat, backward frees early.

- Dropping the outputs frees the graph (nodes, saved tensors, intermediates) with the cyclic
  garbage collector disabled, for plain graphs, views and in-place ops, custom Functions,
  hooks, retain_grad, forward-mode duals and create_graph graphs: no reference cycles.
- No garbage cycle of tapegrad objects is left behind (``gc.collect()`` finds none).
- A 10,000-step training loop keeps flat memory (tracemalloc after step 1,000 and 10,000).
- ``retain_graph=False`` releases saved tensors right after backward, while the outputs
  and their ``grad_fn`` are still alive.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import tracemalloc
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import tapegrad


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _nodes(root: Any) -> list[Any]:
    seen: list[Any] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or any(node is s for s in seen):
            continue
        seen.append(node)
        stack.extend(n for n, _ in node.next_functions)
    return seen


def _refs(*objects: Any) -> list[weakref.ref[Any]]:
    return [weakref.ref(o) for o in objects if o is not None]


class _Square(tapegrad.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        out = x * x
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 2 * x * g


def _plain(x: Any) -> tuple[Any, list[Any]]:
    a = x.exp()
    b = a * x
    y = b.sin().sum()
    return y, [a, b]


def _views_and_inplace(x: Any) -> tuple[Any, list[Any]]:
    a = x.clone()
    v = a[1:]
    v.mul_(2)  # CopySlices on a, a regenerated view node on v
    t = a.t() if a.dim() == 2 else a.unsqueeze(0)
    y = (t * v.sum()).sum()
    return y, [a, v, t]


def _function(x: Any) -> tuple[Any, list[Any]]:
    a = x * 1
    b = _Square.apply(a)
    return b.sum(), [a, b]


def _hooks_and_retain_grad(x: Any) -> tuple[Any, list[Any]]:
    a = x.tanh()
    a.retain_grad()
    a.register_hook(lambda g: g * 2)
    a.grad_fn.register_prehook(lambda grads: None)
    b = a.sigmoid()
    return b.sum(), [a, b]


def _create_graph(x: Any) -> tuple[Any, list[Any]]:
    y = (x ** 3).sum()
    (g,) = tapegrad.autograd.grad(y, [x], create_graph=True)
    return (g * g).sum(), [y, g]


def _forward_ad(x: Any) -> tuple[Any, list[Any]]:
    import tapegrad.autograd.forward_ad as fwad

    with fwad.dual_level():
        d = fwad.make_dual(x.detach(), tapegrad.ones_like(x))
        e = (d * d).exp()
        tangent = fwad.unpack_dual(e).tangent
        assert tangent is not None
    return (e * x).sum(), [d, e, tangent]


GRAPHS: dict[str, Callable[[Any], tuple[Any, list[Any]]]] = {
    "plain": _plain,
    "views_and_inplace": _views_and_inplace,
    "custom_function": _function,
    "hooks_and_retain_grad": _hooks_and_retain_grad,
    "create_graph": _create_graph,
    "forward_ad": _forward_ad,
}


@pytest.mark.parametrize("build", list(GRAPHS.values()), ids=list(GRAPHS))
def test_dropping_the_output_frees_the_graph_without_gc(build: Callable[..., Any]) -> None:
    with gc_disabled():
        x = tapegrad.tensor(np.linspace(0.1, 0.9, 6).reshape(2, 3), requires_grad=True)
        y, intermediates = build(x)
        nodes = _nodes(y.grad_fn)
        assert len(nodes) > 2
        node_refs = _refs(*nodes)
        refs = _refs(*intermediates) + node_refs
        del intermediates, nodes
        assert all(r() is not None for r in node_refs)  # the output keeps its graph alive
        del y
        alive = [r() for r in refs if r() is not None]
        assert alive == [], [type(a).__name__ for a in alive]
    assert x.grad is None


@pytest.mark.parametrize("build", list(GRAPHS.values()), ids=list(GRAPHS))
def test_backward_then_drop_leaves_no_cycles(build: Callable[..., Any]) -> None:
    with gc_disabled():
        x = tapegrad.tensor(np.linspace(0.1, 0.9, 6).reshape(2, 3), requires_grad=True)
        y, intermediates = build(x)
        refs = _refs(*intermediates, *_nodes(y.grad_fn))
        y.backward()
        del y, intermediates
        assert [r for r in refs if r() is not None] == []
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            collected = gc.collect()
            leftovers = [type(o).__name__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert leftovers == []
        assert collected == 0
    assert x.grad is not None


def test_backward_with_create_graph_cycle_breaks_when_grad_is_reset() -> None:
    """torch's documented cycle (parameter -> .grad -> graph -> parameter) exists in tapegrad
    too, and ``x.grad = None`` breaks it, so reference counting frees everything."""
    with gc_disabled():
        x = tapegrad.tensor([0.5, 1.5], requires_grad=True)
        y = (x ** 3).sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y.backward(create_graph=True)
        assert x.grad.grad_fn is not None
        refs = _refs(*_nodes(x.grad.grad_fn))
        del y
        x.grad = None
        assert [r for r in refs if r() is not None] == []


def test_saved_tensors_are_released_right_after_backward() -> None:
    with gc_disabled():
        x = tapegrad.tensor(np.linspace(0.1, 0.9, 5), requires_grad=True)
        a = x.exp()  # saved by sin (its input) and by exp (its output)
        y = a.sin().sum()
        ref = weakref.ref(a)
        del a
        assert ref() is not None
        y.backward()
        assert ref() is None  # freed, while y and its grad_fn live on
        assert y.grad_fn is not None
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()


def test_retain_graph_keeps_saved_tensors_until_the_output_dies() -> None:
    with gc_disabled():
        x = tapegrad.tensor(np.linspace(0.1, 0.9, 5), requires_grad=True)
        a = x.exp()
        y = a.sin().sum()
        ref = weakref.ref(a)
        del a
        y.backward(retain_graph=True)
        assert ref() is not None
        y.backward()
        assert ref() is None


def test_backward_releases_big_saved_buffers() -> None:
    """Measured with tracemalloc: the saved intermediates' memory is returned by backward."""
    x = tapegrad.tensor(np.linspace(0.0, 1.0, 200_000), requires_grad=True)
    tracemalloc.start()
    try:
        y = (x.exp() * x).sin().sum()  # the graph saves two 1.6 MB intermediates
        before, _ = tracemalloc.get_traced_memory()
        y.backward()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    released = before - (after - x.grad.numpy().nbytes)  # x.grad is new memory
    assert released > 3_000_000, (before, after)
    assert y.grad_fn is not None


def _training_loop(steps: int, checkpoints: tuple[int, ...]) -> dict[int, int]:
    """The tiniest training loop: a 2-op loss, backward, an SGD update, grads reset."""
    w = tapegrad.tensor([2.0, -1.0], requires_grad=True)
    memory: dict[int, int] = {}
    for step in range(1, steps + 1):
        loss = (w * w).sum()
        loss.backward()
        with tapegrad.no_grad():
            w.sub_(w.grad, alpha=0.01)
        w.grad = None
        if step in checkpoints:
            memory[step] = tracemalloc.get_traced_memory()[0]
    assert abs(float(w[0])) < 1e-3
    return memory


def test_ten_thousand_step_training_loop_keeps_flat_memory() -> None:
    """A leak grows in every window, while a window may hold a one-off allocation of the
    runtime (NumPy's ``__array_interface__`` allocates ~400 KB once, after some 11,000 calls in
    a process; caches warm up), so the flattest of three windows must be flat."""
    checkpoints = (1_000, 4_000, 7_000, 10_000)
    tracemalloc.start()
    try:
        memory = _training_loop(10_000, checkpoints)
    finally:
        tracemalloc.stop()
    windows = [memory[b] - memory[a] for a, b in itertools.pairwise(checkpoints)]
    assert min(windows) < 4 * 1024, f"grew by {windows} bytes in 3,000-step windows"


def test_the_memory_check_catches_a_leak() -> None:
    """The same measurement sees a loop that keeps every loss (and so every graph)."""
    w = tapegrad.tensor([2.0, -1.0], requires_grad=True)
    kept = []
    tracemalloc.start()
    try:
        for step in range(1, 301):
            loss = (w * w).sum()
            kept.append(loss)
            if step == 100:
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert late - early > 16 * 1024


def test_the_cycle_check_catches_a_cycle() -> None:
    """A user-made cycle (a node's metadata holding its own output) is what gc must find."""
    with gc_disabled():
        x = tapegrad.tensor([0.5, 1.5], requires_grad=True)
        y = x.exp().sum()
        y.grad_fn.metadata["output"] = y  # y -> grad_fn -> metadata -> y
        ref = weakref.ref(y)
        del y
        assert ref() is not None  # reference counting alone cannot free a cycle
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            collected = gc.collect()
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert collected > 0
