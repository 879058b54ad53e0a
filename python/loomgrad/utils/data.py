"""``lg.utils.data``: torch's path to the data utilities, which live in :mod:`loomgrad.data`
(the same objects, not copies)."""
from ..data import (ConcatDataset, DataLoader, Dataset, DistributedSampler, RandomSampler,
                    Sampler, SequentialSampler, Subset, TensorDataset, default_collate,
                    get_worker_info, random_split)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "Sampler", "SequentialSampler", "RandomSampler",
           "DistributedSampler", "get_worker_info"]
