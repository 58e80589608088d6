"""Backward passes of the elementwise activations: against the reference's
analytic derivatives in the plain measure (both dtypes, tails included),
against central finite differences of the reference, against torch autograd
(kinks included), at infinities, and the array contract (dtypes, layouts,
out=, threads)."""

import inspect
import math

import numpy as np
import pytest

import fastnl
from fastnl import _ops, _reference as reference

CASES = reference.CASES
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
INF = math.inf


def backward(name, params, g, x, **kwargs):
    if name == "prelu":
        return fastnl.prelu_backward(g, x, **params, **kwargs)[0]
    return getattr(fastnl, f"{name}_backward")(g, x, **params, **kwargs)


ROWS = {a.name: a for a in _ops.ACTIVATIONS}


def table_values(name, params, expressions):
    """The table's expressions (kinks, limits) of a setting, evaluated with
    the function's defaults and the setting's parameters."""
    names = {k: p.default for k, p in inspect.signature(getattr(fastnl, name)).parameters.items()
             if p.default is not inspect.Parameter.empty}
    names.update({k: np.asarray(v) for k, v in params.items()})
    return [float(eval(e, {"__builtins__": {}}, names)) for e in expressions]


def kinks(name, params):
    """Points where the function is not differentiable (or its derivative
    jumps): the table's. softsign's f'' jumps at 0, so its difference
    quotient is off by h there."""
    return table_values(name, params, ROWS[name].kinks)


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_matches_finite_differences(name, params, rng):
    """float64: g * f'(x) against g * (f(x + h) - f(x - h)) / 2h of the reference,
    h = 1e-6 max(1, |x|). The difference quotient is off by about
    eps |f| / h + h^2 |f'''| ~ 1e-9 for these functions on [-20, 20]; points
    within 1e-4 of a kink are left out. Tolerance 1e-7 relative + 1e-7 absolute."""
    x = np.concatenate([np.linspace(-20, 20, 4001), rng.uniform(-8, 8, 2000)])
    for k in kinks(name, params):
        x = x[np.abs(x - k) > 1e-4]
    g = rng.uniform(0.5, 2.0, x.size) * rng.choice([-1, 1], x.size)
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    f = getattr(reference, name)
    fd = (f(x + h, **params) - f(x - h, **params)) / (2 * h)
    got = backward(name, params, g, x)
    np.testing.assert_allclose(got, g * fd, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_matches_reference_derivative(name, params, dtype, n_threads):
    """<name>_backward with grad_output = 1 is f'(x): within the setting's
    tolerance (``_reference.tolerance``) of the exact derivative, in ulp of
    the exact value, on the forward's sweep (NaN inputs aside: the derivative
    there is torch's convention, tested below)."""
    if not reference.measurable(dtype):  # not on x86-64 Linux, where CI runs
        pytest.skip("this platform's long double is float64: float64 not measurable")
    x = reference.sweep(dtype)
    x = x[~np.isnan(x)]
    got = backward(name, params, np.ones_like(x), x)
    assert got.dtype == dtype
    exact = reference.exact(name, x, params, derivative=True)
    err = reference.ulp_error(got, exact)
    allowed, why = reference.tolerance(dtype, name, params, derivative=True)
    worst = int(np.argmax(err))
    assert err[worst] <= allowed, (
        f"{name}_backward{params}: {err[worst]:.4g} ulp at x={x[worst]!r}: got {got[worst]!r}, "
        f"exact {float(exact[worst])!r} (allowed {allowed:g}: {why})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_limits_at_infinity_and_nan(name, params, dtype):
    """f'(-inf) and f'(inf) as the table gives them (from the definitions)."""
    got = backward(name, params, np.ones(3, dtype), np.array([-INF, INF, 0.0], dtype))
    low, high = table_values(name, params, ROWS[name].derivative_limits)
    assert got[0] == np.asarray(low, dtype) and got[1] == np.asarray(high, dtype)
    # A NaN gradient flows through every non-zero derivative.
    slope = backward(name, params, np.ones(1, dtype), np.array([1e-3], dtype))[0]
    assert np.isnan(backward(name, params, np.array([np.nan], dtype), np.array([1e-3], dtype))[0]) \
        or slope == 0
    # So does an infinite one, as g times a finite non-zero derivative.
    if slope != 0:
        got = backward(name, params, np.array([INF, -INF], dtype), np.array([1e-3, 1e-3], dtype))
        np.testing.assert_array_equal(got, [np.copysign(INF, slope), -np.copysign(INF, slope)])


# ---------------------------------------------------------------- torch autograd

# torch's own derivatives cancel where ours do not (1 - tanh^2, 1 + tanh(u)):
# the comparison allows 8 eps on either side, scaled as the test says.
TORCH_ERROR = 8.0


def torch_backward(torch, name, params, g, x):
    F = torch.nn.functional
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    if name == "prelu":
        y = F.prelu(xt, torch.as_tensor(params["weight"], dtype=xt.dtype))
    elif name == "rrelu":
        y = F.rrelu(xt, training=False, **params)
    elif name in ("sigmoid", "tanh"):
        y = getattr(torch, name)(xt)
    else:
        y = getattr(F, name)(xt, **params)
    y.backward(torch.from_numpy(g.copy()))
    return xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params", reference.TORCH_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(reference.TORCH_CASES)])
def test_matches_torch_autograd(name, params, dtype, torch, rng):
    """On [-10, 10] plus every kink point exactly (where the sub-gradient is a
    convention and must be torch's). torch evaluates several derivatives with
    cancellation (1 - tanh^2, 1 + tanh(u)) whose absolute error grows like
    eps x^2 for GELU's tanh form, hence atol = 16 eps max(1, x^2) |g|."""
    x = np.concatenate([np.linspace(-10, 10, 2001), kinks(name, params)]).astype(dtype)
    g = rng.uniform(-2, 2, x.size).astype(dtype)
    ours = backward(name, params, g, x)
    theirs = torch_backward(torch, name, params, g, x)
    eps = float(np.finfo(dtype).eps)
    atol = 2 * TORCH_ERROR * eps * np.maximum(1.0, x.astype(float) ** 2) * np.abs(g)
    rtol = 2 * TORCH_ERROR * eps
    if name == "hardsigmoid":
        rtol = max(rtol, 6e-8)  # torch multiplies by 1/6 rounded to float32, even in float64
    bad = np.abs(ours.astype(float) - theirs) > atol + rtol * np.abs(theirs)
    assert not bad.any(), (f"x={x[bad][:3]}, g={g[bad][:3]}: ours {ours[bad][:3]}, "
                           f"torch {theirs[bad][:3]}")


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4, 5)])
def test_prelu_backward_matches_torch(shape, torch, rng):
    x = rng.standard_normal(shape)
    weights = [np.array([0.3])]
    if len(shape) >= 2:  # torch 2.13 has no channels for 1-d input; fastnl.prelu uses axis 0
        weights.append(rng.uniform(0, 0.5, shape[1]))
    for weight in weights:
        g = rng.standard_normal(shape)
        grad_x, grad_w = fastnl.prelu_backward(g, x, weight)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        wt = torch.from_numpy(weight.copy()).requires_grad_(True)
        torch.nn.functional.prelu(xt, wt).backward(torch.from_numpy(g))
        np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-14)
        np.testing.assert_allclose(grad_w, wt.grad.numpy(), rtol=1e-12)
        assert grad_w.shape == weight.shape


