"""nn.TransformerEncoderLayer / Encoder / DecoderLayer / Decoder / Transformer vs torch: a torch
state_dict loads 1:1, outputs and every gradient match (dropout=0, train and eval mode,
float32 and float64, batch_first both ways, masks, post- and pre-norm, activations)."""
from __future__ import annotations

import math
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import loomgrad as lg
from test_attention import _bool_mask, compare_with_torch

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:Support for mismatched")]  # torch's


def _tdtype(dtype):
    return getattr(torch, np.dtype(dtype).name)


def _seq(rng, n, N, E, dtype, batch_first):
    return rng.standard_normal((N, n, E) if batch_first else (n, N, E)).astype(dtype)


ACTIVATIONS = {"relu": ("relu", "relu"), "gelu": ("gelu", "gelu"),
               "module": (lambda: lg.nn.SiLU(), lambda: torch.nn.SiLU()),
               "function": (lambda: lg.nn.functional.tanh, lambda: torch.tanh)}


def _act(name, lib):
    a = ACTIVATIONS[name][0 if lib is lg else 1]
    return a if isinstance(a, str) else a()


def _layer_kw(lib, dtype, activation="relu", **kw):
    return dict(dim_feedforward=10, dropout=0.0, activation=_act(activation, lib),
                dtype=dtype if lib is lg else _tdtype(dtype), **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_encoder_layer_matches_torch(dtype, batch_first, norm_first, mode):
    rng = np.random.default_rng(0)
    E, H, S, N = 6, 2, 5, 3
    kw = dict(batch_first=batch_first, norm_first=norm_first)
    ours = lg.nn.TransformerEncoderLayer(E, H, **_layer_kw(lg, dtype, **kw))
    theirs = torch.nn.TransformerEncoderLayer(E, H, **_layer_kw(torch, dtype, **kw))
    assert repr(ours) == repr(theirs)
    if mode == "eval":
        ours.eval()
        theirs.eval()
    src = _seq(rng, S, N, E, dtype, batch_first)
    mask = _bool_mask(rng, (S, S))
    kpm = _bool_mask(rng, (N, S))
    compare_with_torch(ours, theirs, [src, mask, kpm], 1,
                       dict(masks=("src_mask", "src_key_padding_mask")), dtype)


@pytest.mark.parametrize("activation", ["gelu", "module", "function"])
@pytest.mark.parametrize("bias", [True, False])
def test_encoder_layer_activation_and_bias_match_torch(activation, bias):
    rng = np.random.default_rng(1)
    dtype = np.float64
    ours = lg.nn.TransformerEncoderLayer(8, 4, bias=bias, layer_norm_eps=0.5,
                                         **_layer_kw(lg, dtype, activation))
    theirs = torch.nn.TransformerEncoderLayer(8, 4, bias=bias, layer_norm_eps=0.5,
                                              **_layer_kw(torch, dtype, activation))
    assert repr(ours) == repr(theirs)
    compare_with_torch(ours, theirs, [_seq(rng, 4, 2, 8, dtype, False)], 1, {}, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(dtype, batch_first, norm_first):
    rng = np.random.default_rng(2)
    E, H, T, S, N = 6, 3, 4, 5, 2
    kw = dict(batch_first=batch_first, norm_first=norm_first)
    ours = lg.nn.TransformerDecoderLayer(E, H, **_layer_kw(lg, dtype, **kw))
    theirs = torch.nn.TransformerDecoderLayer(E, H, **_layer_kw(torch, dtype, **kw))
    assert repr(ours) == repr(theirs)
    tgt, mem = _seq(rng, T, N, E, dtype, batch_first), _seq(rng, S, N, E, dtype, batch_first)
    causal = lg.nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype).numpy()
    compare_with_torch(ours, theirs, [tgt, mem, causal, _bool_mask(rng, (N, T)),
                                      _bool_mask(rng, (T, S)), _bool_mask(rng, (N, S))], 2,
                       dict(masks=("tgt_mask", "tgt_key_padding_mask", "memory_mask",
                                   "memory_key_padding_mask"), tgt_is_causal=True), dtype)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_and_decoder_stacks_match_torch(batch_first, with_norm):
    rng = np.random.default_rng(3)
    dtype = np.float64
    E, H, S, T, N = 8, 2, 5, 3, 2
    kw = dict(batch_first=batch_first)
    norm_l = lg.nn.LayerNorm(E, dtype=dtype) if with_norm else None
    norm_t = torch.nn.LayerNorm(E, dtype=torch.float64) if with_norm else None
    enc_l = lg.nn.TransformerEncoder(lg.nn.TransformerEncoderLayer(E, H, **_layer_kw(lg, dtype,
                                                                                     **kw)),
                                     3, norm_l)
    enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        E, H, **_layer_kw(torch, dtype, **kw)), 3, norm_t, enable_nested_tensor=False)
    src = _seq(rng, S, N, E, dtype, batch_first)
    causal = np.triu(np.full((S, S), -np.inf), 1)
    compare_with_torch(enc_l, enc_t, [src, causal, _bool_mask(rng, (N, S))], 1,
                       dict(masks=("mask", "src_key_padding_mask")), dtype)

    dec_l = lg.nn.TransformerDecoder(lg.nn.TransformerDecoderLayer(E, H, **_layer_kw(lg, dtype,
                                                                                     **kw)),
                                     2, lg.nn.LayerNorm(E, dtype=dtype) if with_norm else None)
    dec_t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(
        E, H, **_layer_kw(torch, dtype, **kw)), 2,
        torch.nn.LayerNorm(E, dtype=torch.float64) if with_norm else None)
    tgt, mem = _seq(rng, T, N, E, dtype, batch_first), _seq(rng, S, N, E, dtype, batch_first)
    compare_with_torch(dec_l, dec_t, [tgt, mem, np.triu(np.ones((T, T), bool), 1),
                                      _bool_mask(rng, (N, S))], 2,
                       dict(masks=("tgt_mask", "memory_key_padding_mask")), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(dtype, batch_first, norm_first):
    rng = np.random.default_rng(4)
    E, H, S, T, N = 8, 4, 6, 5, 2
    kw = dict(nhead=H, num_encoder_layers=2, num_decoder_layers=2, batch_first=batch_first,
              norm_first=norm_first)
    ours = lg.nn.Transformer(E, **kw, **_layer_kw(lg, dtype))
    theirs = torch.nn.Transformer(E, **kw, **_layer_kw(torch, dtype))
    src, tgt = _seq(rng, S, N, E, dtype, batch_first), _seq(rng, T, N, E, dtype, batch_first)
    causal = lg.nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype).numpy()
    compare_with_torch(ours, theirs, [src, tgt, causal, _bool_mask(rng, (N, S)),
                                      _bool_mask(rng, (N, S))], 2,
                       dict(masks=("tgt_mask", "src_key_padding_mask",
                                   "memory_key_padding_mask")), dtype)


