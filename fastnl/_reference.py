"""The reference of every function: the test oracle that needs no torch.

Activations and their derivatives are evaluated in extended precision
(``numpy.longdouble``: 64 significant bits on x86-64, 11 more than float64)
from the mathematical definitions, not from the kernels' forms: where a
definition cancels (``x - tanh(x)`` near 0) a series takes over, and GELU's
``erfc`` is a series below 1 and a continued fraction beyond. They return
longdouble arrays, accurate to a small fraction of a float64 ulp
(tests/test_reference.py checks them against mpmath at the hard points), and
the mathematical limit at +-inf.

Accuracy is measured plainly: ``ulp_error(got, exact)`` is
``|got - f(x)| / ulp(f(x))`` in the dtype of `got`, with no allowance for
conditioning; ``TOLERANCE`` holds the largest error each function is allowed,
per dtype, with the reason where it is above 1 (float32) or 2 (float64) ulp.

``CASES`` lists, for every public activation, the parameter settings that the
self-check (``python -m fastnl``) and the tests run. The softmax family and
the losses are plain float64 NumPy (below).
"""

import math

import numpy as np

from fastnl import _ops

L = np.longdouble
# float64 results can be measured to the ulp only where longdouble has more
# bits than float64 (x87's 64 on x86-64, binary128 on aarch64 Linux); where it
# is float64 itself (MSVC, macOS on arm64) only float32 results are measured.
EXTENDED = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


def measurable(dtype):
    """Whether the reference is precise enough to measure `dtype`'s results."""
    return np.dtype(dtype) != np.float64 or EXTENDED
SELU_ALPHA = L("1.6732632423543772848170429916717")
SELU_SCALE = L("1.0507009873554804934193349852946")
_SQRT_2_OVER_PI = L("0.79788456080286535587989211986876")
_ONE_OVER_SQRT2 = L("0.70710678118654752440084436210485")
_ONE_OVER_SQRT_2PI = L("0.39894228040143267793994605993438")
_TWO_OVER_SQRT_PI = L("1.1283791670955125738961589031215")
_SQRT_PI = L("1.7724538509055160272981674833411")


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _ld(x):
    return np.asarray(x, dtype=L)


def _limit_at_minus_inf(x, y, value=-0.0):
    """`y` with `value` where x == -inf (formulas of the form x * f(x), f -> 0)."""
    return np.where(x == -np.inf, L(value), y)


def _quiet(f):
    """Evaluate without NumPy's warnings: limits are taken on purpose below."""
    def wrapped(*args, **kwargs):
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)
    wrapped.__name__, wrapped.__doc__ = f.__name__, f.__doc__
    return wrapped


def _sigmoid(z):
    """1 / (1 + exp(-z)) in longdouble: exp(-z) overflows to inf (giving 0)
    only where the result is far below float64's range."""
    return 1 / (1 + np.exp(-z))


def _exp_minus_half_square(x):
    """exp(-x^2 / 2) without the rounding of x^2, which would cost x^2 eps
    relative: x = xh + xl with xh on a grid of 2^-24, so that xh^2 / 2 is
    exact in longdouble for |x| < 256 (beyond 160 the result is 0 anyway)."""
    x = np.clip(x, -160, 160)
    xh = np.round(x * 2.0 ** 24) / 2.0 ** 24
    xl = x - xh
    return np.exp(-(xh * xh) / 2) * np.exp(-(xh * xl) - xl * xl / 2)


def _erfc(z, exp_minus_z2):
    """erfc of a longdouble z, given exp(-z^2) accurately: within 2^-59.7
    of mpmath's over [-6, 27] (3300 points; tests/test_reference.py holds
    gelu to 2^-56 at its hard points). For |z| < 1, 1 - erf(|z|)
    with erf(a) = 2/sqrt(pi) exp(-a^2) sum_n (2a^2)^n a / (2n + 1)!!, whose
    terms are all positive (1 - erf loses at most 3 bits there); from 1 on,
    Laplace's continued fraction erfc(a) = exp(-a^2) / sqrt(pi) /
    (a + (1/2) / (a + 1 / (a + (3/2) / (a + ...)))), 250 levels deep (at
    a = 1, where it converges slowest, 120 levels left 2^-41 and 250 below
    the series' error); erfc(-a) = 2 - erfc(a)."""
    a = np.abs(z)
    term = series = a
    for n in range(1, 25):  # a term is below 2^-63 of the sum from n = 20 on (a < 1)
        term = term * (2 * a * a) / (2 * n + 1)
        series = series + term
    inside = 1 - _TWO_OVER_SQRT_PI * exp_minus_z2 * series
    b = np.maximum(a, L(1))
    fraction = b
    for n in range(250, 0, -1):
        fraction = b + L(n) / 2 / fraction
    beyond = exp_minus_z2 / (_SQRT_PI * fraction)
    e = np.where(a < 1, inside, beyond)
    return np.where(z < 0, 2 - e, e)


