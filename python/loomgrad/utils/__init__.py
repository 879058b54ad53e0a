"""loomgrad.utils: testing helpers (``gradcheck``)."""
from .gradcheck import gradcheck

__all__ = ["gradcheck"]