def test_prelu_backward_finite_differences_of_weight(rng):
    x, g = rng.standard_normal((6, 3, 7)), rng.standard_normal((6, 3, 7))
    w = np.array([0.1, 0.2, 0.3])
    _, grad_w = fastnl.prelu_backward(g, x, w)
    for c in range(3):
        e = np.zeros(3)
        e[c] = 1e-6
        fd = (np.sum(g * reference.prelu(x, w + e)) - np.sum(g * reference.prelu(x, w - e))) / 2e-6
        assert abs(grad_w[c] - fd) < 1e-7 * max(1, abs(fd))


def test_prelu_backward_weight_grad_independent_of_threads():
    x = np.random.default_rng(0).standard_normal((64, 8, 1000)).astype(np.float32)
    results = []
    for n in (1, 2):
        with fastnl.num_threads(n):
            for w in ([0.25], np.linspace(0, 1, 8)):
                results.append(fastnl.prelu_backward(x, x, w)[1].tobytes())
    assert results[:2] == results[2:]


def test_rrelu_backward_uses_the_slopes_drawn(torch):
    x = np.random.default_rng(0).standard_normal(1000)
    g = np.random.default_rng(1).standard_normal(1000)
    y, noise = fastnl.rrelu(x, training=True, rng=3, return_noise=True)
    np.testing.assert_array_equal(fastnl.rrelu_backward(g, x, training=True, noise=noise), g * noise)
    np.testing.assert_array_equal(fastnl.rrelu_backward(g, x),
                                  fastnl.leaky_relu_backward(g, x, (1 / 8 + 1 / 3) / 2))
    with pytest.raises(ValueError, match="noise"):
        fastnl.rrelu_backward(g, x, training=True)
    with pytest.raises(ValueError, match="shape"):
        fastnl.rrelu_backward(g, x, training=True, noise=noise[:5])