def _normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt(2)) / 2, with exp(-x^2 / 2) from x itself."""
    return _erfc(-x * _ONE_OVER_SQRT2, _exp_minus_half_square(x)) / 2


# tanh(x) = sum_k T_k x^(2k+1): x - tanh(x) by this series below 1/4, where
# the difference cancels (the terms fall by about x^2 / 2.5 each).
def _tanh_series_coefficients(n):
    """The Taylor coefficients of tanh, from the Bernoulli numbers:
    tanh x = sum_{k>=1} 2^(2k) (2^(2k) - 1) B_(2k) x^(2k-1) / (2k)!."""
    from fractions import Fraction
    bernoulli = [Fraction(1)]
    for m in range(1, 2 * n + 1):
        bernoulli.append(-sum(math.comb(m + 1, j) * bernoulli[j] for j in range(m)) / (m + 1))
    return [L(Fraction(4 ** k * (4 ** k - 1), math.factorial(2 * k)) * bernoulli[2 * k]
              .numerator) / L(bernoulli[2 * k].denominator) for k in range(1, n + 1)]


_TANH_SERIES = _tanh_series_coefficients(16)


# ---- the activations, in longdouble

def relu(x):
    x = _ld(x)
    return np.where(x < 0, L(0), x)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    x = _ld(x)
    return np.where(x < min_val, L(min_val), np.where(x > max_val, L(max_val), x))


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.01):
    x = _ld(x)
    return np.where(x > 0, x, x * L(negative_slope))


@_quiet
def elu(x, alpha=1.0):
    x = _ld(x)
    return np.where(x > 0, x, L(alpha) * np.expm1(x))


@_quiet
def celu(x, alpha=1.0):
    x = _ld(x)
    return np.where(x > 0, x, L(alpha) * np.expm1(x / L(alpha)))


@_quiet
def selu(x):
    x = _ld(x)
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))


@_quiet
def gelu(x, approximate="none"):
    x = _ld(x)
    if approximate == "none":
        y = x * _normal_cdf(x)
    else:  # 0.5 x (1 + tanh(u)) = x sigmoid(2u)
        y = x * _sigmoid(2 * _SQRT_2_OVER_PI * (x + L("0.044715") * x ** 3))
    return _limit_at_minus_inf(x, y)


@_quiet
def softplus(x, beta=1.0, threshold=20.0):
    x, beta = _ld(x), L(beta)
    z = x * beta
    smooth = np.where(z > 0, z + np.log1p(np.exp(-z)), np.log1p(np.exp(z))) / beta
    return np.where(z > L(threshold), x, smooth)


@_quiet
def sigmoid(x):
    return _sigmoid(_ld(x))


def tanh(x):
    return np.tanh(_ld(x))


@_quiet
def softsign(x):
    x = _ld(x)
    return np.where(np.isinf(x), np.sign(x), x / (1 + np.abs(x)))


def threshold(x, threshold, value):
    x = _ld(x)
    return np.where(x <= threshold, L(value), x)


@_quiet
def tanhshrink(x):
    x = _ld(x)
    x2, series = x * x, L(0)
    for c in reversed(_TANH_SERIES[1:]):  # x - tanh x = -(T_1 x^3 + T_2 x^5 + ...)
        series = series * x2 + c
    small = -series * x2 * x
    return np.where(np.abs(x) < 0.25, small, x - np.tanh(x))


def softshrink(x, lambd=0.5):
    x = _ld(x)
    shrunk = np.where(x > lambd, x - L(lambd), np.where(x < -lambd, x + L(lambd), L(0)))
    return np.where(np.isnan(x), x, shrunk)


def hardshrink(x, lambd=0.5):
    x = _ld(x)
    return np.where((x >= -lambd) & (x <= lambd), L(0), x)


@_quiet
def logsigmoid(x):
    x = _ld(x)
    return np.where(x > 0, -np.log1p(np.exp(-x)), x - np.log1p(np.exp(x)))


@_quiet
def silu(x):
    x = _ld(x)
    return _limit_at_minus_inf(x, x * _sigmoid(x))


@_quiet
def mish(x):
    x = _ld(x)
    return _limit_at_minus_inf(x, x * np.tanh(np.log1p(np.exp(x))))


def hardsigmoid(x):
    # (x + 3) / 6: x + 3 is exact near -3 (Sterbenz), where x / 6 + 1/2
    # cancels (the reference was 8 ulp of float64 off at x = -2.99996)
    x = _ld(x)
    return np.minimum(np.maximum((x + 3) / 6, L(0)), L(1))


@_quiet
def hardswish(x):
    x = _ld(x)
    return _limit_at_minus_inf(x, x * hardsigmoid(x))


@_quiet
def squareplus(x, b=4.0):
    x, b = _ld(x), L(b)
    s = np.sqrt(x * x + b)  # x^2 has room in longdouble's range
    return np.where(x >= 0, (x + s) / 2, b / (2 * (s - x)))


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


# ---- next to the zeros of the derivatives of gelu (both forms), silu and mish
# There the derivative's terms cancel: written as defined, even longdouble
# leaves an absolute error of 2^-64, so that its relative error grows without
# bound as f'(x) -> 0 (2^-40 at the float32 nearest a zero). Within 1/4 of
# its zero x0, each is written in h = x - x0, with x0 = hi + lo (mpmath's root
# as a longdouble head and tail, tools/fit_derivative_zeros.py --reference):
# x - hi is exact (Sterbenz), and h is a factor of every term, all of one
# sign, so nothing cancels.
_DERIVATIVE_ZEROS = {
    "gelu": (L("-0.75179152469356445745"), L("-5.2308032900779160973e-21")),
    "gelu_tanh": (L("-0.75246142207101625847"), L("-1.9377794811805310783e-20")),
    "silu": (L("-1.2784645427610737951"), L("3.4477590101573530248e-20")),
    "mish": (L("-1.1924312145154952121"), L("-2.0992737928997349228e-20")),
}
_NEAR_ZERO = 0.25


def _near_zero(name, x, far, near):
    """The derivative `far` (as written), but near(x, h, x0) within _NEAR_ZERO
    of the zero x0 of `name`'s derivative (x0 the longdouble head; h is x - x0
    to longdouble's precision)."""
    hi, lo = _DERIVATIVE_ZEROS[name]
    h = (x - hi) - lo
    inside = np.abs(h) < _NEAR_ZERO
    x_in = np.where(inside, x, hi)
    return np.where(inside, near(x_in, np.where(inside, h, 0), hi), far)


