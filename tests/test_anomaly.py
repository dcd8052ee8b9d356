"""Anomaly detection (``detect_anomaly`` / ``set_detect_anomaly``, spec B98) and the helpers of
``autograd.graph``, against torch: the flags, the nan check, the warning that names the node
and its forward traceback, and the errors of bad arguments."""

from __future__ import annotations

import threading
import warnings

import pytest

import tapegrad
from tests.fuzzing.oracle import compare, describe, outcome

torch = pytest.importorskip("torch")


def flags(T) -> tuple[bool, bool]:
    return T.is_anomaly_enabled(), T.is_anomaly_check_nan_enabled()


def caught_messages(fn) -> tuple[object, list[tuple[str, str, int]]]:
    """``outcome(fn)`` and each warning's category, first line and line number."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = outcome(fn, 90)
    return result, [(w.category.__name__, str(w.message).split("\n")[0], w.lineno)
                    for w in caught]


@pytest.fixture(autouse=True)
def anomaly_off():
    """Each test starts and ends with anomaly detection off on both libraries."""
    yield
    for T in (tapegrad, torch):
        T.autograd.set_detect_anomaly(False)
        assert flags(T) == (False, True)


def test_flags_of_the_context_managers_and_the_function_form() -> None:
    def scenario(T):
        seen = [flags(T)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with T.autograd.detect_anomaly():
                seen.append(flags(T))
                inner = []
                thread = threading.Thread(target=lambda: inner.append(flags(T)))
                thread.start()
                thread.join()
                seen.append(inner[0])  # process-global, unlike the grad modes
                with T.autograd.detect_anomaly(check_nan=False):
                    seen.append(flags(T))
                seen.append(flags(T))
        seen.append([(w.category.__name__, str(w.message)[:40]) for w in caught])
        seen.append(flags(T))
        mode = T.autograd.set_detect_anomaly(True, check_nan=False)  # acts on construction
        seen.append(flags(T))
        with mode:
            seen.append(flags(T))
        seen.append(flags(T))  # the block restores the flags from before construction
        T.autograd.set_detect_anomaly(True)
        seen.append(flags(T))
        T.autograd.set_detect_anomaly(False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seen.append(outcome(lambda: T.autograd.detect_anomaly()(lambda: None)))
        return seen

    seen = compare(scenario)
    assert seen[1] == (True, True)
    assert seen[2] == (True, True)
    assert seen[-1] == ("TypeError", "'detect_anomaly' object is not callable")


@pytest.mark.parametrize("args", [(1,), (None,), ("yes",), (True, 1), (False, None)])
def test_set_detect_anomaly_takes_real_bools_only(args) -> None:
    def scenario(T):
        return outcome(lambda: T.autograd.set_detect_anomaly(*args), 90), flags(T)

    result = compare(scenario)
    assert result[0][0] == "TypeError"
    assert result[1] == (False, True)


def nan_gradients(T):
    """Backwards that make a nan gradient somewhere: which raise, and their warnings."""

    class Poison(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            return grad * float("nan")

    def sqrt_of_negative():
        x = T.tensor([-1.0, 4.0], requires_grad=True)
        x.sqrt().sum().backward()
        return describe(x.grad, version=False)

    def nan_root_gradient_into_a_leaf():  # AccumulateGrad is not checked
        x = T.tensor([1.0], requires_grad=True)
        x.backward(T.tensor([float("nan")]))
        return describe(x.grad, version=False)

    def nan_root_gradient_through_mul():
        x = T.tensor([1.0], requires_grad=True)
        (x * 1).backward(T.tensor([float("nan")]))
        return describe(x.grad, version=False)

    def custom_backward():
        x = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        return describe(T.autograd.grad(Poison.apply(x).sum(), [x]), version=False)

    def hook_makes_nan():  # the node after the hook returns the nan
        x = T.tensor([1.0], requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: g * float("nan"))
        y.sum().backward()
        return describe(x.grad, version=False)

    def second_output():  # d(x*y)/dy = x is nan, d(x*y)/dx = y is not
        x = T.tensor([float("nan")], requires_grad=True)
        y = T.tensor([1.0], requires_grad=True)
        (x * y).sum().backward()

    def inf_is_not_nan():
        x = T.tensor([0.0, 1.0], requires_grad=True)
        x.pow(0.5).sum().backward()
        return describe(x.grad, version=False)

    cases = [sqrt_of_negative, nan_root_gradient_into_a_leaf, nan_root_gradient_through_mul,
             custom_backward, hook_makes_nan, second_output, inf_is_not_nan]
    return [caught_messages(case) for case in cases]


def test_nan_gradients_raise_with_the_nodes_name_and_its_forward_traceback() -> None:
    def scenario(T):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mode = T.autograd.detect_anomaly()
        with mode:
            found = nan_gradients(T)
        # each warning names this file's line that ran the failing backward
        return [(result, [(kind, text) for kind, text, _ in caught]) for result, caught in found]

    found = compare(scenario)
    assert found[0][0] == ("RuntimeError",
                           "Function 'SqrtBackward0' returned nan values in its 0th output.")
    assert found[0][1] == [("UserWarning", "Error detected in SqrtBackward0. Traceback of "
                                           "forward call that caused the error:")]
    assert found[5][0][1].endswith("in its 1th output.")  # torch's ordinal, kept


def test_check_nan_false_and_anomaly_off_let_nans_through() -> None:
    def scenario(T):
        plain = nan_gradients(T)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mode = T.autograd.detect_anomaly(check_nan=False)
        with mode:
            unchecked = nan_gradients(T)
        return plain, unchecked

    plain, unchecked = compare(scenario)
    assert plain == unchecked
    assert all(not caught for _, caught in plain)


def test_the_warning_quotes_the_forward_call() -> None:
    def helper(T, x):
        return x.sqrt()  # the innermost forward frame of the traceback

    def scenario(T):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with T.autograd.detect_anomaly():
                x = T.tensor([-1.0], requires_grad=True)
                y = helper(T, x)
                error = outcome(lambda: y.backward(), 90)
        message = str(caught[-1].message)
        text = message.split(" (Triggered internally")[0]  # torch's C++ source line
        return error, [line.strip() for line in text.split("\n") if line.strip()]

    _error, lines = compare(scenario)
    assert lines[-1] == "return x.sqrt()  # the innermost forward frame of the traceback"
    assert lines[-3] == "y = helper(T, x)"


def test_errors_in_backward_warn_with_or_without_forward_information() -> None:
    """Any error of a node (a saved tensor modified in place, a failing custom backward)
    warns first; a node made before anomaly detection was on has no forward trace."""

    class Fails(tapegrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("custom backward failed")

    def scenario(T):
        fails = Fails if T is tapegrad else type("Fails", (torch.autograd.Function,), {
            "forward": staticmethod(lambda ctx, x: x.clone()),
            "backward": staticmethod(Fails.backward)})
        a = T.ones(2, requires_grad=True)
        before = a.exp()
        before.add_(1)
        found = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mode = T.autograd.detect_anomaly()
        with mode:
            found.append(caught_messages(lambda: before.sum().backward()))
            during = a.exp()
            during.mul_(2)
            found.append(caught_messages(lambda: during.sum().backward()))
            found.append(caught_messages(lambda: fails.apply(a).sum().backward()))
        return [(result[0], [(kind, text[:48]) for kind, text, _ in caught])
                for result, caught in found]

    found = compare(scenario)
    assert [result for result, _ in found] == ["RuntimeError", "RuntimeError", "ValueError"]
    assert found[0][1][0][1].startswith("Error detected in ExpBackward0. No forward pass")
    assert found[1][1][0][1].startswith("Error detected in ExpBackward0. Traceback of")


def test_anomaly_detection_is_restored_after_an_exception() -> None:
    def scenario(T):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with T.autograd.detect_anomaly(check_nan=False):
                    raise KeyError("body")
            except KeyError:
                pass
        return flags(T)

    assert compare(scenario) == (False, True)


def test_increment_version_bumps_tensors_and_skips_inference_tensors() -> None:
    def scenario(T):
        x, n = T.ones(2), T.tensor([1, 2])
        T.autograd.graph.increment_version(x)
        T.autograd.graph.increment_version([x, n])
        with T.inference_mode():
            frozen = T.ones(1)
        T.autograd.graph.increment_version(frozen)  # silently nothing (no counter, B58)
        a = T.ones(2, requires_grad=True)
        saved = a.exp()
        T.autograd.graph.increment_version(saved)
        failed = outcome(lambda: saved.sum().backward(), 100)
        bad = [outcome(lambda arg=arg: T.autograd.graph.increment_version(arg), 90)
               for arg in (1, [1], None)]
        return (x._version, n._version, failed, bad,
                isinstance(saved.grad_fn, T.autograd.graph.Node))

    result = compare(scenario)
    assert result[:2] == (2, 1)
    assert result[-1] is True


def test_increment_version_refuses_a_list_with_a_non_tensor_before_bumping_any() -> None:
    """Deliberate difference: torch bumps the tensors before the bad element, then raises."""
    x = tapegrad.ones(2)
    with pytest.raises(RuntimeError, match="expects each element of the iterable to be a tensor"):
        tapegrad.autograd.graph.increment_version([x, 2])
    assert x._version == 0


def test_is_inference_function_form() -> None:
    def scenario(T):
        with T.inference_mode():
            frozen = T.ones(1)
        return (T.is_inference(frozen), T.is_inference(T.ones(1)),
                outcome(lambda: T.is_inference(1), 90))

    assert compare(scenario)[2][0] == "TypeError"
