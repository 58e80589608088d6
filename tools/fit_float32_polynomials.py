"""Fit the float32 polynomials of fnl_math.h whose coefficients are rounded
to float32 one at a time:

- ``gelu``: the float32 gelu and its derivative (fnl_gelu_num_f,
  fnl_gelu_den_f, fnl_gelu_slope_num_f). M(z) = z erfcx(z/sqrt2) / 2 = exp(z^2/2) Phi(-z) z for
  z in [0, 15] as a rational function P(z) / Q(z) of degrees (5, 5),
  P = z (1/2 + p2 z + ... + p5 z^4), Q = 1 + q1 z + ... + q5 z^5. Every
  coefficient comes out positive, so that Horner's form in z >= 0 adds
  terms of one sign (no cancellation, an error of a few roundings at most).
  Then, for the derivative, N(z) = 2 Q(z) (erfcx(z/sqrt2) / 2 - z /
  sqrt(2 pi)) = (z - Z0) R(z) + r0, R of degree 5: the zero z0 of
  erfcx(z/sqrt2) / 2 = z / sqrt(2 pi) (gelu' vanishes at -z0) is a factor,
  Z0 the float32 nearest z0 and r0 = N(Z0), so that N keeps its relative
  accuracy through the zero. N is fitted to the true function (mpmath near
  the zero) with the rounded Q, so the two share one denominator.
- ``exp_halfsq``: exp(-rho/2) = 1 + rho E(rho) for |rho| <= ln2, E of
  degree 5 with E(0) = -1/2 exactly (rho = -2r, the reduced argument of
  exp(-z^2/2) = 2^k exp(r) doubled, fnl_exp_halfsq_f).
- ``tanh``: tanh(x) = x + x^3 P(x^2) on [0, top]: top = 1 for the float32
  tanh and tanhshrink's derivative (fnl_tanh_series_f, degree 7; the default).
- ``exp``: exp(r) = 1 + r + r^2 P(r) for |r| <= ln2/2, P of the given
  degree (4: the short exp inside fnl_tanh_tail_f), the error weighted as
  exp(r)'s, not P's.
- ``tanh_tail``: 2 / (1 + e) = 2 + e R(e) for e = exp(-2x) in [0, e^-2]
  (x >= 1), R of degree 4 (the float32 tanh beyond 1 is 1 - e (2 + e R),
  with no division).
- ``tanhshrink``: (x - tanh x) / x^3 = P(x^2) on [0, top] (degree 10, top
  1.5), the float32 tanhshrink below 1.5, which evaluates it in float64: so its
  coefficients are doubles, not rounded to float32, and the target is taken
  from mpmath (x - tanh x cancels in double).

- ``pieces``: the float32 tanh, tanhshrink and tanhshrink's gradient
  tanh^2 on CPUs with AVX-512 (fnl_tanh16_f, fnl_tanhshrink16_f,
  fnl_tanhshrink_backward16_f), f(a), a = |x|, by 32 pieces: piece j
  >= 1 covers a quarter of a binade, [2^e (1 + q/4), 2^e (1 + (q+1)/4)), e
  = j // 4 - 4, q = j % 4 (so a in [1/16, 16)), centred on c, its middle;
  piece 0 covers [0, 5/64) about c = 0. On a piece f(c + r) = H + (S r + (L
  + r^2 P(r))), H + L = f(c) as a float32 pair, S the slope and P of degree
  4: S and P fitted together (relative minimax against mpmath), S rounded
  to float32, then P's coefficients one at a time. tanh's piece 0 takes H
  = L = P(0) = 0 and S = 1 from the Taylor series, so that the result keeps
  its relative accuracy down to 0; tanhshrink's, a^3/3 - ..., would carry
  the rounding of 1/3 to float32 (half an ulp) into every result there, so
  the kernel computes it in float64, and tanh^2's (``tanh2``, tanhshrink's
  gradient), a^2 - ..., the rounding of r^2, so the kernel takes a^2 exact
  in an FMA: their rows are left zero. Printed as
  the C table (fnl_pieces32_f) that fnl_math.h holds.

Each fit minimises the largest relative error (Lawson's iteration on a
weighted least-squares fit; for the rational one the linearised
P - M Q, reweighted by the previous Q). The coefficients are rounded to
float32 from the lowest degree up: after rounding one, the others are
fitted again with it fixed, so that its rounding is absorbed by the rest.
The script prints the coefficients (lowest degree first) and the largest
relative error of the rounded fit, evaluated exactly, in float32 ulp
(2^-24); the kernels' own roundings come on top and are measured by
``python -m fastnl.accuracy``.

    python tools/fit_float32_polynomials.py gelu
    python tools/fit_float32_polynomials.py exp_halfsq 5
    python tools/fit_float32_polynomials.py tanh 7
    python tools/fit_float32_polynomials.py exp 4
    python tools/fit_float32_polynomials.py tanh_tail 4
    python tools/fit_float32_polynomials.py tanhshrink 10 1.5
    python tools/fit_float32_polynomials.py pieces tanh
    python tools/fit_float32_polynomials.py pieces tanhshrink
    python tools/fit_float32_polynomials.py pieces tanh2
    python tools/fit_float32_polynomials.py pieces gelu_slope
"""
import sys

