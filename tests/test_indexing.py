"""Indexing and setitem against torch: result layouts, torch's order of basic and advanced
items, the values a setitem writes, and its errors. Found by the soak or written around what
it found; each scenario runs on both libraries (``compare``)."""

from __future__ import annotations

import itertools
import random
import warnings

import numpy as np
import pytest

from tests.fuzzing.oracle import compare, describe, outcome


def _key(T, text: str):
    """An indexing key from a short text: I / J are index tensors, M a mask."""
    names = {
        "I": T.tensor([1, 0]), "J": T.tensor([[0, 1], [1, 1]]),
        "Jt": T.tensor([[0, 1], [1, 1]]).t(),
        "K": T.tensor([[1], [0]], dtype=T.int32), "M": T.tensor([[True, False], [True, True]]),
        "one": T.tensor([1]),
    }
    return eval(f"np.s_[{text}]", {"np": np, **names})


def _name(node) -> str:
    return node.name().rsplit("::", 1)[-1]  # torch::autograd::CopySlices


KEYS = ["I", ":, I", "..., I", "None, I", "I, None", "I, :, I", "0, I", "I, 0", "0, None, I",
        "I, :, 0", "1:, I", "::2, I", "J", ":, J", "Jt", "J, I", "K, Jt", ":, K, J", "M",
        ":, M", "M, I", "None, M", "one", ":, one", "one, :, one", "0, :, Jt"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
def test_advanced_index_result_layout_follows_torch(key: str, perm: tuple[int, ...]) -> None:
    """torch's advanced indexing lays its result out as its TensorIterator orders the source's
    strides (indexed dims at stride 0) and the index tensors'. Found by the soak:
    ``x[T.tensor([1])].reshape(-1)`` of a transposed leaf copies in torch."""

    def scenario(T):
        x = T.arange(12.0, dtype=T.float64).reshape(2, 2, 3).permute(*perm)
        y = outcome(lambda: x[_key(T, key)])
        if isinstance(y, tuple):
            return y
        return (describe(y), y.stride(), y.is_contiguous(), y.reshape(-1)._is_view(),
                outcome(lambda: y.view(-1).shape))

    compare(scenario)


def test_advanced_index_layout_on_random_keys() -> None:
    """Many random keys (slices, None, integers, int32 and broadcast index tensors, some out
    of bounds) on random permuted shapes: the same shape, values, strides and errors."""
    rng = random.Random(7)
    for _ in range(300):
        shape = tuple(rng.choice([1, 2, 3]) for _ in range(rng.choice([2, 3, 4])))
        perm = rng.sample(range(len(shape)), len(shape))
        items = []
        for size in shape:
            pick = rng.random()
            if pick < 0.2:
                items.append("None, :")
            elif pick < 0.35:
                items.append(rng.choice([":", "1:", "::2"]))
            elif pick < 0.45:
                items.append(str(rng.randrange(size)))
            else:
                index = [rng.randrange(size) for _ in range(rng.choice([1, 2, 4]))]
                items.append(f"T.tensor({index}, dtype=T.{rng.choice(['int64', 'int32'])})"
                             + rng.choice(["", ".reshape(-1, 1)", ".reshape(1, -1)"]))
        text = ", ".join(items)

        def scenario(T, shape=shape, perm=perm, text=text):
            x = T.arange(float(np.prod(shape))).reshape(shape).permute(*perm)
            y = outcome(lambda: eval(f"x[{text}]", {"x": x, "T": T}))
            # (an empty tensor's strides differ: see the README's known differences)
            return y if isinstance(y, tuple) else (describe(y), y.numel() and y.stride())

        compare(scenario)


def test_integer_items_are_selects_before_index_tensors() -> None:
    """torch applies a key's integers as selects before its index tensors; NumPy would
    broadcast them with the index arrays (another shape when a slice or None separates
    them). Gradients and setitem follow the same order."""

    def scenario(T):
        results = []
        for key in ("0, None, I", "I, :, 0", "1, :, I", "0, I", "I, 1:, 0"):
            base = T.arange(12.0, dtype=T.float64).reshape(2, 2, 3).requires_grad_()
            x = base * 1
            y = x[_key(T, key)]
            (y * T.arange(float(y.numel()), dtype=T.float64).reshape(y.shape)).sum().backward()
            z = base.detach().clone().requires_grad_() * 1
            z[_key(T, key)] = T.tensor(-1.0, dtype=T.float64)
            results.append((describe(y), describe(base.grad, version=False), describe(z),
                            _name(z.grad_fn)))
        return results

    compare(scenario)


def test_setitem_writes_a_view_for_basic_items_with_index_tensors() -> None:
    """x[1:, I] = v slices first, so the write goes through CopySlices; whole slices are
    skipped (torch compares the bounds before wrapping negative ones)."""

    def scenario(T):
        names = []
        for start, stop in ((0, 100), (0, 3), (None, None), (0, None), (-3, None), (0, 2)):
            x = T.zeros(3, 3, requires_grad=True) * 1
            x[start:stop, T.tensor([0, 1])] = 1.0
            names.append((_name(x.grad_fn), x.sum().item()))
        return names

    compare(scenario)


def test_index_errors_name_tensors_and_shapes_as_torch() -> None:
    def scenario(T):
        x = T.zeros(3, 4)
        i2, i3 = T.tensor([0, 1]), T.tensor([0, 1, 2])
        return [outcome(lambda: x[i2, i3], 120),
                outcome(lambda: x.__setitem__((i2, i3), 1.0), 120),
                outcome(lambda: x.__setitem__(i2, T.ones(3)), 120)] + [
            outcome(lambda v=v: x.index_put_((i2, i2), v), 120)
            for v in (T.ones(3), T.ones(1, 2), T.ones(2, 1), T.ones(2, 2))]

    result = compare(scenario)
    assert result[0][1].startswith("shape mismatch: indexing tensors could not be broadcast")
    assert result[3][1].startswith("shape mismatch: value tensor of shape [3] cannot")


def test_setitem_value_keeps_leading_one_dims_out_of_index_put() -> None:
    """torch views the value without its leading 1-dims first, so (1, 1, 4) fills rows."""

    def scenario(T):
        x = T.zeros(3, 4)
        x[T.tensor([0, 1])] = T.arange(4.0).reshape(1, 1, 4)
        return describe(x)

    compare(scenario)


def test_setitem_value_view_strides_refuse_an_overlap() -> None:
    """Found by the soak: ``v0[None] = v0`` of a transposed (2, 3, 1) -> (2, 1, 3) tensor.
    torch views the value before expanding it, so its size-1 dim takes another stride than
    the target's and copy_ refuses the partial overlap. Expanded new size-1 dims take the
    stride they would have in place (zeros for a 0-d tensor), as in torch."""

    def scenario(T):
        x = T.arange(6.0).reshape(2, 3, 1).transpose(1, 2)
        error = outcome(lambda: x.__setitem__(None, x))
        expands = [T.tensor(1.0).expand(1, 1), T.zeros(2, 1).expand(1, 2, 4), x.expand(1, 2, 1, 3),
                   T.zeros(2, 3).expand(1, 1, 2, 3), T.zeros(1).expand(3, 1, 1)]
        return error, describe(x), [e.stride() for e in expands]

    assert compare(scenario)[0][1].startswith("unsupported operation: some elements")


def test_setitem_of_a_number_fills_with_a_0d_tensor() -> None:
    """torch makes a 0-d tensor of the number: fill_ (FillBackward3) for a view with dims,
    copy_ of x itself for a whole 0-d tensor. Found by the soak: with create_graph the 0-d
    case's gradient then does not require grad."""

    def scenario(T):
        names = []
        for key in ((), Ellipsis, 0, slice(None)):
            for shape in ((), (2,)):
                if shape == () and key in (0, slice(None)):
                    continue
                x = T.tensor(np.full(shape, 0.13), requires_grad=True).neg()
                x[key] = 2.0
                names.append(_name(x.grad_fn))
        leaf = T.tensor(0.13, dtype=T.float64, requires_grad=True)
        y = leaf.neg()
        y[...] = 2.0
        y.relu_()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y.sum().backward(create_graph=True)
        return names, describe(leaf.grad, version=False)

    compare(scenario)


@pytest.mark.parametrize("value", [1e30, float("nan"), float("inf"), 300, -1, -2.5, 1e300, 2.5])
def test_numbers_that_overflow_the_dtype_are_refused(value: float) -> None:
    """fill_, setitem and full check a number against the dtype's range, as torch."""

    def scenario(T):
        results = []
        for dtype in (T.int64, T.int32, T.uint8, T.float32, T.float64, T.bool):
            x = T.zeros(3, dtype=dtype)
            results.append([outcome(lambda x=x: x.fill_(value).tolist()[0]),
                            outcome(lambda x=x: (x.__setitem__(0, value), x.tolist()[0])[1]),
                            outcome(lambda d=dtype: T.full((2,), value, dtype=d)[0].item())])
        return str(results)  # (nan == nan)

    compare(scenario)


def test_an_int_beyond_int64_is_an_overflow_error() -> None:
    compare(lambda T: [outcome(lambda: T.zeros(2).fill_(2**70)),
                       outcome(lambda: T.full((2,), 2**70))])


def test_bare_slice_slices_but_whole_slices_in_a_tuple_alias() -> None:
    def scenario(T):
        x = T.zeros(3, 2, requires_grad=True) * 1
        return [_name(x[k].grad_fn) for k in (
            slice(None), slice(0, None), (slice(None),), (slice(None), Ellipsis),
            (Ellipsis, slice(None)), Ellipsis, (), (slice(None), slice(None)))]

    compare(scenario)


def test_an_index_tensor_modified_in_place_before_backward_is_refused() -> None:
    """torch saves index tensors for backward and checks their versions; tapegrad once kept
    their NumPy arrays, so an in-place change gave a silently wrong gradient."""

    def scenario(T):
        results = []
        for write in ("get", "set", "put"):
            x = T.arange(5.0, requires_grad=True)
            values = T.ones(2, requires_grad=True)
            index = T.tensor([0, 2])
            if write == "get":
                out = x[index] * 1
            elif write == "set":
                out = x * 1
                out[index] = values
            else:
                out = x.index_put((index,), values, accumulate=True)
            index.add_(1)
            results.append(outcome(lambda out=out: out.sum().backward(), 140))
            results.append(describe((x.grad, values.grad), version=False))
        return results

    assert compare(scenario)[0][1].startswith("one of the variables needed for gradient")


@pytest.mark.parametrize("key", ["None, I", "I, None", "1:, I", "0, I", ":, None, I", "..., I"])
def test_getitem_applies_basic_items_first_so_gradients_match(key: str) -> None:
    """torch applies None, slices and integers as views before the index tensors, so the
    gradient through ``x[None, I]`` is a view (of an unsqueeze's backward). Found by the
    fuzzer's richer keys, with a second-backward error that saving a key's None caused."""

    def scenario(T):
        x = T.arange(6.0, dtype=T.float64).reshape(2, 3).requires_grad_()
        y = x[_key(T, key)]
        (g,) = T.autograd.grad((y * y).sum(), [x], retain_graph=True)
        y.sum().backward()
        return describe(y), _name(y.grad_fn), describe(g, version=False), g._is_view(), \
            describe(x.grad, version=False)

    compare(scenario)


def test_index_put_needs_the_targets_dtype() -> None:
    """Found by a soak once the fuzzer wrote through index tensors: torch's index_put_ refuses
    values of another dtype (but for the one-mask, one-value write it hands to masked_fill_);
    tapegrad cast them."""

    def scenario(T):
        i, mask = T.tensor([0]), T.tensor([True, False, True])
        double, long = T.ones(1, dtype=T.float64), T.tensor(1)
        calls = [lambda x: x.__setitem__(i, double), lambda x: x.index_put_((i,), double),
                 lambda x: x.index_put((i,), double), lambda x: x.__setitem__(i, long),
                 lambda x: x.index_put_((i,), double, accumulate=True),
                 lambda x: x.__setitem__(mask, double),
                 lambda x: x.__setitem__(slice(0, 1), double),
                 lambda x: x.index_put_((mask,), double, accumulate=True)]
        results = []
        for call in calls:
            x = T.zeros(3)
            results.append((outcome(lambda call=call, x=x: call(x) and None, 120), x.tolist()))
        return results

    assert compare(scenario)[0][0][1].startswith("Index put requires the source and destination")


def test_writes_through_index_tensors_into_an_expanded_tensor_alias_as_torch() -> None:
    """Found by a soak: torch's index_put_ writes element by element in the index's order, so
    on an expanded tensor (every element one memory cell) the last index wins, and an
    accumulate adds through the aliasing; an error comes after torch's autograd checks."""

    def scenario(T):
        results = []
        for accumulate in (False, True):
            with T.no_grad():
                cell = T.tensor(0.13, dtype=T.float64, requires_grad=True)
                wide = cell.expand(3)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch's deprecation of this write
                    wide.index_put_((T.tensor([2, 0]),), T.tensor([0.5, -0.25], dtype=T.float64),
                                    accumulate=accumulate)
            results.append((wide.tolist(), cell.item()))
        leaf = T.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=T.float64, requires_grad=True)
        (grad,) = T.autograd.grad(leaf.sum(), [leaf])  # expanded, made in no_grad
        results.append(outcome(lambda: grad.__setitem__(
            T.tensor([0]), T.ones(1, 2, dtype=T.float32, requires_grad=True)), 80))
        return results

    result = compare(scenario)
    assert result[-1][1].startswith("A view was created in no_grad mode")


