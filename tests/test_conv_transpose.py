"""conv_transpose2d / conv_transpose1d / conv1d (issue 18) and their modules: forward and every
gradient against torch over random and edge geometries (stride > kernel, output_padding,
output_padding >= stride below the dilation, groups, dilation, odd sizes, N = 0, unbatched),
float64 gradcheck, output_size, torch's init, reprs and loaded state_dicts."""
import numpy as np
import pytest

import loomgrad as lg
import loomgrad.nn.functional as F
from helpers import HAVE_TORCH, helper_gradcheck, helper_test_op, requires_torch
from layer_helpers import assert_module_matches_torch

if HAVE_TORCH:
    import torch
    import torch.nn.functional as TF

# (input shape, weight shape, stride, padding, output_padding, groups, dilation, bias)
T2D = [
    ((2, 3, 5, 4), (3, 2, 3, 3), 1, 0, 0, 1, 1, True),
    ((2, 3, 5, 4), (3, 2, 3, 3), 2, 1, 1, 1, 1, True),
    ((1, 4, 3, 3), (4, 3, 2, 2), 3, 0, 2, 1, 1, True),        # stride > kernel
    ((2, 4, 5, 6), (4, 1, 3, 2), (2, 1), (1, 0), (1, 0), 2, 1, False),   # groups, rectangular
    ((2, 2, 4, 3), (2, 3, 3, 3), 1, 1, 1, 1, 2, True),        # output_padding >= stride < dil
    ((1, 6, 7, 5), (6, 2, 3, 1), 2, (2, 0), 0, 3, (2, 1), True),
    ((0, 3, 5, 4), (3, 2, 3, 3), 2, 1, 1, 1, 1, True),        # N = 0
    ((3, 5, 4), (3, 2, 3, 3), 2, 0, 1, 1, 1, True),            # unbatched
    ((2, 8, 4, 4), (8, 4, 4, 4), 2, 1, 0, 1, 1, False),       # DCGAN-style 4x4 s2 p1
]


def _t2d(case, lib):
    _, _, s, p, op, g, d, _ = case
    f = F.conv_transpose2d if lib == "lg" else TF.conv_transpose2d
    return lambda x, w, *b: f(x, w, b[0] if b else None, s, p, op, g, d)


@requires_torch
@pytest.mark.parametrize("case", T2D, ids=[str(i) for i in range(len(T2D))])
def test_conv_transpose2d_matches_torch(case):
    xs, ws, *_, bias = case
    shapes = [xs, ws] + ([(ws[1] * case[5],)] if bias else [])
    helper_test_op(shapes, _t2d(case, "torch"), _t2d(case, "lg"), atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("case", [T2D[1], T2D[3], T2D[4], T2D[7]], ids=str)
def test_conv_transpose2d_gradcheck(case):
    xs, ws, *_, bias = case
    shapes = [xs, ws] + ([(ws[1] * case[5],)] if bias else [])
    helper_gradcheck(_t2d(case, "lg"), shapes)


@requires_torch
def test_conv_transpose2d_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 7, 7)).astype(np.float32)
    w = rng.standard_normal((16, 8, 4, 4)).astype(np.float32)
    ours = F.conv_transpose2d(lg.tensor(x), lg.tensor(w), stride=2, padding=1)
    theirs = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)


T1D = [((2, 4, 9), (6, 2, 3), 2, 1, 1, 2, True),
       ((3, 7), (5, 3, 2), 1, 0, 1, 1, True),      # unbatched
       ((0, 3, 6), (4, 3, 3), 1, 1, 1, 1, False)]


@requires_torch
@pytest.mark.parametrize("case", T1D, ids=str)
def test_conv1d_matches_torch(case):
    xs, ws, s, p, d, g, bias = case
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    helper_test_op(shapes, lambda x, w, *b: TF.conv1d(x, w, b[0] if b else None, s, p, d, g),
                   lambda x, w, *b: F.conv1d(x, w, b[0] if b else None, s, p, d, g),
                   atol=1e-10, rtol=1e-9)


