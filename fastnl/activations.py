"""Elementwise activations, with the names and semantics of torch.nn.functional.

Every function takes any array-like (see the dtype policy in ``_validate``),
returns a new array of the input's shape (a NumPy scalar for 0-d input, as
NumPy's ufuncs do) or writes into ``out=``, which may be the input itself.
NaN in gives NaN out. Where torch's formula gives NaN at an infinite input
(``inf / inf``, ``-inf * 0``), fastnl returns the mathematical limit; each such
function says so.
"""

import numpy as np

from fastnl._config import _kernel_threads
from fastnl._kernels import _elementwise as _k
from fastnl._kernels._pool import empty
from fastnl._validate import (as_float_array, check_out, choice, deliver, lazy, real,
                              resolve_dtype, rng_from)

_NAMES = [
    "relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "gelu",
    "softplus", "sigmoid", "tanh", "softsign", "hardtanh", "threshold", "tanhshrink",
    "softshrink", "hardshrink", "logsigmoid", "silu", "mish", "hardsigmoid", "hardswish",
]
__all__ = _NAMES + [f"{name}_backward" for name in _NAMES]

# SELU's constants (Klambauer et al., 2017), as torch.nn.functional.selu uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# Kernel -> its id for the C-API fast path (_k.fast1 / _k.fast2).
_OP_IDS = {getattr(_k, name): op for name, op in _k.OP_IDS.items()}
_OP_IDS.update({getattr(_k, f"{name}_backward"): op for name, op in _k.OP_IDS.items()})
_fast1, _fast2 = _k.fast1, _k.fast2


def _elementwise(kernel, x, out, *args, grad_output=None, c_order=False):
    """Run `kernel(x_flat, out_flat, *args, n_threads)` over `x` of any layout,
    or `kernel(grad_flat, x_flat, out_flat, *args, n_threads)` when
    `grad_output` (of x's shape) is given, for a backward pass.

    C- or Fortran-contiguous inputs are read in place, other layouts through
    one contiguous copy (`c_order` forces C order, for kernels that need the
    logical element order). Inputs of different dtypes are computed in their
    promoted dtype. `out` is written directly when its layout and dtype match,
    and through a temporary otherwise (including when it overlaps an input
    without being that input itself). Dask arrays go block by block
    (fastnl._dask); the callers of `c_order` kernels dispatch them themselves.
    """
    op = _OP_IDS.get(kernel)
    if op is not None:  # the small-call path: plain float arrays, no copies
        y = (_fast1(op, x, out, args) if grad_output is None
             else _fast2(op, grad_output, x, out, args))
        if y is not None:
            return y
    if lazy(x, grad_output):
        from fastnl import _dask
        return _dask.elementwise(kernel, x, out, args, grad_output)
    sources = (x,) if grad_output is None else (grad_output, x)
    converted = [as_float_array(a) for a in sources]
    arrays = [a for a, _ in converted]
    if len(arrays) == 2:
        if arrays[0].shape != arrays[1].shape:
            raise ValueError(f"grad_output has shape {arrays[0].shape} but input has shape "
                             f"{arrays[1].shape}; they must be the same")
        compute = np.promote_types(arrays[0].dtype, arrays[1].dtype)
        arrays = [a.astype(compute, copy=False) for a in arrays]
    result = np.result_type(*[r for _, r in converted])
    compute, shape = arrays[0].dtype, arrays[0].shape
    if out is not None:
        check_out(out, shape, result)
    if all(a.flags.c_contiguous for a in arrays):
        order = "C"
    elif not c_order and all(a.flags.f_contiguous for a in arrays):
        order = "F"
    else:
        arrays, order = [np.ascontiguousarray(a) for a in arrays], "C"
    direct = (out is not None and out.dtype == compute
              and (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous)
              and all(a is out or not np.may_share_memory(out, a) for a in arrays))
    target = out if direct else empty(shape, compute, order=order)
    kernel(*[a.ravel(order) for a in arrays], target.ravel(order), *args, _kernel_threads())
    return out if direct else deliver(target, out, result)