import mpmath as mp
import numpy as np
from scipy.special import erfcx

ULP = 2.0 ** -24
polyval = np.polynomial.polynomial.polyval


def f32(v):
    return float(np.float32(v))


def lawson(basis, target, weight, rounds=60, denominator=None):
    """Coefficients c of sum c_j basis_j ~ target, minimising the largest
    |error| * weight (approximately). With `denominator(c)` (the rational
    fit's linearisation), the error and the next round's weight are divided
    by it, and the round with the smallest largest error is returned (the
    reweighted rounds do not decrease it monotonically)."""
    w = np.ones_like(target)
    scale = np.ones_like(target)
    best = None
    for _ in range(rounds):
        wt = w * weight / scale
        coef = np.linalg.lstsq(basis * wt[:, None], target * wt, rcond=None)[0]
        err = np.abs(basis @ coef - target) * weight
        if denominator is not None:
            scale = denominator(coef)
            err = err / scale
            if best is None or err.max() < best[0]:
                best = (err.max(), coef)
        w = w * np.sqrt(err / err.max()) + 1e-300
        w /= w.max()
    return coef if best is None else best[1]


def fit_rounded(var, target, weight, degrees, rounds=60):
    """Coefficients of sum c_j var^j ~ target over the powers `degrees`
    (weighted minimax), rounded to float32 one at a time from the lowest
    degree up, the higher ones fitted again after each rounding."""
    fixed = {}
    for j in degrees:
        rest = target - sum(c * var ** i for i, c in fixed.items())
        basis = np.stack([var ** i for i in degrees if i not in fixed], 1)
        fixed[j] = f32(lawson(basis, rest, weight, rounds)[0])
    return [fixed[j] for j in degrees]


def gelu():
    z = np.unique(np.concatenate([np.linspace(0, 15, 6000), 15 * np.linspace(0, 1, 6000) ** 3]))[1:]
    m = 0.5 * z * erfcx(z / np.sqrt(2))
    p_names = [f"p{j}" for j in range(2, 6)]
    q_names = [f"q{j}" for j in range(1, 6)]
    columns = {f"p{j}": z ** j for j in range(2, 6)}
    columns.update({f"q{j}": -m * z ** j for j in range(1, 6)})

    c = {}  # the rounded coefficients, one more after each fit
    for name in p_names + q_names:
        # P - M Q = 0, linear in the coefficients: with p1 = 1/2 and q0 = 1
        free = [n for n in p_names + q_names if n not in c]
        target = m - 0.5 * z - sum(v * columns[n] for n, v in c.items())
        basis = np.stack([columns[n] for n in free], 1)

        def q_of(coef):
            every = {**c, **dict(zip(free, coef))}
            return np.abs(1 + sum(every[n] * z ** j for j, n in enumerate(q_names, 1)))
        c[name] = f32(lawson(basis, target, 1 / m, denominator=q_of)[0])
    p = [0.0, 0.5] + [c[n] for n in p_names]
    q = [1.0] + [c[n] for n in q_names]
    err = np.abs(polyval(z, p) / polyval(z, q) / m - 1).max()

    mp.mp.dps = 40
    c_pdf = 1 / mp.sqrt(2 * mp.pi)

    def n_true(v):
        v = mp.mpf(v)
        return 2 * polyval(v, [mp.mpf(a) for a in q]) * (
            mp.erfc(v / mp.sqrt(2)) * mp.exp(v * v / 2) / 2 - v * c_pdf)

    z0 = mp.findroot(lambda v: mp.erfc(v / mp.sqrt(2)) * mp.exp(v * v / 2) / 2 - v * c_pdf, 0.75)
    Z0 = f32(z0)
    z_lo = float(z0 - Z0)
    # R(0): the float32 whose product with -Z0 rounds to N(0) = 1, the
    # value at x = 0 (so that gelu'(+-tiny) = 1/2 rounds right)
    r_at_0 = f32(-1 / Z0)
    while f32(-Z0 * r_at_0) != 1.0:
        r_at_0 = float(np.nextafter(np.float32(r_at_0), np.float32(-2 if f32(-Z0 * r_at_0) < 1 else 0)))
    zn = np.unique(np.concatenate([np.linspace(0, 15, 8000), Z0 + np.linspace(-0.05, 0.05, 1001)]))
    zn = zn[np.abs(zn - Z0) > 1e-7]
    n = np.array([float(n_true(v)) for v in zn])
    root = np.array([float(mp.mpf(v) - z0) for v in zn])  # z - z0, exactly enough
    target = n / root
    weight = np.abs(root) / np.abs(n)
    r = [r_at_0] + fit_rounded(zn, target - r_at_0, weight, range(1, 6))
    err_n = np.abs(root * polyval(zn, r) / n - 1).max()
    print("M = P / Q; kernel numerator z + z^2 H(z), H = 2 (p2 .. p5); denominator 2^65 Q")
    print("  P (z^1 .. z^5):", [repr(np.float32(v)) for v in p[1:]])
    print("  Q (z^0 .. z^5):", [repr(np.float32(v)) for v in q])
    print(f"  largest relative error of P / Q: {err:.3g} ({err / ULP:.3g} float32 ulp)")
    print(f"N = ((z - Z0) - Z0lo) R(z): z0 = {mp.nstr(z0, 20)} = Z0 + Z0lo, Z0 = {np.float32(Z0)!r}, "
          f"Z0lo = {z_lo!r}")
    print("  R (z^0 .. z^5):", [repr(np.float32(v)) for v in r])
    print(f"  largest relative error of N: {err_n:.3g} ({err_n / ULP:.3g} float32 ulp)")