def test_slices_are_no_ops_only_by_their_unclamped_bounds() -> None:
    """Found by a soak: ``x[:, 1:]`` of a (2, 0) tensor slices in torch (the start is 1 before
    clamping), so its gradient is a fresh tensor, not a view through an alias."""

    def scenario(T):
        empty = T.zeros((2, 0), dtype=T.float64, requires_grad=True)
        full = T.zeros((2, 3), dtype=T.float64, requires_grad=True)
        results = []
        for x, key in ((empty, np.s_[:, 1:]), (empty, np.s_[1:]), (empty, np.s_[:, 0:]),
                       (full, np.s_[:, -3:]), (full, np.s_[:, 0:100]), (full, np.s_[0:, -5:]),
                       (full, np.s_[:, 5:])):
            y = x[key]
            (g,) = T.autograd.grad(y.reshape(-1).neg().sum(), [x])
            results.append((_name(y.grad_fn), tuple(y.shape), g._is_view()))
        return results

    compare(scenario)


def test_warnings_of_writes_into_an_expanded_tensor_name_the_callers_line() -> None:
    """torch attributes its deprecation warning to the Python line that wrote, also when the
    write is an assignment through index tensors or a mask (more tapegrad frames deep)."""

    def scenario(T):
        wide = T.ones(1).expand(3)
        writes = [lambda: wide.__setitem__(T.tensor([0]), 2.0),
                  lambda: wide.index_put_((T.tensor([0]),), T.tensor(2.0)),
                  lambda: wide.masked_fill_(T.tensor([True, False, False]), 1.0),
                  lambda: wide.__setitem__(T.tensor([True, False, False]), 1.0)]
        places = []
        for write in writes:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                write()
            places.append([(w.message.args[0][:30], w.filename, w.lineno) for w in caught])
        return places

    places = compare(scenario)
    assert all(filename == __file__ for found in places for _, filename, _ in found)


