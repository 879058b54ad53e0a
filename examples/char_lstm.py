"""A character-level LSTM language model in a page, on the library API.

    python examples/char_lstm.py [path/to/text.txt] [--quick]

Without a file it trains on docstrings of the Python standard library (the
corpus ``python -m loomgrad train --model charlstm`` uses). Prints the
perplexity per epoch and a sampled line at the end.
"""
import argparse
import math

import numpy as np

import loomgrad as lg
from loomgrad import charlm
import loomgrad.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("text", nargs="?")
p.add_argument("--quick", action="store_true", help="a short text, 1 epoch (what CI runs)")
args = p.parse_args()

lg.manual_seed(0)
text = open(args.text, encoding="utf-8").read() if args.text else \
    charlm.stdlib_text(4_000 if args.quick else 60_000)
vocab = sorted(set(text))
index = {ch: i for i, ch in enumerate(vocab)}
ids = np.array([index[ch] for ch in text], dtype=np.int64)

batch, seq_len = 32, 64
n = (len(ids) - 1) // batch
inputs = ids[:batch * n].reshape(batch, n)   # 32 parallel streams of the text
targets = ids[1:batch * n + 1].reshape(batch, n)

# Embedding -> LSTM -> Linear
model = lg.models.char_lstm(len(vocab), hidden_size=32 if args.quick else 256)
opt = lg.optim.Adam(model.parameters(), lr=3e-3)

for epoch in range(1, 2 if args.quick else 6):
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

print(charlm.sample(model, "".join(vocab), "The ", 20 if args.quick else 120, temperature=0.8,
                    rng=np.random.default_rng(0)))