# ---------------------------------------------------------------- array contract

@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_layouts_dtypes_out_and_threads(name, params, rng):
    x = rng.standard_normal((300, 250)) * 4
    g = rng.standard_normal((300, 250))
    expected = backward(name, params, g, x)
    # Mixed layouts give the same numbers.
    np.testing.assert_array_equal(backward(name, params, np.asfortranarray(g), x), expected)
    np.testing.assert_array_equal(backward(name, params, g[::-1][::-1], np.asfortranarray(x)),
                                  expected)
    # Thread count does not change a bit.
    with fastnl.num_threads(1):
        assert backward(name, params, g, x).tobytes() == expected.tobytes()
    # In place into grad_output; inputs untouched otherwise.
    x_before = x.copy()
    g2 = g.copy()
    assert backward(name, params, g2, x, out=g2) is g2
    np.testing.assert_array_equal(g2, expected)
    np.testing.assert_array_equal(x, x_before)
    # float32 with float32 stays float32; with float64 promotes to float64.
    assert backward(name, params, g.astype(np.float32), x.astype(np.float32)).dtype == np.float32
    assert backward(name, params, g.astype(np.float32), x).dtype == np.float64
    assert backward(name, params, g.astype(np.float16), x.astype(np.float16)).dtype == np.float16


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        fastnl.relu_backward(np.ones(3), np.ones(4))


@pytest.mark.parametrize("call, error", [
    (lambda: fastnl.softshrink_backward([1.0], [1.0], lambd=-1), ValueError),
    (lambda: fastnl.hardtanh_backward([1.0], [1.0], 2, 1), ValueError),
    (lambda: fastnl.gelu_backward([1.0], [1.0], approximate="x"), ValueError),
    (lambda: fastnl.relu_backward([1.0], np.ones(1, complex)), TypeError),
    (lambda: fastnl.relu_backward([1.0], [1.0], out=np.empty(1, np.float32)), TypeError),
])
def test_backward_errors(call, error):
    with pytest.raises(error):
        call()


