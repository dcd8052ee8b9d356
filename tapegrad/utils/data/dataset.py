"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from tapegrad.tensor import Generator, Tensor, randperm

__all__ = ["Dataset", "Subset", "TensorDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses implement ``__getitem__`` (and usually ``__len__``).

    Example:
        >>> from tapegrad.utils.data import Dataset
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return i * i
        >>> [Squares()[i] for i in range(4)]
        [0, 1, 4, 9]
    """

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> Dataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of each tensor (all share the first dimension).

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.data import TensorDataset
        >>> ds = TensorDataset(tapegrad.arange(6.0).reshape(3, 2), tapegrad.tensor([0, 1, 0]))
        >>> len(ds), ds[1]
        (3, (tensor([2., 3.]), tensor(1)))
    """

    def __init__(self, *tensors: Tensor) -> None:
        if any(tensors[0].size(0) != t.size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)


class ConcatDataset(Dataset):
    """The concatenation of several datasets.

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.data import ConcatDataset, TensorDataset
        >>> a = TensorDataset(tapegrad.zeros(2))
        >>> b = TensorDataset(tapegrad.ones(3))
        >>> len(ConcatDataset([a, b])), ConcatDataset([a, b])[2]
        (5, (tensor(1.),))
    """

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        self.cumulative_sizes: list[int] = []
        total = 0
        for d in self.datasets:
            total += len(d)  # type: ignore[arg-type]
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        start = 0
        for d, end in zip(self.datasets, self.cumulative_sizes, strict=True):
            if idx < end:
                return d[idx - start]
            start = end
        raise IndexError("index out of range")


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``.

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.data import Subset, TensorDataset
        >>> sub = Subset(TensorDataset(tapegrad.arange(5)), [4, 0])
        >>> len(sub), sub[0]
        (2, (tensor(4),))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return list(getitems([self.indices[idx] for idx in indices]))
        return [self.dataset[self.indices[idx]] for idx in indices]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths.

    ``lengths`` may be fractions summing to 1 (the remainder goes round-robin, as in torch).

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.data import TensorDataset, random_split
        >>> ds = TensorDataset(tapegrad.arange(10))
        >>> g = tapegrad.Generator().manual_seed(0)
        >>> train, test = random_split(ds, [0.8, 0.2], generator=g)
        >>> len(train), len(test)
        (8, 2)
    """
    n = len(dataset)  # type: ignore[arg-type]
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(math.floor(n * frac))
        remainder = n - sum(counts)
        for i in range(remainder):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=2,
                )
    else:
        counts = [int(length) for length in lengths]
    if sum(counts) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = randperm(n, generator=generator).tolist()
    out, start = [], 0
    for count in counts:
        out.append(Subset(dataset, order[start : start + count]))
        start += count
    return out
