"""nn.init.orthogonal_, dirac_, sparse_ and delta_orthogonal_ (issue 18): the defining
properties, torch's dirac_ exactly, torch's shapes/errors, determinism under a seed."""
import numpy as np
import pytest

import loomgrad as lg
from helpers import requires_torch

init = lg.nn.init


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 2, 3, 3), (6, 6)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    w = lg.empty(*shape, dtype=lg.float64)
    init.orthogonal_(w, gain)
    m = w.numpy().reshape(shape[0], -1)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(small), atol=1e-12)
    lg.manual_seed(3)
    a = init.orthogonal_(lg.empty(*shape)).numpy().copy()
    lg.manual_seed(3)
    np.testing.assert_array_equal(a, init.orthogonal_(lg.empty(*shape)).numpy())


@requires_torch
@pytest.mark.parametrize("shape,groups", [((4, 3, 3, 3), 1), ((6, 2, 3, 5), 2), ((3, 5, 4), 1),
                                          ((4, 4, 3, 3, 3), 2)])
def test_dirac_matches_torch(shape, groups):
    import torch
    t = torch.empty(shape)
    torch.nn.init.dirac_(t, groups)
    w = init.dirac_(lg.empty(*shape), groups)
    np.testing.assert_array_equal(w.numpy(), t.numpy())


def test_dirac_is_identity_conv():
    x = lg.randn(2, 3, 5, 5)
    w = init.dirac_(lg.empty(3, 3, 3, 3))
    np.testing.assert_allclose(lg.nn.functional.conv2d(x, w, padding=1).numpy(), x.numpy(),
                               atol=1e-6)


def test_sparse():
    w = init.sparse_(lg.empty(10, 7, dtype=lg.float64), 0.3, std=0.5)
    zeros = (w.numpy() == 0).sum(axis=0)
    assert (zeros == 3).all()  # ceil(0.3 * 10) per column
    assert 0.2 < w.numpy()[w.numpy() != 0].std() < 0.9


def test_delta_orthogonal():
    w = init.delta_orthogonal_(lg.empty(8, 5, 3, 3, dtype=lg.float64), gain=2.0)
    a = w.numpy()
    centre = a[:, :, 1, 1]
    np.testing.assert_allclose(centre.T @ centre, 4.0 * np.eye(5), atol=1e-12)
    a[:, :, 1, 1] = 0
    assert not a.any()
    # norm-preserving (gain 1, equal channels): ||conv(x)|| = ||x|| with circular-free centre
    w = init.delta_orthogonal_(lg.empty(6, 6, 3, 3, dtype=lg.float64))
    x = lg.randn(1, 6, 4, 4, dtype=lg.float64)
    y = lg.nn.functional.conv2d(x, w, padding=1)
    np.testing.assert_allclose(np.linalg.norm(y.numpy()), np.linalg.norm(x.numpy()), rtol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(lg.empty(3))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(lg.empty(5, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match="3, 4 or 5-D"):
        init.dirac_(lg.empty(3, 3))
    with pytest.raises(ValueError, match="only 2-D"):
        init.sparse_(lg.empty(3, 3, 3), 0.1)
    with pytest.raises(ValueError, match="out_channels \\(4\\) must be >= in_channels \\(6\\)"):
        init.delta_orthogonal_(lg.empty(4, 6, 3, 3))
