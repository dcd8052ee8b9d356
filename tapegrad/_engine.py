"""The reverse-mode engine: graph nodes, saved tensors and the backward loop.

Nodes hang off output tensors (``t.grad_fn``) and die with them; there is no global tape.
The engine never imports ``tensor``: it only calls methods on the tensors it is handed
(``sum_to_size``, ``to``, ``new_zeros``, ``+``, ``detach``, ...).
"""

from __future__ import annotations

import concurrent.futures
import heapq
import os
import sys
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from tapegrad import _state

__all__ = [
    "AccumulateGrad",
    "Node",
    "PrimitiveNode",
    "RemovableHandle",
    "SavedTensor",
    "run_backward",
]

Edge = tuple["Node", int] | None
Tensor = Any  # the engine is typed against what it calls on tensors, not the class

_next_sequence = _state.node_sequence.__next__
_anomaly = _state.anomaly
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ACCUMULATE_SEQ = 1 << 62  # AccumulateGrad runs as soon as it is ready, as in torch
_accumulate_lock = threading.Lock()

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


def user_stacklevel() -> int:
    """The ``stacklevel`` that attributes a warning to the first caller outside tapegrad
    (an op reached through ``__setitem__`` has more tapegrad frames than a direct call)."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    return level


# Anomaly detection: where each node was created in the forward pass (only while it is on),
# for the warning of a failed backward.
_forward_traces: weakref.WeakKeyDictionary[Node, str] = weakref.WeakKeyDictionary()


def _note_forward(node: Node) -> None:
    frames = [f for f in traceback.extract_stack() if not f.filename.startswith(_PACKAGE_DIR)]
    _forward_traces[node] = "".join(traceback.format_list(frames))


def _anomaly_warning(node: Node) -> str:
    trace = _forward_traces.get(node)
    if trace is None:
        return (f"Error detected in {node.name()}. No forward pass information available. "
                "Enable detect anomaly during forward pass for more information.")
    return (f"Error detected in {node.name()}. Traceback of forward call that caused the "
            f"error:\n{trace.rstrip()}")


def _check_nan(node: Node, outputs: tuple[Any, ...]) -> None:
    for index, output in enumerate(outputs):
        if output is not None and bool(output.isnan().any()):
            raise RuntimeError(
                f"Function '{node.name()}' returned nan values in its {index}th output.")


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks: dict[int, Any], key: int) -> None:
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *args: object) -> None:
        self.remove()


def _add_hook(hooks: dict[int, Any], hook: Any) -> RemovableHandle:
    key = next(_state.node_sequence)
    hooks[key] = hook
    return RemovableHandle(hooks, key)


class Node:
    """A backward function in the graph (torch's ``torch.autograd.graph.Node``).

    ``next_edges[i]`` is where the gradient for input ``i`` goes: ``(node, output_nr)`` or
    ``None``. ``in_meta[i]`` is that input's ``(shape, dtype)``; ``out_meta[k]`` is output
    ``k``'s ``(shape, dtype)``.
    """

    __slots__ = ("next_edges", "in_meta", "out_meta", "seq", "_hooks", "__weakref__")

    def __init__(self, next_edges: tuple[Edge, ...], in_meta: tuple[Any, ...],
                 out_meta: tuple[Any, ...]) -> None:
        self.next_edges = next_edges
        self.in_meta = in_meta
        self.out_meta = out_meta
        self.seq = _next_sequence()
        self._hooks: _NodeHooks | None = None  # created on first registration (rare)
        if _anomaly.enabled:
            _note_forward(self)

    def apply(self, grads: tuple[Tensor | None, ...]) -> tuple[Tensor | None, ...]:
        raise NotImplementedError

    def apply_needed(self, grads: tuple[Tensor | None, ...],
                     needed: set[Node] | None) -> tuple[Tensor | None, ...]:
        """``apply`` in a backward that only needs the nodes in ``needed`` (None: all).

        For nodes whose work for an unneeded input can fail (torch's ``should_compute_output``).
        """
        return self.apply(grads)

    def _needs_input(self, index: int, needed: set[Node] | None) -> bool:
        edge = self.next_edges[index]
        return edge is not None and (needed is None or edge[0] in needed)

    def release(self) -> None:
        """Free saved values after a backward without ``retain_graph``."""

    def name(self) -> str:
        """torch's node name, e.g. ``MulBackward0``."""
        return type(self).__name__

    @property
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        return tuple(edge if edge is not None else (None, 0) for edge in self.next_edges)

    def _hook_tables(self) -> _NodeHooks:
        if self._hooks is None:
            self._hooks = _NodeHooks()
        return self._hooks

    @property
    def metadata(self) -> dict[str, Any]:
        return self._hook_tables().metadata

    def register_hook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """``fn(grad_inputs, grad_outputs)`` runs after this node; may return new grad_inputs."""
        return _add_hook(self._hook_tables().post, fn)

    def register_prehook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """``fn(grad_outputs)`` runs before this node; may return new grad_outputs."""
        return _add_hook(self._hook_tables().pre, fn)

    def _register_tensor_prehook(self, output_nr: int, fn: Callable[..., Any]) -> RemovableHandle:
        return _add_hook(self._hook_tables().tensor_pre, (output_nr, fn))

    def _set_retains_grad(self, output_nr: int, tensor: Tensor) -> None:
        self._hook_tables().retains_grad[output_nr] = weakref.ref(tensor)

    def _drop_retains_grad(self, output_nr: int) -> None:
        if self._hooks is not None:
            self._hooks.retains_grad.pop(output_nr, None)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    def _input_hooks(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        """Tensor hooks, then retain_grad, then node pre-hooks, in torch's order."""
        hooks = self._hooks
        if hooks is None:
            return grads
        for output_nr, fn in list(hooks.tensor_pre.values()):
            if grads[output_nr] is not None:
                result = fn(grads[output_nr])
                if result is not None:
                    grads[output_nr] = _checked_hook_value(fn, grads[output_nr], result)
        for output_nr, ref in list(hooks.retains_grad.items()):
            tensor = ref()
            grad = grads[output_nr]
            if tensor is not None and grad is not None:
                tensor._retain(grad)
        for fn in list(hooks.pre.values()):
            result = fn(tuple(grads))
            if result is not None:
                grads = list(_check_hook_result(result, len(grads), fn))
        return grads


def _checked_hook_value(hook: Any, grad: Tensor, result: Any) -> Tensor:
    """A tensor hook may replace a gradient, but not change its size or type (torch)."""
    name = getattr(hook, "__name__", type(hook).__name__)
    if tuple(result.shape) != tuple(grad.shape):
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    if result.dtype is not grad.dtype:
        raise RuntimeError(
            f"hook '{name}' has changed the type of value (was tapegrad.{grad.dtype.legacy_name} "
            f"got tapegrad.{result.dtype.legacy_name})"
        )
    return result


class _NodeHooks:
    """A node's hook tables, allocated only for nodes that get a hook."""

    __slots__ = ("pre", "post", "tensor_pre", "retains_grad", "metadata")

    def __init__(self) -> None:
        self.pre: dict[int, Any] = {}
        self.post: dict[int, Any] = {}
        self.tensor_pre: dict[int, tuple[int, Any]] = {}
        self.retains_grad: dict[int, Any] = {}
        self.metadata: dict[str, Any] = {}


def _check_hook_result(result: Any, expected: int, hook: Any) -> tuple[Any, ...]:
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(result, tuple | list):
        raise TypeError(f"hook '{name}' must return a tuple of gradients or None")
    if len(result) != expected:
        raise RuntimeError(
            f"hook '{name}' has returned an incorrect number of values (got {len(result)}, "
            f"but expected {expected})"
        )
    return tuple(result)


class SavedTensor:
    """A tensor saved for backward: checks its version (and that it is not freed) on unpack.
    A Python number or index arrays (tensors in torch) are only checked for being freed.

    An op's own output is saved as a detached alias, never with its ``grad_fn``, which would
    be a reference cycle; ``unpack`` re-attaches the owning node (torch's SavedVariable).
    """

    __slots__ = ("_value", "_version", "_is_output", "_had_history", "_output_nr")

    def __init__(self, tensor: Tensor, is_output: bool = False, output_nr: int = 0) -> None:
        self._output_nr = output_nr
        self._is_output = is_output
        if not hasattr(tensor, "_vc"):  # a Python number or index arrays: only freed
            self._value, self._version, self._had_history = tensor, -1, False
            return
        if tensor._is_inference:  # (also a detach()/.data alias with a counter, as torch)
            raise RuntimeError(
                "Inference tensors cannot be saved for backward. Please do not use Tensors "
                "created in inference mode in computation tracked by autograd. To work around "
                "this, you can make a clone to get a normal tensor and use it in autograd, or "
                "use `torch.no_grad()` instead of `torch.inference_mode()`."
            )
        self._version = tensor._vc.value
        if is_output:
            self._value = tensor._alias()
            self._had_history = False
        else:
            self._value = tensor
            # detach_ of a saved leaf is fine (grad_fn refreshes a stale view; else no call)
            self._had_history = (tensor._grad_fn if tensor._base is None
                                 else tensor.grad_fn) is not None

    def unpack(self, owner: Node | None = None, output_nr: int = 0) -> Tensor:
        value = self._value
        if value is None:
            raise RuntimeError(_SECOND_BACKWARD)
        if self._version < 0:
            return value
        output_nr = output_nr or self._output_nr
        if value._vc.value != self._version:
            # torch names the owning node for a saved output, the current node for an input
            if self._is_output:
                node, nr = owner, output_nr
            else:
                node, nr = value._grad_fn_for_message(), value._output_nr
            raise RuntimeError(_modified_message(value, node, nr, self._version))
        if self._is_output:  # an integer output (max's indices) has no history to attach
            return value._with_history(owner, output_nr) if value.dtype.is_floating_point \
                else value
        if self._had_history and not value.requires_grad:
            raise RuntimeError(
                "Trying to use a saved tensor that has been detached in-place, i.e. with "
                ".detach_().This is not supported, please use out-of-place `.detach()` instead"
            )
        return value

    def release(self) -> None:
        self._value = None


def _holds_saved(values: tuple[Any, ...]) -> bool:
    return any(type(v) is SavedTensor for v in values)


def _modified_message(tensor: Tensor, node: Node | None, output_nr: int, expected: int) -> str:
    shape = ", ".join(str(s) for s in tensor.shape)
    text = (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [tapegrad.{tensor.dtype.legacy_name} [{shape}]]"
    )
    if node is not None:
        name = node.name()
        short = name[: name.rindex("Backward")] if "Backward" in name else name
        text += f", which is output {output_nr} of {short},"
    return (
        f"{text} is at version {tensor._vc.value}; expected version {expected} instead. Hint: "
        "enable anomaly detection to find the operation that failed to compute its gradient, "
        "with torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


class PrimitiveNode(Node):
    """The backward node of one op-table primitive; ``ops`` makes a named subclass per op."""

    __slots__ = ("prim", "saved", "needs")

    def __init__(self, prim: Any, next_edges: tuple[Edge, ...], in_meta: tuple[Any, ...],
                 out_meta: tuple[Any, ...], saved: dict[str, Any],
                 needs: tuple[bool, ...]) -> None:
        # Node.__init__'s fields, set here: one Python frame less per recorded op
        self.next_edges = next_edges
        self.in_meta = in_meta
        self.out_meta = out_meta
        self.seq = _next_sequence()
        self._hooks = None
        self.prim = prim
        self.saved = saved
        self.needs = needs  # which inputs' rules run (an edge, or CopySlices wants it)
        if _anomaly.enabled:
            _note_forward(self)

    def apply(self, grads: tuple[Tensor | None, ...]) -> tuple[Tensor | None, ...]:
        prim = self.prim
        env: dict[str, Any] = {}
        for name, value in self.saved.items():
            if type(value) is SavedTensor:
                value = value.unpack(self)
            elif type(value) is tuple and _holds_saved(value):  # variadic inputs, index keys
                value = tuple(v.unpack(self) if type(v) is SavedTensor else v for v in value)
            env[name] = value
        if prim.multi_output:
            env["g"] = _materialize(grads, self.out_meta)
        else:
            env["g"] = grads[0]
        if prim.variadic:
            return tuple(prim.vjp(**{a: env[a] for a in prim.rule_args[0]}))
        results: list[Tensor | None] = []
        for need, rule, args in zip(self.needs, prim.vjp, prim.rule_args, strict=True):
            if not need or rule is None:
                results.append(None)
            else:
                results.append(rule(**{a: env[a] for a in args}))
        return tuple(results)

    def release(self) -> None:
        for value in self.saved.values():
            if type(value) is SavedTensor:
                value.release()
            elif type(value) is tuple and _holds_saved(value):
                for v in value:
                    if type(v) is SavedTensor:
                        v.release()

    def __getattr__(self, name: str) -> Any:
        # torch exposes saved values as grad_fn._saved_<name>
        if name.startswith("_saved_"):
            key = name[len("_saved_"):]
            key = {"self": "x", "other": "y", "result": "out"}.get(key, key)
            saved = self.saved
            if key in saved:
                value = saved[key]
                if type(value) is SavedTensor:
                    return value.unpack(self)
                return value
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


def _materialize(grads: Sequence[Tensor | None], out_meta: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Replace missing output gradients of a multi-output node by zeros."""
    template = next(g for g in grads if g is not None)
    return tuple(
        g if g is not None else template.new_zeros(shape, dtype=dtype)
        for g, (shape, dtype) in zip(grads, out_meta, strict=True)
    )


class AccumulateGrad(Node):
    """The sink node of a leaf: adds incoming gradients into ``variable.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.next_edges = self.in_meta = ()  # Node.__init__'s fields: created once per leaf use
        self.out_meta = ((variable._array.shape, variable.dtype),)
        self._hooks = None
        self.variable = variable
        self.seq = _ACCUMULATE_SEQ

    def _input_hooks(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        hooks = self.variable._hooks
        if hooks:
            for fn in list(hooks.values()):
                if grads[0] is not None:
                    result = fn(grads[0])
                    if result is not None:
                        grads[0] = _checked_hook_value(fn, grads[0], result)
        return super()._input_hooks(grads)

    def apply(self, grads: tuple[Tensor | None, ...]) -> tuple[Tensor | None, ...]:
        grad = grads[0]
        if grad is not None and self.variable.grad_fn is not None:
            # an in-place op with a grad value (on it, or on its base) gave it a node
            raise RuntimeError("leaf variable has been moved into the graph interior")
        # a leaf that stopped requiring grad (requires_grad_(False), detach_) gets nothing
        if grad is not None and self.variable._requires_grad:
            with _accumulate_lock:
                self.variable._accumulate_grad(grad, _state.current().grad_enabled)
            post = self.variable._post_accumulate_hooks
            if post:
                for fn in list(post.values()):
                    fn(self.variable)
        return ()


class _GraphTask:
    """Bookkeeping of one backward call."""

    __slots__ = ("dependencies", "buffers", "needed", "captures", "captured")

    def __init__(self) -> None:
        self.dependencies: dict[Node, int] = {}
        self.buffers: dict[Node, list[Any]] = {}
        self.needed: set[Node] | None = None
        self.captures: dict[Node, list[tuple[int, int]]] = {}
        self.captured: list[Any] = []


def grad_mode() -> bool:
    """Whether grad mode is on (inside a vjp rule: whether the backward records a graph)."""
    return _state.current().grad_enabled


def _discover(roots: Sequence[Node], task: _GraphTask) -> list[Node]:
    """Count each node's incoming edges; return the nodes in post-order (children first)."""
    dependencies = task.dependencies
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list[tuple[Node, int]] = []
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack.append((root, 0))
        while stack:
            node, index = stack.pop()
            edges = node.next_edges
            while index < len(edges):
                edge = edges[index]
                index += 1
                if edge is None:
                    continue
                child = edge[0]
                dependencies[child] = dependencies.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append((node, index))
                    stack.append((child, 0))
                    break
            else:
                order.append(node)
    return order


def run_backward(
    roots: Sequence[tuple[Node, int]],
    grads: Sequence[Tensor],
    *,
    retain_graph: bool,
    create_graph: bool,
    targets: Sequence[tuple[Node, int]] | None = None,
    accumulate: bool = True,
) -> list[Tensor | None]:
    """Run backward from ``roots`` seeded with ``grads``.

    With ``targets`` (edges of the tensors passed as ``inputs``), only nodes on a path to a
    target run; the gradient arriving at each target edge is returned (``accumulate=False``,
    for ``autograd.grad``) or, for AccumulateGrad targets, accumulated as usual.
    """
    task = _GraphTask()
    root_nodes = [node for node, _ in roots]
    order = _discover(root_nodes, task)
    if targets is not None:
        target_nodes: set[Node] = set()
        for index, (node, nr) in enumerate(targets):
            target_nodes.add(node)
            task.captures.setdefault(node, []).append((nr, index))
        task.captured = [None] * len(targets)
        needed: set[Node] = set()
        for node in order:  # children come before parents
            if node in target_nodes or any(
                e is not None and e[0] in needed for e in node.next_edges
            ):
                needed.add(node)
        task.needed = needed
        if accumulate:  # backward(inputs=...): leaf targets accumulate, others are captured
            task.captures = {
                n: c for n, c in task.captures.items() if not isinstance(n, AccumulateGrad)
            }

    buffers = task.buffers
    for (node, nr), grad in zip(roots, grads, strict=True):
        buffer = buffers.get(node)
        if buffer is None:
            buffer = buffers[node] = [None] * len(node.out_meta)
        buffer[nr] = grad if buffer[nr] is None else buffer[nr] + grad
    # ties between equal sequence numbers (AccumulateGrad) go first-queued first, as torch
    ready = [(-node.seq, next(_state.node_sequence), node) for node in dict.fromkeys(root_nodes)
             if task.dependencies.get(node, 0) == 0]
    heapq.heapify(ready)
    previous = _state.update(grad_enabled=create_graph)
    try:
        if previous.multithreading and not _state.in_backward_worker() and any(
            _is_heavy(node) for node in order
        ):
            _execute_threaded(task, ready, retain_graph, accumulate)
        else:
            while ready:
                node = heapq.heappop(ready)[2]
                outputs = _run_node(node, _take_buffer(task, node), task, retain_graph,
                                    accumulate)
                _propagate(node, outputs, task, ready)
    finally:
        _state.install(previous)
    return task.captured


# A node is worth a worker thread when its arrays are big enough that NumPy's time (which
# releases the GIL) dwarfs the Python overhead of handing it over.
_HEAVY_ELEMENTS = 1 << 16


def _is_heavy(node: Node) -> bool:
    return any(meta is not None and _numel(meta[0]) >= _HEAVY_ELEMENTS
               for meta in (*node.out_meta, *node.in_meta))


def _worth_a_worker(node: Node) -> bool:
    """Heavy NumPy work: not a view's backward nor AccumulateGrad (cheap copies and adds)."""
    if isinstance(node, AccumulateGrad) or not _is_heavy(node):
        return False
    prim = getattr(node, "prim", None)
    return prim is None or not prim.view


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _take_buffer(task: _GraphTask, node: Node) -> list[Any]:
    return task.buffers.pop(node, None) or [None] * len(node.out_meta)


def _run_node(node: Node, grads_in: list[Any], task: _GraphTask, retain_graph: bool,
              accumulate: bool) -> tuple[Any, ...]:
    """Hooks, capture and ``apply`` for one ready node; returns its input gradients.

    Under anomaly detection a nan gradient raises, and any error warns where the node was
    created in the forward pass (torch's order: the warning, then the error)."""
    if not _anomaly.enabled:
        return _apply_node(node, grads_in, task, retain_graph, accumulate)
    try:
        outputs = _apply_node(node, grads_in, task, retain_graph, accumulate)
        if _anomaly.check_nan:
            _check_nan(node, outputs)
        return outputs
    except Exception:
        warnings.warn(_anomaly_warning(node), UserWarning, stacklevel=user_stacklevel())
        raise


def _apply_node(node: Node, grads_in: list[Any], task: _GraphTask, retain_graph: bool,
                accumulate: bool) -> tuple[Any, ...]:
    if any(g is not None for g in grads_in):
        grads_in = node._input_hooks(grads_in)
    capture = task.captures.get(node)
    if capture:
        for nr, index in capture:
            task.captured[index] = grads_in[nr]
    needed = task.needed
    run = needed is None or (
        node in needed
        and ((isinstance(node, AccumulateGrad) and accumulate)
             or any(e is not None and e[0] in needed for e in node.next_edges))
    )
    outputs: tuple[Any, ...] = ()
    if run and any(g is not None for g in grads_in):
        outputs = node.apply_needed(tuple(grads_in), needed)
        if node._hooks is not None and node._hooks.post:
            for fn in list(node._hooks.post.values()):
                result = fn(outputs, tuple(grads_in))
                if result is not None:
                    outputs = _check_hook_result(result, len(outputs), fn)
        if not retain_graph:
            node.release()
    return outputs


def _propagate(node: Node, outputs: tuple[Any, ...], task: _GraphTask,
               ready: list[tuple[int, int, Node]]) -> None:
    """Add ``node``'s input gradients into its children's buffers; queue children now ready."""
    needed = task.needed
    buffers = task.buffers
    dependencies = task.dependencies
    for index, edge in enumerate(node.next_edges):
        if edge is None:
            continue
        child, nr = edge
        grad = outputs[index] if index < len(outputs) else None
        if grad is not None and (needed is None or child in needed):
            grad = _fit(grad, node.in_meta[index], node, index)
            buffer = buffers.get(child)
            if buffer is None:
                buffer = buffers[child] = [None] * len(child.out_meta)
            buffer[nr] = grad if buffer[nr] is None else buffer[nr] + grad
        remaining = dependencies[child] - 1
        dependencies[child] = remaining
        if remaining == 0:
            heapq.heappush(ready, (-child.seq, next(_state.node_sequence), child))


def _execute_threaded(task: _GraphTask, ready: list[tuple[int, int, Node]], retain_graph: bool,
                      accumulate: bool) -> None:
    """Run independent heavy nodes on the worker pool while this thread runs the others.

    Only this thread touches the buffers and dependency counts; workers run ``_run_node``
    under this thread's modes (grad mode = create_graph).
    """
    pool = _state.backward_pool()
    modes = _state.current()
    running: dict[Any, Node] = {}
    error: BaseException | None = None
    while (ready or running) and error is None:
        while ready and error is None:
            node = heapq.heappop(ready)[2]
            grads_in = _take_buffer(task, node)
            # Hand a node over only when another heavy one can run beside it (real branching)
            if _worth_a_worker(node) and (
                running or any(_worth_a_worker(item[2]) for item in ready)
            ):
                future = pool.submit(_state.run_as_backward_worker, modes, _run_node, node,
                                     grads_in, task, retain_graph, accumulate)
                running[future] = node
                continue
            try:
                _propagate(node, _run_node(node, grads_in, task, retain_graph, accumulate),
                           task, ready)
            except BaseException as exc:  # let running workers finish before raising
                error = exc
        if running:
            done, _ = concurrent.futures.wait(running, return_when="FIRST_COMPLETED")
            for future in done:
                node = running.pop(future)
                if error is None:
                    try:
                        _propagate(node, future.result(), task, ready)
                    except BaseException as exc:
                        error = exc
    if running:
        concurrent.futures.wait(running)
    if error is not None:
        raise error


def _fit(grad: Tensor, meta: tuple[Any, Any], node: Node, index: int) -> Tensor:
    """Sum a broadcast gradient back to its input's shape and cast it to the input's dtype."""
    shape, dtype = meta
    if grad.shape != shape:
        if not _broadcastable_to(shape, grad.shape):
            raise RuntimeError(
                f"Function {node.name()} returned an invalid gradient at index {index} - got "
                f"{list(grad.shape)} but expected shape compatible with {list(shape)}"
            )
        grad = grad.sum_to_size(shape)
    if grad.dtype is not dtype and dtype.is_floating_point:
        grad = grad.to(dtype)
    return grad


def _broadcastable_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target), strict=False):
        if s != t and s != 1:
            return False
    return True


def _edge_of(tensor: Tensor) -> Edge:
    return tensor._edge()


def _seed_gradients(outputs: Sequence[Tensor], grad_outputs: Sequence[Any],
                    is_grads_batched: bool = False) -> list[Tensor]:
    seeds = []
    for index, (out, grad) in enumerate(zip(outputs, grad_outputs, strict=True)):
        if grad is None:
            if out.requires_grad:
                if out.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if not out.dtype.is_floating_point:
                    raise RuntimeError(
                        "grad can be implicitly created only for real scalar outputs but got "
                        f"{out.dtype}"
                    )
                grad = out.new_ones(out.shape)
            seeds.append(grad)
            continue
        if not hasattr(grad, "_array"):
            grad = out.new_tensor(grad)
        if tuple(grad.shape) != tuple(out.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{index}] has a shape of "
                f"torch.Size({list(grad.shape)}) and output[{index}] has a shape of "
                f"torch.Size({list(out.shape)})."
            )
        seeds.append(grad)
    return seeds


def backward(
    tensors: Sequence[Tensor],
    grad_tensors: Sequence[Any] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    """Accumulate d(tensors)/d(leaves) into the leaves' ``.grad`` (``torch.autograd.backward``)."""
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(
            f"grad can be implicitly created only for scalar outputs; got {len(grad_tensors)} "
            f"gradients for {len(tensors)} tensors"
        )
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        warnings.warn(
            "Using backward() with create_graph=True will create a reference cycle between the "
            "parameter and its gradient which can cause a memory leak. We recommend using "
            "autograd.grad when creating the graph to avoid this. If you have to use this "
            "function, make sure to reset the .grad fields of your parameters to None after use "
            "to break the cycle and avoid the leak.",
            UserWarning,
            stacklevel=3,
        )
    seeds = _seed_gradients(tensors, grad_tensors)
    roots, root_grads = _roots(tensors, seeds)
    if inputs is not None and len(inputs) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    targets = None
    if inputs is not None:
        targets = []
        for tensor in inputs:
            edge = tensor._edge()
            if edge is None:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            targets.append(edge)
            if not isinstance(edge[0], AccumulateGrad):
                tensor.retain_grad()  # torch's way to fill a non-leaf input's .grad, once
    run_backward(roots, root_grads, retain_graph=retain_graph, create_graph=create_graph,
                 targets=targets, accumulate=True)


def _roots(tensors: Sequence[Tensor], seeds: Sequence[Tensor]) -> tuple[list[Any], list[Any]]:
    roots, root_grads = [], []
    for index, (tensor, seed) in enumerate(zip(tensors, seeds, strict=True)):
        edge = tensor._edge()
        if edge is None:
            raise RuntimeError(
                f"element {index} of tensors does not require grad and does not have a grad_fn"
            )
        roots.append(edge)
        root_grads.append(seed)
    return roots, root_grads


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs`` (``torch.autograd.grad``)."""
    outputs = (outputs,) if hasattr(outputs, "_array") else tuple(outputs)
    inputs = (inputs,) if hasattr(inputs, "_array") else tuple(inputs)
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but "
            "got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif hasattr(grad_outputs, "_array"):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad requires one gradient per output: got {len(grad_outputs)} gradients and "
            f"{len(outputs)} outputs"
        )
    if retain_graph is None:
        retain_graph = create_graph
    targets = []
    for tensor in inputs:
        edge = tensor._edge()
        if edge is None:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        targets.append(edge)
    seeds = _seed_gradients(outputs, grad_outputs)
    roots, root_grads = _roots(outputs, seeds)
    captured = run_backward(roots, root_grads, retain_graph=retain_graph,
                            create_graph=create_graph, targets=targets, accumulate=False)
    results: list[Tensor | None] = []
    for index, (tensor, grad_value) in enumerate(zip(inputs, captured, strict=True)):
        if grad_value is None:
            if materialize_grads:
                grad_value = tensor.zeros_like()
            elif not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {index} appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
        # as torch: the engine's own tensor (a view, the seed, one object for a repeated input)
        results.append(grad_value)
    return tuple(results)
