"""Array coercion and argument checks shared by every public function.

The dtype policy (docs: API conventions, "Arrays and dtypes"): float32 and float64 are
computed natively; float16, and ml_dtypes' bfloat16, are computed in float32
and returned in their own dtype; bool and integers are computed and returned
in float64; anything else is a TypeError naming the dtype.
"""

import math
import operator
import os
import sys

import numpy as np

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def bfloat16():
    """ml_dtypes' bfloat16 dtype, or None while ml_dtypes is not imported (no
    bfloat16 array can exist then): fastnl never imports it itself."""
    ml_dtypes = sys.modules.get("ml_dtypes")
    return None if ml_dtypes is None else np.dtype(ml_dtypes.bfloat16)


def is_float(dtype):
    """Whether `dtype` is a floating dtype: NumPy's (kind 'f') or bfloat16,
    which NumPy knows as a user dtype of kind 'V'."""
    if dtype.kind == "f":
        return True
    bf16 = bfloat16() if dtype.kind == "V" else None
    return bf16 is not None and dtype == bf16


def resolve_dtype(dtype):
    """(compute dtype, result dtype) for an input dtype, both native byte order."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "V" and is_float(dtype):  # bfloat16, computed as float16 is
        return _F32, bfloat16()
    if kind == "f":
        if size == 4:
            return _F32, _F32
        if size == 8:
            return _F64, _F64
        if size == 2:
            return _F32, _F16
        raise TypeError(f"fastnl does not support dtype {dtype} "
                        "(extended precision); cast to float64 first")
    if kind in "biu":
        return _F64, _F64
    if kind == "O":  # what numpy.asarray makes of None, a dict, a list holding None...
        raise TypeError("fastnl does not support dtype object: expected an array of real "
                        "numbers (floating, integer or bool) or a nested list of numbers; "
                        "None, dicts and lists holding other objects become dtype object")
    raise TypeError(f"fastnl does not support dtype {dtype}: "
                    "expected a real floating, integer or bool array")


def as_float_array(x, name="input"):
    """`x` as an ndarray of its compute dtype, and the result dtype.

    Never copies a native float32/float64 array; otherwise converts (which also
    fixes a non-native byte order).
    """
    x = np.asarray(x)
    compute, result = resolve_dtype(x.dtype)
    if x.dtype != compute:
        x = x.astype(compute)
    return x, result


def check_out(out, shape, dtype):
    """Raise unless `out` is a writeable ndarray of exactly `shape` and `dtype`."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def writes_into(out, shape, dtype, order, reads):
    """Whether a kernel may write its result straight into `out` (else the
    caller gives it a new array and `deliver` copies): `out` of the kernel's
    `shape` and compute `dtype`, contiguous in the kernel's `order` ('C' or
    'F'), and sharing no memory with the arrays the kernel `reads` (as the
    kernel gets them), except by being one of them: that is in place, which
    the kernels allow (an element is read before it is written), where a
    partial overlap would read what was already written. The one rule for
    every driver, so that out= behaves alike everywhere (the activations'
    small-call path in C, _elementwise._fast, applies it to plain arrays)."""
    return (out is not None and out.shape == shape and out.dtype == dtype
            and (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous)
            and all(a is out or not np.may_share_memory(out, a) for a in reads))


def dense_axes(arrays):
    """The axis order in which each of `arrays` (ndarrays of one shape) is one
    C-contiguous block (x.T, x.transpose(0, 2, 3, 1) of C-ordered arrays),
    where they share their strides: their axes by decreasing stride; else
    None. The kernels read such arrays in memory order."""
    if all(a.flags.f_contiguous for a in arrays):  # the common case, at once
        return tuple(range(arrays[0].ndim - 1, -1, -1))
    strides = arrays[0].strides
    if any(a.strides != strides for a in arrays[1:]):
        return None
    axes = tuple(sorted(range(len(strides)), key=lambda k: -strides[k]))
    return axes if arrays[0].transpose(axes).flags.c_contiguous else None


def transposed_out(out, arrays, views, axes):
    """`out` as the kernels see arrays transposed by `axes` (`views` of
    `arrays`): the view of the input it is, so that in place stays in place;
    else out.transpose(axes) where it is an ndarray of as many axes; else
    `out` itself (None, or for the caller's checks to report)."""
    if out is None:
        return None
    for a, v in zip(arrays, views):
        if a is out:
            return v
    return out.transpose(axes) if type(out) is np.ndarray and out.ndim == len(axes) else out


