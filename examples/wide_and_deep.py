"""Wide & Deep on a tabular CSV (Cheng et al.): a linear part on the numbers beside an MLP on
embeddings of the categories. The CSV is read with lg.data.read_csv (no pandas).

    python examples/wide_and_deep.py [--quick] [file.csv --target COLUMN]
"""
import argparse
import os
import tempfile

import numpy as np

import loomgrad as lg
from loomgrad import nn


def synthetic_csv(path, n=600, seed=0):
    """age, hours, city, job -> earns_more (a rule with a categorical interaction)."""
    rng = np.random.default_rng(seed)
    cities, jobs = ["Lyon", "Nice", "Paris"], ["baker", "doctor", "teacher"]
    with open(path, "w") as f:
        f.write("age,hours,city,job,earns_more\n")
        for _ in range(n):
            age, hours = rng.integers(20, 65), rng.integers(10, 60)
            city, job = rng.integers(3), rng.integers(3)
            label = int(job == 1 or (city == 2 and hours > 35) or age > 55)
            f.write(f"{age},{hours},{cities[city]},{jobs[job]},{label}\n")


class WideAndDeep(nn.Module):
    def __init__(self, n_numeric, vocab_sizes, n_classes, dim=4):
        super().__init__()
        self.n_numeric = n_numeric
        self.embeddings = nn.ModuleList([nn.Embedding(v, dim) for v in vocab_sizes])
        self.wide = nn.Linear(n_numeric, n_classes)
        self.deep = nn.Sequential(nn.Linear(n_numeric + dim * len(vocab_sizes), 32), nn.ReLU(),
                                  nn.Linear(32, n_classes))

    def forward(self, x):  # x: numbers, then the category codes (as floats) in one array
        num, cat = x[:, :self.n_numeric], x[:, self.n_numeric:].to(lg.int64)
        emb = [e(cat[:, i]) for i, e in enumerate(self.embeddings)]
        return self.wide(num) + self.deep(lg.cat([num] + emb, dim=1))


p = argparse.ArgumentParser()
p.add_argument("csv", nargs="?")
p.add_argument("--target", default="earns_more")
p.add_argument("--quick", action="store_true", help="3 epochs (what CI runs)")
args = p.parse_args()
path = args.csv or os.path.join(tempfile.mkdtemp(), "people.csv")
if not args.csv:
    synthetic_csv(path)

table = lg.data.read_csv(path, target=args.target)         # non-numeric columns -> codes
print(table.schema, {k: v[:4] for k, v in table.vocabulary.items()})
mean, std = table.numeric.mean(0), table.numeric.std(0) + 1e-6
X = np.concatenate([(table.numeric - mean) / std, table.categorical], axis=1).astype(np.float32)
y = table.target.astype(np.int64)

lg.manual_seed(0)
model = WideAndDeep(X.shape[1] - table.categorical.shape[1],
                    [len(table.vocabulary[c]) for c in table.schema.categorical],
                    int(y.max()) + 1)
model.compile("adam", metrics=["accuracy", "f1"], lr=0.01)
model.fit(X, y, batch_size=32, epochs=3 if args.quick else 40, validation_split=0.2, verbose=2)