def exp_halfsq(degree):
    L = float(np.log(2)) * 1.0001  # |rho| <= ln2 and the rounding of rho
    rho = np.linspace(-L, L, 200001)
    rho = rho[rho != 0]
    f = np.exp(-rho / 2)
    target, weight = (f - 1) / rho, np.abs(rho) / f
    coef = [-0.5] + fit_rounded(rho, target + 0.5, weight, range(1, degree + 1))
    return coef, np.abs((1 + rho * polyval(rho, coef)) / f - 1).max()


def tanh_small(degree, top=1.0):
    x = np.linspace(1e-4, top, 20000)
    y = x * x
    target, weight = (np.tanh(x) - x) / x ** 3, x ** 3 / np.tanh(x)
    coef = fit_rounded(y, target, weight, range(degree + 1), rounds=40)
    x = np.linspace(1e-6, top, 300001)
    approx = x + x ** 3 * polyval(x * x, coef)
    return coef, np.abs(approx / np.tanh(x) - 1).max()


def exp_small(degree):
    h = float(mp.log(2)) / 2 * 1.0005  # a little beyond ln2/2: the reduction's rounding
    r = np.linspace(-h, h, 20001)
    r = r[np.abs(r) > 1e-6]
    target = np.array([float((mp.exp(v) - 1 - v) / v ** 2) for v in map(mp.mpf, r)])
    coef = fit_rounded(r, target, r * r / np.exp(r), range(degree + 1))
    return coef, np.abs((1 + r + r * r * polyval(r, coef)) / np.exp(r) - 1).max()


def tanh_tail(degree):
    e = np.linspace(0, np.exp(-2.0), 20001)
    target = 2 / (1 + e)
    coef = fit_rounded(e, target - 2, 1 / target, range(1, degree + 2))  # e R(e)
    return coef, np.abs((2 + e * polyval(e, coef)) / target - 1).max()


def tanhshrink_small(degree, top=1.0):
    mp.mp.dps = 40

    def exact(v):  # (x - tanh x) / x^3, from its series where mpmath's difference would be short
        v = mp.mpf(v)
        return 1 / mp.mpf(3) - 2 * v ** 2 / 15 if v < 1e-5 else (v - mp.tanh(v)) / v ** 3

    x = top * np.sin(np.linspace(0, np.pi / 2, 4000))[1:]  # denser near top
    target = np.array([float(exact(v)) for v in x])
    coef = lawson(np.stack([(x * x) ** j for j in range(degree + 1)], 1), target, 1 / target)
    x = np.linspace(1e-4, top, 30001)
    target = np.array([float(exact(v)) for v in x])
    return [float(c) for c in coef], np.abs(polyval(x * x, coef) / target - 1).max()