# ---------------------------------------------------------------- from the output

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_backward_from_the_output(name, dtype, n_threads, rng):
    """<name>_backward(g, output=y): the derivative from the forward's
    result, torch's autograd form: as close to the one from x as y's own
    rounding allows (1 - |y| cancels as |y| nears 1, so the bound grows like
    |y| / (1 - |y|) eps, plus 8 eps for the few roundings of either form),
    the same bits for every layout, and NaN where y is NaN."""
    x = (rng.standard_normal(70_001) * 2).astype(dtype)
    g = rng.standard_normal(x.size).astype(dtype)
    y = getattr(fastnl, name)(x)
    backward = getattr(fastnl, f"{name}_backward")
    got = backward(g, output=y)
    assert got.dtype == dtype and got.shape == x.shape
    eps = float(np.finfo(dtype).eps)
    a = np.abs(y.astype(np.float64))
    want = backward(g, x).astype(np.float64)
    with np.errstate(divide="ignore"):  # y rounded to +-1: nothing left to compare
        bound = (8 + 2 * a / (1 - a)) * eps * np.abs(want) + 8 * float(np.finfo(dtype).tiny)
    assert np.all(np.abs(got - want) <= bound)
    strided = backward(g[::2], output=y[::2])
    assert strided.tobytes() == np.ascontiguousarray(got[::2]).tobytes()
    out = np.full_like(x, np.nan)
    assert backward(g, out=out, output=y) is out and out.tobytes() == got.tobytes()
    assert np.isnan(backward(np.ones(1, dtype), output=np.array([np.nan], dtype))[0])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_backward_from_the_output_matches_torch_bitwise(name, torch, rng):
    """The same operations in the same order as torch's aten kernel."""
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal(5000) * 3).astype(dtype)
        g = rng.standard_normal(x.size).astype(dtype)
        y = getattr(fastnl, name)(x)
        ours = getattr(fastnl, f"{name}_backward")(g, output=y)
        theirs = getattr(torch.ops.aten, f"{name}_backward")(torch.from_numpy(g),
                                                             torch.from_numpy(y)).numpy()
        assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_backward_takes_exactly_one_of_x_and_output(name):
    backward = getattr(fastnl, f"{name}_backward")
    with pytest.raises(TypeError, match="exactly one of x and output"):
        backward(np.ones(2), np.ones(2), output=np.ones(2))
    with pytest.raises(TypeError, match="exactly one of x and output"):
        backward(np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        backward(np.ones(2), output=np.ones(3))
    xr = pytest.importorskip("xarray")  # arrays of other libraries: x only (not computed)
    with pytest.raises(TypeError, match="pass x"):
        backward(np.ones(2), output=xr.DataArray(np.ones(2)))


def _assert_within_ulp_of_mpmath(mp, name, x, got, exact, bound):
    """Every got[i] within `bound` float64 ulp of exact(mp, x[i]) at 50 digits, in ulp
    of the exact value (the subnormal spacing below 2^-1022)."""
    with mp.workdps(50):
        for xi, gi in zip(x, got):
            want = exact(mp, mp.mpf(float(xi)))
            ulp = mp.mpf(2) ** max(mp.floor(mp.log(abs(want), 2)) - 52, -1074)
            err = abs(mp.mpf(float(gi)) - want) / ulp
            assert err <= bound, f"{name}'({xi!r}) = {gi!r}: {float(err):.3g} ulp"


def _mp_sigmoid(mp, z):
    return 1 / (1 + mp.exp(-z))


# float64 derivatives with a zero-window polynomial (fnl_activations.h): the
# call, the derivative at 50 digits, the window (mish's float64 kernel takes its
# polynomial only within 0.002 of the zero, its pairs elsewhere) and the double
# nearest the zero
ZERO_WINDOWS = {
    "gelu": (lambda g, x: fastnl.gelu_backward(g, x),
             lambda mp, x: mp.ncdf(x) + x * mp.npdf(x),
             (-1.5, -0.25), -0.7517915246935645),
    "gelu_tanh": (lambda g, x: fastnl.gelu_backward(g, x, approximate="tanh"),
                  lambda mp, x: (lambda u, du: _mp_sigmoid(mp, 2 * u) + 2 * x * du
                                 * _mp_sigmoid(mp, 2 * u) * _mp_sigmoid(mp, -2 * u))(
                      mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x ** 3),
                      mp.sqrt(2 / mp.pi) * (1 + 3 * mp.mpf("0.044715") * x * x)),
                  (-1.5, -0.375), -0.7524614220710163),
    "mish": (lambda g, x: fastnl.mish_backward(g, x),
             lambda mp, x: (lambda sp: mp.tanh(sp) + x * _mp_sigmoid(mp, x) * mp.sech(sp) ** 2)(
                 mp.log1p(mp.exp(x))),
             (-2.0, -0.75), -1.1924312145154952),
    "silu": (lambda g, x: fastnl.silu_backward(g, x),
             lambda mp, x: _mp_sigmoid(mp, x) * (1 + x * _mp_sigmoid(mp, -x)),
             (-1.5, -1.0), -1.2784645427610737),
}


@pytest.mark.parametrize("name, exact", [
    ("sigmoid", lambda mp, x: _mp_sigmoid(mp, x) * _mp_sigmoid(mp, -x)),
    ("tanh", lambda mp, x: mp.sech(x) ** 2)])
def test_float64_sigmoid_and_tanh_derivatives_against_mpmath(name, exact):
    # s (1 - s) from s = sigmoid(-|x|) as a double pair, rounded once: within
    # 0.65 ulp on the accuracy table's points, down into the subnormals
    # (|x| up to 745, or 372 for tanh); e / (1 + e)^2 rounded three times
    # reached 2.3 (sigmoid) and 3.7 (tanh)
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(13)
    top = 740.0 if name == "sigmoid" else 370.0
    x = np.concatenate([rng.uniform(-8, 8, 300), rng.uniform(-top, top, 100), [4.13, -1.95576]])
    got = getattr(fastnl, f"{name}_backward")(np.ones_like(x), x)
    _assert_within_ulp_of_mpmath(mpmath, name, x, got, exact, 1)


