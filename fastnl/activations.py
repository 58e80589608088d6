"""Elementwise activations, with the names and semantics of torch.nn.functional.

Every function takes any array-like (see the dtype policy in ``_validate``),
returns a new array of the input's shape (a NumPy scalar for 0-d input, as
NumPy's ufuncs do) or writes into ``out=``, which may be the input itself.
NaN in gives NaN out. Where torch's formula gives NaN at an infinite input
(``inf / inf``, ``-inf * 0``), fastnl returns the mathematical limit; each such
function says so.

The functions, their checks and docstrings are made from the table in
``fastnl._ops``; only prelu and rrelu (a weight array, random slopes) are
written out here. An array of another library that implements NumPy's
``__array_ufunc__`` (xarray, Dask, ...) goes through the ufunc of
:mod:`fastnl.ufunc` after the same checks, so it keeps its own type.
"""

import numpy as np

from fastnl import _ops
from fastnl._dispatch import foreign, lazy
from fastnl._drivers import elementwise as _driver
from fastnl._kernels import _elementwise as _k
from fastnl._validate import choice, real, resolve_dtype

_NAMES = [a.name for a in _ops.ACTIVATIONS]
_KERNELS = {k.name: k for k in _ops.KERNELS}
__all__ = _NAMES + [f"{name}_backward" for name in _NAMES]

# ---------------------------------------------------------------------------
# The functions of the table. Backward passes: <name>_backward(grad_output, x,
# <same parameters>) is the gradient of sum(grad_output * <name>(x)) with
# respect to x, i.e. the vector-Jacobian product that torch's autograd
# computes. grad_output must have x's shape; the result follows the dtype
# policy for both, promoted. At kinks the sub-gradient is torch's (relu'(0) =
# 0, hardtanh' = 0 at its bounds); where torch's formula gives NaN at +-inf,
# the limit (gelu'(inf) = 1, ...).

def _foreign(a):
    """Whether `a` is another library's array that speaks NumPy's ufunc
    protocol (xarray, Dask, ...): it then goes through the ufunc."""
    return getattr(type(a), "__array_ufunc__", None) not in (None, np.ndarray.__array_ufunc__)


def _through_ufunc(ufunc, operands, params, out):
    if out is not None and lazy(*operands):
        raise TypeError("out= is not supported with Dask arrays: the result is a lazy Dask "
                        "array (write it with dask.array.store, or call .compute())")
    if len(operands) == 2 and np.shape(operands[0]) != np.shape(operands[1]):
        raise ValueError(f"grad_output has shape {np.shape(operands[0])} but input has shape "
                         f"{np.shape(operands[1])}; they must be the same")
    # the dtype policy: NumPy's floats to their own loops; integers and bools
    # in float64 (NumPy's casts would take bool to float16); bfloat16, which
    # has no loop, in float32 and rounded back below; anything else is
    # refused as for NumPy arrays
    operands = list(map(_with_dtype, operands))
    dtypes = [resolve_dtype(np.dtype(a.dtype)) for a in operands]
    operands = [a if a.dtype.kind == "f" else a.astype(compute)
                for a, (compute, _) in zip(operands, dtypes)]
    if out is not None:
        return ufunc(*operands, *params, out=out)
    y = ufunc(*operands, *params)
    result = np.result_type(*[r for _, r in dtypes])
    return y if y.dtype == result else y.astype(result)


def _with_dtype(a):
    return a if hasattr(a, "dtype") else np.asarray(a)


def _signature(a):
    return "".join(f", {p.name}" if p.default is None else f", {p.name}={p.default!r}"
                   for p in a.params)


def _from_output(a):
    """The kernel of the derivative from the forward's output, if row `a` has one."""
    k = _KERNELS.get(a.kernel) if isinstance(a.kernel, str) else None
    return getattr(_k, f"{a.kernel}_from_output") if k is not None and k.from_output else None