# Parameter checks, shared by each forward function and its backward: each
# returns the kernel's scalar arguments.

def _leaky_relu_args(negative_slope):
    return (real("negative_slope", negative_slope),)


def _rrelu_bounds(lower, upper):
    lower, upper = real("lower", lower), real("upper", upper)
    if lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower}, upper={upper}")
    return lower, upper


def _elu_args(alpha):
    # torch's ELU kernel takes (negative coefficient, positive coefficient, input scale).
    return real("alpha", alpha), 1.0, 1.0


def _celu_args(alpha):
    alpha = real("alpha", alpha)
    if alpha == 0:
        raise ValueError("alpha must be non-zero for celu")
    return alpha, 1.0, 1.0 / alpha


_SELU_ARGS = (SELU_ALPHA * SELU_SCALE, SELU_SCALE, 1.0)


def _gelu_kernels(approximate):
    """(forward, backward) kernels of the `approximate` form."""
    if choice("approximate", approximate, ("none", "tanh")) == "none":
        return _k.gelu, _k.gelu_backward
    return _k.gelu_tanh, _k.gelu_tanh_backward


def _softplus_args(beta, threshold):
    beta, threshold = real("beta", beta), real("threshold", threshold)
    if beta == 0:
        raise ValueError("beta must be non-zero for softplus")
    return beta, threshold


def _hardtanh_args(min_val, max_val):
    min_val = real("min_val", min_val, finite=False)
    max_val = real("max_val", max_val, finite=False)
    if min_val > max_val:
        raise ValueError(f"min_val must be <= max_val, got min_val={min_val}, max_val={max_val}")
    return min_val, max_val


def _threshold_args(threshold, value):
    return (real("threshold", threshold, finite=False),
            real("value", value, finite=False, allow_nan=True))


def _shrink_args(lambd):
    lambd = real("lambd", lambd)
    if lambd < 0:
        raise ValueError(f"lambd must be >= 0, got {lambd}")
    return (lambd,)


