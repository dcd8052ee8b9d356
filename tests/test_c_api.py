"""``tapegrad._C`` (the ``torch._C`` doors PyTorch code uses for modes and version counters)
and ``autograd.enforce_grad_layout_policy`` (spec B17, B35, B39, B41-B43, B46), against torch."""

from __future__ import annotations

import threading

import pytest

from tests.fuzzing.oracle import compare, outcome

torch = pytest.importorskip("torch")

SETTERS = ["_set_grad_enabled", "_set_multithreading_enabled", "_set_view_replay_enabled",
           "_set_fwd_grad_enabled", "_set_grad_layout_enforcement_enabled"]


@pytest.mark.parametrize("setter", SETTERS)
def test_setters_take_real_bools_only(setter: str) -> None:
    def scenario(T):
        return [outcome(lambda v=v: getattr(T._C, setter)(v), 90) for v in (1, None, "x")]

    assert all(kind == "TypeError" for kind, _ in compare(scenario))


def test_setters_and_queries_switch_the_threads_flags() -> None:
    def scenario(T):
        C, seen = T._C, []
        C._set_grad_enabled(False)
        seen.append((T.is_grad_enabled(), C.is_grad_enabled()))
        C._set_grad_enabled(True)
        C._set_multithreading_enabled(False)
        seen.append((C._is_multithreading_enabled(), T.autograd.is_multithreading_enabled()))
        inner = []
        thread = threading.Thread(target=lambda: inner.append(C._is_multithreading_enabled()))
        thread.start()
        thread.join()
        seen.append(inner)  # thread-local: a new thread starts from the defaults
        C._set_multithreading_enabled(True)
        C._set_view_replay_enabled(True)
        seen.append((C._is_view_replay_enabled(), T.autograd.is_view_replay_enabled()))
        C._set_view_replay_enabled(False)
        C._set_fwd_grad_enabled(False)
        seen.append(C._is_fwd_grad_enabled())
        C._set_fwd_grad_enabled(True)
        return seen

    assert compare(scenario)[0] == (False, False)


def test_the_inference_mode_guard_acts_from_construction_to_deletion() -> None:
    def scenario(T):
        seen = []
        for mode in (True, False):
            with T.no_grad():
                guard = T._C._InferenceMode(mode)
                seen.append((T.is_inference_mode_enabled(), T.is_grad_enabled()))
                del guard
                seen.append((T.is_inference_mode_enabled(), T.is_grad_enabled()))
        return seen

    assert compare(scenario) == [(True, False), (False, False), (False, True), (False, False)]


def test_unsafe_set_version_counter_and_increment_version() -> None:
    def scenario(T):
        set_versions = T._C._autograd._unsafe_set_version_counter
        x = T.ones(2)
        view = x[0:1]
        seen = [outcome(lambda: set_versions((x,), (5,))), (x._version, view._version)]
        seen.append(outcome(lambda: set_versions((x,), (-1,)), 90))
        seen.append(x._version)  # unchanged by the refused call
        seen.append((outcome(lambda: set_versions([x], [3])), x._version))
        seen.append(outcome(lambda: set_versions((x, view), (3,)), 90))
        with T.inference_mode():
            frozen = T.ones(1)
        seen.append(outcome(lambda: set_versions((frozen,), (3,)), 120))
        T._C._increment_version((x,))
        T._C._increment_version(x)  # a bare tensor is iterated: one bump per row, as in torch
        seen.append(x._version)
        return seen

    seen = compare(scenario)
    assert seen[2][1].startswith("Cannot set a version_counter to a value below 0")


def test_enforce_grad_layout_policy_toggles_like_torch() -> None:
    def scenario(T):
        query = T._C._is_grad_layout_enforcement_enabled
        policy = T.autograd.enforce_grad_layout_policy
        seen = [query()]
        with policy(False):
            seen.append(query())
            with T.inference_mode():
                seen.append(query())  # inference mode resets the autograd state
            with T.inference_mode(False):
                seen.append(query())
            with T.no_grad():
                seen.append(query())
            inner = []
            thread = threading.Thread(target=lambda: inner.append(query()))
            thread.start()
            thread.join()
            seen.append(inner)
        seen.append(query())

        @policy(False)
        def decorated():
            return query()

        seen.append((query(), decorated(), query()))  # the decorator leaves no state changed
        mode = policy(False)  # acts on construction
        seen.append(query())
        with mode:
            seen.append(query())
        seen.append(query())
        seen.append(outcome(lambda: policy(1), 90))
        seen.append((query(), policy(True).clone().mode, query()))
        T._C._set_grad_layout_enforcement_enabled(True)
        return seen

    assert compare(scenario)[:2] == [True, False]


def test_a_relaxed_layout_policy_still_lays_out_grad_by_the_contract() -> None:
    """tapegrad never hands .grad an incoming gradient without copying it, so relaxing the
    contract changes nothing: a transposed leaf's .grad is laid out like the leaf. torch may
    steal an incoming gradient of another layout then (a deliberate, documented difference)."""
    import tapegrad

    leaf = tapegrad.zeros(3, 4).t().requires_grad_()
    with tapegrad.autograd.enforce_grad_layout_policy(False):
        (leaf * 2).sum().backward()
    assert leaf.grad.stride() == (1, 4)
