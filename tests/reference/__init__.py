"""NumPy references the tests compare our kernels against (not shipped)."""
