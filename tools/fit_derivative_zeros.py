"""Fit the polynomials fastnl's kernels use near the zeros of the
derivatives of gelu (float64: float32 gelu' has its zero as a factor instead,
tools/fit_float32_polynomials.py), gelu (tanh form), silu and mish
(fnl_activations.h), float32 by default, float64 with a fifth argument
`float64`.

Near its zero x0, in a window [a, b] with centre c (of the kernel's type),
each derivative is written f'(x) = (x - X0) K(x - c) - C, X0 the number nearest
x0 and C = -f'(X0) (a few ulp of X0 times f''(x0), tiny): x - X0 is exact in
the window (Sterbenz), the result is one fma, and K = (f'(x) + C) / (x - X0)
is smooth and far from 0 there, so a relative error of K is the same
relative error of f', even at the zero. K is interpolated at the Chebyshev
nodes of the window (mpmath, 50 digits), written as monomial coefficients in
u = x - c and rounded to the kernel's type.

The script prints x0's head and tail, the coefficients (highest degree
first, as Horner takes them) and the largest error, in ulp of the kernel's
type, of the kernel's evaluation, simulated over 20001 points of the window.

    python tools/fit_derivative_zeros.py silu -2 -0.75 7
    python tools/fit_derivative_zeros.py gelu_tanh -1.5 -0.375 18 float64
    python tools/fit_derivative_zeros.py gelu -1.5 -0.25 18 float64

float64 silu' instead takes 1 + x + exp(x), the factor that vanishes at its
zero, from t = x - X0 in its window: c0 + t (1 + E0) + E0 t^2 G(t) with
E0 = exp(X0), c0 = 1 + X0 + E0 and G(t) = (expm1(t) - t) / t^2, interpolated
at the Chebyshev nodes of the window's t. ``silu-window`` prints X0, c0,
1 + E0 as a double head and tail, E0's head and G's coefficients, and G's
largest relative error (in powers of 2) once rounded, over 4001 points:

    python tools/fit_derivative_zeros.py silu-window -1.5 -1.0 8

With ``--reference`` it prints instead each zero as a longdouble head and
tail, the entries of fastnl/_reference.py's _DERIVATIVE_ZEROS.
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 50
C_TANH = mp.sqrt(2 / mp.pi)
K = mp.mpf("0.044715")


def sig(z):
    return 1 / (1 + mp.exp(-z))


DERIVATIVES = {
    "gelu": lambda x: mp.ncdf(x) + x * mp.npdf(x),
    "gelu_tanh": lambda x: (lambda u, du: sig(2 * u) + 2 * x * du * sig(2 * u) * sig(-2 * u))(
        C_TANH * (x + K * x ** 3), C_TANH * (1 + 3 * K * x * x)),
    "silu": lambda x: sig(x) * (1 + x * sig(-x)),
    "mish": lambda x: (lambda sp: mp.tanh(sp) + x * sig(x) * mp.sech(sp) ** 2)(mp.log1p(mp.exp(x))),
}
GUESS = {"gelu": -0.75, "gelu_tanh": -0.75, "silu": -1.28, "mish": -1.19}


def interpolate(f, lo, hi, degree):
    """The monomial coefficients (lowest degree first, mpmath numbers) of the
    polynomial of the given degree through f at the Chebyshev nodes of [lo, hi]."""
    n = degree + 1
    nodes = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * n)) for k in range(n)]
    coef = mp.lu_solve(mp.matrix([[u ** j for j in range(n)] for u in nodes]),
                       mp.matrix([f(u) for u in nodes]))
    return [coef[j] for j in range(n)]


def fit(name, a, b, degree, dtype=np.float32):
    mant = np.finfo(dtype).nmant
    f = DERIVATIVES[name]
    x0 = mp.findroot(f, GUESS[name])
    hi = dtype(float(x0))
    X0 = mp.mpf(float(hi))
    C = -f(X0)
    lo = dtype(float(C))
    c = dtype((a + b) / 2)

    def H(x):
        return (f(x) + C) / (x - X0) if abs(x - X0) > mp.mpf(10) ** -30 else mp.diff(f, X0)

    ua, ub = mp.mpf(a) - mp.mpf(float(c)), mp.mpf(b) - mp.mpf(float(c))
    cs = [dtype(float(cj)) for cj in interpolate(lambda u: H(mp.mpf(float(c)) + u), ua, ub, degree)]
    # the kernel's evaluation, each step one rounding (an fma: the kernel's
    # Horner steps and its last line contract to one)
    worst, where = 0.0, None
    for x in np.linspace(a, b, 20001).astype(dtype):
        th, u = dtype(x - hi), dtype(x - c)
        p = cs[-1]
        for cj in reversed(cs[:-1]):
            p = dtype(float(mp.mpf(float(p)) * mp.mpf(float(u)) + mp.mpf(float(cj))))
        got = dtype(float(mp.mpf(float(th)) * mp.mpf(float(p)) - mp.mpf(float(lo))))
        ex = f(mp.mpf(float(x)))
        ulp = 2.0 ** (int(mp.floor(mp.log(abs(ex), 2))) - mant)
        e = float(abs(mp.mpf(float(got)) - ex)) / ulp
        if e > worst:
            worst, where = e, float(x)
    return x0, hi, lo, c, cs, worst, where


def fit_silu_window(a, b, degree):
    x0 = mp.findroot(DERIVATIVES["silu"], GUESS["silu"])
    X0 = mp.mpf(float(x0))
    E0 = mp.exp(X0)
    one_e0 = float(1 + E0)

    def G(t):
        return (mp.expm1(t) - t) / t ** 2 if t != 0 else mp.mpf(1) / 2

    ta, tb = mp.mpf(a) - X0, mp.mpf(b) - X0
    cs = [float(cj) for cj in interpolate(G, ta, tb, degree)]
    worst = 0
    for t in np.linspace(float(ta), float(tb), 4001):
        p = mp.mpf(0)
        for cj in reversed(cs):
            p = p * mp.mpf(t) + cj
        worst = max(worst, abs(p / G(mp.mpf(t)) - 1))
    print(f"silu: zero at {mp.nstr(x0, 20)}, X0 = {float(X0)!r}, c0 = {float(1 + X0 + E0)!r}")
    print(f"1 + E0 = {one_e0!r} + {float(1 + E0 - one_e0)!r}, E0 = {float(E0)!r}")
    print(f"G's coefficients in t = x - X0 over [{float(ta)!r}, {float(tb)!r}], highest degree first:")
    for cj in reversed(cs):
        print(f"    {cj!r}")
    print(f"largest relative error of G: 2^{float(mp.log(worst, 2)):.1f}")


def reference_zeros():
    """x0 = hi + lo for every derivative: hi the longdouble nearest x0, lo the
    rest (mpmath at 50 digits), as _reference.py's literals."""
    for name, f in DERIVATIVES.items():
        x0 = mp.findroot(f, GUESS[name])
        hi = np.longdouble(mp.nstr(x0, 30))
        n, d = hi.as_integer_ratio()
        lo = x0 - mp.mpf(n) / d
        print(f'    "{name}": (L("{np.format_float_positional(hi, unique=True)}"), '
              f'L("{mp.nstr(lo, 20)}")),')


if __name__ == "__main__" and sys.argv[1:] == ["--reference"]:
    reference_zeros()
elif __name__ == "__main__" and sys.argv[1] == "silu-window":
    fit_silu_window(float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
elif __name__ == "__main__":
    name, a, b, degree = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    dtype = np.dtype(sys.argv[5] if len(sys.argv) > 5 else "float32").type
    x0, hi, lo, c, cs, worst, where = fit(name, a, b, degree, dtype)
    sfx = "f" if dtype is np.float32 else ""  # C's float32 literals
    print(f"{name}: zero at {mp.nstr(x0, 20)}, X0 = {float(hi)!r}{sfx}, C = {float(lo)!r}{sfx}; "
          f"centre {float(c)!r}")
    print("coefficients in u = x - centre, highest degree first:")
    for cj in reversed(cs):
        print(f"    {float(cj)!r}{sfx}")
    print(f"simulated kernel: max {worst:.3f} ulp at x = {where!r}")
