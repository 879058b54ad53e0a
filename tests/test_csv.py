"""lg.data.read_csv: numeric and categorical columns, kept vocabularies, errors with line and
column, and a Wide & Deep-style model trained on it with fit."""
import numpy as np
import pytest

import loomgrad as lg

TRAIN = """age,city,job,income
31,Paris,baker,low
45,Lyon,doctor,high
28,Paris,doctor,high
52,Nice,baker,low
39,Lyon,baker,low
"""


def test_codes_vocabulary_and_schema(tmp_path):
    (tmp_path / "train.csv").write_text(TRAIN)
    t = lg.data.read_csv(tmp_path / "train.csv", target="income")
    assert t.schema.numeric == ["age"] and t.schema.categorical == ["city", "job"]
    assert t.vocabulary["city"] == ["<unknown>", "Lyon", "Nice", "Paris"]
    np.testing.assert_array_equal(t.categorical[:, 0], [3, 1, 3, 2, 1])
    assert t.numeric.dtype == np.float32 and t.numeric[:, 0].tolist() == [31, 45, 28, 52, 39]
    assert t.schema.target_classes == ["high", "low"] and t.target.tolist() == [1, 0, 0, 1, 1]
    (tmp_path / "test.csv").write_text("age,city,job\n60,Marseille,doctor\n")
    p = lg.data.read_csv(tmp_path / "test.csv", schema=t.schema)
    assert p.categorical.tolist() == [[0, 2]] and p.target is None   # unseen city -> 0
    num, cat, y = t.dataset()[0]
    assert cat.array.tolist() == [3, 1] and int(y.array) == 1


@pytest.mark.parametrize("text,message", [
    ("a,b\n1,2\n3\n", "line 3: expected 2 fields"),
    ("a,b\n1,2\n3,x\n", None),                              # b becomes categorical: fine
    ("a,b\n1,2\n,4\n", "line 3, column 'a': expected a number, got an empty field"),
    ("a,a\n1,2\n", "repeated column names"),
    ("a,b\n", "no rows"),
])
def test_bad_rows_name_line_and_column(tmp_path, text, message):
    (tmp_path / "x.csv").write_text(text)
    if message is None:
        assert lg.data.read_csv(tmp_path / "x.csv").schema.categorical == ["b"]
        with pytest.raises(ValueError, match=r"line 3, column 'b': expected a number, got 'x'"):
            lg.data.read_csv(tmp_path / "x.csv", categorical=[])
        return
    with pytest.raises(ValueError, match=message):
        lg.data.read_csv(tmp_path / "x.csv")


class WideAndDeep(lg.nn.Module):
    """A linear (wide) part on the numbers plus an MLP (deep) part on embeddings."""

    def __init__(self, n_numeric, vocab_sizes, classes):
        super().__init__()
        self.embeddings = lg.nn.ModuleList([lg.nn.Embedding(v, 4) for v in vocab_sizes])
        self.wide = lg.nn.Linear(n_numeric, classes)
        self.deep = lg.nn.Sequential(lg.nn.Linear(4 * len(vocab_sizes) + n_numeric, 16),
                                     lg.nn.ReLU(), lg.nn.Linear(16, classes))

    def forward(self, inputs):
        num, cat = inputs[:, :1], inputs[:, 1:].to(lg.int64)
        emb = [e(cat[:, i]) for i, e in enumerate(self.embeddings)]
        return self.wide(num) + self.deep(lg.cat(emb + [num], dim=1))


def test_wide_and_deep_fits_a_csv(tmp_path):
    rng = np.random.default_rng(0)
    cities = np.array(["Lyon", "Nice", "Paris"])
    rows = ["age,city,label"]
    for _ in range(300):
        age, city = rng.integers(20, 60), rng.integers(0, 3)
        rows.append(f"{age},{cities[city]},{int(city == 2 or age > 50)}")
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    t = lg.data.read_csv(tmp_path / "d.csv", target="label", categorical=["city"])
    X = np.concatenate([(t.numeric - 40) / 10, t.categorical.astype(np.float32)], axis=1)
    lg.manual_seed(0)
    model = WideAndDeep(1, [len(t.vocabulary["city"])], 2)
    model.compile("adam", metrics=["accuracy"], lr=0.05)
    h = model.fit(X, t.target.astype(np.int64), epochs=30, batch_size=32, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