def relu(x, out=None):
    """Rectified linear unit, ``max(0, x)``; mirrors ``torch.nn.functional.relu``.

    Parameters
    ----------
    x : array_like
        Input.
    out : ndarray, optional
        Where to write the result: the input's shape and result dtype; may be `x`.

    Returns
    -------
    ndarray
        ``x`` where ``x > 0``, else 0. ``-0.0`` and NaN pass through unchanged.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return _elementwise(_k.relu, x, out)


def relu6(x, out=None):
    """ReLU capped at 6, ``min(max(0, x), 6)``; mirrors ``torch.nn.functional.relu6``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.relu6([-1.0, 3.0, 9.0])
    array([0., 3., 6.])
    """
    return _elementwise(_k.hardtanh, x, out, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.01, out=None):
    """Leaky ReLU, ``x if x > 0 else negative_slope * x``; mirrors ``torch.nn.functional.leaky_relu``.

    A small slope keeps a gradient for negative inputs, so units cannot "die"
    as plain ReLU units can.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.leaky_relu([-2.0, 3.0], negative_slope=0.5)
    array([-1.,  3.])
    """
    return _elementwise(_k.leaky_relu, x, out, *_leaky_relu_args(negative_slope))


def prelu(x, weight, out=None):
    """Parametric ReLU, ``x if x > 0 else weight * x``; mirrors ``torch.nn.functional.prelu``.

    Parameters
    ----------
    x : array_like
        Input; the channel axis is 1 when ``x.ndim >= 2``, else 0.
    weight : array_like
        The learnt slopes: one element shared by all channels, or one per channel.
        Converted to the input's compute dtype.

    Raises
    ------
    ValueError
        If `weight` is not 1-d (or 0-d) or its length is neither 1 nor the
        number of channels.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.prelu(np.array([[-1.0, -1.0], [2.0, -2.0]]), weight=[0.1, 0.5])
    array([[-0.1, -0.5],
           [ 2. , -1. ]])
    """
    if lazy(x, weight):
        from fastnl import _dask
        return _dask.prelu(x, weight, out)
    x = np.asarray(x)
    weight, inner = _prelu_weight(x, weight)
    if weight.size == 1:
        return _elementwise(_k.leaky_relu, x, out, float(weight[0]))
    return _elementwise(_k.prelu, x, out, weight, inner, c_order=True)


def _prelu_weight(x, weight):
    """`weight` checked against `x` and converted to x's compute dtype, 1-d and
    contiguous; and the number of elements per channel block in C order."""
    shape = x.shape
    compute, _ = resolve_dtype(x.dtype)
    weight, _ = as_float_array(weight, "weight")
    if weight.ndim > 1:
        raise ValueError(f"weight must be 1-d, got shape {weight.shape}")
    weight = np.ascontiguousarray(weight.reshape(-1), dtype=compute)
    channels = shape[1] if len(shape) >= 2 else (shape[0] if len(shape) == 1 else 1)
    if weight.size not in (1, channels):
        raise ValueError(f"weight has {weight.size} elements; expected 1 or the number of "
                         f"channels, {channels}, of input of shape {shape}")
    inner = int(np.prod(shape[2:], dtype=np.int64)) if weight.size > 1 else x.size
    return weight, inner


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, training=False, rng=None, out=None,
          return_noise=False):
    """Randomized leaky ReLU; mirrors ``torch.nn.functional.rrelu``.

    In evaluation (``training=False``) the negative slope is
    ``(lower + upper) / 2``. In training, every element ``x <= 0`` gets its own
    slope drawn from ``U(lower, upper)`` (Xu et al., 2015).

    Parameters
    ----------
    lower, upper : float
        Bounds of the slope, ``lower <= upper``.
    training : bool
        Draw random slopes (True) or use their mean (False).
    rng : None, int or numpy.random.Generator
        Source of the slopes in training: a seed makes them reproducible.
        One slope is drawn per element, in C order, whatever the element's sign.
    return_noise : bool
        Also return the slope applied to each element (1 where ``x > 0``), of
        the result's shape and dtype: what :func:`rrelu_backward` needs.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.rrelu([-1.0, 2.0], lower=0.1, upper=0.3)
    array([-0.2,  2. ])
    >>> a = fastnl.rrelu([-1.0, -1.0], training=True, rng=0)
    >>> b = fastnl.rrelu([-1.0, -1.0], training=True, rng=0)
    >>> bool((a == b).all() and (-1/3 <= a).all() and (a <= -1/8).all())
    True
    """
    lower, upper = _rrelu_bounds(lower, upper)
    if lazy(x):
        from fastnl import _dask
        return _dask.rrelu(x, lower, upper, training, rng, out, return_noise)
    x = np.asarray(x)
    compute, result = resolve_dtype(x.dtype)
    if training:
        slopes = rng_from(rng).uniform(lower, upper, size=x.size).astype(compute)
    else:
        slopes = np.asarray((lower + upper) / 2, dtype=compute)
    # As torch: the slope where x <= 0, 1 elsewhere (NaN included). Taken before
    # the kernel runs, since `out` may be `x`.
    noise = np.where(x <= 0, slopes.reshape(x.shape) if training else slopes, 1).astype(result) \
        if return_noise else None
    if training:
        y = _elementwise(_k.prelu, x, out, slopes, 1, c_order=True)
    else:
        y = _elementwise(_k.leaky_relu, x, out, float(slopes))
    return (y, noise) if return_noise else y


def elu(x, alpha=1.0, out=None):
    """Exponential linear unit, ``x if x > 0 else alpha * (exp(x) - 1)``; mirrors ``torch.nn.functional.elu``.

    Computed with ``expm1``, accurate for small negative x.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.elu([-1000.0, 0.0, 2.0])
    array([-1.,  0.,  2.])
    """
    return _elementwise(_k.elu, x, out, *_elu_args(alpha))


def celu(x, alpha=1.0, out=None):
    """Continuously differentiable ELU, ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``;
    mirrors ``torch.nn.functional.celu``.

    Raises
    ------
    ValueError
        If ``alpha == 0``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.celu([-1000.0, 2.0], alpha=2.0)
    array([-2.,  2.])
    """
    return _elementwise(_k.elu, x, out, *_celu_args(alpha))


def selu(x, out=None):
    """Scaled ELU, ``scale * (x if x > 0 else alpha * (exp(x) - 1))``; mirrors ``torch.nn.functional.selu``.

    ``alpha = 1.6732632423543772`` and ``scale = 1.0507009873554805``
    (Klambauer et al., 2017, self-normalizing networks).

    Examples
    --------
    >>> import fastnl
    >>> float(fastnl.selu(1.0))
    1.0507009873554805
    """
    return _elementwise(_k.elu, x, out, *_SELU_ARGS)


def gelu(x, approximate="none", out=None):
    """Gaussian error linear unit, ``x * Phi(x)``; mirrors ``torch.nn.functional.gelu``.

    ``approximate='none'`` uses the normal CDF ``Phi(x) = erfc(-x / sqrt(2)) / 2``;
    ``'tanh'`` uses ``(1 + tanh(sqrt(2 / pi) * (x + 0.044715 x**3))) / 2``.
    Both are evaluated in forms that keep relative accuracy for x << 0 (where
    ``1 + erf`` and ``1 + tanh`` cancel).

    Beyond torch: ``gelu(inf) = inf`` and ``gelu(-inf) = -0.0`` in both forms
    (torch 2.13 returns NaN at -inf).

    Raises
    ------
    ValueError
        If `approximate` is not ``'none'`` or ``'tanh'``.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.gelu(np.array([-np.inf, 0.0, np.inf]))
    array([-0.,  0., inf])
    """
    return _elementwise(_gelu_kernels(approximate)[0], x, out)


def softplus(x, beta=1.0, threshold=20.0, out=None):
    """Softplus, ``log(1 + exp(beta * x)) / beta``; mirrors ``torch.nn.functional.softplus``.

    Returns ``x`` itself where ``beta * x > threshold`` (as torch does); the
    rest is evaluated as ``(max(z, 0) + log1p(exp(-|z|))) / beta``, ``z = beta * x``,
    which cannot overflow whatever the threshold.

    Beyond torch: with a threshold above about 88 (float32) or 709 (float64),
    torch 2.13 returns inf where ``beta * x`` lies between that and the
    threshold; fastnl returns the finite value.

    Raises
    ------
    ValueError
        If ``beta == 0`` or either parameter is not finite.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.softplus([-30.0, 0.0, 30.0])
    array([9.35762297e-14, 6.93147181e-01, 3.00000000e+01])
    """
    return _elementwise(_k.softplus, x, out, *_softplus_args(beta, threshold))


def sigmoid(x, out=None):
    """Logistic sigmoid, ``1 / (1 + exp(-x))``; mirrors ``torch.sigmoid``.

    Evaluated through ``exp(-|x|)`` only, so it never overflows.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.sigmoid([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """
    return _elementwise(_k.sigmoid, x, out)


def tanh(x, out=None):
    """Hyperbolic tangent; mirrors ``torch.tanh``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.tanh([0.0, 1000.0])
    array([0., 1.])
    """
    return _elementwise(_k.tanh, x, out)


def softsign(x, out=None):
    """Softsign, ``x / (1 + |x|)``; mirrors ``torch.nn.functional.softsign``.

    Beyond torch: ``softsign(+-inf) = +-1`` (torch 2.13 returns NaN).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.softsign(np.array([-np.inf, 1.0, np.inf]))
    array([-1. ,  0.5,  1. ])
    """
    return _elementwise(_k.softsign, x, out)


def hardtanh(x, min_val=-1.0, max_val=1.0, out=None):
    """Clamp to ``[min_val, max_val]``; mirrors ``torch.nn.functional.hardtanh``.

    Raises
    ------
    ValueError
        If ``min_val > max_val``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.hardtanh([-3.0, 0.5, 3.0])
    array([-1. ,  0.5,  1. ])
    """
    return _elementwise(_k.hardtanh, x, out, *_hardtanh_args(min_val, max_val))


def threshold(x, threshold, value, out=None):
    """``x if x > threshold else value``; mirrors ``torch.nn.functional.threshold``.

    NaN inputs stay NaN (they are not "at or below" the threshold).

    Examples
    --------
    >>> import fastnl
    >>> fastnl.threshold([0.5, 1.0, 2.0], threshold=1.0, value=-5.0)
    array([-5., -5.,  2.])
    """
    return _elementwise(_k.threshold, x, out, *_threshold_args(threshold, value))


def tanhshrink(x, out=None):
    """``x - tanh(x)``; mirrors ``torch.nn.functional.tanhshrink``.

    Near 0 the difference cancels: the absolute error is a few ulp of ``|x|``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.tanhshrink([0.0, 100.0])
    array([ 0., 99.])
    """
    return _elementwise(_k.tanhshrink, x, out)


def softshrink(x, lambd=0.5, out=None):
    """Soft shrinkage, ``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0;
    mirrors ``torch.nn.functional.softshrink``.

    Raises
    ------
    ValueError
        If ``lambd < 0``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.softshrink([-2.0, 0.25, 2.0])
    array([-1.5,  0. ,  1.5])
    """
    return _elementwise(_k.softshrink, x, out, *_shrink_args(lambd))


def hardshrink(x, lambd=0.5, out=None):
    """Hard shrinkage, ``0 if -lambd <= x <= lambd else x``; mirrors ``torch.nn.functional.hardshrink``.

    Raises
    ------
    ValueError
        If ``lambd < 0``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.hardshrink([-2.0, 0.25, 2.0])
    array([-2.,  0.,  2.])
    """
    return _elementwise(_k.hardshrink, x, out, *_shrink_args(lambd))


def logsigmoid(x, out=None):
    """``log(sigmoid(x))``; mirrors ``torch.nn.functional.logsigmoid``.

    Evaluated as ``min(x, 0) - log1p(exp(-|x|))``: finite for every finite x,
    where the naive ``log(1 / (1 + exp(-x)))`` gives ``-inf`` below about -745.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.logsigmoid([-800.0, 0.0])
    array([-8.00000000e+02, -6.93147181e-01])
    """
    return _elementwise(_k.logsigmoid, x, out)


def silu(x, out=None):
    """Sigmoid linear unit (swish), ``x * sigmoid(x)``; mirrors ``torch.nn.functional.silu``.

    Beyond torch: ``silu(-inf) = -0.0`` (torch 2.13 returns NaN).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.silu(np.array([-np.inf, 0.0, np.inf]))
    array([-0.,  0., inf])
    """
    return _elementwise(_k.silu, x, out)


def mish(x, out=None):
    """Mish, ``x * tanh(softplus(x))``; mirrors ``torch.nn.functional.mish``.

    Beyond torch: ``mish(-inf) = -0.0`` (torch 2.13 returns NaN).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.mish(np.array([-np.inf, 0.0, np.inf]))
    array([-0.,  0., inf])
    """
    return _elementwise(_k.mish, x, out)


def hardsigmoid(x, out=None):
    """Piecewise-linear sigmoid, ``min(max(x + 3, 0), 6) / 6``; mirrors ``torch.nn.functional.hardsigmoid``.

    Examples
    --------
    >>> import fastnl
    >>> fastnl.hardsigmoid([-4.0, 0.0, 4.0])
    array([0. , 0.5, 1. ])
    """
    return _elementwise(_k.hardsigmoid, x, out)


def hardswish(x, out=None):
    """``x * hardsigmoid(x)``; mirrors ``torch.nn.functional.hardswish``.

    Beyond torch: ``hardswish(-inf) = -0.0`` (torch 2.13 returns NaN).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.hardswish(np.array([-np.inf, 0.0, 4.0]))
    array([-0.,  0.,  4.])
    """
    return _elementwise(_k.hardswish, x, out)


# ---------------------------------------------------------------------------
# Backward passes: <name>_backward(grad_output, x, <same parameters>) is the
# gradient of sum(grad_output * <name>(x)) with respect to x, i.e. the
# vector-Jacobian product that torch's autograd computes. grad_output must have
# x's shape; the result follows the dtype policy for both, promoted. At kinks
# the sub-gradient is torch's (relu'(0) = 0, hardtanh' = 0 at its bounds);
# where torch's formula gives NaN at +-inf, the limit (gelu'(inf) = 1, ...).

def _backward_doc(name, derivative, example_x, example_out):
    return f"""Gradient of :func:`{name}`: ``grad_output * {derivative}``.

    Mirrors what torch's autograd returns for ``torch.nn.functional.{name}``.

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to the output, of the input's shape.
    x : array_like
        The input of the forward call.
    out : ndarray, optional
        Where to write the result (may be `grad_output` or `x`).

    Examples
    --------
    >>> import fastnl
    >>> fastnl.{name}_backward([1.0, 1.0, 1.0], {example_x})
    {example_out}
    """


def relu_backward(grad_output, x, out=None):
    return _elementwise(_k.relu_backward, x, out, grad_output=grad_output)


def relu6_backward(grad_output, x, out=None):
    return _elementwise(_k.hardtanh_backward, x, out, 0.0, 6.0, grad_output=grad_output)


def leaky_relu_backward(grad_output, x, negative_slope=0.01, out=None):
    return _elementwise(_k.leaky_relu_backward, x, out, *_leaky_relu_args(negative_slope),
                        grad_output=grad_output)


def elu_backward(grad_output, x, alpha=1.0, out=None):
    return _elementwise(_k.elu_backward, x, out, *_elu_args(alpha), grad_output=grad_output)


def celu_backward(grad_output, x, alpha=1.0, out=None):
    return _elementwise(_k.elu_backward, x, out, *_celu_args(alpha), grad_output=grad_output)


def selu_backward(grad_output, x, out=None):
    return _elementwise(_k.elu_backward, x, out, *_SELU_ARGS, grad_output=grad_output)


def gelu_backward(grad_output, x, approximate="none", out=None):
    return _elementwise(_gelu_kernels(approximate)[1], x, out, grad_output=grad_output)


def softplus_backward(grad_output, x, beta=1.0, threshold=20.0, out=None):
    return _elementwise(_k.softplus_backward, x, out, *_softplus_args(beta, threshold),
                        grad_output=grad_output)


def sigmoid_backward(grad_output, x, out=None):
    return _elementwise(_k.sigmoid_backward, x, out, grad_output=grad_output)


def tanh_backward(grad_output, x, out=None):
    return _elementwise(_k.tanh_backward, x, out, grad_output=grad_output)


def softsign_backward(grad_output, x, out=None):
    return _elementwise(_k.softsign_backward, x, out, grad_output=grad_output)


def hardtanh_backward(grad_output, x, min_val=-1.0, max_val=1.0, out=None):
    return _elementwise(_k.hardtanh_backward, x, out, *_hardtanh_args(min_val, max_val),
                        grad_output=grad_output)


def threshold_backward(grad_output, x, threshold, value, out=None):
    return _elementwise(_k.threshold_backward, x, out, *_threshold_args(threshold, value),
                        grad_output=grad_output)


def tanhshrink_backward(grad_output, x, out=None):
    return _elementwise(_k.tanhshrink_backward, x, out, grad_output=grad_output)


def softshrink_backward(grad_output, x, lambd=0.5, out=None):
    return _elementwise(_k.softshrink_backward, x, out, *_shrink_args(lambd),
                        grad_output=grad_output)


def hardshrink_backward(grad_output, x, lambd=0.5, out=None):
    return _elementwise(_k.hardshrink_backward, x, out, *_shrink_args(lambd),
                        grad_output=grad_output)


def logsigmoid_backward(grad_output, x, out=None):
    return _elementwise(_k.logsigmoid_backward, x, out, grad_output=grad_output)


def silu_backward(grad_output, x, out=None):
    return _elementwise(_k.silu_backward, x, out, grad_output=grad_output)


def mish_backward(grad_output, x, out=None):
    return _elementwise(_k.mish_backward, x, out, grad_output=grad_output)


def hardsigmoid_backward(grad_output, x, out=None):
    return _elementwise(_k.hardsigmoid_backward, x, out, grad_output=grad_output)


def hardswish_backward(grad_output, x, out=None):
    return _elementwise(_k.hardswish_backward, x, out, grad_output=grad_output)


# One docstring per backward function: (derivative, example input, its output).
for _name, (_derivative, _x, _out) in {
    "relu": ("(x > 0)", "[-1.0, 0.0, 2.0]", "array([0., 0., 1.])"),
    "relu6": ("(0 < x < 6)", "[-1.0, 3.0, 6.0]", "array([0., 1., 0.])"),
    "leaky_relu": ("(1 if x > 0 else negative_slope)", "[-1.0, 0.0, 2.0]",
                   "array([0.01, 0.01, 1.  ])"),
    "elu": ("(1 if x > 0 else alpha * exp(x))", "[-1000.0, 0.0, 2.0]", "array([0., 1., 1.])"),
    "celu": ("(1 if x > 0 else exp(x / alpha))", "[-1000.0, 0.0, 2.0]", "array([0., 1., 1.])"),
    "selu": ("scale * (1 if x > 0 else alpha * exp(x))", "[-1000.0, 1.0, 2.0]",
             "array([0.        , 1.05070099, 1.05070099])"),
    "gelu": ("(Phi(x) + x * phi(x))", "[-float('inf'), 0.0, float('inf')]",
             "array([0. , 0.5, 1. ])"),
    "softplus": ("(1 if beta * x > threshold else sigmoid(beta * x))", "[-1000.0, 0.0, 1000.0]",
                 "array([0. , 0.5, 1. ])"),
    "sigmoid": ("sigmoid(x) * sigmoid(-x)", "[-1000.0, 0.0, 1000.0]", "array([0.  , 0.25, 0.  ])"),
    "tanh": ("(1 - tanh(x)**2)", "[-1000.0, 0.0, 1000.0]", "array([0., 1., 0.])"),
    "softsign": ("1 / (1 + |x|)**2", "[-1.0, 0.0, 1.0]", "array([0.25, 1.  , 0.25])"),
    "hardtanh": ("(min_val < x < max_val)", "[-1.0, 0.0, 1.0]", "array([0., 1., 0.])"),
    "threshold": ("(x > threshold)", "[0.0, 1.0, 2.0], threshold=1.0, value=0.0",
                  "array([0., 0., 1.])"),
    "tanhshrink": ("tanh(x)**2", "[-1000.0, 0.0, 1000.0]", "array([1., 0., 1.])"),
    "softshrink": ("(|x| > lambd)", "[-1.0, 0.5, 2.0]", "array([1., 0., 1.])"),
    "hardshrink": ("(|x| > lambd)", "[-1.0, 0.5, 2.0]", "array([1., 0., 1.])"),
    "logsigmoid": ("sigmoid(-x)", "[-1000.0, 0.0, 1000.0]", "array([1. , 0.5, 0. ])"),
    "silu": ("(sigmoid(x) + x * sigmoid(x) * sigmoid(-x))", "[-float('inf'), 0.0, float('inf')]",
             "array([0. , 0.5, 1. ])"),
    "mish": ("(tanh(sp) + x * sigmoid(x) / cosh(sp)**2)`` with ``sp = softplus(x)",
             "[-float('inf'), 0.0, float('inf')]", "array([0. , 0.6, 1. ])"),
    "hardsigmoid": ("(1/6 if -3 < x < 3 else 0)", "[-3.0, 0.0, 3.0]",
                    "array([0.        , 0.16666667, 0.        ])"),
    "hardswish": ("(0 if x <= -3 else x / 3 + 1/2 if x < 3 else 1)", "[-4.0, 0.0, 4.0]",
                  "array([0. , 0.5, 1. ])"),
}.items():
    globals()[f"{_name}_backward"].__doc__ = _backward_doc(_name, _derivative, _x, _out)
del _name, _derivative, _x, _out


def prelu_backward(grad_output, x, weight, out=None):
    """Gradients of :func:`prelu` with respect to `x` and to `weight`.

    ``grad_x = grad_output * (1 if x > 0 else weight)`` and ``grad_weight``
    sums ``grad_output * x`` over the elements ``x <= 0`` of each channel (of
    all elements for a single weight), accumulated in float64 in a fixed order,
    so it does not depend on the thread count. Mirrors torch's autograd of
    ``torch.nn.functional.prelu``.

    Returns
    -------
    grad_x : ndarray
        Of x's shape (written into `out` if given).
    grad_weight : ndarray
        Of weight's shape, in the result dtype.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> x = np.array([[-1.0, 2.0], [-3.0, -4.0]])
    >>> grad_x, grad_w = fastnl.prelu_backward(np.ones_like(x), x, weight=[0.1, 0.5])
    >>> grad_x
    array([[0.1, 1. ],
           [0.1, 0.5]])
    >>> grad_w
    array([-4., -4.])
    """
    if lazy(grad_output, x, weight):
        from fastnl import _dask
        return _dask.prelu_backward(grad_output, x, weight, out)
    x = np.asarray(x)
    weight_shape = np.shape(weight)
    weight, inner = _prelu_weight(x, weight)
    if weight.size == 1:
        inner = 8192  # blocks of one weight, summed in a fixed order
    n_blocks = -(-x.size // inner) if inner else 0
    blocks = np.zeros(n_blocks, np.float64)
    grad_x = _elementwise(_k.prelu_backward, x, out, weight, blocks, inner,
                          grad_output=grad_output, c_order=True)
    if weight.size == 1:
        grad_weight = blocks.sum(keepdims=True)
    else:
        grad_weight = blocks.reshape(-1, weight.size).sum(axis=0)
    result = np.asarray(grad_x).dtype
    return grad_x, grad_weight.astype(result).reshape(weight_shape)


def rrelu_backward(grad_output, x, lower=1.0 / 8, upper=1.0 / 3, training=False, noise=None,
                   out=None):
    """Gradient of :func:`rrelu`.

    In training, pass the `noise` the forward call returned
    (``rrelu(..., training=True, return_noise=True)``): the gradient is
    ``grad_output * noise``. In evaluation it is that of
    ``leaky_relu(x, (lower + upper) / 2)``. Mirrors torch's autograd of
    ``torch.nn.functional.rrelu``.

    Raises
    ------
    ValueError
        If ``training`` is true and `noise` is missing or not of x's shape.

    Examples
    --------
    >>> import fastnl
    >>> x = [-1.0, 2.0]
    >>> y, noise = fastnl.rrelu(x, training=True, rng=0, return_noise=True)
    >>> bool((fastnl.rrelu_backward([1.0, 1.0], x, training=True, noise=noise) == noise).all())
    True
    """
    lower, upper = _rrelu_bounds(lower, upper)
    if not training:
        return _elementwise(_k.leaky_relu_backward, x, out, (lower + upper) / 2,
                            grad_output=grad_output)
    if noise is None:
        raise ValueError("rrelu_backward in training needs the noise of the forward call "
                         "(rrelu(..., training=True, return_noise=True))")
    if lazy(grad_output, x, noise):
        from fastnl import _dask
        return _dask.rrelu_backward(grad_output, x, lower, upper, noise, out)
    x = np.asarray(x)
    noise, _ = as_float_array(noise, "noise")
    if noise.shape != x.shape:
        raise ValueError(f"noise has shape {noise.shape} but input has shape {x.shape}")
    # The slopes drawn are per element: PReLU's kernel with one weight per
    # element, in the dtype the kernel computes grad_output and x in.
    compute = np.promote_types(resolve_dtype(np.asarray(grad_output).dtype)[0],
                               resolve_dtype(x.dtype)[0])
    slopes = np.ascontiguousarray(noise, dtype=compute).reshape(-1)
    return _elementwise(_k.prelu_backward, x, out, slopes, np.zeros(slopes.size), 1,
                        grad_output=grad_output, c_order=True)