@pytest.mark.parametrize("call", [
    "x.gather(0, T.tensor([[-1, 0]]))",
    "x.scatter(0, T.tensor([[-1, 0]]), 1.0)",
    "x.scatter_add(0, T.tensor([[-1, 0]]), T.ones(1, 2))",
    "x.scatter(0, T.tensor([[5, 0]]), 1.0)",
    "x.clone().scatter_(0, T.tensor([[0, -2]]), 2.0)",
    "x.index_add(0, T.tensor([-1]), T.ones(1, 2))",
    "x.index_add(0, T.tensor([3]), T.ones(1, 2))",
    "T.zeros(3).index_add(0, T.tensor([-1]), T.ones(1))",
    "x.index_select(0, T.tensor([-1]))",
    "x.index_select(1, T.tensor([2]))",
    "x.t().index_select(0, T.tensor([2]))",
    "T.zeros(2, 3, 4).permute(2, 0, 1).index_select(2, T.tensor([9]))",
    "T.zeros(2, 3, 4)[:, ::2].index_select(1, T.tensor([9]))",
    "T.zeros(3, 0).index_select(0, T.tensor([1, 7, -2]))",
    "T.zeros(3, 0, 2).index_select(1, T.tensor([0]))",
    "T.zeros(2, 0).index_select(1, T.tensor([], dtype=T.int64))",
    "T.zeros(0).index_select(0, T.tensor([0]))",
    "T.zeros(0, 3).index_select(1, T.tensor([-1]))",
    "T.tensor(5.0).index_select(0, T.tensor([-1]))",
    "T.zeros(3).gather(0, T.tensor([-1]))",
])
def test_index_ops_refuse_negative_and_out_of_range_indices_as_torch(call: str) -> None:
    """Found by soak 12 (an empty expanded tensor's index_select): gather, scatter, index_add
    and index_select take no negative indices, and each names a bad index in its kernel's
    words and exception type (index_select: RuntimeError from its kernels for dim 1 and for
    an empty self, IndexError from the others)."""

    def scenario(T):
        names = {"T": T, "x": T.tensor([[0.5, 1.5], [2.5, 3.5], [4.5, 5.5]])}
        return outcome(lambda: describe(eval(call, names)), 90)

    assert compare(scenario)[0] != "NameError"
