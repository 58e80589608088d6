"""torch.nn-style classes of fastnl's activations, softmax family and losses,
AdaptiveLogSoftmaxWithLoss, Linear and Sequential, with forward and backward."""

from fastnl.nn._module import Module
from fastnl.nn.activation import *  # noqa: F403
from fastnl.nn import activation as _activation
from fastnl.nn.along_axis import *  # noqa: F403
from fastnl.nn import along_axis as _along_axis
from fastnl.nn.loss import *  # noqa: F403
from fastnl.nn import loss as _loss
from fastnl.nn.adaptive import AdaptiveLogSoftmaxWithLoss
from fastnl.nn.linear import Linear, Sequential

__all__ = ["Module", *_activation.__all__, *_along_axis.__all__, *_loss.__all__,
           "AdaptiveLogSoftmaxWithLoss", "Linear", "Sequential"]
