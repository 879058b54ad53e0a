"""A character-level LSTM language model in a page, on the library API.

    python examples/char_lstm.py [path/to/text.txt]

Without a file it trains on docstrings of the Python standard library (the
corpus ``python -m loomgrad train --model charlstm`` uses). Prints the
perplexity per epoch and a sampled line at the end.
"""
import math
import sys

import numpy as np

import loomgrad as lg
from loomgrad import charlm
import loomgrad.nn.functional as F

lg.manual_seed(0)
text = open(sys.argv[1], encoding="utf-8").read() if len(sys.argv) > 1 else \
    charlm.stdlib_text(60_000)
vocab = sorted(set(text))
index = {ch: i for i, ch in enumerate(vocab)}
ids = np.array([index[ch] for ch in text], dtype=np.int64)

batch, seq_len = 32, 64
n = (len(ids) - 1) // batch
inputs = ids[:batch * n].reshape(batch, n)   # 32 parallel streams of the text
targets = ids[1:batch * n + 1].reshape(batch, n)

model = lg.models.char_lstm(len(vocab), hidden_size=256)  # Embedding -> LSTM -> Linear
opt = lg.optim.Adam(model.parameters(), lr=3e-3)

for epoch in range(1, 6):
    state, total, count = None, 0.0, 0
    for i in range(0, n, seq_len):
        x, y = inputs[:, i:i + seq_len], targets[:, i:i + seq_len]
        if state is not None:  # truncated BPTT: keep the state, cut the graph
            state = tuple(s.detach() for s in state)
        logits, state = model(lg.tensor(x), state)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        lg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        total, count = total + loss.item() * y.size, count + y.size
    print(f"epoch {epoch}: perplexity {math.exp(total / count):.2f}")

print(charlm.sample(model, "".join(vocab), "The ", 120, temperature=0.8,
                    rng=np.random.default_rng(0)))