def test_float64_gelu_against_mpmath():
    # The forward takes Phi(-|x|) from the derivative's blocks (exp(-a^2)
    # and erfcx's polynomial, both with their last rounding kept apart, or
    # erf's series below erf(a) = 1/2): 1.49 ulp at most on the accuracy
    # table's float64 points, 1.56 on 4 x 10^6 points of [-8, 8] against long
    # double; without those corrections 2.31 (x = -1.8424) and, with erf's
    # series up to a = 1/2, 1.99 (x = -0.6947); rounded three times it
    # reached 4.2, Cephes' erfc (1 - a T(a^2)/U(a^2) below a = 1) 13.8 where
    # it cancels (x = -1.36): the aim's bound of 2.
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.uniform(-8, 8, 600), rng.uniform(-1.6, -1.2, 100),
                        [-1.36193, -1.84383, -1.842449430631083, -0.6946603780790745,
                         -0.7071067811865476, 0.7071067811865476, 1e-300]])
    _assert_within_ulp_of_mpmath(mpmath, "gelu", x, fastnl.gelu(x),
                                 lambda mp, x: x * mp.ncdf(x), 2)


def test_float64_gelu_tail_against_mpmath():
    # Below -8: -exp(-x^2/2) (C + v Q(v)), v = 1/x^2, rounded once (then into
    # the subnormals below -37.5, a second rounding there): 0.54 ulp at most
    # above the subnormals and 0.71 in them, on 22000 points of [-38.8, -8],
    # so 0.75 leaves the exp pair's 2^-56 and no more. Dropping the
    # correction Q's term times x^2's rounding (v Q l / 2) reached 0.96.
    # Below -38.75 the result is -0.0, as its exact value rounds.
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(14)
    x = np.concatenate([-rng.uniform(8, 38.6, 300), -rng.uniform(36.5, 38.6, 100),
                        [np.nextafter(-8.0, -9.0), -17.922855495770605, -35.0932561387156,
                         -37.62263310942781, -38.58]])
    _assert_within_ulp_of_mpmath(mpmath, "gelu", x, fastnl.gelu(x),
                                 lambda mp, x: x * mp.ncdf(x), 0.75)
    far = np.array([-38.8, -39.0, -1e10, -1e300, -np.inf])
    assert fastnl.gelu(far).tobytes() == np.full(5, -0.0).tobytes()


def test_float64_gelu_derivative_away_from_its_zero_against_mpmath():
    # Outside the zero's window, against mpmath: Phi(x) + x phi(x) from one exp and
    # erfcx's polynomial, measured at 1.76 ulp against long double on 10^7
    # points of [-40, -1.5] and 1.18 beyond -0.25; 2.44 (x = -6.7113) and
    # 2.41 (-14.055) with exp(-a^2)'s roundings (its reduction's and 1 + m's)
    # not kept apart (Cephes' form, before: 5.3 and 15.9).
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-8, -1.5, 400), rng.uniform(-0.25, 8, 300),
                        rng.uniform(-38, -8, 100), [-1.5 - 2 ** -50, -0.25 + 2 ** -54],
                        [-6.7112934739820975, -14.054962732369596, -6.607393887154835,
                         -13.805255287496973]])
    got = fastnl.gelu_backward(np.ones_like(x), x)
    _assert_within_ulp_of_mpmath(mpmath, "gelu", x, got, ZERO_WINDOWS["gelu"][1], 2)


def test_float64_gelu_tanh_derivative_in_its_tail_against_mpmath():
    # Below x = -21.1, 2u < -708 and exp(2u) is subnormal while the result,
    # about 4000 exp(2u), is not: the kernel takes exp(2u) 2^64 there and
    # rounds once into the subnormals (it was 1289 ulp at x = -21.2, 1511 at
    # -21.224 against mpmath). Elsewhere in [-30, -1.5] its three roundings
    # reach 4.4 ulp (measured on 2400 points), the bound held here.
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-21.6, -21.0, 300), rng.uniform(-21, -1.5, 200),
                        rng.uniform(-30, -21.6, 50)])
    got = fastnl.gelu_backward(np.ones_like(x), x, approximate="tanh")
    _assert_within_ulp_of_mpmath(mpmath, "gelu_tanh", x, got, ZERO_WINDOWS["gelu_tanh"][1], 4.5)


