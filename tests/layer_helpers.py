"""The module-vs-torch check the layer tests share (issue 18's modules)."""
from __future__ import annotations

import numpy as np

import loomgrad as lg


def assert_module_matches_torch(ours, theirs, x, rtol=1e-4, atol=1e-4, randomize=True):
    """Same repr and state_dict keys; torch's (optionally re-randomised) state_dict loaded into
    ``ours``; forward on ``x`` and every gradient (input and parameters) under one random
    upstream gradient equal to torch's."""
    import torch
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if randomize:
        with torch.no_grad():
            for p in theirs.parameters():
                p.uniform_(-1, 1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    xl, xt = lg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yl, yt = ours(xl), theirs(xt.clone())  # a clone: torch's inplace=True modules
    np.testing.assert_allclose(yl.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(x.dtype)
    (yl * lg.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    for (k, pl), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(pl.grad.numpy(), pt.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=k)
