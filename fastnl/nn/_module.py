"""The base of fastnl's torch.nn-style classes."""

import numpy as np

from fastnl._dispatch import lazy
from fastnl._validate import resolve_dtype

__all__ = ["Module"]


def operand(a):
    """An input as the functions take it: a Dask array stays lazy (the
    functions compute it chunk by chunk), anything else becomes an ndarray."""
    return a if lazy(a) else np.asarray(a)


def ones(shape, like):
    """The default upstream gradient: ones of `shape` in the result dtype of
    `like`, a lazy Dask array when `like` is one (chunked as it when the
    shapes agree)."""
    dtype = resolve_dtype(like.dtype)[1]
    if lazy(like):
        import dask.array as da
        chunks = like.chunks if like.shape == tuple(shape) else "auto"
        return da.ones(shape, dtype=dtype, chunks=chunks)  # a positional dtype is ignored
    return np.ones(shape, dtype)


class Module:
    """Base class: ``module(input)`` runs :meth:`forward`, :meth:`backward`
    returns the gradient with respect to the last forward call's input.

    As in torch, a module is in training mode when created; :meth:`train` and
    :meth:`eval` switch it (only modules whose forward depends on it, such as
    RReLU, behave differently). Parameters are NumPy arrays named as in torch
    (``PReLU.weight``); :meth:`backward` *adds* their gradients into
    ``<name>_grad`` (as torch accumulates ``.grad``) until :meth:`zero_grad`.

    A subclass implements ``forward`` (saving what its backward needs with
    ``self._save(...)``) and ``backward``, and lists its parameters in
    ``_parameters``.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> from fastnl.nn import Module
    >>> class Square(Module):
    ...     def forward(self, x):
    ...         self._save(x=np.asarray(x))
    ...         return np.square(x)
    ...     def backward(self, grad_output=None):
    ...         x = self._saved_tensors()["x"]
    ...         return 2 * x * (1.0 if grad_output is None else grad_output)
    >>> square = Square()
    >>> square(np.array([1.0, -3.0]))
    array([1., 9.])
    >>> square.backward()
    array([ 2., -6.])
    >>> square.eval().training
    False
    """

    _parameters = ()  # names of the parameter arrays, in torch's order
    _args = ()        # constructor attributes passed on to the functional form

    def __init__(self):
        self.training = True
        self._saved = None

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        """Compute the output (and save what backward needs)."""
        raise NotImplementedError

    def backward(self, grad_output=None):
        """Gradient with respect to the last forward call's input."""
        raise NotImplementedError

    def _kwargs(self):
        """The functional form's keyword arguments, from the attributes in ``_args``."""
        return {name: getattr(self, name) for name in self._args}

    def train(self, mode=True):
        """Set training mode (or evaluation with ``mode=False``); returns self."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode; returns self."""
        return self.train(False)

    def _save(self, **tensors):
        """Keep what backward needs from this forward call."""
        self._saved = tensors

    def _saved_tensors(self):
        """What the last forward call saved; RuntimeError before any forward."""
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self._saved

    # -- parameters ---------------------------------------------------------

    def parameters(self):
        """The parameter arrays, in torch's order."""
        return [getattr(self, name) for name in self._parameters]

    def named_parameters(self):
        """``(name, array, gradient)`` of each parameter, in torch's order and
        with its names: the module's own array (an in-place update such as
        ``array -= lr * gradient`` changes the module) and its accumulated
        gradient, None before any backward or after :meth:`zero_grad`."""
        for name in self._parameters:
            yield name, getattr(self, name), getattr(self, f"{name}_grad", None)

    def zero_grad(self):
        """Forget the accumulated parameter gradients (set them to None)."""
        for name in self._parameters:
            setattr(self, f"{name}_grad", None)

    def _accumulate(self, name, grad):
        current = getattr(self, f"{name}_grad", None)
        grad = np.asarray(grad, dtype=getattr(self, name).dtype)
        setattr(self, f"{name}_grad", grad if current is None else current + grad)

    def state_dict(self):
        """Copies of the parameters under torch's keys."""
        return {name: np.array(getattr(self, name)) for name in self._parameters}

    def load_state_dict(self, state_dict):
        """Load parameters saved by :meth:`state_dict` (or converted from torch's,
        e.g. ``{k: v.numpy() for k, v in torch_module.state_dict().items()}``)."""
        expected = set(self._parameters)
        missing, unexpected = expected - set(state_dict), set(state_dict) - expected
        if missing or unexpected:
            raise KeyError(f"state_dict keys do not match: missing {sorted(missing)}, "
                           f"unexpected {sorted(unexpected)}")
        for name in self._parameters:
            value = np.asarray(state_dict[name])
            current = getattr(self, name)
            if value.shape != current.shape:
                raise ValueError(f"{name}: shape {value.shape} in state_dict, "
                                 f"{current.shape} in the module")
            setattr(self, name, value.astype(current.dtype, copy=True))

    # -- printing -------------------------------------------------------------

    def extra_repr(self):
        """The constructor arguments shown by repr(), as torch."""
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"