def _parameters_doc(a, backward):
    lines = ["Parameters", "----------"]
    if backward:
        lines += ["grad_output : array_like",
                  "    Gradient with respect to the output, of the input's shape."]
        if _from_output(a):
            lines += ["x : array_like, optional",
                      "    The input of the forward call; or give `output`, not both."]
        else:
            lines += ["x : array_like", "    The input of the forward call."]
    else:
        lines += ["x : array_like", "    Input."]
    for p in a.params:
        kind = ("{" + ", ".join(map(repr, p.options)) + "}") if p.options else "float"
        default = "" if p.default is None else f", default {p.default!r}"
        lines += [f"{p.name} : {kind}{default}", f"    {p.doc}".rstrip()]
    lines += ["out : ndarray, optional",
              "    Where to write the result: the input's shape and result dtype; may be "
              + ("`grad_output` or `x`." if backward else "`x`.")]
    if backward and _from_output(a):
        lines += ["output : ndarray, optional",
                  "    Keyword only: the forward's result, from which the derivative is taken "
                  "as torch's",
                  f"    autograd does (``{a.name}_backward`` in aten): no exp to recompute, but "
                  "where",
                  "    the output rounds to its limit the derivative is lost with it. NumPy "
                  "arrays only."]
    return lines


def _raises_doc(a):
    reasons = [f"``{p.domain}`` does not hold" for p in a.params if p.domain]
    reasons += [f"``{c}`` does not hold" for c, _ in a.constraints]
    reasons += [f"``{p.name}`` is not one of {', '.join(map(repr, p.options))}"
                for p in a.params if p.options]
    if any(p.options is None and p.finite for p in a.params):
        reasons.append("a parameter is not finite")
    if not reasons:
        return []
    return ["Raises", "------", "ValueError", "    If " + "; or ".join(reasons) + "."]


def _docstring(a, backward):
    torch = (None if a.torch is None else f"torch.{a.torch}" if a.torch in ("sigmoid", "tanh")
             else f"torch.nn.functional.{a.torch}")
    if backward:
        lines = [f"Gradient of :func:`{a.name}`: ``grad_output * {a.derivative}``.", "",
                 f"Mirrors what torch's autograd returns for ``{torch}``." if torch
                 else "Not in torch: fastnl's own."]
    else:
        lines = [f"{a.summary[:-1]}; mirrors ``{torch}``." if torch else a.summary]
        if a.details:
            lines += ["", a.details]
        if a.beyond_torch:
            lines += ["", "Beyond torch: " + a.beyond_torch]
    lines += [""] + _parameters_doc(a, backward)
    lines += ["", "Returns", "-------", "ndarray",
              "    Of the input's shape; a NumPy scalar for 0-d input. An array of another",
              "    library (xarray, Dask) gives its own type, through :mod:`fastnl.ufunc`."]
    raises = _raises_doc(a)
    if raises:
        lines += [""] + raises
    example = a.backward_example if backward else a.example
    if example:
        call = (f"fastnl.{a.name}_backward(np.ones(3), {example[0]})" if backward
                else f"fastnl.{a.name}({example[0]})")
        lines += ["", "Examples", "--------", ">>> import numpy as np, fastnl", f">>> {call}",
                  example[1]]
    return "\n".join(f"    {line}" if line and i else line for i, line in enumerate(lines)) + "\n"


def _checks(a):
    """Python source of the table's checks of row `a`'s parameters, one
    statement a line (the messages name the parameter and the value)."""
    lines = []
    for p in a.params:
        if p.options is not None:
            lines.append(f"choice({p.name!r}, {p.name}, {p.options!r})")
        else:
            lines.append(f"{p.name} = real({p.name!r}, {p.name}, finite={p.finite}, "
                         f"allow_nan={p.nan})")
            if p.domain:
                lines.append(f"if not ({p.domain}): raise ValueError("
                             f"f'{p.name} {p.error} for {a.name}, got {{{p.name}!r}}')")
    for condition, message in a.constraints:
        got = ", ".join(f"{p.name}={{{p.name}!r}}" for p in a.params)
        lines.append(f"if not ({condition}): raise ValueError(f'{message}, got {got}')")
    return lines


