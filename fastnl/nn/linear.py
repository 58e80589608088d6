"""torch.nn.Linear and torch.nn.Sequential: enough to port a torch MLP line by line."""

import operator
from collections import OrderedDict

import numpy as np

from fastnl._dispatch import lazy
from fastnl._validate import as_float_array, rng_from
from fastnl.nn._module import Module, ones

__all__ = ["Linear", "Sequential"]


def linear_parameters(in_features, out_features, bias, rng, dtype):
    """(weight, bias) laid out and initialised as torch.nn.Linear's
    reset_parameters: kaiming_uniform(a=sqrt(5)) for the weight, which is
    U(-1/sqrt(in_features), 1/sqrt(in_features)), and the same bound for the
    bias (None without one); drawn in float64 by `rng`, weight first."""
    bound = 1 / np.sqrt(in_features) if in_features > 0 else 0.0
    weight = rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)
    return weight, (rng.uniform(-bound, bound, out_features).astype(dtype) if bias else None)


def _features(name, value):
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


class Linear(Module):
    """``torch.nn.Linear``: ``y = x @ weight.T + bias`` by NumPy's BLAS.

    ``weight`` (out_features, in_features) and ``bias`` (out_features,) are
    laid out, named and initialised as torch's (U(-k, k), k = 1/sqrt(in_features)),
    float32 by default as torch's default dtype. The input is ``(*, in_features)``,
    any leading shape; it is computed in the promoted dtype of input and
    weight, and the output has that dtype. :meth:`backward` returns the
    input's gradient and adds the parameters' into ``weight_grad`` and
    ``bias_grad`` (as torch accumulates ``.grad``), from the parameters as
    they were at the forward call.

    Parameters
    ----------
    in_features, out_features : int
        The sizes of each input and output row.
    bias : bool, default True
        Whether the layer adds a bias.
    rng : None, int or numpy.random.Generator
        For the initial parameters (torch uses its global generator); load
        torch's with :meth:`load_state_dict` to get its numbers.
    dtype : dtype, default float32
        Of the parameters.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> layer = fastnl.nn.Linear(3, 2, rng=0)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    >>> layer.load_state_dict({"weight": np.array([[1, 0, 0], [0, 1, -1]]),
    ...                        "bias": np.array([0.5, 0.0])})
    >>> layer(np.array([[1.0, 2.0, 3.0]], np.float32))
    array([[ 1.5, -1. ]], dtype=float32)
    >>> layer.backward(np.array([[1.0, 1.0]], np.float32))
    array([[ 1.,  1., -1.]], dtype=float32)
    >>> layer.weight_grad, layer.bias_grad
    (array([[1., 2., 3.],
           [1., 2., 3.]], dtype=float32), array([1., 1.], dtype=float32))
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = _features("in_features", in_features)
        self.out_features = _features("out_features", out_features)
        self.weight, self.bias = linear_parameters(self.in_features, self.out_features,
                                                   bool(bias), rng_from(rng), np.dtype(dtype))
        self._parameters = ("weight", "bias") if bias else ("weight",)
        self.weight_grad = self.bias_grad = None

    def forward(self, input):
        if lazy(input):
            raise NotImplementedError(
                "Linear does not take Dask arrays: its backward adds into the NumPy arrays "
                "weight_grad and bias_grad (for inference, input @ layer.weight.T + "
                "layer.bias is lazy)")
        x, _ = as_float_array(input)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"input of shape {x.shape} does not end with in_features = "
                             f"{self.in_features} (mat1 and mat2 shapes cannot be multiplied)")
        x = x.astype(np.promote_types(x.dtype, self.weight.dtype), copy=False)
        y = x @ self.weight.T.astype(x.dtype, copy=False)
        if self.bias is not None:
            y += self.bias
        # the parameters as they were: backward differentiates this forward
        self._save(x=x, weight=self.weight, has_bias=self.bias is not None)
        return y

    def backward(self, grad_output=None):
        """Gradient with respect to the last input (``grad_output`` defaults
        to ones of the output's shape); adds ``grad_output.T @ input`` into
        ``weight_grad`` and the sum of ``grad_output`` over the rows into
        ``bias_grad``."""
        saved = self._saved_tensors()
        x, weight = saved["x"], saved["weight"]
        shape = x.shape[:-1] + (self.out_features,)
        if grad_output is None:
            grad_output = ones(shape, x)
        g, _ = as_float_array(grad_output, "grad_output")
        if g.shape != shape:
            raise ValueError(f"grad_output has shape {g.shape} but the output has shape {shape}")
        g = g.astype(x.dtype, copy=False)
        g2, x2 = g.reshape(-1, self.out_features), x.reshape(-1, self.in_features)
        self._accumulate("weight", g2.T @ x2)
        if saved["has_bias"]:
            self._accumulate("bias", g2.sum(axis=0))
        return g @ weight.astype(x.dtype, copy=False)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """``torch.nn.Sequential``: modules called in a chain, and their
    backward passes in reverse.

    ``forward(x)`` runs each module on the previous one's output;
    ``backward(grad_output=None)`` runs each module's backward from the last
    to the first and returns the gradient with respect to the input.
    Parameters are named as torch names them, ``<index>.<name>``
    (``0.weight``, ``2.bias``): in :meth:`named_parameters`,
    :meth:`state_dict` and :meth:`load_state_dict`, so a torch
    ``nn.Sequential``'s state_dict loads as it is (its tensors as NumPy
    arrays). :meth:`train`, :meth:`eval` and :meth:`zero_grad` reach every
    module.

    Parameters
    ----------
    *modules : Module
        In the order they run; or one ``OrderedDict`` of name -> module, as torch.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> from fastnl import nn
    >>> model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.GELU(), nn.Linear(8, 3, rng=1))
    >>> model
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): GELU(approximate='none')
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    >>> x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> loss = loss_fn(model(x), np.array([0, 1, 2, 0, 1]))
    >>> model.zero_grad()
    >>> grad_x = model.backward(loss_fn.backward())
    >>> for name, parameter, grad in model.named_parameters():   # an SGD step
    ...     parameter -= 0.1 * grad
    >>> [name for name, _, _ in model.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> grad_x.shape, sorted(model.state_dict()) == ['0.bias', '0.weight', '2.bias', '2.weight']
    ((5, 4), True)
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named = list(modules[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(modules)]
        self._modules = OrderedDict()
        for name, module in named:
            if not isinstance(module, Module):
                raise TypeError(f"{type(module).__name__} is not a fastnl.nn.Module subclass")
            self._modules[name] = module

    # -- the chain ----------------------------------------------------------------

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def backward(self, grad_output=None):
        """Gradient with respect to the last input: each module's backward
        from the last to the first (``grad_output`` defaults to ones of the
        output's shape), adding the parameters' gradients on the way."""
        for module in reversed(self._modules.values()):
            grad_output = module.backward(grad_output)
        return grad_output

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def named_children(self):
        """(name, module) of each module, in order."""
        return iter(self._modules.items())

    def append(self, module):
        """Add `module` at the end (named by its index, as torch); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a fastnl.nn.Module subclass")
        self._modules[str(len(self._modules))] = module
        return self

    # -- modes and parameters, passed down ------------------------------------

    def train(self, mode=True):
        super().train(mode)
        for module in self._modules.values():
            module.train(mode)
        return self

    def zero_grad(self):
        for module in self._modules.values():
            module.zero_grad()

    def named_parameters(self):
        for prefix, module in self._modules.items():
            for name, parameter, grad in module.named_parameters():
                yield f"{prefix}.{name}", parameter, grad

    def parameters(self):
        return [parameter for _, parameter, _ in self.named_parameters()]

    def state_dict(self):
        """Copies of every parameter under torch's keys (``0.weight``, ...)."""
        return {f"{prefix}.{key}": value for prefix, module in self._modules.items()
                for key, value in module.state_dict().items()}

    def load_state_dict(self, state_dict):
        """Load parameters under torch's keys: a fastnl state_dict, or a torch
        one converted to NumPy, e.g.
        ``{k: v.detach().numpy() for k, v in torch_model.state_dict().items()}``.
        Every key must match (a KeyError lists the missing and unexpected ones)."""
        expected = set(self.state_dict())
        missing, unexpected = expected - set(state_dict), set(state_dict) - expected
        if missing or unexpected:
            raise KeyError(f"state_dict keys do not match: missing {sorted(missing)}, "
                           f"unexpected {sorted(unexpected)}")
        for prefix, module in self._modules.items():
            own = {key[len(prefix) + 1:]: value for key, value in state_dict.items()
                   if key.startswith(prefix + ".")}
            if own or module.state_dict():
                module.load_state_dict(own)

    def __repr__(self):
        lines = [f"  ({name}): " + repr(module).replace("\n", "\n  ")
                 for name, module in self._modules.items()]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"
