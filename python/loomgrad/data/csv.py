"""lg.data.read_csv: a tabular CSV file as numeric and categorical arrays, without pandas.

    train = lg.data.read_csv("train.csv", target="income", categorical=["city", "job"])
    train.numeric      # (N, numeric columns) float32
    train.categorical  # (N, categorical columns) int64 codes, for nn.Embedding
    train.target       # (N,) float32, or int64 class codes when the target is categorical
    test = lg.data.read_csv("test.csv", schema=train.schema)   # the same columns and codes

The first row is the header. A column is categorical when ``categorical`` names it, or (with
``categorical=None``) when some value in it is not a number. Each categorical column's
vocabulary is its sorted distinct values after code 0, which is kept for values never seen
in training (``"<unknown>"``); a categorical target has no such code. The schema (column
roles and vocabularies) travels with the table, so prediction-time files get the codes the
model was trained with. A malformed row or a non-number in a numeric column is a ValueError
naming the file, the line and the column.
"""
from __future__ import annotations

import csv
import math
import os

import numpy as np

from .dataset import TensorDataset

__all__ = ["read_csv", "CSVSchema", "CSVTable", "UNKNOWN"]

UNKNOWN = "<unknown>"


class CSVSchema:
    """Column roles and vocabularies: ``numeric`` and ``categorical`` column names (in file
    order), ``target`` (a name or None), ``vocabulary`` (column -> list of categories; index =
    code) and ``target_classes`` (the categorical target's classes, or None)."""

    def __init__(self, numeric, categorical, target, vocabulary, target_classes):
        self.numeric, self.categorical = list(numeric), list(categorical)
        self.target, self.vocabulary = target, {k: list(v) for k, v in vocabulary.items()}
        self.target_classes = None if target_classes is None else list(target_classes)

    def __repr__(self) -> str:
        return (f"CSVSchema(numeric={self.numeric}, categorical={self.categorical}, "
                f"target={self.target!r})")


class CSVTable:
    """What :func:`read_csv` returns: ``numeric``, ``categorical``, ``target`` arrays and the
    ``schema``; ``dataset()`` makes a TensorDataset (numeric, categorical[, target])."""

    def __init__(self, numeric, categorical, target, schema: CSVSchema):
        self.numeric, self.categorical, self.target, self.schema = \
            numeric, categorical, target, schema

    def __len__(self) -> int:
        return len(self.numeric)

    @property
    def vocabulary(self) -> dict:
        return self.schema.vocabulary

    def dataset(self) -> TensorDataset:
        parts = [self.numeric, self.categorical]
        if self.target is not None:
            parts.append(self.target)
        return TensorDataset(*parts)


def _number(text: str):
    try:
        v = float(text)
    except ValueError:
        return None
    return v


def read_csv(path, target: str | None = None, categorical=None, schema: CSVSchema | None = None,
             delimiter: str = ",", dtype=np.float32, encoding: str = "utf-8") -> CSVTable:
    """Read ``path`` (see the module docstring). ``schema``: reuse a training table's column
    roles and vocabularies (``target`` and ``categorical`` then come from it; a file without
    the target column is read for prediction, with ``target`` None)."""
    name = os.fspath(path)
    with open(name, newline="", encoding=encoding) as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"read_csv: {name} has no header row")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ValueError(f"read_csv: {name}: repeated column names {dup}")
    body = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != len(header):
            raise ValueError(f"read_csv: {name}, line {line}: expected {len(header)} fields "
                             f"({', '.join(header)}), got {len(row)}")
        body.append((line, [c.strip() for c in row]))
    if not body:
        raise ValueError(f"read_csv: {name} has a header but no rows")
    col = {h: i for i, h in enumerate(header)}

    if schema is None:
        if target is not None and target not in col:
            raise ValueError(f"read_csv: {name}: target column {target!r} is not among "
                             f"{header}")
        given = set(categorical or ())
        missing = given - set(header)
        if missing:
            raise ValueError(f"read_csv: {name}: categorical columns {sorted(missing)} are not "
                             f"among {header}")
        if categorical is None:  # a column with any non-number (not empty) is categorical
            given = {h for h in header
                     if any(v and _number(v) is None for _, row in body for v in [row[col[h]]])}
        features = [h for h in header if h != target]
        cat_cols = [h for h in features if h in given]
        num_cols = [h for h in features if h not in given]
        vocab = {h: [UNKNOWN] + sorted({row[col[h]] for _, row in body}) for h in cat_cols}
        classes = (sorted({row[col[target]] for _, row in body})
                   if target is not None and target in given else None)
        schema = CSVSchema(num_cols, cat_cols, target, vocab, classes)
    else:
        absent = [h for h in schema.numeric + schema.categorical if h not in col]
        if absent:
            raise ValueError(f"read_csv: {name} lacks the schema's columns {absent}")

    def numeric(line, h, text):
        v = _number(text)
        if v is None or math.isnan(v):
            what = "an empty field" if not text else repr(text)
            raise ValueError(f"read_csv: {name}, line {line}, column {h!r}: expected a number, "
                             f"got {what}")
        return v

    num = np.array([[numeric(line, h, row[col[h]]) for h in schema.numeric]
                    for line, row in body], dtype=dtype).reshape(len(body), len(schema.numeric))
    codes = {h: {v: i for i, v in enumerate(schema.vocabulary[h])} for h in schema.categorical}
    cat = np.array([[codes[h].get(row[col[h]], 0) for h in schema.categorical]
                    for _, row in body], dtype=np.int64).reshape(len(body), len(schema.categorical))
    y = None
    if schema.target is not None and schema.target in col:
        t = schema.target
        if schema.target_classes is not None:
            index = {v: i for i, v in enumerate(schema.target_classes)}
            unknown = [(line, row[col[t]]) for line, row in body if row[col[t]] not in index]
            if unknown:
                line, value = unknown[0]
                raise ValueError(f"read_csv: {name}, line {line}, column {t!r}: class {value!r} "
                                 f"is not among the schema's {schema.target_classes}")
            y = np.array([index[row[col[t]]] for _, row in body], dtype=np.int64)
        else:
            y = np.array([numeric(line, t, row[col[t]]) for line, row in body], dtype=dtype)
    return CSVTable(num, cat, y, schema)
