"""fastnl: PyTorch's activations and losses on NumPy arrays, in compiled kernels."""

from fastnl._version import __version__
from fastnl._config import get_num_threads, set_num_threads, num_threads, show_config
from fastnl.activations import (
    relu, relu6, leaky_relu, prelu, rrelu, elu, celu, selu, gelu, softplus, sigmoid,
    tanh, softsign, hardtanh, threshold, tanhshrink, softshrink, hardshrink,
    logsigmoid, silu, mish, hardsigmoid, hardswish,
)

__all__ = [
    "__version__", "get_num_threads", "set_num_threads", "num_threads", "show_config",
    "relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "gelu",
    "softplus", "sigmoid", "tanh", "softsign", "hardtanh", "threshold", "tanhshrink",
    "softshrink", "hardshrink", "logsigmoid", "silu", "mish", "hardsigmoid", "hardswish",
]