def inverse_axes(axes):
    """The permutation that undoes transpose(axes)."""
    return tuple(sorted(range(len(axes)), key=axes.__getitem__))


def deliver(result_array, out, result):
    """Hand a kernel's result back to the caller: copied into `out` when given
    (its dtype, e.g. float16, takes the rounding), else cast to the `result`
    dtype, a 0-d result as a NumPy scalar (as NumPy's ufuncs return)."""
    if out is not None:
        np.copyto(out, result_array, casting="same_kind")
        return out
    if result_array.dtype != result:
        result_array = result_array.astype(result)
    return result_array if result_array.ndim else result_array[()]


def real(name, value, *, finite=True, allow_nan=False):
    """`value` as a Python float, or a TypeError/ValueError naming the parameter."""
    if type(value) is float and value - value == 0.0:
        return value  # the common case, a finite float: nothing else to check
    if isinstance(value, (str, bytes, complex)) or isinstance(value, np.complexfloating):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(value) and not allow_nan:
        raise ValueError(f"{name} must not be NaN")
    if finite and math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


_process_rng = None


def _forget_process_rng():
    global _process_rng
    _process_rng = None


# a forked child seeds a generator of its own: with its parent's state it would
# repeat the parent's draws (and its siblings'). Windows has no fork.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_process_rng)


def rng_from(rng):
    """A numpy.random.Generator from None, an int seed or a Generator.

    None gives the process's generator, seeded from fresh entropy on first
    use, as torch draws from its default generator: a fresh Generator per call
    cost 25 us of entropy and seeding, 1/3 of a small gumbel_softmax."""
    global _process_rng
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        if _process_rng is None:
            _process_rng = np.random.default_rng()
        return _process_rng
    try:
        seed = operator.index(rng)
    except TypeError:
        raise TypeError("rng must be None, an int seed or a numpy.random.Generator, "
                        f"got {type(rng).__name__}") from None
    return np.random.default_rng(seed)


# --- Softmax family and losses (issue 3) ---

def axis_from(axis, dim, default=-1, *, several=False):
    """The axis from `axis=` or its torch alias `dim=` (not both); with
    `several`, a tuple or list of them is a tuple of ints."""
    if axis is not None and dim is not None:
        raise TypeError("pass either axis or dim (its alias), not both")
    value = axis if axis is not None else dim
    if value is None:
        return default
    try:
        if several and isinstance(value, (tuple, list)):
            return tuple(operator.index(v) for v in value)
        return operator.index(value)
    except TypeError:
        kind = "an integer or a tuple of integers" if several else "an integer"
        raise TypeError(f"axis must be {kind}, got {value!r}") from None


def keepdims_from(keepdims, keepdim):
    """`keepdims=` or its torch alias `keepdim=` (not both; None: not given) as a bool."""
    if keepdims is not None and keepdim is not None:
        raise TypeError("pass either keepdims or keepdim (its alias), not both")
    value = keepdims if keepdims is not None else keepdim
    return bool(value) if value is not None else False


def normalize_axis(axis, ndim):
    """`axis` in [0, ndim), counting from the end when negative; a 0-d array has
    one admissible axis, 0 or -1 (as torch's dim for a 0-d tensor). Out of
    bounds: numpy.exceptions.AxisError (a ValueError and an IndexError), as
    NumPy raises."""
    n = max(ndim, 1)
    if not -n <= axis < n:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % n


def normalize_axes(axes, ndim):
    """An axis or a tuple of axes (at least one, none twice), each through
    `normalize_axis`, as a sorted tuple."""
    if not isinstance(axes, tuple):
        return (normalize_axis(axes, ndim),)
    if not axes:
        raise ValueError("axis (dim) must name at least one axis, got ()")
    found = [normalize_axis(a, ndim) for a in axes]
    if len(set(found)) != len(found):
        raise ValueError(f"axis (dim) {axes} names an axis more than once")
    return tuple(sorted(found))


def check_reduction(reduction, allowed=("mean", "sum", "none")):
    """`reduction` if it is one of `allowed`, else a ValueError listing them."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{reduction!r} is not a valid value for reduction: "
                         f"expected one of {', '.join(map(repr, allowed))}")
    return reduction