def test_float64_mish_derivative_against_mpmath():
    # tanh(sp) + x s(x) sech^2(sp) as N / D + 4 x M / D^2 in w = exp(-|x|),
    # both quotients corrected and the two terms added as exact pairs: 1.04
    # ulp at most beyond 0.002 of the zero (measured on 3e6 points of [-40,
    # 40] against the longdouble reference); rounded in turn they reached
    # 9.9 (x = -2.17). Within 0.002 of the zero the polynomial takes over
    # (the window test below).
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(17)
    x0 = ZERO_WINDOWS["mish"][3]
    x = np.concatenate([rng.uniform(-40, 40, 300), rng.uniform(-3, 1, 300),
                        [-2.1722, -9.5, 0.6675, 700.0, -700.0, x0 - 0.0021, x0 + 0.0021]])
    got = fastnl.mish_backward(np.ones_like(x), x)
    _assert_within_ulp_of_mpmath(mpmath, "mish", x, got, ZERO_WINDOWS["mish"][1], 1.1)


@pytest.mark.parametrize("name", sorted(ZERO_WINDOWS))
def test_float64_derivative_at_its_zero_against_mpmath(name):
    # Each window at 50 digits, independently of the longdouble reference:
    # random points across it, the 201 doubles nearest the zero, and its ends. The kernels'
    # polynomials were simulated at 1.73-1.78 ulp (measured against long double: gelu's and
    # the tanh form's 2.03 and 1.88, 1.25 and 1.07 with the last step's rounding kept apart,
    # x = -0.5138 and -0.5128); the plain forms were up to
    # 1548 (gelu), 10^15 (gelu_tanh: its absolute error next to a zero) and
    # 3758 (mish) ulp off. silu's window takes 1 + x + e from x - x0 instead
    # of a polynomial for the whole result: 1.10 ulp at most on 2 x 10^6
    # points of it against quad precision.
    mpmath = pytest.importorskip("mpmath")
    call, exact, (a, b), x0 = ZERO_WINDOWS[name]
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(a, b, 1000), [a, b],
                        x0 + np.arange(-100, 101) * np.spacing(x0)])
    _assert_within_ulp_of_mpmath(mpmath, name, x, call(np.ones_like(x), x), exact, 2)


def test_float32_gelu_derivative_by_pieces_within_1_7_ulp():
    """With AVX-512, float32 gelu' takes R(z) = exp(z^2/2) gelu'(-z) / (z -
    z0) by pieces (fnl_gelu_backward16_f): within 1.7 ulp (1.673 over every
    float32) on every 65537th float32 of [-16, 16], 20000 either side of
    the zero -z0 and 64 either side of every piece's edge; elsewhere the
    clones' form within its tolerance. The zero's factor z - z0 taken with
    the float32 z0 alone puts the result 10^7 ulp off at the zero."""
    from fastnl._kernels import _elementwise as _k
    pattern = np.arange(0, 1 << 32, 65537, dtype=np.uint64).astype(np.uint32).view(np.float32)
    zero = np.float32(-0.7517915247)
    near = zero + np.arange(-20000, 20001, dtype=np.float32) * np.spacing(zero)
    edges = np.array([5 / 64, 15.0] + [2.0 ** e * (1 + q / 4) for e in range(-4, 4)
                                       for q in range(4)], np.float32)
    edges = (edges[:, None] + np.arange(-64, 65, dtype=np.float32)
             * np.spacing(edges)[:, None]).reshape(-1)
    x = np.concatenate([pattern[np.abs(pattern) <= 16], near, edges, -edges])
    assert x.dtype == np.float32
    got = fastnl.gelu_backward(np.ones_like(x), x)
    err = reference.ulp_error(got, reference.exact("gelu", x, {}, True))
    bound = 1.7 if _k.avx512_pieces() else reference.tolerance(np.float32, "gelu", {}, True)[0]
    assert err.max() <= bound, (err.max(), x[np.argmax(err)])
