"""Tensor (under construction)."""
__all__ = []
