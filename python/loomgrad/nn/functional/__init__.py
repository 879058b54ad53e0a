"""loomgrad.nn.functional: torch.nn.functional's functions on Tensors, one file per family.

linear, activation (relu ... dropout), conv, pool, norm (batch_norm), xent
(cross_entropy, nll_loss), loss (mse, l1, huber, binary cross-entropy), rnn
(lstm_cell and the LSTM/GRU layer nodes), sparse (embedding), attention
(scaled_dot_product_attention, multi_head_attention_forward); ``_checks``
holds the argument checks they share. Each layer whose compute is a kernel
family is one autograd node calling :mod:`loomgrad.kernels`.
"""
from . import rnn
from .attention import multi_head_attention_forward, scaled_dot_product_attention
from .activation import (dropout, dropout1d, dropout2d, elu, flatten, gelu, hardtanh, leaky_relu,
                         log_softmax, prelu, relu, relu6, sigmoid, silu, softmax, softplus, tanh)
from .conv import conv2d
from .conv_transpose import conv1d, conv_transpose1d, conv_transpose2d
from .linear import linear
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, huber_loss, l1_loss,
                   mse_loss, smooth_l1_loss)
from .norm import batch_norm, group_norm, layer_norm
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .rnn import gru_cell, gru_layers, lstm_cell, lstm_layers, rnn_cell, rnn_layers
from .sparse import embedding
from .upsample import interpolate, upsample, upsample_bilinear, upsample_nearest
from .xent import cross_entropy, nll_loss

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "flatten", "dropout",
           "cross_entropy", "nll_loss", "mse_loss",
           "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
           "l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "lstm_cell", "embedding", "smooth_l1_loss"]
__all__ += ["leaky_relu", "elu", "gelu", "silu", "softplus", "hardtanh", "relu6", "prelu",
            "dropout1d", "dropout2d", "conv1d", "conv_transpose1d", "conv_transpose2d",
            "layer_norm", "group_norm", "interpolate", "upsample", "upsample_nearest",
            "upsample_bilinear"]
__all__ += ["scaled_dot_product_attention", "multi_head_attention_forward"]
