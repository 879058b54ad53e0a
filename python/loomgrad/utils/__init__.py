"""loomgrad.utils: testing helpers (``gradcheck``) and ``utils.data`` (torch's path to
:mod:`loomgrad.data`)."""
from . import data
from .gradcheck import gradcheck

__all__ = ["gradcheck", "data"]
