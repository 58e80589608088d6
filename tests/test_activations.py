"""Values of every elementwise activation: against the extended-precision
reference in the plain measure, at special values and cut-offs (expected values
from the mathematics, written out here), against torch, and the parameter
errors (docs: API conventions).

Tolerance: |got - f(x)| / ulp(f(x)), at most ``fastnl._reference.tolerance``
for the function and dtype: 1 ulp for float32 and 2 for float64 unless the
table there gives a larger one with its reason.
"""

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

import fastnl
from fastnl import _reference as reference

CASES = reference.CASES
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
DTYPES = [np.float32, np.float64]


def assert_within_tolerance(name, params, x, got, derivative=False):
    """The plain measure of `got` against the reference, within the setting's
    tolerance; the message names the worst point."""
    exact = reference.exact(name, x, params, derivative)
    err = reference.ulp_error(got, exact)
    allowed, why = reference.tolerance(got.dtype, name, params, derivative)
    worst = int(np.argmax(err))
    assert err[worst] <= allowed, (
        f"{name}{'_backward' if derivative else ''}{params}: {err[worst]:.4g} ulp at "
        f"x={x[worst]!r}: got {got[worst]!r}, exact {float(exact[worst])!r} (allowed "
        f"{allowed:g}: {why})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_matches_reference(name, params, dtype, n_threads):
    if not reference.measurable(dtype):  # not on x86-64 Linux, where CI runs
        pytest.skip("this platform's long double is float64: float64 not measurable")
    x = reference.sweep(dtype)
    got = getattr(fastnl, name)(x, **params)
    assert got.dtype == dtype and got.shape == x.shape
    assert_within_tolerance(name, params, x, got)


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_bitwise_identical_for_any_thread_count(name, params):
    x = np.random.default_rng(0).standard_normal(300_000) * 10
    with fastnl.num_threads(1):
        one = getattr(fastnl, name)(x, **params)
    with fastnl.num_threads(2):
        two = getattr(fastnl, name)(x, **params)
        again = getattr(fastnl, name)(x, **params)
    assert one.tobytes() == two.tobytes() == again.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_family_is_exact_where_it_has_rounded_to_its_limit(dtype):
    """sigmoid(x) = 1 - e^-x rounds to 1 once e^-x is below half the spacing
    under 1 (x > 17.3 in float32, 37.5 in float64), silu(x) then to x, and
    silu'(x) = 1 + x e^-x to 1 once x e^-x is below half the spacing above
    1 (x > 20, 41): the quotient 1 / (1 + e) and its correction (float64
    takes 1 / (1 + e) from Newton's steps) must leave nothing behind. With
    three steps instead of four, float64 silu was 2^-33 off, 5.75e5 ulp, at
    x = 1664."""
    f32 = dtype == np.float32
    huge = np.finfo(dtype).max
    for top, name, limit in ((18.0 if f32 else 38.0, "sigmoid", "one"),
                             (18.0 if f32 else 38.0, "silu", "x"),
                             (18.0 if f32 else 38.0, "softplus_backward", "one"),
                             (22.0 if f32 else 45.0, "silu_backward", "one")):
        x = np.concatenate([np.geomspace(top, huge / 2, 2000), [huge]]).astype(dtype)
        ones = np.ones_like(x)
        got = (getattr(fastnl, name)(ones, x) if name.endswith("_backward")
               else getattr(fastnl, name)(x))
        assert np.array_equal(got, ones if limit == "one" else x), name


def _with_specials(rng, n, dtype):
    x = (rng.standard_normal(n) * 10).astype(dtype)
    x[::7], x[3::11], x[5::13], x[6::17], x[1::19] = np.nan, -np.nan, np.inf, -np.inf, -0.0
    x[4::23] = np.finfo(dtype).smallest_subnormal
    return x


def _canonical_nan(a):
    return np.where(np.isnan(a), np.nan, a).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_same_bits_wherever_a_call_starts_or_writes(name, params, dtype):
    """The memory-bound kernels run the elements before their output's first
    64-byte boundary apart (fnl_apply): an output at any offset, a short call
    and a long one, and 1 or 2 threads give the same bits, NaN signs
    included. Short calls take a loop's scalar remainder, so for every
    kernel they give the long call's values (NaN signs aside: where two
    NaNs meet, some heavier kernels' vector and scalar code keep another)."""
    rng = np.random.default_rng(1)
    n = 3000
    x = _with_specials(rng, n, dtype)
    g = rng.standard_normal(n).astype(dtype)
    g[2::29] = np.nan
    forward = getattr(fastnl, name)
    backward = getattr(fastnl, name + "_backward")
    calls = [(lambda out=None, s=slice(None): forward(x[s], **params, out=out)),
             (lambda out=None, s=slice(None): backward(g[s], x[s], **params, out=out))]
    for call in calls:
        long = call()
        if isinstance(long, tuple):  # prelu_backward: (grad_input, grad_weight), no out=
            continue
        want = long.tobytes()
        for shift in range(0, 64, x.itemsize):
            buf = np.empty(n + 128 // x.itemsize, dtype)
            start = (-buf.ctypes.data % 64 + shift) // x.itemsize
            out = buf[start:start + n]
            assert out.ctypes.data % 64 == shift
            assert call(out=out).tobytes() == want, shift
        for at in range(0, 300, 7):
            short = call(s=slice(at, at + 1 + at % 13))
            assert _canonical_nan(short) == _canonical_nan(long[at:at + 1 + at % 13]), at
    big = _with_specials(rng, 200_000, dtype)
    with fastnl.num_threads(1):
        one = forward(big, **params).tobytes()
    with fastnl.num_threads(2):
        assert forward(big, **params).tobytes() == one


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_no_floating_point_warnings(name, params, dtype):
    x = reference.sweep(dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        getattr(fastnl, name)(x, **params)


# ---------------------------------------------------------------- special values

INF, NAN = math.inf, math.nan
SELU_SCALE_DIGITS = "1.0507009873554804934193349852946"
SELU_ALPHA_DIGITS = "1.6732632423543772848170429916717"
SELU_SCALE, SELU_ALPHA = float(SELU_SCALE_DIGITS), float(SELU_ALPHA_DIGITS)
# selu's limit at -inf, the exact product rounded once (1.7580993408473768;
# torch's product of the two rounded doubles is 1.7580993408473766)
SELU_LIMIT = -float(Fraction(SELU_SCALE_DIGITS) * Fraction(SELU_ALPHA_DIGITS))

# (function, params, x, expected): limits at +-inf, the exact cut-off points of
# each function, signed zeros and huge finite inputs, all from the definitions.
SPECIAL = [
    ("relu", {}, -INF, 0.0), ("relu", {}, INF, INF), ("relu", {}, -0.0, -0.0),
    ("relu", {}, 1e30, 1e30), ("relu", {}, -1e30, 0.0),
    ("relu6", {}, 6.0, 6.0), ("relu6", {}, 7.0, 6.0), ("relu6", {}, INF, 6.0),
    ("relu6", {}, -INF, 0.0),
    ("leaky_relu", {}, -INF, -INF), ("leaky_relu", {}, -0.0, -0.0),
    ("leaky_relu", {"negative_slope": 0.5}, -1e30, -5e29),
    ("elu", {}, -INF, -1.0), ("elu", {}, INF, INF), ("elu", {}, -1e30, -1.0),
    ("elu", {}, -0.0, -0.0), ("elu", {"alpha": 2.0}, -INF, -2.0),
    ("celu", {"alpha": 2.0}, -INF, -2.0), ("celu", {}, 1e30, 1e30),
    ("selu", {}, -INF, SELU_LIMIT), ("selu", {}, INF, INF),
    ("selu", {}, 1.0, SELU_SCALE),
    ("gelu", {}, -INF, -0.0), ("gelu", {}, INF, INF), ("gelu", {}, 1e30, 1e30),
    ("gelu", {}, -1e30, -0.0), ("gelu", {}, 0.0, 0.0),
    ("gelu", {"approximate": "tanh"}, -INF, -0.0), ("gelu", {"approximate": "tanh"}, INF, INF),
    ("gelu", {"approximate": "tanh"}, 1e30, 1e30), ("gelu", {"approximate": "tanh"}, -1e30, -0.0),
    ("softplus", {}, -INF, 0.0), ("softplus", {}, INF, INF), ("softplus", {}, 0.0, math.log(2)),
    ("softplus", {}, 1e30, 1e30), ("softplus", {}, 21.0, 21.0),
    ("softplus", {"threshold": 1000.0}, 800.0, 800.0),  # no overflow below the threshold
    ("softplus", {}, 20.0, 20.0 + math.log1p(math.exp(-20.0))),  # at the threshold: the log form
    ("softplus", {"beta": 2.0, "threshold": 10.0}, 5.0, 5.0 + math.log1p(math.exp(-10.0)) / 2),
    ("softplus", {"beta": 2.0, "threshold": 10.0}, 5.5, 5.5),
    ("sigmoid", {}, -INF, 0.0), ("sigmoid", {}, INF, 1.0), ("sigmoid", {}, 0.0, 0.5),
    ("sigmoid", {}, -1e30, 0.0), ("sigmoid", {}, 1e30, 1.0),
    ("tanh", {}, -INF, -1.0), ("tanh", {}, INF, 1.0), ("tanh", {}, -0.0, -0.0),
    ("softsign", {}, -INF, -1.0), ("softsign", {}, INF, 1.0), ("softsign", {}, 1.0, 0.5),
    ("softsign", {}, -0.0, -0.0),
    ("hardtanh", {}, -INF, -1.0), ("hardtanh", {}, INF, 1.0), ("hardtanh", {}, -1.0, -1.0),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}, 0.75, 0.5),
    ("threshold", {"threshold": 1.0, "value": -5.0}, 1.0, -5.0),
    ("threshold", {"threshold": 1.0, "value": -5.0}, 1.5, 1.5),
    ("threshold", {"threshold": 1.0, "value": -5.0}, -INF, -5.0),
    ("tanhshrink", {}, INF, INF), ("tanhshrink", {}, -INF, -INF), ("tanhshrink", {}, 0.0, 0.0),
    ("softshrink", {}, 0.5, 0.0), ("softshrink", {}, -0.5, 0.0), ("softshrink", {}, 0.75, 0.25),
    ("softshrink", {}, -INF, -INF), ("softshrink", {}, INF, INF),
    ("hardshrink", {}, 0.5, 0.0), ("hardshrink", {}, -0.5, 0.0), ("hardshrink", {}, 0.75, 0.75),
    ("hardshrink", {"lambd": 0.0}, -0.0, 0.0), ("hardshrink", {}, -INF, -INF),
    ("logsigmoid", {}, -INF, -INF), ("logsigmoid", {}, INF, 0.0), ("logsigmoid", {}, 0.0, -math.log(2)),
    ("logsigmoid", {}, -1e30, -1e30), ("logsigmoid", {}, -1000.0, -1000.0),
    ("silu", {}, -INF, -0.0), ("silu", {}, INF, INF), ("silu", {}, -1e30, -0.0),
    ("silu", {}, 1e30, 1e30),
    ("mish", {}, -INF, -0.0), ("mish", {}, INF, INF), ("mish", {}, -1e30, -0.0),
    ("mish", {}, 1e30, 1e30),
    ("hardsigmoid", {}, -3.0, 0.0), ("hardsigmoid", {}, 3.0, 1.0), ("hardsigmoid", {}, 0.0, 0.5),
    ("hardsigmoid", {}, -INF, 0.0), ("hardsigmoid", {}, INF, 1.0),
    ("hardswish", {}, -3.0, -0.0), ("hardswish", {}, 3.0, 3.0), ("hardswish", {}, -INF, -0.0),
    ("hardswish", {}, INF, INF), ("hardswish", {}, 1e30, 1e30), ("hardswish", {}, -1e30, -0.0),
    ("hardswish", {}, 3e38, 3e38),  # x * 6 / 6 would overflow float32
]


def _same(got, expected):
    got = float(got)
    if math.isnan(expected):
        return math.isnan(got)
    return got == expected and math.copysign(1, got) == math.copysign(1, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params, x, expected", SPECIAL,
                         ids=[f"{c[0]}({c[2]})-{i}" for i, c in enumerate(SPECIAL)])
def test_special_values(name, params, x, expected, dtype):
    if not math.isinf(x) and abs(x) > np.finfo(dtype).max:
        pytest.skip("not representable in this dtype")
    got = getattr(fastnl, name)(np.array([x], dtype=dtype), **params)[0]
    want = float(np.asarray(expected, dtype=dtype))  # rounded as the dtype holds it
    assert _same(got, want), f"{name}{params}({x}) = {got!r}, expected {want!r}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_nan_in_nan_out(name, params, dtype):
    assert np.isnan(getattr(fastnl, name)(np.array([np.nan], dtype=dtype), **params)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_subnormal_inputs(name, params, dtype):
    """Subnormals are not flushed: f(s) agrees with the reference at the
    smallest subnormals too (relu and friends return them exactly)."""
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([tiny, -tiny, 3 * tiny, -7 * tiny], dtype=dtype)
    got = getattr(fastnl, name)(x, **params)
    assert_within_tolerance(name, params, x, got)
    if (name, params) in [("relu", {}), ("leaky_relu", {}), ("hardshrink", {"lambd": 0.0})]:
        assert got[0] == tiny


@pytest.mark.parametrize("dtype", DTYPES)
def test_hardsigmoid_and_hardswish_round_once(dtype):
    """(x + 3) / 6 and x (x + 3) / 6 from the exact sum and product, divided
    by 6 with one correction step: within half an ulp but for a near-tie
    (0.5005 at most on 3e6 float64 points; float32 is exact on every input,
    the accuracy table). Rounded twice (float64 hardsigmoid) and three times
    (float64 hardswish, x (c / 6)) they reached 1.0 and 1.78."""
    rng = np.random.default_rng(19)
    x = np.concatenate([rng.uniform(-3, 3, 20000), np.linspace(-3, 3, 6001),
                        [np.nextafter(-3, 0), np.nextafter(3, 0), -1.5, 1e-300]]).astype(dtype)
    for name in ("hardsigmoid", "hardswish"):
        got = getattr(fastnl, name)(x)
        err = reference.ulp_error(got, reference.exact(name, x))
        assert err.max() <= 0.51, (name, x[np.argmax(err)], err.max())



@pytest.mark.parametrize("b", [1e-50, 1e-30, 1e39, 1e300, 1.7e308])
def test_squareplus_float32_with_b_beyond_float32(b):
    """b is a float64 parameter: a float32 input keeps it as it is, where
    rounding it to float32 (0 or inf) gave 0 or NaN for results float32 holds
    (b = 1e39: sqrt(b) / 2 = 1.6e19 at x = 0; b = 1e-50: 5e-26). Beyond
    2^996 the derivative's denominator s (s - x) would overflow without its
    scaling (0 where the slope is 1/2)."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-45, 38, 2000),
                        [0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38]]).astype(np.float32)
    assert_within_tolerance("squareplus", {"b": b}, x, fastnl.squareplus(x, b=b))
    assert_within_tolerance("squareplus", {"b": b}, x,
                            fastnl.squareplus_backward(np.ones_like(x), x, b=b), derivative=True)

# ---------------------------------------------------------------- prelu, rrelu

@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (2, 3, 4, 5), (2, 3, 0)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_prelu_per_channel(shape, order, rng):
    x = np.asarray(rng.standard_normal(shape), order=order)
    channels = shape[1] if len(shape) >= 2 else (shape[0] if shape else 1)
    weight = rng.uniform(-0.5, 0.5, channels)
    got = fastnl.prelu(x, weight)
    np.testing.assert_array_equal(got, reference.prelu(x, weight))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1000, 7), (3, 5000), (2, 4099), (9000,), (700, 3, 2, 2),
                                   (40, 5, 4, 4), (3, 2, 3000)])
def test_prelu_layouts_against_reference(shape, dtype, rng):
    # (N, C) and 1-d inputs: one weight per element in tasks of 4096 elements
    # whose runs of weights start anywhere in a row (7 channels), span a task
    # (5000, 4099, 9000); blocks below 16 elements read as weights repeated
    # per element (2 x 2); longer blocks one weight each. The gradient against
    # the reference: grad_x exactly; grad_weight, summed in float64 in
    # another order, within 1e-12 of its sum of |x g|; the same bits on one
    # and two threads, and in place (out=x: the sums read x before it is
    # overwritten)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::97] = np.nan
    g = rng.standard_normal(shape).astype(dtype)
    channels = shape[1] if len(shape) >= 2 else shape[0]
    weight = rng.uniform(-0.5, 0.5, channels).astype(dtype)
    wb = weight.reshape((-1,) + (1,) * (x.ndim - 2))  # the channel axis
    np.testing.assert_array_equal(fastnl.prelu(x, weight), np.where(x > 0, x, x * wb))
    runs = []
    for n in (1, 2):
        with fastnl.num_threads(n):
            runs.append(fastnl.prelu_backward(g, x, weight))
    grad_x, grad_w = runs[0]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(runs[0], runs[1]))
    want_x = np.where(x > 0, g, g * wb)
    np.testing.assert_array_equal(grad_x, want_x)
    axes = (0,) + tuple(range(2, x.ndim)) if x.ndim >= 2 else None
    terms = np.where(x > 0, 0.0, x.astype(np.float64) * g)
    clean = ~np.isnan(x)
    want_w = (np.sum(np.where(clean, terms, 0), axis=axes) if x.ndim >= 2
              else np.where(clean, terms, 0))
    scale = (np.sum(np.abs(np.where(clean, terms, 0)), axis=axes) if x.ndim >= 2
             else np.abs(want_w))
    nan_w = (np.isnan(terms).any(axis=axes) if x.ndim >= 2 else np.isnan(terms))
    assert np.array_equal(np.isnan(grad_w), nan_w)
    ok = ~nan_w
    np.testing.assert_array_less(np.abs(grad_w[ok] - want_w[ok].astype(dtype)),
                                 1e-12 * scale[ok] + 4 * np.finfo(dtype).eps * np.abs(want_w[ok])
                                 + np.finfo(dtype).tiny)
    xc = x.copy()
    in_place = fastnl.prelu_backward(g, xc, weight, out=xc)
    assert in_place[0] is xc
    np.testing.assert_array_equal(xc, grad_x)
    np.testing.assert_array_equal(in_place[1], grad_w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prelu_small_call_path_has_the_general_paths_bits(dtype, rng):
    # plain arrays: one C call (_elementwise.prelu_fast), the general path's
    # loops (threaded beyond the grain: 300 x 327); rrelu's slopes in
    # training too (per element)
    from fastnl._kernels import _elementwise
    for shape in [(5,), (4, 3), (2, 3, 4, 5), (2, 3, 40), (100, 327), (300, 327), (2, 3, 9000)]:
        x = rng.standard_normal(shape).astype(dtype)
        x.flat[:4] = [np.nan, -0.0, np.inf, -np.inf][:x.size]
        channels = shape[1] if len(shape) >= 2 else shape[0]
        for weight in (rng.uniform(-0.5, 0.5, channels).astype(dtype), np.array([0.3], dtype)):
            fast = _elementwise.prelu_fast(x, weight, False)
            assert fast is not None
            general = fastnl.prelu(x, weight, out=np.empty_like(x))  # out=: the general path
            assert fast.tobytes() == general.tobytes() and fast.dtype == dtype
            assert fastnl.prelu(x, weight).tobytes() == general.tobytes()
        slopes = rng.uniform(0.1, 0.3, x.size).astype(dtype)
        fast = _elementwise.prelu_fast(x, slopes, True)
        assert fast.tobytes() == fastnl.prelu(x.reshape(-1), slopes, out=np.empty(x.size, dtype)).tobytes()
    x = np.ones((4, 3), dtype)
    w = np.ones(3, dtype)
    for args in ((x, w.astype(np.float16)), (x, w[:2]), (x, w.reshape(1, 3)), (x.T, w),
                 (x[:, :2], w[:2]), (x.astype(">f8"), w), (x.tolist(), w), (x[:0], w),
                 (np.ones((4, 3, 2, 2), dtype), w)):  # blocks of 4: the driver's repeats
        assert _elementwise.prelu_fast(*args, False) is None
    assert _elementwise.prelu_fast(x, np.ones(11, dtype), True) is None


def test_prelu_weight_errors():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="weight has 2 elements"):
        fastnl.prelu(x, [0.1, 0.2])
    with pytest.raises(ValueError, match="1-d"):
        fastnl.prelu(x, np.ones((3, 1)))
    with pytest.raises(TypeError, match="complex"):
        fastnl.prelu(x, np.ones(3, complex))


def test_rrelu_training_reproducible_and_in_range():
    x = np.random.default_rng(1).standard_normal(200_000)
    a, noise = fastnl.rrelu(x, 0.1, 0.3, training=True, rng=7, return_noise=True)
    b = fastnl.rrelu(x, 0.1, 0.3, training=True, rng=np.random.default_rng(7))
    c = fastnl.rrelu(x, 0.1, 0.3, training=True, rng=8)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    neg = x <= 0
    assert np.all(noise[~neg] == 1)
    assert np.all((noise[neg] >= 0.1) & (noise[neg] <= 0.3))
    np.testing.assert_array_equal(a, reference.rrelu(x, noise=noise))
    # U(0.1, 0.3): mean 0.2, standard error 0.2 / sqrt(12 n); 6 sigma cannot fail by chance.
    n = neg.sum()
    assert abs(noise[neg].mean() - 0.2) < 6 * 0.2 / math.sqrt(12 * n)


def test_rrelu_training_layout_independent():
    x = np.random.default_rng(2).standard_normal((300, 200))
    c = fastnl.rrelu(x, training=True, rng=3)
    f = fastnl.rrelu(np.asfortranarray(x), training=True, rng=3)
    np.testing.assert_array_equal(c, f)


def test_rrelu_eval_noise_and_nan():
    y, noise = fastnl.rrelu([-2.0, 0.0, 3.0, np.nan], 0.1, 0.3, return_noise=True)
    np.testing.assert_allclose(noise, [0.2, 0.2, 1.0, 1.0])
    assert y[0] == -2.0 * 0.2 and np.isnan(y[3])


def test_rrelu_in_place_noise_uses_input_before_overwrite():
    x = np.array([-1.0, 2.0, -3.0])
    y, noise = fastnl.rrelu(x, -0.5, -0.25, training=True, rng=0, out=x, return_noise=True)
    assert y is x
    np.testing.assert_array_equal(noise[1], 1.0)
    assert np.all(noise[[0, 2]] < 0)


# ---------------------------------------------------------------- parameter errors

@pytest.mark.parametrize("call, error, match", [
    (lambda: fastnl.softshrink([1.0], lambd=-0.1), ValueError, "lambd"),
    (lambda: fastnl.hardshrink([1.0], lambd=-0.1), ValueError, "lambd"),
    (lambda: fastnl.rrelu([1.0], lower=0.5, upper=0.1), ValueError, "lower"),
    (lambda: fastnl.hardtanh([1.0], min_val=1.0, max_val=-1.0), ValueError, "min_val"),
    (lambda: fastnl.gelu([1.0], approximate="erf"), ValueError, "approximate"),
    (lambda: fastnl.celu([1.0], alpha=0.0), ValueError, "alpha"),
    (lambda: fastnl.softplus([1.0], beta=0.0), ValueError, "beta"),
    (lambda: fastnl.leaky_relu([1.0], negative_slope="a"), TypeError, "negative_slope"),
    (lambda: fastnl.leaky_relu([1.0], negative_slope=np.nan), ValueError, "negative_slope"),
    (lambda: fastnl.elu([1.0], alpha=np.inf), ValueError, "alpha"),
    (lambda: fastnl.elu([1.0], alpha=1j), TypeError, "alpha"),
    (lambda: fastnl.threshold([1.0], np.nan, 0.0), ValueError, "threshold"),
    (lambda: fastnl.rrelu([1.0], training=True, rng="seed"), TypeError, "rng"),
])
def test_invalid_parameters(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- torch parity

def _torch_call(torch, name, x, params):
    F = torch.nn.functional
    if name == "prelu":
        return F.prelu(x, torch.as_tensor(params["weight"], dtype=x.dtype))
    if name == "rrelu":
        return F.rrelu(x, training=False, **params)
    if name in ("sigmoid", "tanh"):
        return getattr(torch, name)(x)
    return getattr(F, name)(x, **params)


# Where torch 2.13 returns NaN (for some dtypes: gelu(inf) only in float32)
# and fastnl the mathematical limit, as documented in the docstrings.
TORCH_NAN_AT = {("gelu", -INF), ("gelu", INF), ("softsign", INF), ("softsign", -INF),
                ("silu", -INF), ("mish", -INF), ("hardswish", -INF)}


# torch's own formulas are less accurate than the plain measure's tolerances,
# so the comparison with torch counts errors against max(|f(x)|, |x f'(x)|):
# what rounding the input by one ulp moves the result, which neither library
# avoids; 8 units of eps of that on either side.
TORCH_ERROR = 8.0


def torch_error_scale(name, x, ref, params):
    """max(|f(x)|, |x f'(x)|), f' from the reference."""
    with np.errstate(all="ignore"):
        slope = np.abs(x * reference.exact(name, x, params, derivative=True).astype(np.float64))
    return np.maximum(np.abs(ref), np.where(np.isfinite(slope), slope, 0.0))


def assert_close_to_torch(name, params, x, ours, theirs):
    """Finite results within 2 * TORCH_ERROR (both sides round) units of
    eps * max(|f|, |x f'|), widened where torch's own formula is less accurate
    than ours: by eps * |x| for GELU (its 1 + erf(...) and 1 + tanh(...) cancel
    for x << 0, e.g. gelu(-8.4) is -0.0 in torch, -2.3e-16 here) and for
    tanhshrink in float16 (torch subtracts in float16), and by max(1, |x|)
    times the dtype's smallest normal number, where torch's formulas
    underflow early (in float32, sigmoid(-89.6) is 0 in torch, 1.2e-39 here,
    and silu(-89.6) = -89.6 * sigmoid(-89.6) is -0.0 in torch, -1.1e-37 here)."""
    info = np.finfo(ours.dtype)
    x64, ours64, theirs64 = (np.asarray(a, dtype=np.float64) for a in (x, ours, theirs))
    scale = torch_error_scale(name, x64, theirs64, params)
    if name in ("gelu", "tanhshrink"):
        scale = np.maximum(scale, np.abs(x64))
    allowed = (2 * TORCH_ERROR * float(info.eps) * scale
               + float(info.tiny) * np.maximum(1.0, np.abs(x64)))
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf
        bad = ~((ours64 == theirs64) | (np.abs(ours64 - theirs64) <= allowed))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise AssertionError(f"{name}{params} at x={x[i]!r}: ours {ours[i]!r}, torch {theirs[i]!r}")


# Where torch 2.13 returns NaN (for some dtypes: gelu(inf) only in float32)
# and fastnl the mathematical limit, as documented in the docstrings.
TORCH_NAN_AT = {("gelu", -INF), ("gelu", INF), ("softsign", INF), ("softsign", -INF),
                ("silu", -INF), ("mish", -INF), ("hardswish", -INF)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params", reference.TORCH_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(reference.TORCH_CASES)])
def test_matches_torch(name, params, dtype, torch):
    """Finite inputs: close to torch (see assert_close_to_torch). Infinite and
    NaN inputs: equal, except where torch returns NaN and we the limit."""
    x = reference.sweep(dtype)
    ours = getattr(fastnl, name)(x, **params)
    theirs = _torch_call(torch, name, torch.from_numpy(x.copy()), params).numpy()
    finite = np.isfinite(x)
    if name == "softplus" and params.get("threshold", 20.0) > 80:
        # torch evaluates log1p(exp(beta * x)) below the threshold and overflows
        # to inf beyond exp's range; we return the finite value.
        overflow = finite & np.isinf(theirs)
        assert overflow.any() and np.all(np.isfinite(ours[overflow]))
        finite &= ~overflow
    assert_close_to_torch(name, params, x[finite], ours[finite], theirs[finite])
    for value in (-INF, INF, NAN):
        i = np.flatnonzero(np.isnan(x) if math.isnan(value) else x == value)[0]
        if (name, value) in TORCH_NAN_AT and np.isnan(theirs[i]):
            assert not np.isnan(ours[i])  # the limit itself: test_special_values
        elif (name, value, ours.dtype) == ("selu", -INF, np.float64):
            # the exact limit (test_special_values), one ulp from torch's
            # product of the two rounded constants
            assert ours[i] == SELU_LIMIT and float(theirs[i]) == -SELU_SCALE * SELU_ALPHA
        else:
            assert _same(ours[i], float(theirs[i])) or (np.isnan(ours[i]) and np.isnan(theirs[i]))


def test_float16_matches_torch(torch):
    """Both compute in float32 (torch for most functions) and round to float16."""
    x = np.linspace(-10, 10, 2001).astype(np.float16)
    for name, params in reference.TORCH_CASES:
        ours = getattr(fastnl, name)(x, **params)
        theirs = _torch_call(torch, name, torch.from_numpy(x.copy()), params).numpy()
        assert ours.dtype == np.float16
        assert_close_to_torch(name, params, x, ours, theirs)
