"""Fit the float32 polynomials of fnl_math.h whose coefficients are rounded
to float32 one at a time: G(z) = erfcx(z/sqrt2) = t Q(t), t = 4/(4 + z)
(float32 gelu and its derivative) and tanh(x) = x + x^3 P(x^2) (float32
tanh below |x| = 0.8).

Each fit is a weighted least-squares fit of the relative error, reweighted
(Lawson's iteration) towards the minimax one. The coefficients are rounded
to float32 from the lowest degree up: after rounding one, the higher ones
are fitted again with it fixed, so the rounding of each is absorbed by the
rest. The script prints the coefficients (lowest degree first) and the
largest relative error, in float32 ulp (2^-24), over 300001 points.

    python tools/fit_float32_polynomials.py erfcx 10
    python tools/fit_float32_polynomials.py tanh 7
"""
import sys

import numpy as np
from scipy.special import erfcx


def lawson_fit(basis, target, weight, rounds=40):
    """Coefficients c of sum c_j basis_j ~ target, minimising the largest
    |error| * weight (approximately)."""
    w = np.ones_like(target)
    for _ in range(rounds):
        coef = np.linalg.lstsq(basis * (w * weight)[:, None], target * w * weight, rcond=None)[0]
        err = np.abs(basis @ coef - target) * weight
        w = w * np.sqrt(err) + 1e-300
        w /= w.max()
    return coef


def fit_rounded(var, target, weight, degree):
    """Monomial coefficients in `var`, rounded to float32 one at a time."""
    fixed = []
    for i in range(degree + 1):
        rest = target - sum(c * var ** j for j, c in enumerate(fixed))
        basis = np.stack([var ** j for j in range(i, degree + 1)], axis=1)
        fixed.append(float(np.float32(lawson_fit(basis, rest, weight)[0])))
    return fixed


def erfcx_sqrt2(degree):
    z = np.linspace(0, 15, 30000)
    t = 4 / (4 + z)
    g = erfcx(z / np.sqrt(2))
    coef = fit_rounded(t, g / t, t / g, degree)
    z = np.linspace(0, 15, 300001)
    t = 4 / (4 + z)
    g = erfcx(z / np.sqrt(2))
    return coef, np.abs(t * np.polynomial.polynomial.polyval(t, coef) / g - 1).max()


def tanh_small(degree):
    x = np.linspace(1e-4, 0.8, 20000)
    y = x * x
    coef = fit_rounded(y, (np.tanh(x) - x) / x ** 3, x ** 3 / np.tanh(x), degree)
    x = np.linspace(1e-6, 0.8, 300001)
    approx = x + x ** 3 * np.polynomial.polynomial.polyval(x * x, coef)
    return coef, np.abs(approx / np.tanh(x) - 1).max()


if __name__ == "__main__":
    which, degree = sys.argv[1], int(sys.argv[2])
    coef, err = {"erfcx": erfcx_sqrt2, "tanh": tanh_small}[which](degree)
    print("coefficients, lowest degree first:")
    for c in coef:
        print(f"  {c!r}")
    print(f"largest relative error: {err:.3g} ({err / 2 ** -24:.3g} float32 ulp)")
