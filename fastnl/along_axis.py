"""The softmax family along an axis (docs: API conventions, "axis and dim"), with the names
and semantics of torch.nn.functional; and its relatives: logsumexp, glu,
gumbel_softmax and one_hot.

Each function normalises along one axis of an array of any shape and layout.
The work is done on a C-ordered (outer, n, inner) view of the input: the last
axis is read row by row, any other axis lane by lane with stride ``inner``, so
no transposed copy is ever made (a Fortran-ordered input is read as the
C-ordered transpose; only other non-contiguous layouts are copied once).

``<name>_backward(grad_output, output, ...)`` computes the gradient from the
forward's output (as torch does) with the same walk: one float64 sum per row
or lane, then one write pass.
"""

import operator

import numpy as np

from fastnl._dispatch import foreign, lazy
from fastnl._drivers import along_axis as _driver
from fastnl._validate import axis_from, keepdims_from, real, rng_from

__all__ = ["softmax", "log_softmax", "softmin",
           "softmax_backward", "log_softmax_backward", "softmin_backward",
           "logsumexp", "logsumexp_backward", "glu", "glu_backward",
           "gumbel_softmax", "gumbel_softmax_backward", "one_hot"]


class _DefaultAxis(int):
    """-1, but distinguishable from an explicit axis=-1, so that passing both
    axis and its alias dim can be refused."""

    def __repr__(self):
        return "-1"


_LAST = _DefaultAxis(-1)


class _DefaultFalse:
    """False, but distinguishable from an explicit keepdim=False, so that
    passing both keepdim and its alias keepdims can be refused."""

    def __bool__(self):
        return False

    def __repr__(self):
        return "False"


_NO = _DefaultFalse()


