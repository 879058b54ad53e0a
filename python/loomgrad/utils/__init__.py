"""loomgrad.utils: testing helpers (``gradcheck``), ``utils.data`` (torch's path to
:mod:`loomgrad.data`) and ``tensorboard.SummaryWriter``."""
from . import data, tensorboard
from .gradcheck import gradcheck

__all__ = ["gradcheck", "data", "tensorboard"]
