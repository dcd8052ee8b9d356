"""tapegrad.utils.data against torch.utils.data: batching, collation, shuffling, splits."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

torch = pytest.importorskip("torch")
tdata = torch.utils.data


def as_plain(value: Any) -> Any:
    """Nested structure with tensors replaced by (dtype name, values)."""
    if isinstance(value, tapegrad.Tensor | torch.Tensor):
        return (str(value.dtype).split(".")[-1], np.asarray(value.detach()).tolist())
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, *[as_plain(v) for v in value])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [as_plain(v) for v in value])
    return value


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: [(lib.ones(2), 1), (lib.zeros(2), 0)],
        lambda lib: [(1, 2.5, True, "a"), (3, 4.5, False, "b")],
        lambda lib: [{"x": lib.arange(3), "y": [1.0, 2]}, {"x": lib.arange(3) + 1, "y": [3.0, 4]}],
        lambda lib: [Point(1, lib.tensor(2.0)), Point(3, lib.tensor(4.0))],
        lambda lib: [np.ones((2, 2), dtype=np.float32), np.zeros((2, 2), dtype=np.float32)],
        lambda lib: [np.float32(1.5), np.float32(2.5)],
        lambda lib: [np.int64(3), np.int64(4)],
        lambda lib: [[1, 2], [3, 4]],
    ],
    ids=["tensor_int", "scalars", "dict", "namedtuple", "ndarray", "np_float", "np_int", "list"],
)
def test_default_collate_matches_torch(make: Any) -> None:
    assert as_plain(default_collate(make(tapegrad))) == as_plain(tdata.default_collate(make(torch)))


def test_default_collate_errors_match_torch() -> None:
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])


@pytest.mark.parametrize(
    ("batch_size", "drop_last"),
    [(1, False), (4, False), (4, True), (10, False), (13, True), (None, False)],
)
def test_sequential_batches_match_torch(batch_size: int | None, drop_last: bool) -> None:
    x = np.arange(30.0).reshape(10, 3)
    y = np.arange(10)
    ours = DataLoader(
        TensorDataset(tapegrad.tensor(x), tapegrad.tensor(y)),
        batch_size=batch_size,
        drop_last=drop_last,
    )
    theirs = tdata.DataLoader(
        tdata.TensorDataset(torch.tensor(x), torch.tensor(y)),
        batch_size=batch_size,
        drop_last=drop_last,
    )
    assert len(ours) == len(theirs)
    assert [as_plain(b) for b in ours] == [as_plain(b) for b in theirs]


def test_shuffle_with_generator_is_a_reproducible_permutation_per_epoch() -> None:
    ds = TensorDataset(tapegrad.arange(50))

    def epochs(seed: int) -> list[list[int]]:
        loader = DataLoader(
            ds, batch_size=8, shuffle=True, generator=tapegrad.Generator().manual_seed(seed)
        )
        return [[i for b in loader for i in b[0].tolist()] for _ in range(3)]

    first = epochs(0)
    assert first == epochs(0)
    assert first != epochs(1)
    assert all(sorted(e) == list(range(50)) for e in first)
    assert first[0] != first[1]  # a new order each epoch
    tapegrad.manual_seed(3)
    a = [b[0].tolist() for b in DataLoader(ds, batch_size=50, shuffle=True)]
    tapegrad.manual_seed(3)
    b = [b[0].tolist() for b in DataLoader(ds, batch_size=50, shuffle=True)]
    assert a == b  # without a generator the default generator decides


def test_custom_dataset_collate_fn_and_samplers() -> None:
    class Squares(Dataset):
        def __len__(self) -> int:
            return 7

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"i": i, "sq": float(i * i)}

    loader = DataLoader(Squares(), batch_size=3, collate_fn=lambda batch: [b["i"] for b in batch])
    assert list(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    batches = list(DataLoader(Squares(), batch_size=4))
    assert batches[1]["sq"].dtype is tapegrad.float64
    assert batches[1]["i"].tolist() == [4, 5, 6]
    sampler = BatchSampler(SequentialSampler(range(7)), 3, drop_last=True)
    assert list(DataLoader(Squares(), batch_sampler=sampler, collate_fn=lambda b: len(b))) == [3, 3]
    assert list(BatchSampler(range(5), 2, False)) == list(tdata.BatchSampler(range(5), 2, False))
    assert len(RandomSampler(range(5), replacement=True, num_samples=9)) == 9
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(Squares(), sampler=SequentialSampler(range(7)), shuffle=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)


def test_tensor_dataset_subset_and_random_split() -> None:
    ds = TensorDataset(tapegrad.arange(10.0), tapegrad.arange(10))
    assert len(ds) == 10
    assert ds[3][1].item() == 3
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(tapegrad.ones(3), tapegrad.ones(4))
    sub = Subset(ds, [9, 2])
    assert len(sub) == 2
    assert sub[0][1].item() == 9
    parts = random_split(ds, [0.7, 0.3], generator=tapegrad.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [7, 3]
    seen = sorted(i for p in parts for i in p.indices)
    assert seen == list(range(10))
    assert [len(p) for p in random_split(ds, [0.33, 0.33, 0.34])] == [
        len(p) for p in tdata.random_split(range(10), [0.33, 0.33, 0.34])
    ]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(ds, [3, 3])
    loader = DataLoader(parts[1], batch_size=2)
    assert sum(len(b[0]) for b in loader) == 3