def _gelu_slope_coefficients(n):
    """gelu'(x0 + h) = phi(x0) sum_{k=1..n} d_k h^k: with phi(x0 + t) = phi(x0)
    g(t), g(t) = exp(-x0 t - t^2 / 2) = sum c_k t^k ((k + 1) c_(k+1) = -x0 c_k
    - c_(k-1)), Phi(x) - Phi(x0) = phi(x0) sum c_k h^(k+1) / (k + 1) and
    x phi(x) - x0 phi(x0) = phi(x0) (x0 (g(h) - 1) + h g(h)); gelu'(x0) = 0.
    At |h| = 1/4 the terms of degree 21 and beyond are below 2^-72 of the sum."""
    x0 = _DERIVATIVE_ZEROS["gelu"][0]
    c = [L(1), -x0]
    for k in range(1, n + 1):
        c.append((-x0 * c[k] - c[k - 1]) / (k + 1))
    return [c[k - 1] / k + x0 * c[k] + c[k - 1] for k in range(1, n + 1)]


_GELU_SLOPE_SERIES = _gelu_slope_coefficients(30)


def _gelu_slope_near_zero(x, h, x0):
    series = L(0)
    for d in reversed(_GELU_SLOPE_SERIES):
        series = (series + d) * h
    return _ONE_OVER_SQRT_2PI * np.exp(-x0 * x0 / 2) * series


def _gelu_tanh_slope_near_zero(x, h, x0):
    """s(2u) s(-2u) G, G = 1 + exp(2u) + 2 x u' (0 at x0), u = k (x + a x^3):
    G = exp(2 u0) expm1(2 (u - u0)) + 2 (x u' - x0 u0'), where u - u0 =
    k h (1 + a q) and x u' - x0 u0' = k h (1 + 3 a q), q = x^2 + x x0 + x0^2."""
    a = L("0.044715")
    q = x * x + x * x0 + x0 * x0
    u, u0 = _SQRT_2_OVER_PI * (x + a * x ** 3), _SQRT_2_OVER_PI * (x0 + a * x0 ** 3)
    g = (np.exp(2 * u0) * np.expm1(2 * _SQRT_2_OVER_PI * h * (1 + a * q))
         + 2 * _SQRT_2_OVER_PI * h * (1 + 3 * a * q))
    return _sigmoid(2 * u) * _sigmoid(-2 * u) * g


