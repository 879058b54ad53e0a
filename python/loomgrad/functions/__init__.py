"""Array-level autograd Functions, one module per family of primitives.

elementwise (arithmetic with broadcasting, unary maths), activation, reduce,
softmax, matmul, shape (views, indexing, joining, where). Each op is a class
with ``forward`` on raw arrays and ``backward`` returning one gradient per
input; :class:`~loomgrad.tensor.Tensor`'s methods apply them.
"""
