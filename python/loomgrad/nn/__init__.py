"""loomgrad.nn: modules, parameters, losses, init and the functional API (torch.nn-like).

    model = lg.nn.Sequential(lg.nn.Linear(64, 32), lg.nn.ReLU(), lg.nn.Linear(32, 10))
    loss = lg.nn.functional.cross_entropy(model(x), y)
"""
from . import functional, init
from .activation import (ELU, GELU, Dropout, Dropout1d, Dropout2d, Flatten, Hardtanh, LeakyReLU,
                         LogSoftmax, PReLU, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softplus, Tanh)
from .container import ModuleList, Sequential
from .linear import Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss,
                   NLLLoss, SmoothL1Loss)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .normalization import GroupNorm, LayerNorm
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .module import Module, StateDictError
from .parameter import Parameter
from . import utils
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .sparse import Embedding
from .attention import MultiheadAttention
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from . import parallel
from .parallel import DistributedDataParallel

__all__ = ["Module", "Parameter", "StateDictError", "Linear", "Identity", "ReLU", "Sigmoid",
           "Tanh", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Sequential", "ModuleList",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "functional", "init"]
__all__ += ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d",
            "L1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss"]
__all__ += ["LSTM", "LSTMCell", "GRU", "Embedding", "utils"]
__all__ += ["parallel", "DistributedDataParallel", "SmoothL1Loss", "modules"]
__all__ += ["LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "Hardtanh", "ReLU6", "PReLU",
            "Dropout1d", "Dropout2d", "Conv1d", "ConvTranspose1d", "ConvTranspose2d",
            "LayerNorm", "GroupNorm", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
            "RNN", "RNNCell", "GRUCell"]
__all__ += ["MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerEncoderLayer",
            "TransformerDecoder", "TransformerDecoderLayer"]
from . import modules  # noqa: E402  (torch's nn.modules paths; last: it reads the names above)
