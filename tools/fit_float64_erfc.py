"""Fit the float64 polynomials of fnl_math.h behind GELU's float64
derivative (fnl_erfc_scaled_d, fnl_erf_small_d):

- erfcx(a) = exp(a^2) erfc(a) for a in [0.5, 28], a polynomial in
  u = t - 1/8, t = 4/(4 + a), of degree 21: expanded at t's low end
  (a = 28), so u >= 0 over the range;
- erf(a) / a for a in [0, 0.5], a polynomial in a^2 of degree 8.

Each is interpolated at the Chebyshev nodes of its range (mpmath, 60
digits), written as monomial coefficients and rounded to float64. The
script prints the coefficients (highest degree first, as Horner takes them)
and the largest relative error of the rounded polynomial, evaluated
exactly, over 2001 points; the kernel's own rounding (Horner in float64)
adds about 2 ulp to erfcx's, and is measured against long double by the
tests' sweep.

    python tools/fit_float64_erfc.py erfcx 21
    python tools/fit_float64_erfc.py erf 8
"""
import sys

import mpmath as mp

mp.mp.dps = 60


def erfcx_in_t(t):
    a = 4 / t - 4
    return mp.erfc(a) * mp.exp(a * a)


def erf_over_a(v):  # v = a^2
    return mp.erf(mp.sqrt(v)) / mp.sqrt(v) if v > 0 else 2 / mp.sqrt(mp.pi)


FITS = {
    # name: (function of the variable, the variable's range, expansion point)
    "erfcx": (erfcx_in_t, (mp.mpf(4) / 32, mp.mpf(4) / mp.mpf(4.5)), mp.mpf(4) / 32),
    "erf": (erf_over_a, (mp.mpf(0), mp.mpf("0.25")), mp.mpf(0)),
}


def fit(name, degree):
    f, (lo, hi), centre = FITS[name]
    n = degree + 1
    ua, ub = lo - centre, hi - centre
    nodes = [(ua + ub) / 2 + (ub - ua) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * n))
             for k in range(n)]
    c = mp.lu_solve(mp.matrix([[u ** j for j in range(n)] for u in nodes]),
                    mp.matrix([f(u + centre) for u in nodes]))
    rounded = [mp.mpf(float(c[j])) for j in range(n)]
    worst = max(abs(sum(rounded[j] * u ** j for j in range(n)) / f(u + centre) - 1)
                for u in (ua + (ub - ua) * i / 2000 for i in range(2001)))
    return [float(v) for v in reversed(rounded)], float(worst)


def main(argv):
    name, degree = argv[1], int(argv[2])
    coefficients, worst = fit(name, degree)
    print(f"{name}, degree {degree}, highest degree first:")
    for v in coefficients:
        print(f"    {v!r}")
    print(f"largest relative error: {worst:.3g} (2^{float(mp.log(worst, 2)):.1f})")


if __name__ == "__main__":
    main(sys.argv)