def _define(a):
    """The forward and backward functions of table row `a`: Python source
    made from the table (the checks written out, then the kernel call), so
    that a call costs no more than a hand-written function; with the table's
    signature and docstring."""
    choice_param = next((p for p in a.params if p.options is not None), None)
    namespace = {"np": np, "real": real, "choice": choice, "_foreign": _foreign,
                 "_through_ufunc": _through_ufunc, "_elementwise": _driver.run}
    choices = _ops.kernel_choices(a)  # the kernel (ufunc) of each option
    namespace["K"] = {option: getattr(_k, kernel) for option, kernel, _ in choices}
    namespace["KB"] = {option: getattr(_k, kernel + "_backward") for option, kernel, _ in choices}
    namespace["U"] = {option: _k.ufuncs[name] for option, _, name in choices}
    namespace["UB"] = {option: _k.ufuncs[name + "_backward"] for option, _, name in choices}
    pick = (f"[{choice_param.name}]" if choice_param else "[None]")
    numeric = [p.name for p in a.params if p.options is None]
    params = "".join(f"{n}, " for n in numeric)
    args = "".join(f"{e}, " for e in (a.kernel_args or numeric))
    checks = "".join(f"    {line}\n" for line in _checks(a))
    sig = _signature(a)
    namespace["KO"] = _from_output(a)
    # with a derivative from the output: x optional, output= keyword only
    x_arg, output_arg, output_branch = "x", "", ""
    if namespace["KO"] is not None:
        x_arg, output_arg = "x=None", ", *, output=None"
        output_branch = (
            f"    if (x is None) == (output is None):\n"
            f"        raise TypeError('{a.name}_backward takes exactly one of x and output=')\n"
            f"    if output is not None:\n"
            f"        if _foreign(output) or _foreign(grad_output):\n"
            f"            raise TypeError('{a.name}_backward: output= takes NumPy arrays; for '\n"
            f"                            'xarray or Dask arrays pass x')\n"
            f"        return _elementwise(KO, output, out, grad_output=grad_output)\n")
    source = (
        f"def {a.name}(x{sig}, out=None):\n{checks}"
        f"    if type(x) is not np.ndarray and _foreign(x):\n"
        f"        return _through_ufunc(U{pick}, (x,), ({params}), out)\n"
        f"    return _elementwise(K{pick}, x, out, {args})\n"
        f"def {a.name}_backward(grad_output, {x_arg}{sig}, out=None{output_arg}):\n{checks}"
        f"{output_branch}"
        f"    if (type(x) is not np.ndarray and _foreign(x)) or (\n"
        f"            type(grad_output) is not np.ndarray and _foreign(grad_output)):\n"
        f"        return _through_ufunc(UB{pick}, (grad_output, x), ({params}), out)\n"
        f"    return _elementwise(KB{pick}, x, out, {args}grad_output=grad_output)\n")
    exec(compile(source, f"<fastnl.{a.name}, from the table>", "exec"), namespace)
    forward, backward = namespace[a.name], namespace[f"{a.name}_backward"]
    for f, is_backward in ((forward, False), (backward, True)):
        f.__module__ = __name__
        f.__doc__ = _docstring(a, is_backward)
    return forward, backward


for _a in _ops.ACTIVATIONS:
    if not _a.custom:
        globals()[_a.name], globals()[f"{_a.name}_backward"] = _define(_a)
del _a


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
        return foreign("prelu")(x, weight, out)
    return _driver.prelu(x, weight, out)


def _rrelu_bounds(lower, upper):
    lower, upper = real("lower", lower), real("upper", upper)
    if lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower}, upper={upper}")
    return lower, upper


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
        return foreign("rrelu")(x, lower, upper, training, rng, out, return_noise)
    return _driver.rrelu(x, lower, upper, training, rng, out, return_noise)


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
        return foreign("prelu_backward")(grad_output, x, weight, out)
    return _driver.prelu_backward(grad_output, x, weight, out)


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
        return leaky_relu_backward(grad_output, x, (lower + upper) / 2, out=out)
    if noise is None:
        raise ValueError("rrelu_backward in training needs the noise of the forward call "
                         "(rrelu(..., training=True, return_noise=True))")
    if lazy(grad_output, x, noise):
        return foreign("rrelu_backward")(grad_output, x, lower, upper, noise, out)
    return _driver.rrelu_backward(grad_output, x, noise, out)
