"""torch.nn-style classes of the elementwise activations.

Each is a thin shell over the functional form in :mod:`fastnl.activations`:
the constructor takes torch's arguments and defaults, the call runs the
function and keeps a reference to the input, and ``backward`` runs
``<name>_backward`` on it. With ``inplace=True`` the output overwrites the
input (as in torch) and the module keeps a copy of the input for backward.
"""

import numpy as np

from fastnl import activations as F
from fastnl._validate import rng_from
from fastnl.nn._module import Module, ones, operand

__all__ = [
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "SELU", "GELU",
    "Softplus", "Sigmoid", "Tanh", "Softsign", "Hardtanh", "Threshold", "Tanhshrink",
    "Softshrink", "Hardshrink", "LogSigmoid", "SiLU", "Mish", "Hardsigmoid", "Hardswish",
]


class _Activation(Module):
    """An activation whose functional form is ``fastnl.<_function>(x, **args)``
    with the constructor attributes named in ``_args``."""

    _function = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input):
        x = operand(input)
        self._save(x=x.copy() if self.inplace else x)
        return getattr(F, self._function)(x, **self._kwargs(), out=x if self.inplace else None)

    def backward(self, grad_output=None):
        """Gradient with respect to the last input (``grad_output`` defaults to ones)."""
        x = self._saved_tensors()["x"]
        if grad_output is None:
            grad_output = ones(x.shape, x)
        return getattr(F, f"{self._function}_backward")(grad_output, x, **self._kwargs())

    def extra_repr(self):
        parts = [f"{name}={getattr(self, name)!r}" for name in self._args]
        if self.inplace:
            parts.append("inplace=True")
        return ", ".join(parts)


class ReLU(_Activation):
    """``torch.nn.ReLU``: :func:`fastnl.relu` as a module."""
    _function = "relu"


class ReLU6(_Activation):
    """``torch.nn.ReLU6``: :func:`fastnl.relu6` as a module."""
    _function = "relu6"


class LeakyReLU(_Activation):
    """``torch.nn.LeakyReLU``: :func:`fastnl.leaky_relu` as a module."""
    _function, _args = "leaky_relu", ("negative_slope",)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope


class ELU(_Activation):
    """``torch.nn.ELU``: :func:`fastnl.elu` as a module."""
    _function, _args = "elu", ("alpha",)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha


class CELU(_Activation):
    """``torch.nn.CELU``: :func:`fastnl.celu` as a module."""
    _function, _args = "celu", ("alpha",)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha


class SELU(_Activation):
    """``torch.nn.SELU``: :func:`fastnl.selu` as a module."""
    _function = "selu"


class GELU(_Activation):
    """``torch.nn.GELU``: :func:`fastnl.gelu` as a module."""
    _function, _args = "gelu", ("approximate",)

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate


class Softplus(_Activation):
    """``torch.nn.Softplus``: :func:`fastnl.softplus` as a module."""
    _function, _args = "softplus", ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold


class Sigmoid(_Activation):
    """``torch.nn.Sigmoid``: :func:`fastnl.sigmoid` as a module."""
    _function = "sigmoid"

    def __init__(self):
        super().__init__()


class Tanh(_Activation):
    """``torch.nn.Tanh``: :func:`fastnl.tanh` as a module."""
    _function = "tanh"

    def __init__(self):
        super().__init__()


class Softsign(_Activation):
    """``torch.nn.Softsign``: :func:`fastnl.softsign` as a module."""
    _function = "softsign"

    def __init__(self):
        super().__init__()


class Hardtanh(_Activation):
    """``torch.nn.Hardtanh``: :func:`fastnl.hardtanh` as a module."""
    _function, _args = "hardtanh", ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        self.min_val, self.max_val = min_val, max_val


