"""Threads: per-thread modes (B47, B48), concurrent backward (B55), the multithreaded engine."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tapegrad


def run_in_thread(fn):
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join()
    return result[0]


def test_b47_new_thread_records_under_outer_no_grad():
    x = tapegrad.ones(2, requires_grad=True)
    with tapegrad.no_grad():
        inner = run_in_thread(lambda: ((x * 2).requires_grad, tapegrad.is_grad_enabled()))
        outer = (x * 2).requires_grad
    assert inner == (True, True)
    assert outer is False


def test_b47_new_thread_starts_outside_inference_mode():
    with tapegrad.inference_mode():
        inner = run_in_thread(lambda: tapegrad.ones(1).is_inference())
    assert inner is False


def test_b48_pooled_thread_keeps_its_own_state():
    with ThreadPoolExecutor(1) as pool:
        pool.submit(tapegrad.set_grad_enabled, False).result()
        assert pool.submit(tapegrad.is_grad_enabled).result() is False
        assert tapegrad.is_grad_enabled() is True
        pool.submit(tapegrad.set_grad_enabled, True).result()


def test_b55_concurrent_backward_into_shared_leaves_accumulates_exactly():
    w = tapegrad.tensor(np.arange(1.0, 5.0), requires_grad=True)
    steps = 25

    def worker(k):
        for _ in range(steps):
            ((w * k).sum()).backward()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = steps * sum(range(1, 9))
    assert w.grad.tolist() == [float(expected)] * 4


def test_threads_with_different_modes_do_not_interfere():
    x = tapegrad.ones(3, requires_grad=True)
    barrier = threading.Barrier(4)
    seen = {}

    def body(name, mode):
        with mode():
            barrier.wait()
            for _ in range(50):
                y = x * 2
            seen[name] = (y.requires_grad, y.is_inference())

    modes = {"no_grad": tapegrad.no_grad, "enable": tapegrad.enable_grad,
             "inference": tapegrad.inference_mode,
             "off": lambda: tapegrad.set_grad_enabled(False)}
    threads = [threading.Thread(target=body, args=(n, m)) for n, m in modes.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"no_grad": (False, False), "enable": (True, False),
                    "inference": (False, True), "off": (False, False)}


def branchy(x, branches=4):
    """Independent heavy branches joined at the end."""
    outs = []
    for k in range(branches):
        h = (x * (k + 1)).tanh()
        h = (h * h).exp()
        outs.append(h.sum())
    return sum(outs[1:], outs[0])


def backward_threads(multithreading):
    x = tapegrad.randn(400, 400, requires_grad=True)  # 160k elements: heavy nodes
    names = set()
    with tapegrad.autograd.set_multithreading_enabled(multithreading):
        y = branchy(x)
        for node in _nodes(y.grad_fn):
            node.register_prehook(lambda g: names.add(threading.current_thread().name))
        y.backward()
    return x.grad, names


def _nodes(root):
    seen, stack = [], [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.append(node)
        stack.extend(n for n, _ in node.next_functions)
    return seen


def test_multithreaded_backward_uses_workers_and_matches_single_threaded():
    tapegrad.manual_seed(0)
    grad_on, names_on = backward_threads(True)
    tapegrad.manual_seed(0)
    grad_off, names_off = backward_threads(False)
    assert names_off == {threading.current_thread().name}
    assert any(n.startswith("tapegrad-backward") for n in names_on)
    np.testing.assert_allclose(grad_on.numpy(), grad_off.numpy(), rtol=1e-6)


def test_workers_run_with_grad_mode_equal_to_create_graph():
    x = tapegrad.randn(300, 300, requires_grad=True)
    y = branchy(x)
    seen = []
    for node in _nodes(y.grad_fn):
        node.register_prehook(lambda g: seen.append(tapegrad.is_grad_enabled()))
    with tapegrad.no_grad():
        tapegrad.autograd.grad(y, x, create_graph=True)
    assert seen
    assert all(seen)


def test_worker_errors_propagate_and_engine_stays_usable():
    x = tapegrad.randn(300, 300, requires_grad=True)
    y = branchy(x)
    victim = _nodes(y.grad_fn)[3]

    def fail(grads):
        raise ValueError("boom")

    handle = victim.register_prehook(fail)
    with pytest.raises(ValueError, match="boom"):
        y.backward(retain_graph=True)
    handle.remove()
    assert tapegrad.is_grad_enabled()
    x.grad = None
    y.backward()
    assert x.grad is not None
