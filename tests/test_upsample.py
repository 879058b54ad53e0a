"""interpolate / Upsample (issue 18): the upsampling kernels (csrc/cpu/upsample.cpp) against the
NumPy reference (tests/reference/upsample.py) and torch, forward and gradient, over integer and
non-integer scale factors, explicit sizes, downsampling, align_corners both ways, N = 0,
1-D inputs; float64 gradcheck; module reprs."""
import numpy as np
import pytest

import loomgrad as lg
import loomgrad.nn.functional as F
from loomgrad import kernels as K
from helpers import HAVE_TORCH, helper_gradcheck, helper_test_op, requires_torch
from reference import upsample as ref

if HAVE_TORCH:
    import torch
    import torch.nn.functional as TF

MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]
# (input shape, size, scale_factor, recompute_scale_factor)
GEOMS = [((2, 3, 5, 7), None, 2, None), ((2, 3, 5, 7), None, 1.7, None),
         ((1, 2, 9, 8), None, 0.6, None), ((2, 1, 4, 6), None, (2.5, 1.3), None),
         ((2, 1, 4, 6), None, 1.37, True), ((1, 2, 6, 5), (11, 3), None, None),
         ((1, 1, 1, 1), (3, 4), None, None), ((0, 3, 4, 4), None, 2, None),
         ((1, 2, 7, 7), (7, 7), None, None), ((3, 2, 3, 4), None, 3, None)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,ac", MODES, ids=str)
@pytest.mark.parametrize("shape,out,scales", [((2, 3, 5, 7), (10, 14), (2.0, 2.0)),
                                              ((2, 3, 5, 7), (8, 11), (1.7, 1.7)),
                                              ((1, 2, 9, 8), (5, 4), None),
                                              ((1, 1, 1, 3), (4, 7), None)], ids=str)
def test_kernels_vs_reference(shape, out, scales, mode, ac, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    if mode == "nearest":
        y = K.upsample_nearest2d(x, out, scales)
    else:
        y = K.upsample_bilinear2d(x, out, ac, scales)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, ref.upsample2d(x, mode, out, ac, scales), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = K.upsample_nearest2d_backward(g, shape, scales) if mode == "nearest" else \
        K.upsample_bilinear2d_backward(g, shape, ac, scales)
    np.testing.assert_allclose(dx, ref.upsample2d_backward(g, mode, shape, ac, scales), **tol)


@requires_torch
@pytest.mark.parametrize("mode,ac", MODES, ids=str)
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_interpolate_matches_torch(geom, mode, ac):
    shape, size, sf, rsf = geom
    kw = dict(size=size, scale_factor=sf, mode=mode, align_corners=ac,
              recompute_scale_factor=rsf)
    helper_test_op([shape], lambda x: TF.interpolate(x, **kw), lambda x: F.interpolate(x, **kw),
                   atol=1e-12, rtol=1e-10)


@requires_torch
@pytest.mark.parametrize("mode,ac", MODES, ids=str)
def test_float32_matches_torch(mode, ac):
    x = np.random.default_rng(0).standard_normal((2, 4, 13, 11)).astype(np.float32)
    for sf in (2, 1.5, 0.7, 3.3):
        ours = F.interpolate(lg.tensor(x), scale_factor=sf, mode=mode, align_corners=ac)
        theirs = TF.interpolate(torch.tensor(x), scale_factor=sf, mode=mode, align_corners=ac)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)


@requires_torch
@pytest.mark.parametrize("mode,ac", [("nearest", None), ("linear", False), ("linear", True)])
def test_1d_matches_torch(mode, ac):
    for kw in (dict(scale_factor=2.5), dict(size=4), dict(scale_factor=0.5)):
        helper_test_op([(2, 3, 7)], lambda x: TF.interpolate(x, mode=mode, align_corners=ac, **kw),
                       lambda x: F.interpolate(x, mode=mode, align_corners=ac, **kw),
                       atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("mode,ac", MODES, ids=str)
def test_gradcheck(mode, ac):
    helper_gradcheck(lambda x: F.interpolate(x, scale_factor=1.6, mode=mode, align_corners=ac),
                     [(2, 2, 3, 4)])
    helper_gradcheck(lambda x: F.interpolate(x, size=(2, 5), mode=mode, align_corners=ac),
                     [(1, 2, 4, 3)])


def test_bad_arguments():
    x = lg.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="expects a 4-D"):
        F.interpolate(lg.zeros(1, 2, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="size must have 2 elements"):
        F.interpolate(x, size=(1, 2, 3))
    with pytest.raises(ValueError, match="sizes must be > 0"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="scale_factor must be positive"):
        F.interpolate(x, scale_factor=-2.0)
    with pytest.raises(ValueError, match="recompute_scale_factor"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.upsample_nearest2d(np.zeros((1, 1, 2, 2), np.int32), (4, 4))
    with pytest.raises(ValueError, match="input_shape"):
        K.upsample_nearest2d_backward(np.zeros((1, 1, 4, 4)), (1, 2, 2, 2))
    with pytest.raises(ValueError, match="scales"):
        K.upsample_bilinear2d(np.zeros((1, 1, 2, 2)), (4, 4), False, (float("nan"), 2.0))


@requires_torch
@pytest.mark.parametrize("name,args,kw", [
    ("Upsample", (), dict(scale_factor=2)), ("Upsample", (), dict(size=(5, 6), mode="bilinear")),
    ("Upsample", (), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ("UpsamplingNearest2d", (), dict(scale_factor=3)),
    ("UpsamplingBilinear2d", (), dict(size=7))], ids=str)
def test_modules_match_torch(name, args, kw):
    ours, theirs = getattr(lg.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(lg.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-6)