def _silu_slope_near_zero(x, h, x0):
    """s(x) s(-x) (1 + x + e^x), and 1 + x + e^x = h + e^x0 expm1(h), with
    e^x0 = -(1 + x0) (the zero's equation; 1 + hi is exact)."""
    lo = _DERIVATIVE_ZEROS["silu"][1]
    return _sigmoid(x) * _sigmoid(-x) * (h + (-(1 + x0) - lo) * np.expm1(h))


def _mish_slope_near_zero(x, h, x0):
    """e G / w^2 with e = e^x, w = e^2 + 2e + 2 and G = e^3 + 4e^2 + 6e + 4 +
    4x (1 + e), 0 at x0: G = e0^3 expm1(3h) + 4 e0^2 expm1(2h) + e0 (6 + 4 x0)
    expm1(h) + 4h (1 + e0 e^h), e0 = e^x0 (6 + 4 x0 > 0)."""
    e0 = np.exp(x0) * (1 + _DERIVATIVE_ZEROS["mish"][1])
    e = np.exp(x)
    g = (e0 ** 3 * np.expm1(3 * h) + 4 * e0 * e0 * np.expm1(2 * h)
         + e0 * (6 + 4 * x0) * np.expm1(h) + 4 * h * (1 + e0 * np.exp(h)))
    return e * g / (e * e + 2 * e + 2) ** 2


# ---- their derivatives (torch's sub-gradients at the kinks: 0 at relu's 0,
# hardtanh's bounds, shrink's +-lambd; the limit at +-inf)

def relu_derivative(x):
    return np.where(_ld(x) > 0, L(1), L(0))


def hardtanh_derivative(x, min_val=-1.0, max_val=1.0):
    x = _ld(x)
    return np.where((x > min_val) & (x < max_val), L(1), L(0))


def relu6_derivative(x):
    return hardtanh_derivative(x, 0.0, 6.0)


def leaky_relu_derivative(x, negative_slope=0.01):
    return np.where(_ld(x) > 0, L(1), L(negative_slope))


@_quiet
def elu_derivative(x, alpha=1.0):
    x = _ld(x)
    return np.where(x > 0, L(1), L(alpha) * np.exp(x))


@_quiet
def celu_derivative(x, alpha=1.0):
    x = _ld(x)
    return np.where(x > 0, L(1), np.exp(x / L(alpha)))


@_quiet
def selu_derivative(x):
    x = _ld(x)
    return SELU_SCALE * np.where(x > 0, L(1), SELU_ALPHA * np.exp(x))


@_quiet
def gelu_derivative(x, approximate="none"):
    x = _ld(x)
    if approximate == "none":  # Phi(x) + x phi(x)
        d = _normal_cdf(x) + x * _ONE_OVER_SQRT_2PI * _exp_minus_half_square(x)
        d = _near_zero("gelu", x, d, _gelu_slope_near_zero)
    else:  # x sigmoid(2u): s + 2 x u' s (1 - s), 1 - s = sigmoid(-2u)
        u = _SQRT_2_OVER_PI * (x + L("0.044715") * x ** 3)
        du = _SQRT_2_OVER_PI * (1 + 3 * L("0.044715") * x * x)
        s, s_minus = _sigmoid(2 * u), _sigmoid(-2 * u)
        d = _near_zero("gelu_tanh", x, s + 2 * x * du * s * s_minus, _gelu_tanh_slope_near_zero)
    return np.where(x == np.inf, L(1), np.where(x == -np.inf, L(0), d))


@_quiet
def softplus_derivative(x, beta=1.0, threshold=20.0):
    x = _ld(x)
    return np.where(x * L(beta) > L(threshold), L(1), _sigmoid(x * L(beta)))


@_quiet
def sigmoid_derivative(x):
    x = _ld(x)
    return _sigmoid(x) * _sigmoid(-x)


@_quiet
def tanh_derivative(x):
    x = _ld(x)  # 1 - tanh^2 = 4 / (e^x + e^-x)^2, no cancellation
    return 4 / (np.exp(x) + np.exp(-x)) ** 2


@_quiet
def softsign_derivative(x):
    return 1 / (1 + np.abs(_ld(x))) ** 2


def threshold_derivative(x, threshold, value):
    return np.where(_ld(x) > threshold, L(1), L(0))


def tanhshrink_derivative(x):
    return np.tanh(_ld(x)) ** 2