@requires_torch
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv1d_string_padding(padding):
    helper_test_op([(2, 3, 8), (4, 3, 4)], lambda x, w: TF.conv1d(x, w, padding=padding,
                                                                  dilation=2),
                   lambda x, w: F.conv1d(x, w, padding=padding, dilation=2), atol=1e-10)


@requires_torch
@pytest.mark.parametrize("case", [((2, 4, 5), (4, 3, 3), 2, 1, 1, 2, 1),
                                  ((4, 6), (4, 2, 2), 3, 0, 2, 1, 2)], ids=str)
def test_conv_transpose1d_matches_torch(case):
    xs, ws, s, p, op, g, d = case
    shapes = [xs, ws, (ws[1] * g,)]
    helper_test_op(shapes, lambda x, w, b: TF.conv_transpose1d(x, w, b, s, p, op, g, d),
                   lambda x, w, b: F.conv_transpose1d(x, w, b, s, p, op, g, d),
                   atol=1e-10, rtol=1e-9)


def test_conv1d_gradcheck():
    helper_gradcheck(lambda x, w, b: F.conv1d(x, w, b, 2, 1, 1, 1), [(2, 3, 7), (4, 3, 3), (4,)])
    helper_gradcheck(lambda x, w: F.conv_transpose1d(x, w, None, 2, 1, 1), [(2, 3, 4), (3, 2, 3)])


def test_bad_arguments():
    x, w = lg.zeros(1, 3, 4, 4), lg.zeros(3, 2, 3, 3)
    with pytest.raises(ValueError, match="output_padding .* must be smaller"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="input has 4 channels"):
        F.conv_transpose2d(lg.zeros(1, 4, 4, 4), w)
    with pytest.raises(ValueError, match="bias must have shape \\(2,\\)"):
        F.conv_transpose2d(x, w, lg.zeros(3))
    with pytest.raises(ValueError, match="padding too large"):
        F.conv_transpose2d(lg.zeros(1, 3, 1, 1), lg.zeros(3, 2, 1, 1), padding=1)
    with pytest.raises(ValueError, match="conv1d: expected a 2-D"):
        F.conv1d(x, lg.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="weight must be 3-D"):
        F.conv1d(lg.zeros(1, 3, 5), w)
    with pytest.raises(ValueError, match="padding must be"):
        lg.nn.ConvTranspose2d(3, 2, 3, padding="same")
    m = lg.nn.ConvTranspose2d(3, 2, 3, stride=2)
    with pytest.raises(ValueError, match="requested output size"):
        m(x, output_size=(12, 12))


MODULES = [("Conv1d", (4, 6, 3), dict(stride=2, padding=1, groups=2)),
           ("Conv1d", (3, 5, 2), dict(bias=False, dilation=2, padding="same")),
           ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
           ("ConvTranspose2d", (3, 2, (3, 2)), dict(bias=False, dilation=2)),
           ("ConvTranspose1d", (4, 2, 3), dict(stride=3, output_padding=2))]


@requires_torch
@pytest.mark.parametrize("name,args,kw", MODULES, ids=lambda v: str(v))
def test_modules_match_torch(name, args, kw):
    torch.manual_seed(0)
    lg.manual_seed(0)
    ours, theirs = getattr(lg.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    sd = theirs.state_dict()
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(sd[k].shape), k
        # torch's init bounds: kaiming_uniform(a=sqrt(5)) -> 1/sqrt(fan_in) for both
        fan_in = np.prod(theirs.weight.shape[1:])
        assert np.abs(v.numpy()).max() <= 1 / np.sqrt(fan_in) + 1e-7, k
    n = 1 if "1d" in name else 2
    x = np.random.default_rng(0).standard_normal((2, args[0]) + (7,) * n).astype(np.float32)
    assert_module_matches_torch(ours, theirs, x, randomize=False)


@requires_torch
def test_conv_transpose2d_output_size():
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(3, 2, 3, stride=3, padding=1)
    ours = lg.nn.ConvTranspose2d(3, 2, 3, stride=3, padding=1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)
    for size in [(10, 13), (12, 15), (1, 2, 11, 14)]:
        yl = ours(lg.tensor(x), output_size=size)
        yt = theirs(torch.tensor(x), output_size=size)
        assert yl.shape == tuple(yt.shape)
        np.testing.assert_allclose(yl.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
