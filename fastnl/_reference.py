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

from fastnl import _ops

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
# and by the tests' value sweeps, from the table of activations (so a new
# activation is swept as soon as it is declared). rrelu in training is checked
# separately, as its result depends on the slopes drawn.
CASES = [(a.name, {k: np.asarray(v) if isinstance(v, tuple) else v for k, v in params.items()})
         for a in _ops.ACTIVATIONS for params in a.cases]


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


# --- Softmax family and losses (issue 3) ---
#
# Written from the definitions (as torch documents them) in float64, with
# NumPy's logaddexp for log-sum-exp, independently of the kernels' formulas.
# The class losses take the classes on axis 1 (axis 0 for 1-d input).

def softmax(x, axis=-1, temperature=1.0):
    z = _f64(x) / temperature
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1, temperature=1.0):
    z = _f64(x) / temperature
    return z - np.logaddexp.reduce(z, axis=axis, keepdims=True)


def softmin(x, axis=-1, temperature=1.0):
    return softmax(-_f64(x), axis, temperature)


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    return np.mean(loss) if loss.size else np.nan


def mse_loss(input, target, reduction="mean"):
    return _reduce((_f64(input) - _f64(target)) ** 2, reduction)


def l1_loss(input, target, reduction="mean"):
    return _reduce(np.abs(_f64(input) - _f64(target)), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    d = np.abs(_f64(input) - _f64(target))
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    d = np.abs(_f64(input) - _f64(target))
    return _reduce(np.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta)), reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    # q (log q - log p), 0 where q = 0 (its limit, also for log p = -inf)
    logp, t = np.broadcast_arrays(_f64(input), _f64(target))
    with np.errstate(divide="ignore", invalid="ignore"):
        if log_target:
            loss = np.where(t == -np.inf, 0.0, np.exp(t) * (t - logp))
        else:
            loss = np.where(t == 0, 0.0, t * (np.log(t) - logp))
    loss = np.where(np.isnan(logp), np.nan, loss)
    if reduction == "batchmean":
        return np.sum(loss) / loss.shape[0] if loss.ndim else np.sum(loss)
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    x, y = _f64(input), _f64(target)
    with np.errstate(divide="ignore"):
        loss = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))
    if weight is not None:
        loss = loss * _f64(weight)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    # -[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], log sigmoid(x) = -logaddexp(0, -x)
    x, y = _f64(input), _f64(target)
    p = 1.0 if pos_weight is None else _f64(pos_weight)
    loss = p * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    if weight is not None:
        loss = loss * _f64(weight)
    return _reduce(loss, reduction)


def _classes_last(x):
    """Input with the class axis moved last, and the number of classes."""
    x = _f64(x)
    if x.ndim == 1:
        return x, x.shape[0]
    return np.moveaxis(x, 1, -1), x.shape[1]


def _weighted_mean_rows(loss, row_weight, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(loss) / np.sum(row_weight)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    logp, n_classes = _classes_last(input)
    y = np.asarray(target).astype(np.int64)
    w = np.ones(n_classes) if weight is None else _f64(weight)
    counted = y != ignore_index
    y_safe = np.where(counted, y, 0)
    picked = np.take_along_axis(logp, y_safe[..., None], axis=-1)[..., 0]
    row_weight = np.where(counted, w[y_safe], 0.0)
    return _weighted_mean_rows(-row_weight * picked, row_weight, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """-sum_c w_c q_c log p_c per row, q the (smoothed) one-hot or probability target."""
    x, n_classes = _classes_last(input)
    logp = x - np.logaddexp.reduce(x, axis=-1, keepdims=True)
    w = np.ones(n_classes) if weight is None else _f64(weight)
    t = np.asarray(target)
    eps = label_smoothing
    if t.dtype.kind == "f":
        q = (1 - eps) * (_f64(t) if t.ndim == 1 else np.moveaxis(_f64(t), 1, -1)) + eps / n_classes
        loss = -np.sum(w * q * logp, axis=-1)
        if reduction == "mean":
            return np.sum(loss) / loss.size if x.size else np.nan
        return _reduce(loss, reduction)
    y = t.astype(np.int64)
    counted = y != ignore_index
    y_safe = np.where(counted, y, 0)
    q = (1 - eps) * (np.arange(n_classes) == y_safe[..., None]) + eps / n_classes
    loss = np.where(counted, -np.sum(w * q * logp, axis=-1), 0.0)
    row_weight = np.where(counted, w[y_safe], 0.0)
    return _weighted_mean_rows(loss, row_weight, reduction)
