"""Fit the float64 exp polynomial of fnl_math.h (fnl_exp_poly_d):
exp(r) = 1 + r (1 + r P(r)) for |r| <= ln2/2, P of the given degree,
minimising the largest relative error of exp(r) (not of P) by Remez's
exchange (mpmath, 60 digits).

The error of 1 + r + r^2 P(r) relative to exp(r) is r^2 exp(-r) (f - P)
with f = (exp(r) - 1 - r) / r^2, so the exchange runs on f with that
weight, which vanishes at r = 0 (where the form is exact): the start
points leave 0 out. The script prints the coefficients (highest degree
first, as the kernel's Horner and Estrin pairs take them), the equioscillation
level, and the largest relative error of exp once the coefficients are
rounded to float64 (evaluated exactly, 20001 points); the kernel's own
rounding is measured against long double by the tests' sweep.

    python tools/fit_exp.py 10
"""
import sys

import mpmath as mp

mp.mp.dps = 60
HALF_LN2 = mp.log(2) / 2


def f(r):
    return (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(1) / 2


def weight(r):
    return r**2 / mp.exp(r)


def remez(degree, iterations=30, grid_points=4001):
    a, n = HALF_LN2, degree + 2
    # Chebyshev-like start points, shifted so that none is 0
    xs = [a * mp.cos(mp.pi * (n - 1 - i + mp.mpf("0.37")) / (n - 1 + mp.mpf("0.6")))
          for i in range(n)]
    grid = [-a + 2 * a * (k + mp.mpf("0.5")) / grid_points for k in range(grid_points)]
    for _ in range(iterations):
        # P(x_i) + (-1)^i E / w(x_i) = f(x_i): the weighted error alternates
        A = mp.matrix(n, n)
        b = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for j in range(degree + 1):
                A[i, j] = x**j
            A[i, degree + 1] = (-1) ** i / weight(x)
            b[i] = f(x)
        sol = mp.lu_solve(A, b)
        coef = [sol[j] for j in range(degree + 1)]
        level = abs(sol[degree + 1])
        err = [weight(g) * (f(g) - mp.polyval(coef[::-1], g)) for g in grid]
        # the new points: the extrema of alternating sign, the n largest kept
        peaks = [k for k in range(len(grid))
                 if k in (0, len(grid) - 1)
                 or (abs(err[k]) >= abs(err[k - 1]) and abs(err[k]) >= abs(err[k + 1]))]
        alternating = []
        for k in peaks:
            if alternating and mp.sign(err[k]) == mp.sign(err[alternating[-1]]):
                if abs(err[k]) > abs(err[alternating[-1]]):
                    alternating[-1] = k
            else:
                alternating.append(k)
        while len(alternating) > n:
            alternating.pop(0 if abs(err[alternating[0]]) < abs(err[alternating[-1]]) else -1)
        if len(alternating) < n:
            break
        xs = [grid[k] for k in alternating]
    return coef, level


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    coef, level = remez(degree)
    rounded = [float(c) for c in coef]
    a = HALF_LN2
    worst = max(abs((1 + r + r**2 * mp.polyval([mp.mpf(c) for c in rounded[::-1]], r))
                    / mp.exp(r) - 1)
                for r in (-a + 2 * a * k / 20000 for k in range(20001)))
    print(f"degree {degree}: equioscillation {mp.nstr(level, 5)} (2^{mp.nstr(mp.log(level, 2), 4)}), "
          f"rounded to float64 {mp.nstr(worst, 5)} (2^{mp.nstr(mp.log(worst, 2), 4)})")
    for c in rounded[::-1]:
        print(repr(c))


if __name__ == "__main__":
    main()
