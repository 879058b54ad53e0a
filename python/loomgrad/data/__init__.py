"""loomgrad.data: datasets, the DataLoader and the bundled 8x8 digits.

    X, y = lg.data.digits(split="train")          # Tensors (1437, 64) float32, (1437,) int64
    loader = lg.data.DataLoader(lg.data.TensorDataset(X, y), batch_size=64, shuffle=True)
"""
from .dataloader import DataLoader, default_collate
from .dataset import Dataset, TensorDataset
from .digits import digits, load_digits_arrays
from .sampler import DistributedSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate", "digits",
           "load_digits_arrays"]
__all__ += ["Sampler", "SequentialSampler", "RandomSampler", "DistributedSampler"]
