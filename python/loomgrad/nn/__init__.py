"""loomgrad.nn: modules, parameters, losses, init and the functional API (torch.nn-like).

    model = lg.nn.Sequential(lg.nn.Linear(64, 32), lg.nn.ReLU(), lg.nn.Linear(32, 10))
    loss = lg.nn.functional.cross_entropy(model(x), y)
"""
from . import functional, init
from .activation import Dropout, Flatten, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, StateDictError
from .parameter import Parameter

__all__ = ["Module", "Parameter", "StateDictError", "Linear", "Identity", "ReLU", "Sigmoid",
           "Tanh", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Sequential", "ModuleList",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "functional", "init"]