def _check_temperature(temperature):
    temperature = real("temperature", temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return temperature


def _along_axis(x, axis, dim, temperature, dtype, out, softmin, log_out):
    axis = axis_from(None if axis is _LAST else axis, dim)
    temperature = _check_temperature(temperature)
    if lazy(x):
        return foreign("along_axis")(x, axis, temperature, dtype, out, softmin, log_out)
    return _driver.softmax(x, axis, temperature, dtype, out, softmin, log_out)


def _along_axis_backward(grad_output, output, axis, dim, temperature, out, softmin, log_out):
    axis = axis_from(None if axis is _LAST else axis, dim)
    temperature = _check_temperature(temperature)
    if lazy(grad_output, output):
        return foreign("along_axis_backward")(grad_output, output, axis, temperature, out,
                                              softmin, log_out)
    return _driver.softmax_backward(grad_output, output, axis, temperature, out, softmin,
                                    log_out)


def softmax(x, axis=_LAST, temperature=1.0, dtype=None, out=None, *, dim=None):
    r"""Softmax along an axis; mirrors ``torch.nn.functional.softmax``.

    .. math:: \mathrm{softmax}(x)_i = \frac{\exp(x_i / T)}{\sum_j \exp(x_j / T)}

    Parameters
    ----------
    x : array_like
        Logits, any shape.
    axis : int, default -1
        The axis to normalise along. ``dim=`` is accepted as an alias (not both).
    temperature : float, default 1.0
        ``T > 0``, divides the logits: large T flattens, small T sharpens.
    dtype : dtype, optional
        Cast the input to this floating dtype first (bfloat16 too), as torch's
        ``dtype=``.
    out : ndarray, optional
        Where to write the result: the input's shape and result dtype; may be `x`.

    Returns
    -------
    ndarray
        Non-negative values summing to 1 along `axis`. Computed as
        ``exp((x - max) / T) / sum(...)``, so any finite input is safe (no
        overflow at 1e30). A row containing NaN is NaN; a row whose largest
        logit is +inf gets the limit (the +inf entries share the mass), where
        torch returns NaN.

    Raises
    ------
    numpy.exceptions.AxisError
        If `axis` is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If ``temperature <= 0``.
    TypeError
        If both `axis` and `dim` are given, or `dtype` is not a floating dtype.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    >>> fastnl.softmax(np.array([1e30, 0.0]))   # exp(1e30) would overflow
    array([1., 0.])
    >>> fastnl.softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]]), dim=0)
    array([[0.5 , 0.25],
           [0.5 , 0.75]])
    """
    return _along_axis(x, axis, dim, temperature, dtype, out, False, False)


def log_softmax(x, axis=_LAST, temperature=1.0, dtype=None, out=None, *, dim=None):
    r"""Logarithm of the softmax along an axis; mirrors ``torch.nn.functional.log_softmax``.

    .. math:: \mathrm{log\_softmax}(x)_i = \frac{x_i - m}{T} - \log \sum_j \exp\frac{x_j - m}{T},
              \quad m = \max_j x_j

    The result is finite wherever the true value is: ``log(softmax(x))``
    underflows to ``-inf`` long before.

    Parameters
    ----------
    x : array_like
        Logits, any shape.
    axis : int, default -1
        The axis to normalise along. ``dim=`` is accepted as an alias (not both).
    temperature : float, default 1.0
        ``T > 0``, divides the logits.
    dtype : dtype, optional
        Cast the input to this floating dtype first (bfloat16 too), as torch's
        ``dtype=``.
    out : ndarray, optional
        Where to write the result: the input's shape and result dtype; may be `x`.

    Returns
    -------
    ndarray
        The log-probabilities along `axis`: ``log_softmax(x) <= 0``, with
        the limits of :func:`softmax` for infinite logits.

    Raises
    ------
    numpy.exceptions.AxisError
        If `axis` is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If ``temperature <= 0``.
    TypeError
        If both `axis` and `dim` are given, or `dtype` is not a floating dtype.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> x = np.array([0.0, -200.0], dtype=np.float32)
    >>> fastnl.softmax(x)          # exp(-200) underflows float32: its log would be -inf
    array([1., 0.], dtype=float32)
    >>> fastnl.log_softmax(x)
    array([   0., -200.], dtype=float32)
    """
    return _along_axis(x, axis, dim, temperature, dtype, out, False, True)


def softmin(x, axis=_LAST, temperature=1.0, dtype=None, out=None, *, dim=None):
    r"""Softmin along an axis, ``softmax(-x / T)``; mirrors ``torch.nn.functional.softmin``.

    The smallest entries get the largest weights.

    Parameters
    ----------
    x : array_like
        Logits, any shape.
    axis : int, default -1
        The axis to normalise along. ``dim=`` is accepted as an alias (not both).
    temperature : float, default 1.0
        ``T > 0``, divides the logits before the sign is flipped.
    dtype : dtype, optional
        Cast the input to this floating dtype first (bfloat16 too), as torch's
        ``dtype=``.
    out : ndarray, optional
        Where to write the result: the input's shape and result dtype; may be `x`.

    Returns
    -------
    ndarray
        Non-negative values summing to 1 along `axis`, computed as
        :func:`softmax` of ``-x / T``.

    Raises
    ------
    numpy.exceptions.AxisError
        If `axis` is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If ``temperature <= 0``.
    TypeError
        If both `axis` and `dim` are given, or `dtype` is not a floating dtype.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.softmin(np.array([np.log(3.0), 0.0]))
    array([0.25, 0.75])
    """
    return _along_axis(x, axis, dim, temperature, dtype, out, True, False)


def softmax_backward(grad_output, output, axis=_LAST, temperature=1.0, out=None, *, dim=None):
    r"""Gradient of :func:`softmax` with respect to its input, from its output;
    as torch's ``_softmax_backward_data``.

    .. math:: \frac{\partial L}{\partial x_i} = \frac{y_i \, (g_i - \sum_j g_j y_j)}{T}

    Parameters
    ----------
    grad_output : array_like
        :math:`g = \partial L / \partial y`, of the output's shape.
    output : array_like
        :math:`y`, what :func:`softmax` returned for the same `axis` and `temperature`.
    axis : int, default -1
        As given to :func:`softmax`; ``dim=`` is accepted as an alias (not both).
    temperature : float, default 1.0
        As given to :func:`softmax`.
    out : ndarray, optional
        Where to write the result (may be `grad_output` or `output`).

    Returns
    -------
    ndarray
        Of the output's shape, in the promoted dtype of `grad_output` and
        `output`. The sum is accumulated in float64, one row at a time.

    Raises
    ------
    numpy.exceptions.AxisError
        If `axis` is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If `grad_output` and `output` differ in shape, or ``temperature <= 0``.
    TypeError
        If both `axis` and `dim` are given.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> y = fastnl.softmax(np.array([0.0, np.log(3.0)]))          # [0.25, 0.75]
    >>> fastnl.softmax_backward(np.array([1.0, 0.0]), y)          # d y_0 / d x
    array([ 0.1875, -0.1875])
    """
    return _along_axis_backward(grad_output, output, axis, dim, temperature, out, False, False)


def log_softmax_backward(grad_output, output, axis=_LAST, temperature=1.0, out=None, *,
                         dim=None):
    r"""Gradient of :func:`log_softmax` with respect to its input, from its output.

    .. math:: \frac{\partial L}{\partial x_i} = \frac{g_i - e^{y_i} \sum_j g_j}{T}

    Parameters
    ----------
    grad_output : array_like
        :math:`g = \partial L / \partial y`, of the output's shape.
    output : array_like
        :math:`y`, the log-probabilities :func:`log_softmax` returned for the same
        `axis` and `temperature`.
    axis : int, default -1
        As given to :func:`log_softmax`; ``dim=`` is accepted as an alias (not both).
    temperature : float, default 1.0
        As given to :func:`log_softmax`.
    out : ndarray, optional
        Where to write the result (may be `grad_output` or `output`).

    Returns
    -------
    ndarray
        Of the output's shape, in the promoted dtype of `grad_output` and
        `output`. The sum is accumulated in float64, one row at a time.

    Raises
    ------
    numpy.exceptions.AxisError
        If `axis` is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If `grad_output` and `output` differ in shape, or ``temperature <= 0``.
    TypeError
        If both `axis` and `dim` are given.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> y = fastnl.log_softmax(np.array([0.0, np.log(3.0)]))
    >>> fastnl.log_softmax_backward(np.array([1.0, 0.0]), y)      # d log p_0 / d x = e_0 - p
    array([ 0.75, -0.75])
    """
    return _along_axis_backward(grad_output, output, axis, dim, temperature, out, False, True)


def softmin_backward(grad_output, output, axis=_LAST, temperature=1.0, out=None, *, dim=None):
    r"""Gradient of :func:`softmin` with respect to its input, from its output.

    softmin is the softmax of :math:`-x / T`, so the sign is the opposite of
    :func:`softmax_backward`'s: :math:`-y_i (g_i - \sum_j g_j y_j) / T`.

    Parameters
    ----------
    grad_output : array_like
        :math:`g = \partial L / \partial y`, of the output's shape.
    output : array_like
        :math:`y`, what :func:`softmin` returned for the same `axis` and `temperature`.
    axis : int, default -1
        As given to :func:`softmin`; ``dim=`` is accepted as an alias (not both).
    temperature : float, default 1.0
        As given to :func:`softmin`.
    out : ndarray, optional
        Where to write the result (may be `grad_output` or `output`).

    Returns
    -------
    ndarray
        Of the output's shape, in the promoted dtype of `grad_output` and
        `output`. The sum is accumulated in float64, one row at a time.

    Raises
    ------
    numpy.exceptions.AxisError
        If `axis` is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If `grad_output` and `output` differ in shape, or ``temperature <= 0``.
    TypeError
        If both `axis` and `dim` are given.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> y = fastnl.softmin(np.array([np.log(3.0), 0.0]))          # [0.25, 0.75]
    >>> fastnl.softmin_backward(np.array([1.0, 0.0]), y)
    array([-0.1875,  0.1875])
    """
    return _along_axis_backward(grad_output, output, axis, dim, temperature, out, True, False)


# ---------------------------------------------------------------- logsumexp

def _lse_axes(axis, dim, keepdim, keepdims):
    axes = axis_from(axis, dim, None, several=True)
    if axes is None:
        raise TypeError("logsumexp() missing required argument 'dim' (or its alias 'axis')")
    return axes, keepdims_from(keepdims, None if keepdim is _NO else keepdim)


def logsumexp(input, dim=None, keepdim=_NO, *, axis=None, keepdims=None):
    r"""``log(sum(exp(input)))`` along `dim`, without overflow; mirrors ``torch.logsumexp``.

    .. math:: \mathrm{logsumexp}(x) = m + \log \sum_j \exp(x_j - m), \quad m = \max_j x_j

    Parameters
    ----------
    input : array_like
        Any shape.
    dim : int or tuple of ints
        The axis (or axes) to reduce; required. NumPy's ``axis=`` is
        accepted as an alias (not both).
    keepdim : bool, default False
        Keep the reduced axes with length 1. NumPy's ``keepdims=`` is
        accepted as an alias (not both).

    Returns
    -------
    ndarray or scalar
        In the input's float dtype (integers: float64). Computed by the
        softmax kernel's passes: the max, then the float64 sum of
        ``exp(x - max)``, rounded once, so any finite input is safe (1e30 or
        -1e30 alike). The limits where a lane holds infinities, as torch: a
        lane holding +inf gives +inf, a lane of -inf (or an empty axis)
        -inf; a lane holding NaN gives NaN.

    Raises
    ------
    numpy.exceptions.AxisError
        If an axis is out of bounds (a ValueError, as NumPy raises).
    ValueError
        If `dim` is an empty tuple or names an axis twice.
    TypeError
        If `dim` (or `axis`) is missing, or an argument and its alias are both given.

    See Also
    --------
    logsumexp_backward : its gradient, ``grad_output * softmax(input)``.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.logsumexp(np.array([0.0, np.log(3.0)]), 0)       # log(1 + 3)
    np.float64(1.3862943611198906)
    >>> fastnl.logsumexp(np.array([[1000.0, 1000.0], [-1000.0, -np.inf]]), dim=1)
    array([ 1000.69314718, -1000.        ])
    >>> fastnl.logsumexp(np.zeros((2, 3, 4)), (1, 2), keepdim=True).shape
    (2, 1, 1)
    """
    axes, keep = _lse_axes(axis, dim, keepdim, keepdims)
    if lazy(input):
        return foreign("logsumexp")(input, axes, keep)
    return _driver.logsumexp(input, axes, keep)


def logsumexp_backward(input, dim=None, keepdim=_NO, grad_output=1.0, *, axis=None,
                       keepdims=None, out=None):
    r"""Gradient of :func:`logsumexp` with respect to its input.

    .. math:: \frac{\partial L}{\partial x_i} = g \, \mathrm{softmax}(x)_i

    with the softmax over the reduced axes and `g` broadcast along them.

    Parameters
    ----------
    input, dim, keepdim
        As given to :func:`logsumexp` (with the same aliases).
    grad_output : array_like, default 1.0
        :math:`g = \partial L / \partial\, \mathrm{logsumexp}`: a scalar, or
        an array of the result's shape.
    out : ndarray, optional
        Where to write the result: the input's shape and the result dtype.

    Returns
    -------
    ndarray
        Of the input's shape and float dtype (`grad_output` is cast to it,
        as the losses' backward passes take theirs). Beyond torch: the softmax's limit where a lane holds
        +inf (its +inf entries share `g`), where torch gives NaN; a lane of
        -inf gives NaN, as torch.

    Raises
    ------
    ValueError
        If `grad_output` is not a scalar and not of the result's shape; else
        as :func:`logsumexp`.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.logsumexp_backward(np.array([0.0, np.log(3.0)]), 0)
    array([0.25, 0.75])
    >>> fastnl.logsumexp_backward(np.array([[0.0, 0.0], [np.inf, 1.0]]), 1,
    ...                           grad_output=np.array([2.0, 1.0]))
    array([[1., 1.],
           [1., 0.]])
    """
    axes, keep = _lse_axes(axis, dim, keepdim, keepdims)
    if lazy(input, grad_output):
        return foreign("logsumexp_backward")(input, axes, keep, grad_output, out)
    return _driver.logsumexp_backward(input, axes, keep, grad_output, out)


# ---------------------------------------------------------------- glu

def glu(input, dim=_LAST, *, axis=None):
    r"""Gated linear unit; mirrors ``torch.nn.functional.glu``.

    .. math:: \mathrm{glu}(x) = a \otimes \sigma(b)

    where `a` is the first half of the input along `dim` and `b` the second.

    Parameters
    ----------
    input : array_like
        Any shape with at least one dimension; even along `dim`.
    dim : int, default -1
        The axis split in halves. NumPy's ``axis=`` is accepted as an alias (not both).

    Returns
    -------
    ndarray
        The input's shape with `dim` halved, in its float dtype. One fused
        pass in a compiled kernel, any layout read in place.

    Raises
    ------
    ValueError
        If the input is 0-d or odd along `dim` (as torch refuses it).
    numpy.exceptions.AxisError
        If `dim` is out of bounds (a ValueError, as NumPy raises).

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.glu(np.array([1.0, -2.0, 0.0, np.inf]))   # [1, -2] * sigmoid([0, inf])
    array([ 0.5, -2. ])
    >>> fastnl.glu(np.ones((4, 6)), dim=0).shape
    (2, 6)
    """
    axis = axis_from(axis, None if dim is _LAST else dim)
    if lazy(input):
        return foreign("glu")(input, axis)
    return _driver.glu(input, axis)


def glu_backward(input, dim=_LAST, grad_output=1.0, *, axis=None, out=None):
    r"""Gradient of :func:`glu` with respect to its input.

    .. math:: \frac{\partial L}{\partial a} = g\, \sigma(b), \qquad
              \frac{\partial L}{\partial b} = g\, a\, \sigma(b)\, \sigma(-b)

    side by side along `dim`, as the input's halves.

    Parameters
    ----------
    input, dim
        As given to :func:`glu` (``axis=`` too).
    grad_output : array_like, default 1.0
        :math:`g`: a scalar, or an array of the output's shape.
    out : ndarray, optional
        Where to write the result: the input's shape and the result dtype.

    Returns
    -------
    ndarray
        Of the input's shape and float dtype (`grad_output` is cast to it).
        :math:`\sigma(b)\sigma(-b)` rather than
        :math:`\sigma(b)(1 - \sigma(b))`: no cancellation for large `b`.

    Raises
    ------
    ValueError
        As :func:`glu`, or if `grad_output` is not a scalar and not of the
        output's shape.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.glu_backward(np.array([2.0, 0.0]))      # [sigmoid(0), 2 sigmoid'(0)]
    array([0.5, 0.5])
    """
    axis = axis_from(axis, None if dim is _LAST else dim)
    if lazy(input, grad_output):
        return foreign("glu_backward")(input, axis, grad_output, out)
    return _driver.glu_backward(input, axis, grad_output, out)


# ---------------------------------------------------------------- gumbel_softmax

def _check_tau(tau):
    tau = real("tau", tau)
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    return tau


def gumbel_softmax(logits, tau=1.0, hard=False, dim=_LAST, rng=None, *, axis=None,
                   return_soft=False, out=None):
    r"""A sample of the Gumbel-softmax (concrete) distribution; mirrors
    ``torch.nn.functional.gumbel_softmax``.

    .. math:: y = \mathrm{softmax}\left(\frac{x + g}{\tau}\right), \quad
              g_i = -\log E_i, \ E_i \sim \mathrm{Exp}(1)

    (so each :math:`g_i` is standard Gumbel noise, as torch draws it).

    Parameters
    ----------
    logits : array_like
        Unnormalised log-probabilities, any shape.
    tau : float, default 1.0
        The temperature, > 0: small values make the sample nearly one-hot.
    hard : bool, default False
        Return the one-hot of the sample's argmax along `dim` (the first
        one), whose gradient is the soft sample's (torch's straight-through
        estimator: see :func:`gumbel_softmax_backward`).
    dim : int, default -1
        The axis of the categories; ``axis=`` is accepted as an alias (not
        both). Pass it by keyword when porting: torch's fourth positional
        argument is its unused ``eps``.
    rng : None, int or numpy.random.Generator
        The source of the noise (torch uses its global generator): the same
        seed gives the same sample.
    return_soft : bool, default False
        Also return the soft sample, which :func:`gumbel_softmax_backward` takes.
    out : ndarray, optional
        Where to write the sample: the logits' shape and result dtype; may be `logits`.

    Returns
    -------
    ndarray, or (ndarray, ndarray) with `return_soft`
        The sample of the logits' shape and float dtype; then the soft sample.
        The noise is drawn in the compute dtype (float32 for float16 and
        bfloat16), the softmax is :func:`fastnl.softmax` with
        ``temperature=tau``. torch returns ``y_hard - y_soft + y_soft`` for
        `hard`, which can differ from 0 and 1 by an ulp; fastnl returns the
        one-hot exactly.

    Raises
    ------
    ValueError
        If ``tau <= 0``.
    TypeError
        If `rng` is not None, an int or a Generator, or `dim` and `axis` are both given.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> logits = np.log(np.array([[0.1, 0.6, 0.3]]))
    >>> y = fastnl.gumbel_softmax(logits, tau=0.5, rng=0)
    >>> y.shape, bool(np.isclose(y.sum(), 1.0))
    ((1, 3), True)
    >>> hard, soft = fastnl.gumbel_softmax(logits, hard=True, rng=0, return_soft=True)
    >>> bool(hard.argmax() == soft.argmax()), hard.sum()
    (True, np.float64(1.0))
    """
    tau, axis = _check_tau(tau), axis_from(axis, None if dim is _LAST else dim)
    hard, rng = bool(hard), rng_from(rng)
    if lazy(logits):
        y, soft = foreign("gumbel_softmax")(logits, tau, hard, axis, rng, out)
    else:
        y, soft = _driver.gumbel_softmax(logits, tau, hard, axis, rng, out)
    if not return_soft:
        return y
    return y, (soft.copy() if soft is y else soft)  # two arrays, even where equal


def gumbel_softmax_backward(logits, tau=1.0, hard=False, dim=_LAST, rng=None, grad_output=1.0,
                            *, axis=None, sample=None, out=None):
    r"""Gradient of :func:`gumbel_softmax` with respect to the logits.

    The gradient of the soft sample :math:`y`, for ``hard=True`` too (the
    straight-through estimator, as torch's ``y_hard - y_soft.detach() + y_soft``):

    .. math:: \frac{\partial L}{\partial x_i} = \frac{y_i (g_i - \sum_j g_j y_j)}{\tau}

    It needs the soft sample the forward drew: pass it as `sample` (what
    ``gumbel_softmax(..., return_soft=True)`` returns second; for
    ``hard=False`` the sample itself), or pass the forward's arguments with
    the same integer seed as `rng`, and the sample is drawn again.

    Parameters
    ----------
    logits, tau, hard, dim, rng
        As given to :func:`gumbel_softmax` (`hard` does not change the
        gradient; `rng` is used only without `sample` and must then be an
        int seed).
    grad_output : array_like, default 1.0
        :math:`g = \partial L / \partial y`: a scalar, or an array of the logits' shape.
    sample : array_like, optional
        The soft sample of the forward call.
    out : ndarray, optional
        Where to write the result: the logits' shape and the result dtype.

    Returns
    -------
    ndarray
        Of the logits' shape, in the sample's float dtype (`grad_output` is
        cast to it); computed as :func:`fastnl.softmax_backward`.

    Raises
    ------
    ValueError
        If `sample` is missing and `rng` is not an int seed (another draw
        would be another sample), if `sample` and `logits` differ in shape,
        or if ``tau <= 0``.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> logits = np.array([[1.0, 2.0, 0.5]])
    >>> y, soft = fastnl.gumbel_softmax(logits, hard=True, rng=7, return_soft=True)
    >>> g = np.array([[1.0, 0.0, 0.0]])
    >>> grad = fastnl.gumbel_softmax_backward(logits, hard=True, grad_output=g, sample=soft)
    >>> bool(np.allclose(grad, fastnl.softmax_backward(g, soft)))
    True
    >>> bool(np.array_equal(grad, fastnl.gumbel_softmax_backward(logits, hard=True, rng=7,
    ...                                                           grad_output=g)))
    True
    """
    tau, axis = _check_tau(tau), axis_from(axis, None if dim is _LAST else dim)
    if sample is None:
        if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
            raise ValueError(
                "gumbel_softmax_backward needs the forward's soft sample: pass sample= (what "
                "gumbel_softmax(..., return_soft=True) returns second), or the int seed the "
                f"forward was given as rng (got rng={rng!r}, which would draw another sample)")
        _, sample = gumbel_softmax(logits, tau, hard, axis=axis, rng=rng, return_soft=True)
    elif logits is not None and np.shape(logits) != np.shape(sample):
        raise ValueError(f"sample has shape {np.shape(sample)} but logits have shape "
                         f"{np.shape(logits)}; they must be the same")
    if lazy(sample, grad_output):
        return foreign("gumbel_softmax_backward")(sample, tau, axis, grad_output, out)
    return _driver.gumbel_softmax_backward(sample, tau, axis, grad_output, out)


# ---------------------------------------------------------------- one_hot

def one_hot(tensor, num_classes=-1):
    r"""One-hot encoding of class indices; mirrors ``torch.nn.functional.one_hot``.

    Parameters
    ----------
    tensor : array_like of int
        Class indices, any shape, each in ``[0, num_classes)``.
    num_classes : int, default -1
        The number of classes; -1 takes the largest index + 1.

    Returns
    -------
    ndarray of int64
        Of shape ``tensor.shape + (num_classes,)``: 1 at each index, 0 elsewhere.

    Raises
    ------
    TypeError
        If `tensor` is not of an integer dtype (torch takes only int64; any
        integer dtype is accepted here), or `num_classes` is not an integer.
    IndexError
        If an index is negative or not below `num_classes`, naming it.
    ValueError
        If ``num_classes == -1`` and `tensor` is empty, or ``num_classes < -1``.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.one_hot(np.array([0, 2, 1]))
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 1, 0]])
    >>> fastnl.one_hot(np.array(1), num_classes=4)
    array([0, 1, 0, 0])
    """
    try:
        num_classes = operator.index(num_classes)
    except TypeError:
        raise TypeError(f"num_classes must be an integer, got {num_classes!r}") from None
    if num_classes < -1:
        raise ValueError(f"num_classes must be -1 or >= 0, got {num_classes}")
    if lazy(tensor):
        return foreign("one_hot")(tensor, num_classes)
    return _driver.one_hot(tensor, num_classes)
