"""Fit the float64 polynomials of fnl_math.h behind GELU's float64
derivative (fnl_erfc_scaled_d, fnl_erf_small_d):

- erfcx(a) = exp(a^2) erfc(a) for a in [0, 28], a polynomial in
  v = t - 9/16, t = 4/(4 + a), of degree 22, expanded at the middle of
  t's range [1/8, 1] (|v| <= 7/16);
- erf(a) / a for a in [0, 0.5], a polynomial in a^2 of degree 8;
- float64 gelu's tail below x = -8 (fnl_gelu_rare_d): x Phi(x) =
  -exp(-x^2/2) (C + v Q(v)), v = 1/x^2 in [0, 1/64], C = 1/sqrt(2 pi),
  Q(v) = C (G(v) - 1) / v with G(v) = |x| Phi(x) / phi(x) = 1 - v + 3 v^2
  - ..., a polynomial of degree 10.

erf's and the tail's are interpolated at the Chebyshev nodes of its range (mpmath, 60
digits), written as monomial coefficients and rounded to float64. erfcx's
coefficients, larger (up to 2.9) than the function (0.02 .. 1), would
lose more of it to their own rounding so: they are fitted instead by
least squares of the relative error on 110 Chebyshev nodes and rounded one
at a time, lowest degree first, the higher ones fitted again after each
rounding to absorb it (2^-54.8 over a <= 5.66, 2^-56.6 beyond). The script
prints the coefficients (highest degree first) and the largest relative
error of the rounded polynomial, evaluated exactly, over 2001 points; the
kernel's own roundings give 1.6 ulp of erfcx over a <= 5.66, measured
against long double.

    python tools/fit_float64_erfc.py erfcx 22
    python tools/fit_float64_erfc.py erf 8
    python tools/fit_float64_erfc.py gelu-tail 10
"""
import sys

import mpmath as mp

mp.mp.dps = 60


def erfcx_in_t(t):
    a = 4 / t - 4
    return mp.erfc(a) * mp.exp(a * a)


def erf_over_a(v):  # v = a^2
    return mp.erf(mp.sqrt(v)) / mp.sqrt(v) if v > 0 else 2 / mp.sqrt(mp.pi)


def gelu_tail_q(v):  # v = 1/x^2
    c = 1 / mp.sqrt(2 * mp.pi)
    if v == 0:
        return -c
    z = 1 / mp.sqrt(v)  # |x|
    g = z * mp.sqrt(mp.pi / 2) * mp.erfc(z / mp.sqrt(2)) * mp.exp(z * z / 2)
    return c * (g - 1) / v


def chebyshev_nodes(ua, ub, m):
    return [(ua + ub) / 2 + (ub - ua) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * m))
            for k in range(m)]


def interpolated(f, ua, ub, centre, n):
    """Coefficients 0 .. n-1 of the polynomial through f at n Chebyshev
    nodes, each rounded to float64."""
    nodes = chebyshev_nodes(ua, ub, n)
    c = mp.lu_solve(mp.matrix([[u ** j for j in range(n)] for u in nodes]),
                    mp.matrix([f(u + centre) for u in nodes]))
    return [mp.mpf(float(c[j])) for j in range(n)]


def rounded_in_turn(f, ua, ub, centre, n, m=110):
    """Coefficients 0 .. n-1 of the least-squares fit of f's relative error
    on m Chebyshev nodes, rounded to float64 one at a time from the lowest,
    the higher ones fitted again to what the rounded ones leave."""
    nodes = chebyshev_nodes(ua, ub, m)
    values = [f(u + centre) for u in nodes]
    rounded = []
    for k in range(n):
        a = mp.matrix([[u ** j / y for j in range(k, n)] for u, y in zip(nodes, values)])
        b = mp.matrix([(y - sum(c * u ** j for j, c in enumerate(rounded))) / y
                       for u, y in zip(nodes, values)])
        rounded.append(mp.mpf(float(mp.qr_solve(a, b)[0][0])))
    return rounded


FITS = {
    # name: (function of the variable, the variable's range, expansion point, fitting)
    "erfcx": (erfcx_in_t, (mp.mpf(1) / 8, mp.mpf(1)), mp.mpf(9) / 16, rounded_in_turn),
    "erf": (erf_over_a, (mp.mpf(0), mp.mpf("0.25")), mp.mpf(0), interpolated),
    "gelu-tail": (gelu_tail_q, (mp.mpf(0), mp.mpf(1) / 64), mp.mpf(0), interpolated),
}


def fit(name, degree):
    f, (lo, hi), centre, fitting = FITS[name]
    n = degree + 1
    ua, ub = lo - centre, hi - centre
    rounded = fitting(f, ua, ub, centre, n)
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