def softshrink_derivative(x, lambd=0.5):
    x = _ld(x)
    return np.where((x >= -lambd) & (x <= lambd), L(0), L(1))


def hardshrink_derivative(x, lambd=0.5):
    return softshrink_derivative(x, lambd)


@_quiet
def logsigmoid_derivative(x):
    return _sigmoid(-_ld(x))


@_quiet
def silu_derivative(x):
    x = _ld(x)
    d = _near_zero("silu", x, _sigmoid(x) * (1 + x * _sigmoid(-x)), _silu_slope_near_zero)
    return np.where(x == np.inf, L(1), np.where(x == -np.inf, L(0), d))


@_quiet
def mish_derivative(x):
    x = _ld(x)
    sp = np.log1p(np.exp(x))
    d = _near_zero("mish", x, np.tanh(sp) + x * _sigmoid(x) / np.cosh(sp) ** 2,
                   _mish_slope_near_zero)
    return np.where(x == np.inf, L(1), np.where(x == -np.inf, L(0), d))


def hardsigmoid_derivative(x):
    x = _ld(x)
    return np.where((x > -3) & (x < 3), L(1) / 6, L(0))


def hardswish_derivative(x):
    x = _ld(x)  # (2x + 3) / 6: 2x + 3 is exact, so near the zero at -1.5 nothing cancels
    return np.where(x <= -3, L(0), np.where(x < 3, (2 * x + 3) / 6, L(1)))


@_quiet
def squareplus_derivative(x, b=4.0):
    x, b = _ld(x), L(b)
    s = np.sqrt(x * x + b)
    d = np.where(x >= 0, (1 + np.where(s > 0, x / s, 0)) / 2, b / (2 * s * (s - x)))
    return np.where(x == np.inf, L(1), np.where(x == -np.inf, L(0), d))


def prelu_derivative(x, weight):
    x, weight = _f64(x), _f64(weight).reshape(-1)
    if weight.size > 1 and x.ndim >= 2:
        weight = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return _ld(np.where(x > 0, 1.0, weight))


def rrelu_derivative(x, lower=1.0 / 8, upper=1.0 / 3, noise=None):
    slope = (lower + upper) / 2 if noise is None else _f64(noise)
    return np.where(_ld(x) > 0, L(1), _ld(slope))


def exact(name, x, params=None, derivative=False):
    """f(x) (or f'(x)) of activation `name` in longdouble."""
    f = globals()[f"{name}_derivative" if derivative else name]
    return f(x, **(params or {}))


