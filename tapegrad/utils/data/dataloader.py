"""``DataLoader`` and ``default_collate`` (single-process, torch's batching rules)."""

from __future__ import annotations

import collections.abc
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tapegrad import _dtype
from tapegrad.tensor import Generator, Tensor, as_tensor, stack, tensor
from tapegrad.utils.data.dataset import Dataset
from tapegrad.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate"]

_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as torch's ``default_collate``.

    Tensors and NumPy arrays are stacked; Python floats become float64 tensors, ints int64,
    bools bool; strings stay as they are; dicts, named tuples and sequences are collated
    field by field (tuples and lists come back as lists).

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.data import default_collate
        >>> default_collate([(tapegrad.ones(2), 1), (tapegrad.zeros(2), 0)])
        [tensor([[1., 1.],
                [0., 0.]]), tensor([1, 0])]
        >>> default_collate([{"x": 1.5}, {"x": 2.5}])
        {'x': tensor([1.5000, 2.5000], dtype=tapegrad.float64)}
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return stack([as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype=_dtype.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, numbers.Number):
        return tensor(batch)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            return type(elem)({key: default_collate([d[key] for d in batch]) for key in elem})  # type: ignore[call-arg]
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(samples) for samples in zip(*batch, strict=True)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch, strict=True))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return type(elem)([default_collate(samples) for samples in transposed])  # type: ignore[call-arg]
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


class DataLoader:
    """Iterate over a dataset in batches (single process).

    ``shuffle=True`` draws a new permutation each epoch from ``generator`` (or from
    tapegrad's default generator); ``drop_last`` drops a final incomplete batch;
    ``collate_fn`` merges samples (``default_collate`` by default). ``batch_size=None``
    yields single samples without collating them into a batch.

    Example:
        >>> import tapegrad
        >>> from tapegrad.utils.data import DataLoader, TensorDataset
        >>> ds = TensorDataset(tapegrad.arange(10.0), tapegrad.arange(10))
        >>> loader = DataLoader(ds, batch_size=4)
        >>> len(loader), [y.tolist() for _, y in loader]
        (3, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        >>> g = tapegrad.Generator().manual_seed(0)
        >>> shuffled = DataLoader(ds, batch_size=5, shuffle=True, generator=g, drop_last=True)
        >>> sorted(sum((y.tolist() for _, y in shuffled), []))
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Any = None,
        batch_sampler: Sampler | Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to "
                "disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually "
                "exclusive with drop_last"
            )
        if sampler is None:
            sized: Any = dataset
            sampler = (
                RandomSampler(sized, generator=generator) if shuffle else SequentialSampler(sized)
            )
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers  # tapegrad loads in the calling process
        self.generator = generator
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else _identity_convert
        self.collate_fn = collate_fn

    def __iter__(self) -> Iterator[Any]:
        dataset = self.dataset
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(dataset[index])
            return
        getitems = getattr(dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            if callable(getitems):
                samples = getitems(indices)
            else:
                samples = [dataset[i] for i in indices]
            yield self.collate_fn(samples)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        return len(self.sampler)  # type: ignore[arg-type]


def _identity_convert(data: Any) -> Any:
    """Without auto-batching torch converts NumPy arrays to tensors, tuples to lists."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {key: _identity_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_identity_convert(d) for d in data))
    if isinstance(data, tuple):
        return [_identity_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        return [_identity_convert(d) for d in data]
    return data
