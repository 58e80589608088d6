"""The softmax family along an axis (SPEC.md, "Along an axis"), with the names
and semantics of torch.nn.functional.

Each function normalises along one axis of an array of any shape and layout.
The work is done on a C-ordered (outer, n, inner) view of the input: the last
axis is read row by row, any other axis lane by lane with stride ``inner``, so
no transposed copy is ever made (a Fortran-ordered input is read as the
C-ordered transpose; only other non-contiguous layouts are copied once).
"""

import math

import numpy as np

from fastnl._config import get_num_threads
from fastnl._kernels import _rowwise as _k
from fastnl._validate import as_float_array, axis_from, check_out, normalize_axis, real

__all__ = ["softmax", "log_softmax", "softmin"]


class _DefaultAxis(int):
    """-1, but distinguishable from an explicit axis=-1, so that passing both
    axis and its alias dim can be refused."""

    def __repr__(self):
        return "-1"


_LAST = _DefaultAxis(-1)


def _along_axis(x, axis, dim, temperature, dtype, out, softmin, log_out):
    axis = axis_from(None if axis is _LAST else axis, dim)
    temperature = real("temperature", temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    source = x
    x = np.asarray(x)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        x = x.astype(dtype, copy=False)  # cast first, as torch does
    x, result = as_float_array(x)
    axis = normalize_axis(axis, x.ndim)
    if out is not None:
        check_out(out, x.shape, result)
    shape = x.shape
    work = x.reshape(1) if x.ndim == 0 else x
    if work.flags.c_contiguous:
        order = "C"
    elif work.flags.f_contiguous:
        order = "F"  # its transpose is C-ordered: reverse the axes
    else:
        work, order = np.ascontiguousarray(work), "C"
    view = work if order == "C" else work.T
    ax = axis if order == "C" else work.ndim - 1 - axis
    outer = math.prod(view.shape[:ax])
    n = view.shape[ax]
    inner = math.prod(view.shape[ax + 1:])

    direct = (out is not None and out.ndim > 0 and out.dtype == x.dtype
              and (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous)
              and (out is source or not np.may_share_memory(out, x)))
    target = out if direct else np.empty(work.shape, x.dtype, order=order)
    target_view = target if order == "C" else target.T
    _k.softmax(view.reshape(-1), target_view.reshape(-1), outer, n, inner,
               -temperature if softmin else temperature, log_out, get_num_threads())
    if direct:
        return out
    target = target.reshape(shape)
    if out is not None:
        np.copyto(out, target, casting="same_kind")
        return out
    if target.dtype != result:
        target = target.astype(result)
    return target if target.ndim else target[()]


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
        Cast the input to this floating dtype first, as torch's ``dtype=``.
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
    ValueError
        If ``temperature <= 0`` or `axis` is out of bounds.
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

    Same parameters as :func:`softmax`. The result is finite wherever the
    true value is: ``log(softmax(x))`` underflows to ``-inf`` long before.

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

    Same parameters as :func:`softmax`; the smallest entries get the largest weights.

    Examples
    --------
    >>> import numpy as np, fastnl
    >>> fastnl.softmin(np.array([np.log(3.0), 0.0]))
    array([0.25, 0.75])
    """
    return _along_axis(x, axis, dim, temperature, dtype, out, True, False)
