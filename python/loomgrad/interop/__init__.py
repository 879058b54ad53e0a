"""loomgrad's kernels inside other libraries' autograd.

``loomgrad.interop.torch``: our kernel families as ``torch.autograd.Function``s
and drop-in ``torch.nn`` modules (needs PyTorch: ``pip install loomgrad[torch]``).
``loomgrad.interop.jax``: the same families as ``jax.custom_vjp`` functions on
the CPU (needs JAX).

This package imports neither: each bridge imports its library when it is
imported itself. The raw kernels (``loomgrad.kernels``) already take and
return torch/JAX arrays without any bridge (kernels/_interop.py); the bridges
add the gradients.
"""