def piece_bounds(j):
    """[lo, hi) and the centre of piece j of fnl_pieces16_f"""
    if j == 0:
        return 0.0, 5 / 64, 0.0
    e, q = j // 4 - 4, j % 4
    return 2.0 ** e * (1 + q / 4), 2.0 ** e * (1 + (q + 1) / 4), 2.0 ** e * (1 + (2 * q + 1) / 8)


def gelu_slope_factor():
    """R(z) = exp(z^2/2) (Phi(-z) - z phi(z)) / (z - z0), z0 the zero of
    gelu' at -z0: gelu'(-z) = (z - z0) R(z) exp(-z^2/2), smooth through z0
    (the float32 derivative on CPUs with AVX-512, fnl_gelu_backward16_f)"""
    c_pdf = 1 / mp.sqrt(2 * mp.pi)

    def m(v):  # exp(v^2/2) (Phi(-v) - v phi(v))
        return mp.erfc(v / mp.sqrt(2)) * mp.exp(v * v / 2) / 2 - v * c_pdf
    z0 = mp.findroot(m, 0.75)
    return lambda v: m(v) / (v - z0) if v != z0 else mp.diff(m, z0)


def pieces(name, degree=4):
    """The rows (centre, H, L, S, P) of the 32 pieces of f = tanh,
    tanhshrink or tanh^2, and the largest relative error of each piece's
    rounded fit"""
    mp.mp.dps = 40
    f = {"tanh": mp.tanh, "tanhshrink": lambda v: v - mp.tanh(v), "tanh2": lambda v: mp.tanh(v) ** 2,
         "gelu_slope": gelu_slope_factor()}[name]
    rows, errs = [], []
    for j in range(32):
        if j == 0 and name in ("tanhshrink", "tanh2"):
            rows.append((0.0, 0.0, 0.0, 0.0, [0.0] * (degree + 1)))  # unused: see the docstring
            continue
        lo, hi, c = piece_bounds(j)
        r = np.linspace(lo, hi, 4001)[1 if j == 0 and name != "gelu_slope" else 0:] - c
        exact = [f(mp.mpf(c) + mp.mpf(v)) for v in r]
        fc = f(mp.mpf(c))
        head = f32(fc)
        low = f32(fc - head)
        value = np.array([float(v) for v in exact])
        rest = np.array([float(v - head - low) for v in exact])  # S r + r^2 P(r)
        weight = 1 / np.abs(value)
        if j == 0 and name == "tanh":  # the Taylor series' first terms: tanh a = a + 0 a^2 + ...
            slope = 1.0
            p = [0.0] + fit_rounded(r, rest - slope * r, weight, range(3, degree + 3))
        else:
            slope = f32(lawson(np.stack([r ** i for i in range(1, degree + 3)], 1), rest, weight)[0])
            p = fit_rounded(r, rest - slope * r, weight, range(2, degree + 3))
        rows.append((c, head, low, slope, p))
        errs.append(np.abs((head + low + slope * r + polyval(r, [0, 0] + p)) / value - 1).max())
    return rows, errs


def print_pieces(name):
    rows, errs = pieces(name)
    # the centres (fnl_piece_centres) are the same for every table
    fields = ["head", "low", "slope"] + [f"p{k}" for k in range(len(rows[0][4]))]
    columns = list(zip(*[(h, l, s, *p) for c, h, l, s, p in rows]))
    print(f"static const fnl_pieces32_f fnl_{name}_pieces = {{  /* tools/fit_float32_polynomials.py pieces {name} */")
    for field, col in zip(fields, columns):
        print(f"    .{field} = {{")
        vals = [repr(np.float32(v)).replace("np.float32(", "").rstrip(")") + "f" for v in col]
        for k in range(0, 32, 4):
            print("        " + ", ".join(vals[k:k + 4]) + ",")
        print("    },")
    print("};")
    print(f"/* largest relative error of a piece's rounded fit: {max(errs):.3g} ({max(errs) / ULP:.3g} float32 ulp) */")


if __name__ == "__main__":
    which = sys.argv[1]
    if which == "gelu":
        gelu()
    elif which == "pieces":
        print_pieces(sys.argv[2])
    else:
        extra = [float(v) for v in sys.argv[3:]]
        coef, err = {"exp_halfsq": exp_halfsq, "exp": exp_small, "tanh": tanh_small, "tanh_tail": tanh_tail,
                     "tanhshrink": tanhshrink_small}[which](int(sys.argv[2]), *extra)
        print("coefficients, lowest degree first:")
        for c in coef:
            print(f"  {c!r}")
        print(f"largest relative error: {err:.3g} ({err / ULP:.3g} float32 ulp)")