class Threshold(_Activation):
    """``torch.nn.Threshold``: :func:`fastnl.threshold` as a module (its two
    arguments have no defaults, as in torch)."""
    _function, _args = "threshold", ("threshold", "value")

    def __init__(self, threshold, value, inplace=False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value


class Tanhshrink(_Activation):
    """``torch.nn.Tanhshrink``: :func:`fastnl.tanhshrink` as a module."""
    _function = "tanhshrink"

    def __init__(self):
        super().__init__()


class Softshrink(_Activation):
    """``torch.nn.Softshrink``: :func:`fastnl.softshrink` as a module."""
    _function, _args = "softshrink", ("lambd",)

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd


class Hardshrink(_Activation):
    """``torch.nn.Hardshrink``: :func:`fastnl.hardshrink` as a module."""
    _function, _args = "hardshrink", ("lambd",)

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd


class LogSigmoid(_Activation):
    """``torch.nn.LogSigmoid``: :func:`fastnl.logsigmoid` as a module."""
    _function = "logsigmoid"

    def __init__(self):
        super().__init__()


class SiLU(_Activation):
    """``torch.nn.SiLU``: :func:`fastnl.silu` as a module."""
    _function = "silu"


class Mish(_Activation):
    """``torch.nn.Mish``: :func:`fastnl.mish` as a module."""
    _function = "mish"


class Hardsigmoid(_Activation):
    """``torch.nn.Hardsigmoid``: :func:`fastnl.hardsigmoid` as a module."""
    _function = "hardsigmoid"


class Hardswish(_Activation):
    """``torch.nn.Hardswish``: :func:`fastnl.hardswish` as a module."""
    _function = "hardswish"


class PReLU(Module):
    """``torch.nn.PReLU``: :func:`fastnl.prelu` with a learnt ``weight``.

    After :meth:`backward`, ``weight_grad`` holds the accumulated gradient of
    ``weight``.

    Parameters
    ----------
    num_parameters : int
        1 (one slope shared by all channels) or the number of channels.
    init : float
        Initial value of every slope.
    dtype : dtype
        Of ``weight``; float32 by default, as torch's default dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnl import nn
    >>> m = nn.PReLU()
    >>> m(np.array([-2.0, 3.0]))
    array([-0.5,  3. ])
    >>> m.backward()
    array([0.25, 1.  ])
    >>> m.weight_grad
    array([-2.], dtype=float32)
    """

    _parameters = ("weight",)

    def __init__(self, num_parameters=1, init=0.25, dtype=np.float32):
        super().__init__()
        if int(num_parameters) < 1:
            raise ValueError(f"num_parameters must be >= 1, got {num_parameters}")
        self.num_parameters = int(num_parameters)
        self.weight = np.full(self.num_parameters, init, dtype=dtype)
        self.weight_grad = None

    def forward(self, input):
        x = operand(input)
        self._save(x=x)
        return F.prelu(x, self.weight)

    def backward(self, grad_output=None):
        x = self._saved_tensors()["x"]
        if grad_output is None:
            grad_output = ones(x.shape, x)
        grad_x, grad_weight = F.prelu_backward(grad_output, x, self.weight)
        self._accumulate("weight", grad_weight)
        return grad_x

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """``torch.nn.RReLU``: :func:`fastnl.rrelu`, with random slopes in training.

    In training mode every call draws fresh slopes from ``rng`` (an extra
    argument: None, a seed or a ``numpy.random.Generator``) and
    :meth:`backward` uses the slopes of the last call; in evaluation mode the
    slope is ``(lower + upper) / 2``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnl import nn
    >>> module = nn.RReLU(0.1, 0.3, rng=0)
    >>> y = module(np.array([-1.0, 2.0]))          # training: a random slope
    >>> bool(0.1 <= -y[0] <= 0.3 and y[1] == 2.0)
    True
    >>> bool(module.backward()[0] == -y[0])        # the slope it drew
    True
    >>> module.eval()(np.array([-1.0, 2.0]))       # evaluation: the mean slope
    array([-0.2,  2. ])
    """

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False, rng=None):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, bool(inplace)
        self._rng = rng_from(rng)

    def forward(self, input):
        x = operand(input)
        saved = x.copy() if self.inplace else x
        y, noise = F.rrelu(x, self.lower, self.upper, training=self.training, rng=self._rng,
                           out=x if self.inplace else None, return_noise=True)
        self._save(x=saved, noise=noise, training=self.training)
        return y

    def backward(self, grad_output=None):
        saved = self._saved_tensors()
        x = saved["x"]
        if grad_output is None:
            grad_output = ones(x.shape, x)
        return F.rrelu_backward(grad_output, x, self.lower, self.upper,
                                training=saved["training"], noise=saved["noise"])

    def extra_repr(self):
        return f"lower={self.lower!r}, upper={self.upper!r}" + (", inplace=True" if self.inplace else "")


def _example(cls):
    """An Examples section for an activation class: the module gives the
    functional form's numbers and a gradient of the input's shape."""
    name, function = cls.__name__, cls._function
    arguments = "0.5, -1.0" if name == "Threshold" else ""  # the one class without defaults
    return f"""

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> from fastnl import nn
    >>> x = np.array([-1.5, 0.25, 2.0])
    >>> module = nn.{name}({arguments})
    >>> bool(np.array_equal(module(x), fastnl.{function}(x, **module._kwargs())))
    True
    >>> module.backward(np.ones(3)).shape
    (3,)
    """


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, _Activation) and _cls._function is not None:
        _cls.__doc__ = _cls.__doc__.rstrip() + _example(_cls)
del _cls
