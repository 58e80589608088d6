"""torch.nn-style classes: the activations (and, as they land, the softmax
family, the losses and AdaptiveLogSoftmaxWithLoss), with forward and backward."""

from fastnl.nn._module import Module
from fastnl.nn.activation import *  # noqa: F403
from fastnl.nn import activation as _activation
from fastnl.nn.adaptive import AdaptiveLogSoftmaxWithLoss

__all__ = ["Module", *_activation.__all__, "AdaptiveLogSoftmaxWithLoss"]
