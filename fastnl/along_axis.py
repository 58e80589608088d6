"""The softmax family along an axis (docs: API conventions, "axis and dim"), with the names
and semantics of torch.nn.functional.

Each function normalises along one axis of an array of any shape and layout.
The work is done on a C-ordered (outer, n, inner) view of the input: the last
axis is read row by row, any other axis lane by lane with stride ``inner``, so
no transposed copy is ever made (a Fortran-ordered input is read as the
C-ordered transpose; only other non-contiguous layouts are copied once).

``<name>_backward(grad_output, output, ...)`` computes the gradient from the
forward's output (as torch does) with the same walk: one float64 sum per row
or lane, then one write pass.
"""

from fastnl._dispatch import foreign, lazy
from fastnl._drivers import along_axis as _driver
from fastnl._validate import axis_from, real

__all__ = ["softmax", "log_softmax", "softmin",
           "softmax_backward", "log_softmax_backward", "softmin_backward"]


class _DefaultAxis(int):
    """-1, but distinguishable from an explicit axis=-1, so that passing both
    axis and its alias dim can be refused."""

    def __repr__(self):
        return "-1"


_LAST = _DefaultAxis(-1)


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
