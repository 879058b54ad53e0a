"""A character-level Transformer language model (decoder-only, GPT-style) in a page.

    python examples/transformer_lm.py [path/to/text.txt] [--quick]

Without a file it trains on docstrings of the Python standard library (the corpus of
``python -m loomgrad train --model charlstm``). Token and position embeddings, a stack of
pre-norm nn.TransformerEncoderLayer blocks under the causal mask (each position sees only
itself and earlier ones), and a linear head predicting the next character. Prints the training
and held-out loss as it goes, and a sampled line at the end. The full run (1500 steps of a
0.8M-parameter model) takes about 13 minutes on two Zen 3 cores; --quick about 4 seconds.
"""
import argparse
import math

import numpy as np

import loomgrad as lg
from loomgrad import charlm, nn
import loomgrad.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("text", nargs="?")
p.add_argument("--quick", action="store_true", help="a short text, a tiny model (what CI runs)")
args = p.parse_args()


class CharTransformer(nn.Module):
    """ids (N, T) -> next-character logits (N, T, vocab). ``forward(x, state)`` keeps the last
    ``context`` ids as its state, so charlm.sample can continue a prompt one id at a time."""

    def __init__(self, vocab_size, d_model, nhead, num_layers, context, dropout):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        block = nn.TransformerEncoderLayer(d_model, nhead, 4 * d_model, dropout, "gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x, state=None):
        if state is not None:  # sampling: the ids so far, cut to the context window
            x = lg.cat([state, x], dim=1)[:, -self.context:]
        T = x.shape[1]
        h = self.tok(x) + self.pos(lg.arange(T))
        causal = nn.Transformer.generate_square_subsequent_mask(T)
        return self.head(self.blocks(h, mask=causal, is_causal=True)), x


lg.manual_seed(0)
text = open(args.text, encoding="utf-8").read() if args.text else \
    charlm.stdlib_text(30_000 if args.quick else 100_000)
vocab, ids = charlm.encode(text)
split = int(0.9 * len(ids))                       # the last 10% is held out
train_ids, val_ids = ids[:split], ids[split:]

context, batch = (32, 16) if args.quick else (64, 32)
steps, every = (100, 25) if args.quick else (1500, 250)
model = CharTransformer(len(vocab), 32 if args.quick else 128, 2 if args.quick else 4,
                        2 if args.quick else 4, context, 0.0 if args.quick else 0.1)
opt = lg.optim.AdamW(model.parameters(), lr=1e-2 if args.quick else 1e-3, weight_decay=0.01)
rng = np.random.default_rng(0)


def windows(data, starts):
    """(input, target) windows of ``context`` characters at ``starts``; target = input
    shifted by one."""
    at = starts[:, None] + np.arange(context)
    return lg.tensor(data[at]), data[at + 1]


def loss_on(data, starts):
    x, y = windows(data, starts)
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, len(vocab)), lg.tensor(y.reshape(-1)))


val_starts = np.arange(0, len(val_ids) - context - 1, context // 2)
print(f"{len(text)} characters, vocabulary {len(vocab)} (uniform guessing: loss "
      f"{math.log(len(vocab)):.2f}), {sum(p.numel() for p in model.parameters())} parameters")
train = []
for step in range(steps + 1):
    if step % every == 0:                         # held-out loss on the same windows each time
        model.eval()
        with lg.no_grad():
            val = loss_on(val_ids, val_starts).item()
        model.train()
        print(f"step {step}: val loss {val:.3f}" +
              (f", train loss {np.mean(train):.3f}" if train else ""))
        train = []
    if step == steps:
        break
    loss = loss_on(train_ids, rng.integers(0, len(train_ids) - context - 1, batch))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    train.append(loss.item())

print(charlm.sample(model, vocab, "The ", 20 if args.quick else 200, temperature=0.8,
                    rng=np.random.default_rng(0)))
