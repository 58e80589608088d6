"""Elementwise activations, with the names and semantics of torch.nn.functional.

Every function takes any array-like (see the dtype policy in ``_validate``),
returns a new array of the input's shape (a NumPy scalar for 0-d input, as
NumPy's ufuncs do) or writes into ``out=``, which may be the input itself.
NaN in gives NaN out. Where torch's formula gives NaN at an infinite input
(``inf / inf``, ``-inf * 0``), fastnl returns the mathematical limit; each such
function says so.
"""

import numpy as np

from fastnl._config import get_num_threads
from fastnl._kernels import _elementwise as _k
from fastnl._validate import as_float_array, check_out, choice, real, resolve_dtype, rng_from

__all__ = [
    "relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "gelu",
    "softplus", "sigmoid", "tanh", "softsign", "hardtanh", "threshold", "tanhshrink",
    "softshrink", "hardshrink", "logsigmoid", "silu", "mish", "hardsigmoid", "hardswish",
]

# SELU's constants (Klambauer et al., 2017), as torch.nn.functional.selu uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elementwise(kernel, x, out, *args, c_order=False):
    """Run `kernel(x_flat, out_flat, *args, n_threads)` over `x` of any layout.

    C- and Fortran-contiguous inputs are read in place, other layouts through
    one contiguous copy (`c_order` forces C order, for kernels that need the
    logical element order). `out` is written directly when its layout and
    dtype match, and through a temporary otherwise (including when it overlaps
    the input without being the input itself).
    """
    source = x
    x, result = as_float_array(x)
    if out is not None:
        check_out(out, x.shape, result)
    if x.flags.c_contiguous:
        order = "C"
    elif x.flags.f_contiguous and not c_order:
        order = "F"
    else:
        x, order = np.ascontiguousarray(x), "C"
    direct = (out is not None and out.dtype == x.dtype
              and (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous)
              and (out is source or not np.may_share_memory(out, x)))
    target = out if direct else np.empty(x.shape, x.dtype, order=order)
    kernel(x.ravel(order), target.ravel(order), *args, get_num_threads())
    if direct:
        return out
    if out is not None:
        np.copyto(out, target, casting="same_kind")
        return out
    if target.dtype != result:
        target = target.astype(result)
    return target if target.ndim else target[()]


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
    return _elementwise(_k.leaky_relu, x, out, real("negative_slope", negative_slope))


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
    shape = np.shape(x)
    compute, _ = resolve_dtype(np.asarray(x).dtype)
    weight, _ = as_float_array(weight, "weight")
    if weight.ndim > 1:
        raise ValueError(f"weight must be 1-d, got shape {weight.shape}")
    weight = np.ascontiguousarray(weight.reshape(-1), dtype=compute)
    channels = shape[1] if len(shape) >= 2 else (shape[0] if len(shape) == 1 else 1)
    if weight.size not in (1, channels):
        raise ValueError(f"weight has {weight.size} elements; expected 1 or the number of "
                         f"channels, {channels}, of input of shape {shape}")
    if weight.size == 1:
        return _elementwise(_k.leaky_relu, x, out, float(weight[0]))
    inner = int(np.prod(shape[2:], dtype=np.int64))
    return _elementwise(_k.prelu, x, out, weight, inner, c_order=True)


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
    lower, upper = real("lower", lower), real("upper", upper)
    if lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower}, upper={upper}")
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
    alpha = real("alpha", alpha)
    return _elementwise(_k.elu, x, out, alpha, 1.0, 1.0)


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
    alpha = real("alpha", alpha)
    if alpha == 0:
        raise ValueError("alpha must be non-zero for celu")
    return _elementwise(_k.elu, x, out, alpha, 1.0, 1.0 / alpha)


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
    return _elementwise(_k.elu, x, out, SELU_ALPHA * SELU_SCALE, SELU_SCALE, 1.0)


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
    approximate = choice("approximate", approximate, ("none", "tanh"))
    return _elementwise(_k.gelu if approximate == "none" else _k.gelu_tanh, x, out)


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
    beta, threshold = real("beta", beta), real("threshold", threshold)
    if beta == 0:
        raise ValueError("beta must be non-zero for softplus")
    return _elementwise(_k.softplus, x, out, beta, threshold)


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
    min_val = real("min_val", min_val, finite=False)
    max_val = real("max_val", max_val, finite=False)
    if min_val > max_val:
        raise ValueError(f"min_val must be <= max_val, got min_val={min_val}, max_val={max_val}")
    return _elementwise(_k.hardtanh, x, out, min_val, max_val)


def threshold(x, threshold, value, out=None):
    """``x if x > threshold else value``; mirrors ``torch.nn.functional.threshold``.

    NaN inputs stay NaN (they are not "at or below" the threshold).

    Examples
    --------
    >>> import fastnl
    >>> fastnl.threshold([0.5, 1.0, 2.0], threshold=1.0, value=-5.0)
    array([-5., -5.,  2.])
    """
    threshold = real("threshold", threshold, finite=False)
    value = real("value", value, finite=False, allow_nan=True)
    return _elementwise(_k.threshold, x, out, threshold, value)


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


def _lambd(lambd):
    lambd = real("lambd", lambd)
    if lambd < 0:
        raise ValueError(f"lambd must be >= 0, got {lambd}")
    return lambd


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
    return _elementwise(_k.softshrink, x, out, _lambd(lambd))


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
    return _elementwise(_k.hardshrink, x, out, _lambd(lambd))


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
