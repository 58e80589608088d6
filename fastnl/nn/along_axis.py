"""torch.nn-style classes of the softmax family: Softmax, LogSoftmax, Softmin; and GLU.

Each runs the functional form of :mod:`fastnl.along_axis` along ``dim`` and
keeps its output, from which ``backward`` computes the gradient (as torch
does: the input is not needed).
"""

import warnings

import numpy as np

from fastnl import along_axis as F
from fastnl.nn._module import Module, ones, operand

__all__ = ["Softmax", "LogSoftmax", "Softmin", "GLU"]


def _legacy_dim(name, ndim):
    """torch's implicit dim for dim=None (deprecated there, with this warning)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


class _AlongAxis(Module):
    _function = None

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        x = operand(input)
        dim = self.dim if self.dim is not None else _legacy_dim(self._function, x.ndim)
        y = getattr(F, self._function)(x, dim=dim)
        self._save(y=y, dim=dim)
        return y

    def backward(self, grad_output=None):
        """Gradient with respect to the last input (``grad_output`` defaults to ones)."""
        saved = self._saved_tensors()
        y = saved["y"]
        if grad_output is None:
            grad_output = ones(y.shape, y)
        return getattr(F, f"{self._function}_backward")(grad_output, y, dim=saved["dim"])

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongAxis):
    """``torch.nn.Softmax``: :func:`fastnl.softmax` along `dim` as a module.

    ``dim=None`` picks torch's legacy default (0 for 0-, 1- and 3-d input,
    else 1) with torch's ``UserWarning``.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> m = fastnl.nn.Softmax(dim=1)
    >>> m(np.array([[0.0, np.log(3.0)]]))
    array([[0.25, 0.75]])
    >>> m.backward(np.array([[1.0, 0.0]]))
    array([[ 0.1875, -0.1875]])
    """
    _function = "softmax"


class LogSoftmax(_AlongAxis):
    """``torch.nn.LogSoftmax``: :func:`fastnl.log_softmax` along `dim` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> m = fastnl.nn.LogSoftmax(dim=-1)
    >>> np.exp(m(np.array([0.0, np.log(3.0)])))
    array([0.25, 0.75])
    >>> m.backward(np.array([1.0, 0.0]))
    array([ 0.75, -0.75])
    """
    _function = "log_softmax"


class Softmin(_AlongAxis):
    """``torch.nn.Softmin``: :func:`fastnl.softmin` along `dim` as a module.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> m = fastnl.nn.Softmin(dim=0)
    >>> m(np.array([np.log(3.0), 0.0]))
    array([0.25, 0.75])
    >>> m.backward(np.array([1.0, 0.0]))
    array([-0.1875,  0.1875])
    """
    _function = "softmin"


class GLU(Module):
    """``torch.nn.GLU``: :func:`fastnl.glu` along `dim` as a module; its
    backward runs :func:`fastnl.glu_backward` on the saved input.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> m = fastnl.nn.GLU()
    >>> m
    GLU(dim=-1)
    >>> m(np.array([[1.0, -2.0, 0.0, np.inf]]))
    array([[ 0.5, -2. ]])
    >>> m.backward()
    array([[ 0.5 ,  1.  ,  0.25, -0.  ]])
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        x = operand(input)
        y = F.glu(x, dim=self.dim)
        self._save(x=x, y_shape=y.shape)
        return y

    def backward(self, grad_output=None):
        """Gradient with respect to the last input (``grad_output`` defaults to ones)."""
        saved = self._saved_tensors()
        x = saved["x"]
        if grad_output is None:
            grad_output = ones(saved["y_shape"], x)
        return F.glu_backward(x, dim=self.dim, grad_output=grad_output)

    def extra_repr(self):
        return f"dim={self.dim}"
