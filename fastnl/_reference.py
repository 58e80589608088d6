"""Plain float64 NumPy reference of every function: the test oracle that needs no torch.

Each reference is written from the mathematical definition with NumPy's own
building blocks (``logaddexp``, ``expm1``, ``math.erfc``), not from the
kernels' formulas, and returns the mathematical limit at +-inf. Inputs are
converted to float64; results are float64. Clarity over speed: GELU calls
``math.erfc`` per element, as NumPy has no erf.

``CASES`` lists, for every public activation, the parameter settings that the
self-check (``python -m fastnl``) and the tests run.
"""

import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _limit_at_minus_inf(x, y, value=-0.0):
    """`y` with `value` where x == -inf (formulas of the form x * f(x), f -> 0)."""
    return np.where(x == -np.inf, value, y)


def relu(x):
    x = _f64(x)
    return np.where(x < 0, 0.0, x)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    x = _f64(x)
    return np.where(x < min_val, min_val, np.where(x > max_val, max_val, x))


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.01):
    x = _f64(x)
    return np.where(x > 0, x, x * negative_slope)


def prelu(x, weight):
    x, weight = _f64(x), _f64(weight).reshape(-1)
    if weight.size > 1 and x.ndim >= 2:
        weight = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x > 0, x, x * weight)


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, noise=None):
    """Evaluation mode, or training given the slopes drawn (`noise`)."""
    x = _f64(x)
    slope = (lower + upper) / 2 if noise is None else _f64(noise)
    return np.where(x > 0, x, x * slope)


def elu(x, alpha=1.0):
    x = _f64(x)
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(x))


def celu(x, alpha=1.0):
    x = _f64(x)
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(x / alpha))


def selu(x):
    with np.errstate(over="ignore"):  # scale * x beyond float64's range is inf, rightly
        return SELU_SCALE * elu(x, SELU_ALPHA)


def _erfc_f64(z):
    return np.asarray(_erfc(z), dtype=np.float64)


def gelu(x, approximate="none"):
    x = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "none":
            # x * Phi(x), Phi(x) = erfc(-x / sqrt(2)) / 2; halving x rather than
            # erfc keeps the product clear of subnormal intermediates.
            y = (0.5 * x) * _erfc_f64(-x / math.sqrt(2))
        else:
            u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
            # 0.5 * (1 + tanh(u)) == 1 / (1 + exp(-2u)), free of cancellation.
            y = x * np.exp(-np.logaddexp(0.0, -2 * u))
    return _limit_at_minus_inf(x, y)


def softplus(x, beta=1.0, threshold=20.0):
    x = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(x * beta > threshold, x, np.logaddexp(0.0, x * beta) / beta)


def sigmoid(x):
    x = _f64(x)
    with np.errstate(invalid="ignore"):  # logaddexp(0, inf) warns, yet is right
        return np.exp(-np.logaddexp(0.0, -x))


def tanh(x):
    return np.tanh(_f64(x))


def softsign(x):
    x = _f64(x)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(x), np.sign(x), x / (1 + np.abs(x)))


def threshold(x, threshold, value):
    x = _f64(x)
    return np.where(x <= threshold, value, x)


def tanhshrink(x):
    x = _f64(x)
    return x - np.tanh(x)


def softshrink(x, lambd=0.5):
    x = _f64(x)
    shrunk = np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0))
    return np.where(np.isnan(x), x, shrunk)


def hardshrink(x, lambd=0.5):
    x = _f64(x)
    return np.where((x >= -lambd) & (x <= lambd), 0.0, x)


def logsigmoid(x):
    with np.errstate(invalid="ignore"):
        return -np.logaddexp(0.0, -_f64(x))


