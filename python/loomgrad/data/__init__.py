"""loomgrad.data: datasets, the DataLoader and the bundled 8x8 digits (also reachable as
``lg.utils.data``, torch's path).

    X, y = lg.data.digits(split="train")          # Tensors (1437, 64) float32, (1437,) int64
    loader = lg.data.DataLoader(lg.data.TensorDataset(X, y), batch_size=64, shuffle=True)
"""
from .csv import CSVSchema, CSVTable, read_csv
from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .digits import digits, load_digits_arrays
from .worker import get_worker_info
from .sampler import DistributedSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate", "digits",
           "load_digits_arrays"]
__all__ += ["read_csv", "CSVSchema", "CSVTable"]
__all__ += ["get_worker_info", "Sampler", "SequentialSampler", "RandomSampler", "DistributedSampler"]