def sweep(dtype):
    """The inputs the tests and the self-check measure on: a grid over
    [-30, 30], a finer one over [-2, 0] (where the derivatives of gelu, silu,
    mish and hardswish cross zero), both tails to the dtype's range, every
    65537th float32 bit pattern, and the special values; about 300k points,
    so that two threads really start."""
    info = np.finfo(dtype)
    tails = np.geomspace(float(info.smallest_subnormal), float(info.max) / 2, 8000)
    bits = np.arange(0, 2 ** 32, 65537, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(over="ignore"):
        bits = bits[np.isfinite(bits)].astype(dtype)
    x = np.concatenate([np.linspace(-30, 30, 60_001), np.linspace(-2, 0, 200_001), tails,
                        -tails, bits, [0.0, -0.0, np.inf, -np.inf, np.nan]])
    return x.astype(dtype)


def setting(name, params):
    """The name of a setting's kernel, the key of TOLERANCE (gelu's tanh
    form is gelu_tanh): the table's, _ops.setting_name."""
    return _ops.setting_name(_ROWS[name], params)


_ROWS = {a.name: a for a in _ops.ACTIVATIONS}


# ---- the plain measure

def ulp_error(got, exact_value):
    """|got - f(x)| / ulp(f(x)) in the dtype of `got`, elementwise.

    ulp(y) is the spacing of the dtype's numbers in the binade of the exact
    value (the subnormal spacing below the smallest normal number). NaN must
    meet NaN; an exact value beyond the dtype's range must give the infinity
    it rounds to; any other mismatch is an infinite error.

    An exact 0 takes the spacing of the binade [1/2, 1) (frexp's exponent
    of 0), not the subnormal one: a result within about 6e-8 (float32) or
    1.1e-16 (float64) of an exact 0 counts as within 1 ulp. The self-check's
    log_softmax relies on it: at a row's dominant logit its float64 reference
    rounds -4.5e-16 to 0, where the float32 kernel gives -4.4e-16 (3e29 ulp of
    the subnormal spacing).
    """
    got = np.asarray(got)
    info = np.finfo(got.dtype)
    exact_value = np.asarray(exact_value)
    # a float64 stand-in for the exact value of a float32 or float16 result
    # (fastnl.accuracy --fast-reference): float64 arithmetic is exact enough
    # for it, and ten times faster than long double
    work = (np.float64 if exact_value.dtype == np.float64 and got.dtype.itemsize <= 4
            else L)
    y = exact_value.astype(work)
    g = got.astype(work)
    with np.errstate(all="ignore"):
        _, e = np.frexp(y)
        ulp = np.ldexp(work(1), np.maximum(e - (info.nmant + 1), info.minexp - info.nmant))
        err = np.abs(g - y) / ulp
        rounded = y.astype(got.dtype).astype(work)  # inf where y is beyond the range
    special = ~np.isfinite(rounded) | np.isnan(g)
    same = (np.isnan(g) & np.isnan(y)) | (g == rounded)
    err = np.where(special, np.where(same, 0.0, np.inf), err)
    return np.where(np.isnan(err), np.inf, err).astype(np.float64)


# The largest error, in ulp of the exact value, allowed per dtype and function
# (forward, and derivative as <name>_backward with grad_output = 1). The aim
# is 1 ulp for float32 and 2 for float64 everywhere; every larger entry is
# what the kernels reach today, with why: the largest error measured over
# tests/test_activations.py's sweeps and, for float32, over every 257th bit
# pattern (python -m fastnl.accuracy --stride 257 --fast-reference).
_COMPOSED = ("a composition of two or three operations rounded in the data's precision "
             "(an exp or expm1, then 1 + e, a product or a division)")
TOLERANCE = {
    "float32": {
        "default": (1.0, "the aim: within 1 ulp"),
        "elu_derivative": (1.1, "alpha exp(x): exp's own error (1.02 ulp built with FMA)"),
        "celu_derivative": (1.1, "exp(x / alpha): exp's own error (1.02 ulp built with FMA)"),
        # the largest errors measured on every float32 (--exhaustive) or, where
        # marked, on one bit pattern in 17: the float32-arithmetic kernels that
        # torch's speed leaves no time to compute in float64
        "gelu": (6.2, "exp(-z^2/2) P(z) / Q(z): the Horner roundings of P and Q, of degree 5, "
                      "reach 3.6 ulp each where z is large (6.12 at x = -8.4644, every float32); "
                      "in float64 arithmetic 0.66 (refitted), at 3.2 times torch's time"),
        "selu_derivative": (2.0, _COMPOSED + "; below -87 exp(x) is subnormal (1.95 at "
                                 "x = -87.343, every float32)"),
        "gelu_derivative": (6.8, "exp(-z^2/2) N(z) / (2 Q(z)), the forward's Q: Horner's "
                                 "roundings where z is large (6.72 at x = -9.8511, every float32). "
                                 "The zero at -0.7518 is a factor of N, so nothing cancels there "
                                 "(4.46 ulp at most within 0.03 of it); in float64 arithmetic 0.67 "
                                 "(refitted), at 1.5 times torch's time. With AVX-512, by pieces "
                                 "(fnl_gelu_backward16_f): 1.673 at x = -3.6178, every float32"),
        "softplus_derivative": (1.5, "sigmoid(beta x) from exp(-|beta x|) alone, its 1 + e and "
                                     "quotient corrected: exp's own error (1.48 at x = -4.8465, "
                                     "every float32); the forward's pair form took 0.71, at 1.15 "
                                     "times the time"),
        "logsigmoid_derivative": (1.5, "sigmoid(-x) as softplus' (1.48 at x = 4.8465, every "
                                       "float32)"),
        "tanhshrink_derivative": (1.6, "tanh(x)^2 from tanh as a float32 pair below 1: the "
                                       "roundings of tanh's polynomial (1.51 at x = 0.87145, "
                                       "every float32); tanh in float64 took 0.90, at 1.45 "
                                       "times the time"),
        "silu_derivative": (4.2, _COMPOSED + ": one quotient over (1 + e)^2, e's error and four "
                                 "roundings (4.10 at x = -0.5355, every float32; s + x s(x) s(-x) "
                                 "rounded in turn reached 5.85); below -87, where exp(x) is "
                                 "subnormal, e (1 + x) "
                                 "from e 2^64, rounded once. The zero at -1.2785, where its "
                                 "terms cancel, is a polynomial window in [-2, -0.75] (2 ulp). "
                                 "float64's quotient of exact pairs in float32 reached 1.61, "
                                 "at 1.7 times torch's time"),
    },
    "float64": {
        "default": (2.0, "the aim: within 2 ulp"),
        # where marked, found by the exhaustive float32 run's float64 checks
        # (one input in 251 against the extended reference)
        "softplus": (2.2, _COMPOSED),
    },
}


# (function name, keyword parameters): every setting checked by the self-check
# and by the tests' value sweeps, from the table of activations (so a new
# activation is swept as soon as it is declared). rrelu in training is checked
# separately, as its result depends on the slopes drawn.
CASES = [(a.name, {k: np.asarray(v) if isinstance(v, tuple) else v for k, v in params.items()})
         for a in _ops.ACTIVATIONS for params in a.cases]
# those with a torch twin, for the parity tests
TORCH_CASES = [(name, params) for name, params in CASES
               if next(a for a in _ops.ACTIVATIONS if a.name == name).torch]


def tolerance(dtype, name, params=None, derivative=False):
    """The largest error (in ulp) allowed for a setting, and why."""
    table = TOLERANCE[np.dtype(dtype).name]
    key = setting(name, params or {}) + ("_derivative" if derivative else "")
    return table.get(key, table["default"])


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


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    # the negative log of the Poisson probability of the count y at the rate
    # lambda (e^x with log_input), without log y! unless full: then its
    # Stirling approximation, counted where y > 1 only (torch's choice)
    x, y = np.broadcast_arrays(_f64(input), _f64(target))
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
        if full:
            stirling = y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y)
            loss = loss + np.where(y > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_var(input, var):
    """gaussian_nll_loss's var as the loss broadcasts it: one axis short of the
    input gains a last axis of length 1."""
    var = _f64(var)
    return var[..., None] if var.ndim and var.ndim == np.ndim(input) - 1 else var


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    # the negative log density of N(x, v) at y, v = max(var, eps)
    v = np.maximum(gaussian_nll_var(input, var), eps)
    loss = 0.5 * (np.log(v) + (_f64(input) - _f64(target)) ** 2 / v)
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, reduction="mean"):
    # log(1 + e^{-y x})
    return _reduce(np.logaddexp(0, -_f64(target) * _f64(input)), reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    return _reduce(np.maximum(0, -_f64(target) * (_f64(input1) - _f64(input2)) + margin),
                   reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    # x for y = 1, max(0, margin - x) for y = -1, their sum for any other y
    x, y = np.broadcast_arrays(_f64(input), _f64(target))
    hinge = np.maximum(0, margin - x)
    loss = np.where(y == 1, x, np.where(y == -1, hinge, x + hinge))
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    # the mean over the classes (last axis) of -[y log s(x) + (1 - y) log s(-x)],
    # log s(x) = -logaddexp(0, -x)
    x, y = _f64(input), _f64(target)
    loss = y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    if weight is not None:
        loss = loss * _f64(weight)
    return _reduce(np.mean(loss, axis=-1), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    # 1 - cos for y = 1, max(0, cos - margin) for y = -1, 0 otherwise; torch
    # adds its EPSILON, 1e-12 as a float32, to both squared norms
    eps = float(np.float32(1e-12))
    a, b = np.broadcast_arrays(_f64(input1), _f64(input2))
    cos = np.sum(a * b, -1) / np.sqrt((np.sum(a * a, -1) + eps) * (np.sum(b * b, -1) + eps))
    y = _f64(target)
    loss = np.where(y == 1, 1 - cos, 0.0) + np.where(y == -1, np.maximum(cos - margin, 0), 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        reduction="mean"):
    # max(0, margin + d(a, p) - d(a, n)), d(u, v) = |u - v + eps|_p over the last
    # axis; with swap, d(a, n) is min(d(a, n), d(p, n))
    a, pos, neg = np.broadcast_arrays(_f64(anchor), _f64(positive), _f64(negative))

    def distance(u, v):
        return np.sum(np.abs(u - v + eps) ** p, axis=-1) ** (1 / p)
    d_neg = distance(a, neg)
    if swap:
        d_neg = np.minimum(d_neg, distance(pos, neg))
    return _reduce(np.maximum(0, margin + distance(a, pos) - d_neg), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    # the mean over the C classes of w_y max(0, margin - x_y + x_i)^p, i != y;
    # one loss per frame for a 1-d target, 0-d for a 0-d one
    x = _f64(input)
    x2 = x.reshape(-1, x.shape[-1] if x.ndim else 1)
    y = np.asarray(target).reshape(-1)
    picked = np.take_along_axis(x2, y[:, None], axis=1)
    hinge = np.maximum(0, margin - picked + x2) ** p
    hinge[np.arange(x2.shape[0]), y] = 0
    w = 1.0 if weight is None else _f64(weight)[y][:, None]
    loss = np.sum(w * hinge, axis=1) / x2.shape[1]
    return _reduce(loss if np.ndim(target) else loss[0], reduction)


def multilabel_margin_loss(input, target, reduction="mean"):
    # the mean over the C classes of the sum over targets j (each row's entries
    # before its first negative one) and non-targets i of max(0, 1 - x_j + x_i)
    x = _f64(input)
    x2 = x.reshape(-1, x.shape[-1])
    t2 = np.asarray(target).reshape(x2.shape)
    loss = np.zeros(x2.shape[0])
    for n, (row, labels) in enumerate(zip(x2, t2)):
        ends = np.flatnonzero(labels < 0)
        targets = labels[:ends[0] if ends.size else len(labels)]
        others = np.setdiff1d(np.arange(len(row)), targets)
        for j in targets:
            loss[n] += np.sum(np.maximum(0, 1 - row[j] + row[others]))
    loss /= x2.shape[1]
    return _reduce(loss if x.ndim == 2 else loss[0], reduction)
# --- logsumexp, glu, gumbel_softmax, one_hot (issue 15) ---

def logsumexp(x, axis, keepdims=False):
    """m + log(sum(exp(x - m))) over `axis` (an int or a tuple) in float64,
    m the max where finite (else 0: the infinite limits), NumPy's pairwise
    sum (logaddexp.reduce adds one term at a time: 1e-13 off over 1000)."""
    x = _f64(x)
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = tuple(a % max(x.ndim, 1) for a in axes)
    if x.ndim == 0:
        return x.copy()
    moved = np.moveaxis(x, axes, range(-len(axes), 0))
    merged = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
    if merged.shape[-1] == 0:
        y = np.full(merged.shape[:-1], -np.inf)
    else:
        m = np.max(merged, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        with np.errstate(divide="ignore"):
            y = (np.log(np.sum(np.exp(merged - m), axis=-1, keepdims=True)) + m)[..., 0]
    return np.expand_dims(y, axes) if keepdims else y


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the halves of x along `axis`."""
    a, b = np.split(_f64(x), 2, axis=axis)
    with np.errstate(over="ignore"):
        return a / (1 + np.exp(-b))


def gumbel_softmax(logits, exponential, tau=1.0, axis=-1):
    """The soft sample for the Exp(1) draws `exponential`: the softmax of
    (logits + g) / tau, g = -log(exponential) standard Gumbel noise."""
    with np.errstate(divide="ignore"):
        return softmax(_f64(logits) - np.log(_f64(exponential)), axis, tau)


def one_hot(indices, num_classes):
    return (np.asarray(indices)[..., None] == np.arange(num_classes)).astype(np.int64)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """The CTC loss from the alpha recursion of Graves et al. (2006), one
    sample and one time step at a time, with NumPy's logaddexp over the
    allowed predecessors. Targets padded (N, S) or concatenated (1-d)."""
    lp = _f64(log_probs)
    batched = lp.ndim == 3
    if not batched:
        lp = lp[:, None, :]
    il = np.asarray(input_lengths).reshape(-1)
    tl = np.asarray(target_lengths).reshape(-1)
    t = np.asarray(targets)
    starts = np.concatenate(([0], np.cumsum(tl)[:-1]))
    losses = np.empty(lp.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        for n in range(lp.shape[1]):
            labels = t[n, :tl[n]] if t.ndim == 2 else t[starts[n]:starts[n] + tl[n]]
            losses[n] = _ctc_nll(lp[:il[n], n], labels, blank)
    if zero_infinity:
        losses[losses == np.inf] = 0.0
    if reduction == "none":
        return losses if batched else losses[0]
    if reduction == "sum":
        return np.sum(losses)
    return np.mean(losses / np.maximum(tl, 1))


def _ctc_nll(lp, labels, blank):
    """-log p(labels | lp) of one sample, lp (T, C) in float64."""
    ext = np.full(2 * len(labels) + 1, blank)
    ext[1::2] = labels
    L = len(ext)
    if lp.shape[0] == 0:
        return 0.0 if len(labels) == 0 else np.inf
    # a step from s - 2 (over a blank) only between two different labels
    skip = np.zeros(L, bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(L, -np.inf)
    alpha[:2] = lp[0, ext[:2]]
    for step in lp[1:]:
        prev1 = np.concatenate(([-np.inf], alpha[:-1]))
        prev2 = np.where(skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + step[ext]
    return -np.logaddexp.reduce(alpha[-2:]) if L > 1 else -alpha[0]