def silu(x):
    x = _f64(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        # For x < -1, x * sigmoid(x) = -exp(log(-x) + log(sigmoid(x))): no
        # subnormal sigmoid in between for x < -708.
        tail = -np.exp(np.log(-x) - np.logaddexp(0.0, -x))
        return _limit_at_minus_inf(x, np.where(x < -1, tail, x * sigmoid(x)))


def mish(x):
    x = _f64(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Below -40, tanh(softplus(x)) = exp(x) to double precision; the log form
        # avoids a subnormal exp(x) for x < -708.
        tail = -np.exp(np.log(-x) + x)
        return _limit_at_minus_inf(x, np.where(x < -40, tail, x * np.tanh(np.logaddexp(0.0, x))))


def hardsigmoid(x):
    x = _f64(x)
    return np.minimum(np.maximum(x / 6 + 0.5, 0.0), 1.0)


def hardswish(x):
    x = _f64(x)
    with np.errstate(invalid="ignore"):
        return _limit_at_minus_inf(x, x * hardsigmoid(x))


# (function name, keyword parameters): every setting checked by the self-check
# and by the tests' value sweeps. rrelu in training is checked separately, as
# its result depends on the slopes drawn.
CASES = [
    ("relu", {}),
    ("relu6", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("prelu", {"weight": np.array([0.25])}),
    ("rrelu", {}),
    ("rrelu", {"lower": 0.1, "upper": 0.3}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("celu", {}),
    ("celu", {"alpha": 2.0}),
    ("selu", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 10.0}),
    ("softplus", {"beta": 0.5, "threshold": 1000.0}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("softsign", {}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("threshold", {"threshold": 0.5, "value": -3.0}),
    ("tanhshrink", {}),
    ("softshrink", {}),
    ("softshrink", {"lambd": 1.5}),
    ("hardshrink", {}),
    ("hardshrink", {"lambd": 0.0}),
    ("logsigmoid", {}),
    ("silu", {}),
    ("mish", {}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
]


# The largest error, in units of the dtype's epsilon times error_scale(), that
# the tests and the self-check accept, for float32 and float64 alike: each libm
# routine the kernels call is within 1-2 ulp (glibc's published bounds), a
# kernel composes at most three of them with a few roundings, and the largest
# seen over the self-check's sweep is below 6.
MAX_ERROR = 8.0


def error_scale(name, x, ref, params=None):
    """The magnitude an error is measured against: max(|f(x)|, |x f'(x)|).

    The second term is what rounding the input (or an intermediate that is
    proportional to it, such as x / sqrt(2) inside GELU's erfc) by one ulp
    moves the result: no float evaluation avoids it, so errors are counted
    against it (f' from a central difference of the reference). tanhshrink
    also counts against |x|: x - tanh(x) cancels to far below x near 0.
    """
    f = globals()[name]
    x = _f64(x)
    h = 1e-7
    with np.errstate(all="ignore"):
        slope_x = np.abs(f(x * (1 + h), **(params or {})) - f(x * (1 - h), **(params or {}))) / (2 * h)
    scale = np.maximum(np.abs(ref), np.where(np.isfinite(slope_x), slope_x, 0.0))
    if name == "tanhshrink":
        scale = np.maximum(scale, np.abs(x))
    return scale


def ulp_error(name, x, got, ref, params=None):
    """Error of `got` in units of its dtype's epsilon times the error scale.

    Values below the dtype's smallest normal number are measured against that
    number (their ulp is fixed there). NaN/inf (including a reference that
    overflows the dtype) must match exactly: any mismatch counts as an
    infinite error.
    """
    got = np.asarray(got)
    info = np.finfo(got.dtype)
    got64, ref = got.astype(np.float64), _f64(ref)
    with np.errstate(over="ignore"):
        # A finite reference beyond the dtype's range rounds to +-inf, correctly.
        ref_rounded = ref.astype(got.dtype).astype(np.float64)
    finite = np.isfinite(ref_rounded)
    same_special = (np.isnan(got64) & np.isnan(ref)) | (~finite & (got64 == ref_rounded))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got64 - ref) / (float(info.eps) * np.maximum(
            error_scale(name, x, ref, params), float(info.tiny)))
    err = np.where(np.isnan(err), np.inf, err)  # NaN where a number was due
    return np.where(finite, err, np.where(same_special, 0.0, np.inf))
