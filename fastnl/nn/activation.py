"""torch.nn-style classes of the elementwise activations.

Each is a thin shell over the functional form in :mod:`fastnl.activations`:
the constructor takes torch's arguments and defaults, the call runs the
function and keeps a reference to the input, and ``backward`` runs
``<name>_backward`` on it. With ``inplace=True`` the output overwrites the
input (as in torch) and the module keeps a copy of the input for backward.
"""

import numpy as np

from fastnl import _ops, activations as F
from fastnl._validate import rng_from
from fastnl.nn._module import Module, ones, operand

__all__ = [a.module for a in _ops.ACTIVATIONS]


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


def _define(a):
    """The module class of table row `a`: torch's constructor (the function's
    parameters with their defaults, then ``inplace`` where torch has it)."""
    params = "".join(f", {p.name}" if p.default is None else f", {p.name}={p.default!r}"
                     for p in a.params)
    inplace = ", inplace=False" if a.inplace else ""
    body = "".join(f"    self.{p.name} = {p.name}\n" for p in a.params)
    source = (f"def __init__(self{params}{inplace}):\n"
              f"    _Activation.__init__(self{', inplace' if a.inplace else ''})\n{body}")
    namespace = {"_Activation": _Activation}
    exec(source, namespace)  # a real signature, as torch's, for help() and inspect
    cls = type(a.module, (_Activation,), {
        "__init__": namespace["__init__"], "__module__": __name__,
        "_function": a.name, "_args": tuple(p.name for p in a.params),
        "__doc__": (f"``torch.nn.{a.module}``: " if a.torch else "Not in torch: ")
        + f":func:`fastnl.{a.name}` as a module." + _example(a),
    })
    cls.__init__.__qualname__ = f"{a.module}.__init__"
    return cls


def _example(a):
    """An Examples section: the module gives the function's numbers (called
    with the same arguments, written out) and a gradient of the input's shape."""
    given = a.cases[0]
    args = ", ".join(f"{k}={v!r}" for k, v in given.items() if
                     next(p for p in a.params if p.name == k).default is None)
    call = ", ".join(f"{p.name}={given.get(p.name, p.default)!r}" for p in a.params)
    return f"""

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> from fastnl import nn
    >>> x = np.array([-1.5, 0.25, 2.0])
    >>> module = nn.{a.module}({args})
    >>> bool(np.array_equal(module(x), fastnl.{a.name}(x{', ' + call if call else ''})))
    True
    >>> module.backward(np.ones(3)).shape
    (3,)
    """


for _a in _ops.ACTIVATIONS:
    if not _a.custom:
        globals()[_a.module] = _define(_a)
del _a


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
