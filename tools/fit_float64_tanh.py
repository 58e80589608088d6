"""Fit the float64 tanh's polynomial (fnl_tanh_d in fnl_math.h):
tanh(a) = a + a y P(y), y = a^2, for a in [0, top], P of the given degree.

P = (tanh(a) - a) / (a y) is fitted by Chebyshev interpolation (mpmath's
chebyfit, 50 digits: near-minimax for so smooth a function), its
coefficients rounded to doubles, and the script prints them (lowest degree
first) and the largest relative error of a + a y P(y) against tanh(a) over
2000 points, before the kernel's own roundings (measured by ``python -m
fastnl.accuracy --dtypes float64 --functions tanh``). The kernel takes top
= 1, degree 15 (2^-56.3); the interpolation's error does not fall
monotonically with the degree once the coefficients are rounded (16:
2^-54.8), so check the printed error.

    python tools/fit_float64_tanh.py 1.0 15
"""
import sys

import mpmath as mp

mp.mp.dps = 50


def p_exact(y):
    if y == 0:
        return -mp.mpf(1) / 3
    a = mp.sqrt(y)
    return (mp.tanh(a) - a) / (a * y)


def fit(top, degree):
    Y = mp.mpf(top) ** 2
    coef = [float(c) for c in mp.chebyfit(p_exact, [0, Y], degree + 1)[::-1]]
    worst = 0
    for i in range(1, 2001):
        y = Y * i / 2000
        a = mp.sqrt(y)
        approx = a + a * y * sum(mp.mpf(c) * y ** k for k, c in enumerate(coef))
        worst = max(worst, abs(approx / mp.tanh(a) - 1))
    return coef, worst


if __name__ == "__main__":
    coef, err = fit(sys.argv[1], int(sys.argv[2]))
    print("coefficients, lowest degree first:")
    for c in coef:
        print(f"  {c!r}")
    print(f"largest relative error: {float(err):.3g} (2^{float(mp.log(err, 2)):.1f})")
