"""tapegrad.utils.data: datasets, samplers and the DataLoader (mirrors ``torch.utils.data``)."""

from tapegrad.utils.data.dataloader import DataLoader, default_collate
from tapegrad.utils.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from tapegrad.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
]
