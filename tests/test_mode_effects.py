"""What the modes do to tensors: recording (B27), existing graphs (B81), version-counter
preservation (B41-B45), tasks and decorators with real ops, and the seed's examples."""

from __future__ import annotations

import asyncio

import pytest

import tapegrad

from .test_views import compare, outcome

torch = pytest.importorskip("torch")


def test_b27_no_grad_records_nothing():
    def scenario(T):
        x = T.ones(2, requires_grad=True)
        with T.no_grad():
            y = x * 2
            v = x[0]
        with T.set_grad_enabled(False):
            z = x.exp()
        return [(t.requires_grad, t.grad_fn is None, t.is_leaf) for t in (y, z, v)]

    compare(scenario)


def test_b81_no_grad_does_not_affect_existing_graphs():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        s = (x * x).sum()
        with T.no_grad():
            s.backward(retain_graph=True)
            (g,) = T.autograd.grad(s, x, create_graph=True)
        return x.grad.tolist(), g.requires_grad, x.requires_grad

    compare(scenario)


def test_enable_grad_inside_no_grad_records():
    def scenario(T):
        x = T.tensor([1.0], requires_grad=True)
        with T.no_grad(), T.enable_grad():
            y = x * 2
        y.backward()
        return y.requires_grad, x.grad.tolist()

    compare(scenario)


def test_decorated_function_records_nothing_and_restores():
    def scenario(T):
        @T.no_grad()
        def doubler(x):
            return x * 2

        x = T.ones(1, requires_grad=True)
        return doubler(x).requires_grad, T.is_grad_enabled()

    compare(scenario)


def test_b41_b44_unsafe_preserve_version_counter():
    def scenario(T):
        a = T.ones(2)
        v = a[0:1]
        with T.autograd._unsafe_preserve_version_counter(a):
            a.add_(1)
            inside = a._version
        after = a._version, v._version
        b, c = T.ones(1), T.ones(1)
        c.add_(1)
        with T.autograd._unsafe_preserve_version_counter((b, c)):
            b.add_(1)
            c.add_(1)
        listed = outcome(lambda: T.autograd._unsafe_preserve_version_counter([b]))
        return inside, after, (b._version, c._version), listed

    result = compare(scenario)
    assert result[3][0] == "AssertionError"


def test_b42_preserved_mutation_goes_unnoticed():
    def scenario(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = (h * h).sum()
        with T.autograd._unsafe_preserve_version_counter(h):
            h.detach().mul_(10)
        y.backward()
        return x.grad.tolist()

    compare(scenario)


def test_b45_unsafe_preserve_as_decorator_fails_at_call():
    def scenario(T):
        a = T.ones(1)
        decorated = T.autograd._unsafe_preserve_version_counter(a)(lambda: 1)
        return outcome(decorated)[0]

    compare(scenario)


def test_tasks_never_see_each_others_modes_with_real_ops():
    x = tapegrad.ones(2, requires_grad=True)

    async def no_grad_task():
        results = []
        for _ in range(5):
            with tapegrad.no_grad():
                await asyncio.sleep(0)
                results.append((x * 2).requires_grad)
        return results

    async def grad_task():
        results = []
        for _ in range(5):
            await asyncio.sleep(0)
            results.append((x * 2).requires_grad)
        return results

    @tapegrad.inference_mode()
    async def inference_task():
        results = []
        for _ in range(5):
            await asyncio.sleep(0)
            results.append((x * 2).is_inference())
        return results

    async def main():
        return await asyncio.gather(no_grad_task(), grad_task(), inference_task())

    off, on, inference = asyncio.run(main())
    assert off == [False] * 5
    assert on == [True] * 5
    assert inference == [True] * 5
    assert tapegrad.is_grad_enabled()


def test_seed_examples():
    """The seed's docstring examples, with tapegrad in place of torch."""
    x = tapegrad.tensor([1.0], requires_grad=True)
    with tapegrad.no_grad():
        y = x * 2
    assert y.requires_grad is False
    with tapegrad.no_grad(), tapegrad.enable_grad():
        y = x * 2
    assert y.requires_grad is True
    y.backward()
    assert x.grad.tolist() == [2.0]
    with tapegrad.set_grad_enabled(False):
        y = x * 2
    assert y.requires_grad is False
    x = tapegrad.ones(1, 2, 3, requires_grad=True)
    with tapegrad.inference_mode():
        y = x * x
    assert y.requires_grad is False
    with pytest.raises(RuntimeError, match=r"Inference tensors do not track version counter\."):
        y._version