def test_transformer_unbatched_and_single_layer_match_torch():
    rng = np.random.default_rng(5)
    dtype = np.float64
    kw = dict(num_encoder_layers=1, num_decoder_layers=1)
    ours = lg.nn.Transformer(4, 2, **kw, **_layer_kw(lg, dtype))
    theirs = torch.nn.Transformer(4, 2, **kw, **_layer_kw(torch, dtype))
    assert repr(ours) == repr(theirs)
    compare_with_torch(ours, theirs, [rng.standard_normal((3, 4)), rng.standard_normal((2, 4))],
                       2, {}, dtype)


def test_generate_square_subsequent_mask_and_init():
    m = lg.nn.Transformer.generate_square_subsequent_mask(4)
    t = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m.numpy(), t.numpy())
    assert lg.nn.Transformer.generate_square_subsequent_mask(0).shape == (0, 0)
    lg.manual_seed(0)
    model = lg.nn.Transformer(16, 2, 1, 1, 32, dropout=0.0)
    w = model.encoder.layers[0].linear1.weight.detach().numpy()  # xavier_uniform_ (32, 16)
    bound = np.sqrt(6.0 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    keys_t = list(torch.nn.Transformer(16, 2, 1, 1, 32).state_dict())
    assert list(model.state_dict()) == keys_t


def test_transformer_bad_arguments_name_them():
    with pytest.raises(ValueError, match="d_model 10 must be divisible by nhead 4"):
        lg.nn.TransformerEncoderLayer(10, 4)
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu' or a callable"):
        lg.nn.TransformerDecoderLayer(8, 2, activation="swish")
    with pytest.raises(TypeError, match="encoder_layer must be a Module"):
        lg.nn.TransformerEncoder("layer", 2)
    model = lg.nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match=r"batch sizes of src \(5, 2, 8\) and tgt \(4, 3, 8\)"):
        model(lg.randn(5, 2, 8), lg.randn(4, 3, 8))
    with pytest.raises(ValueError, match=r"must equal d_model 8"):
        model(lg.randn(5, 2, 8), lg.randn(4, 2, 6))
    layer = lg.nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(5, 5\)"):
        layer(lg.randn(5, 2, 8), src_mask=lg.zeros(4, 4))


def test_transformer_train_step_reduces_loss():
    """A few Adam steps on a fixed copy task: the Transformer's loss falls."""
    lg.manual_seed(0)
    model = lg.nn.Transformer(16, 2, 1, 1, 32, dropout=0.0, batch_first=True)
    opt = lg.optim.Adam(model.parameters(), lr=3e-3)
    x = lg.randn(4, 6, 16)
    losses = []
    for _ in range(30):
        loss = ((model(x, x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_transformer_lm_example_quick_loss_falls():
    """examples/transformer_lm.py --quick trains on the char-LM corpus: its held-out loss
    falls at every report and ends well below uniform guessing."""
    script = pathlib.Path(__file__).resolve().parent.parent / "examples" / "transformer_lm.py"
    r = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    vocab = int(re.search(r"vocabulary (\d+)", r.stdout).group(1))
    val = [float(v) for v in re.findall(r"val loss ([0-9.]+)", r.stdout)]
    assert len(val) == 5 and all(a > b for a, b in zip(val, val[1:])), r.stdout
    assert val[-1] < math.log(vocab) - 1.0, r.stdout
