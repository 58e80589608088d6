"""The extended-precision reference against mpmath at 80 digits, where the
functions are hard: tails, cancellations near 0, the zeros of the derivatives.

The reference is what every accuracy test measures against, so it must be far
better than the kernels it judges: within 2^-56 relative (1/16 of a float64
ulp: a few dozen longdouble roundings) where it is computed in longdouble, the
zeros of the derivatives included (there it is written with the zero as a
factor: the doubles and floats nearest the zeros are checked), and
within 1.5 float64 ulp for GELU's exact form above -28, whose erfc is
float64's math.erfc corrected for the rounding of its argument (so the float64
tolerances of gelu include one ulp for the reference), and within half a
float64 ulp for GELU's tanh form (see the bound below)."""

import numpy as np
import pytest

from fastnl import _reference as reference

mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp

if np.finfo(np.longdouble).nmant < 63:  # pragma: no cover - not on x86-64 Linux, where CI runs
    pytest.skip("longdouble is no wider than float64 here", allow_module_level=True)

A = "0.044715"  # made an mpf inside each call, at the working precision


def _sig(z):
    return 1 / (1 + mpmath.exp(-z))


def _u(x):
    return mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf(A) * x ** 3)


def _sp(x):
    return mpmath.log1p(mpmath.exp(x))


# name -> (f, f'), in mpmath
MP = {
    "sigmoid": (_sig, lambda x: _sig(x) * _sig(-x)),
    "tanh": (mpmath.tanh, lambda x: mpmath.sech(x) ** 2),
    "softplus": (lambda x: x if x > 20 else _sp(x),  # torch's threshold 20
                 lambda x: 1 if x > 20 else _sig(x)),
    "logsigmoid": (lambda x: -_sp(-x), lambda x: _sig(-x)),
    "elu": (lambda x: x if x > 0 else mpmath.expm1(x), lambda x: 1 if x > 0 else mpmath.exp(x)),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
    "tanhshrink": (lambda x: x - mpmath.tanh(x), lambda x: mpmath.tanh(x) ** 2),
    "silu": (lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * _sig(-x))),
    "mish": (lambda x: x * mpmath.tanh(_sp(x)),
             lambda x: mpmath.tanh(_sp(x)) + x * _sig(x) * mpmath.sech(_sp(x)) ** 2),
    "gelu": (lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2)),
             lambda x: mpmath.erfc(-x / mpmath.sqrt(2)) / 2
             + x * mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)),
    "gelu_tanh": (lambda x: x * _sig(2 * _u(x)),
                  lambda x: _sig(2 * _u(x)) + 2 * x * mpmath.sqrt(2 / mpmath.pi)
                  * (1 + 3 * mpmath.mpf(A) * x * x) * _sig(2 * _u(x)) * _sig(-2 * _u(x))),
    "squareplus": (lambda x: (x + mpmath.sqrt(x * x + 4)) / 2,
                   lambda x: (1 + x / mpmath.sqrt(x * x + 4)) / 2),
    "hardswish": (lambda x: 0 if x <= -3 else (x if x >= 3 else x * (x + 3) / 6),
                  lambda x: 0 if x <= -3 else (1 if x >= 3 else x / 3 + mpmath.mpf(1) / 2)),
}

TAILS = np.concatenate([-np.geomspace(1, 1000, 60), np.geomspace(1e-12, 1, 25),
                        -np.geomspace(1e-12, 1, 25), np.geomspace(1, 800, 30)])
ZEROS = {"gelu": -0.7517915246935645, "gelu_tanh": -0.7524614220710163,
         "silu": -1.2784645427610738, "mish": -1.1924312145154952,
         "hardswish": -1.5}  # of the derivatives, to the nearest double


def _around_zero(x0):
    """The doubles and floats nearest x0, steps out to 10^-4, and the edges
    of the reference's near-zero forms (1/4 away)."""
    x0_32 = np.float32(x0)
    floats = np.array([np.nextafter(x0_32, np.float32(-2)), x0_32, np.nextafter(x0_32, np.float32(0))])
    steps = np.geomspace(1e-15, 1e-4, 12)
    return np.concatenate([x0 + np.arange(-3, 4) * np.spacing(x0), floats.astype(np.float64),
                           x0 + steps, x0 - steps, x0 + np.array([-0.2500001, -0.2499999, 0.2499999,
                                                                  0.2500001])])


POINTS = {name: np.concatenate([TAILS, _around_zero(ZEROS[name])]) if name in ZEROS else TAILS
          for name in MP}


@pytest.mark.parametrize("derivative", [False, True], ids=["f", "f'"])
@pytest.mark.parametrize("name", sorted(MP))
def test_reference_against_mpmath(name, derivative):
    x = POINTS[name]
    params = {"approximate": "tanh"} if name == "gelu_tanh" else {}
    got = reference.exact("gelu" if name == "gelu_tanh" else name, x, params, derivative)
    f = MP[name][derivative]
    # gelu's tanh form in its tail: exp(-2u) with |2u| up to 700 turns u's
    # rounding into |2u| longdouble ulps, up to half a float64 ulp
    bound = 2.0 ** -53 if name == "gelu_tanh" else 2.0 ** -56
    with mp.workdps(80):
        for xi, gi in zip(x, got):
            want = f(mpmath.mpf(float(xi)))
            if abs(want) < mpmath.mpf(2) ** -1100:  # below float64's range by far,
                assert abs(float(gi)) == 0, (name, xi)  # and longdouble's, maybe
                continue
            got_mp = mpmath.mpf(np.format_float_scientific(gi, unique=True))  # exact
            rel = abs((got_mp - want) / want)
            assert rel <= bound, f"{name}{' derivative' if derivative else ''}({xi!r}): " \
                                 f"relative error {float(rel):.3g}"
