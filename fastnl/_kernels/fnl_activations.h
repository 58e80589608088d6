/* fastnl: the scalar math of every elementwise activation, each forward
   next to its derivative, for float32 (suffix _f) and float64 (_d):
     fnl_<name>_<s>(x, p0, p1, ...)             the activation
     fnl_<name>_backward_<s>(g, x, p0, ...)     g * its derivative at x
     fnl_<name>_rare_<s>(x)                     scalar libm fix-up (below)
   The loops of _elementwise.pyx.tp call them by these names, with the
   op's parameters (its OPS table) as p0, p1, ...; PReLU and the losses call
   some of them through _scalar.pxd.

   Conventions: branch-free (compares become vector selects), NaN fails
   every compare and falls through to an expression of x (NaN in, NaN out);
   where torch's formula gives NaN at an infinity (inf/inf, -inf * 0) we
   return the mathematical limit. Decimal constants are of the data's type,
   so float32 data stays in float32 arithmetic, as in torch.

   Derivatives: torch's sub-gradients at the kinks (relu'(0) = 0, hardtanh'
   = 0 at its bounds, ...). Where torch returns 0 outright rather than g * 0
   we do too, so an inf or NaN in g does not leak through a zero derivative;
   derivatives that tend to 0 use forms that do not cancel (s(x) s(-x) for
   s (1 - s), 4e / (1 + e)^2 for 1 - tanh^2).

   Rare fix-ups: inputs where the vector formula loses accuracy (silu and
   mish below exp's normal range, float64 gelu below -8) are sent by the
   loops, a block at a time, through fnl_<name>_rare_<s>: scalar libm, not
   forced inline (they run for rare blocks only), but for float64 gelu's,
   plain arithmetic whose fix-up vectorises; likewise the derivative's
   through fnl_<name>_backward_rare_<s> (silu's tail, which every element
   would otherwise pay for). The cut each loop tests is the `rare` or
   `rare_backward` condition of the KERNELS table (fastnl/_ops.py).

   Staged functions: fnl_<name>_<s> written as fnl_<name>_post_<s>(x,
   fnl_<name>_pre_<s>(x)), the exp first (the KERNELS table's `staged`
   says which): the loops run the two as loops of their own over a few
   hundred elements. */
#ifndef FNL_ACTIVATIONS_H
#define FNL_ACTIVATIONS_H

#include <float.h>

#include "fnl_math.h"

/* ---------------------------------------------------------------- identity */
FNL_INLINE float fnl_identity_f(float x) { return x; }
FNL_INLINE float fnl_identity_backward_f(float g, float x) { (void)x; return g; }
FNL_INLINE double fnl_identity_d(double x) { return x; }
FNL_INLINE double fnl_identity_backward_d(double g, double x) { (void)x; return g; }

/* ---------------------------------------------------------------- relu */
/* `x < 0` rather than max(x, 0): NaN and -0.0 pass through, as in torch */
FNL_INLINE float fnl_relu_f(float x) { return x < 0 ? 0.0f : x; }
FNL_INLINE float fnl_relu_backward_f(float g, float x) { return x <= 0 ? 0.0f : g; }
FNL_INLINE double fnl_relu_d(double x) { return x < 0 ? 0.0 : x; }
FNL_INLINE double fnl_relu_backward_d(double g, double x) { return x <= 0 ? 0.0 : g; }

/* ---------------------------------------------------------------- hardtanh (also relu6) */
FNL_INLINE float fnl_hardtanh_f(float x, float lo, float hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}
FNL_INLINE float fnl_hardtanh_backward_f(float g, float x, float lo, float hi) {
    return x <= lo ? 0.0f : (x >= hi ? 0.0f : g);
}
FNL_INLINE double fnl_hardtanh_d(double x, double lo, double hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}
FNL_INLINE double fnl_hardtanh_backward_d(double g, double x, double lo, double hi) {
    return x <= lo ? 0.0 : (x >= hi ? 0.0 : g);
}

/* ---------------------------------------------------------------- leaky_relu */
/* also rrelu in eval mode, and prelu (through _scalar.pxd) */
FNL_INLINE float fnl_leaky_relu_f(float x, float ns) { return x > 0 ? x : x * ns; }
FNL_INLINE float fnl_leaky_relu_backward_f(float g, float x, float ns) {
    return x > 0 ? g : g * ns;
}
FNL_INLINE double fnl_leaky_relu_d(double x, double ns) { return x > 0 ? x : x * ns; }
FNL_INLINE double fnl_leaky_relu_backward_d(double g, double x, double ns) {
    return x > 0 ? g : g * ns;
}

/* ---------------------------------------------------------------- elu (also celu, selu) */
/* torch's one ELU form (negcoef, poscoef, input_scale): elu = (alpha, 1, 1),
   celu = (alpha, 1, 1/alpha), selu = (alpha scale, scale, 1); expm1 keeps
   relative accuracy near 0-. For input_scale > 0 only (x * is <= 0 where
   used); the loop sends other scales to libm's expm1. ncl: what nc lost
   when it was rounded to a double (selu's alpha scale; 0 for elu and
   celu), which the float64 kernels add and float32's, whose nc is already
   far finer than a float, ignore. */
/* float32 in float64 with the parameters unrounded, rounded once: float32
   arithmetic reached 1.15 ulp, and selu 2.1 (its scale rounded to float32
   first; x * scale also overflowed to inf for x within 3% of the largest
   float32, where the true result is finite). torch's float32 elu takes
   2.8 ns per element (AVX2, 10^5, one thread), this about 2. */
FNL_INLINE float fnl_elu_f(float x, double nc, double pc, double is, double ncl) {
    double xd = x, m = fnl_expm1_fd(xd * is) * nc;
    (void)ncl;
    return (float)(x <= 0 ? m : xd * pc);
}
FNL_INLINE float fnl_elu_backward_f(float g, float x, float nc, float pc, float is, float ncl) {
    float m = g * is * nc * fnl_exp_f(x * is);
    (void)ncl;
    return x <= 0 ? m : g * pc;
}
FNL_INLINE double fnl_elu_d(double x, double nc, double pc, double is, double ncl) {
    /* expm1 as a pair and (nc + ncl) times it rounded once (an FMA): elu
       0.58 ulp; selu 1.7 with nc alone (torch's alpha scale, 1.06 ulp from
       the exact product), and expm1 times nc rounded twice 1.4 and 3.1 */
    double ml, m = fnl_expm1n_hilo_d(x * is, &ml);
    return x <= 0 ? fma(nc, m, fma(nc, ml, ncl * m)) : x * pc;
}
FNL_INLINE double fnl_elu_backward_d(double g, double x, double nc, double pc, double is,
                                     double ncl) {
    /* (nc + ncl) exp rounded once: selu' 2.6 ulp with nc alone */
    double e = fnl_exp_d(x * is);
    double m = g * is * fma(nc, e, ncl * e);
    return x <= 0 ? m : g * pc;
}
/* input_scale <= 0 (celu with alpha < 0): x * input_scale > 0, where the
   vector expm1n (nonpositive arguments only) does not reach: libm's expm1
   (ncl is 0 there: celu's) */
static inline float fnl_elu_rare_f(float x, double nc, double pc, double is, double ncl) {
    double xd = x;
    (void)ncl;
    return (float)(x <= 0 ? expm1(xd * is) * nc : xd * pc);
}
static inline double fnl_elu_rare_d(double x, double nc, double pc, double is, double ncl) {
    (void)ncl;
    return x <= 0 ? expm1(x * is) * nc : x * pc;
}

/* ---------------------------------------------------------------- gelu */
/* 1/sqrt(2 pi) as a head and its tail beyond double: phi's constant, for
   the float64 derivative's x phi(x) and the float64 tail's phi(x) */
#define FNL_INV_SQRT_2PI_D 0.3989422804014327
#define FNL_INV_SQRT_2PI_LO_D -2.49232720227773e-17
/* x Phi(x) = 0.5 x erfc(-x/sqrt2): erfc keeps relative accuracy for x << 0,
   where 1 + erf(x/sqrt2) cancels to 0; limit -0.0 at -inf. The derivative
   is Phi(x) + x phi(x). */
/* staged: exp(-z^2/2) = 2^-64 s (1 + q) times the numerator, and the
   denominator, first, then the division (fnl_gelu_scaled_num_f) */
FNL_INLINE float fnl_gelu_pre_f(float x, float *den) {
    float s, z = fnl_gelu_abs_f(x), q = fnl_exp_halfsq_f(z, &s);
    *den = fnl_gelu_den_f(z);
    return fnl_gelu_scaled_num_f(fnl_gelu_num_f(z), q, s);
}
FNL_INLINE float fnl_gelu_post_f(float x, float num, float den) {
    /* x < 0: -z Phi(-z); x >= 0: x minus that (z = |x|), with z Phi(-z) =
       exp(-z^2/2) P(z) / Q(z) (fnl_math.h) */
    float tail = FNL_COPYSIGNF(num / den, x);
    return x < 0 ? tail : x - tail;
}
FNL_INLINE float fnl_gelu_f(float x) {
    float den, num = fnl_gelu_pre_f(x, &den);
    return fnl_gelu_post_f(x, num, den);
}
/* Phi(x) + x phi(x) is T = Phi(-z) - z phi(z) for x < 0 and 1 - T for
   x >= 0, T = exp(-z^2/2) N(z) / (2 Q(z)): one exp, one division, and
   the zero of gelu' (x = -0.7517915247) a factor of N (fnl_math.h), so
   no window of its own. Staged as the forward. */
FNL_INLINE float fnl_gelu_backward_pre_f(float x, float *den) {
    float s, z = fnl_gelu_abs_f(x), q = fnl_exp_halfsq_f(z, &s);
    *den = fnl_gelu_den_f(z);
    return fnl_gelu_scaled_num_f(fnl_gelu_slope_num_f(z), q, s);
}
FNL_INLINE float fnl_gelu_backward_post_f(float g, float x, float num, float den) {
    float t = num / den;
    float r = g * (x < 0 ? t : 1 - t);
    return FNL_FABSF(x) == INFINITY ? (x > 0 ? g : 0.0f) : x != x ? x : r;
}
FNL_INLINE float fnl_gelu_backward_f(float g, float x) {
    float den, num = fnl_gelu_backward_pre_f(x, &den);
    return fnl_gelu_backward_post_f(g, x, num, den);
}
/* y = -x/sqrt2 rounded, and yl, what the rounding lost: the product's own
   error (exact as an FMA) plus x times the constant's error beyond double.
   Without it erfc(y) is off by 2 y^2 ulp (80 at x = -7.9). (Dekker's
   product without FMA, 26-bit halves, took 8 more operations.) */
FNL_INLINE double fnl_gelu_arg_d(double x, double *yl) {
    const double c = -0.7071067811865476, c_tail = 4.833646656726457e-17;   /* -1/sqrt2 - c */
    double y = x * c;
    *yl = FNL_FABS(x) < 1e300 ? fma(x, c, -y) + x * c_tail : 0.0;   /* inf, NaN: no correction */
    return y;
}
/* The float64 gelu and its derivative take Phi(-|x|) = erfc(a) / 2, a =
   |x|/sqrt2, from the same blocks: a and in *al what its rounding lost
   (fnl_gelu_arg_d), exp(-a^2) = s1 s2 (1 + m + ml) (fnl_exp_negsq_d), and
   the result erfc(a + al) / (s1 s2) = (R + Rl)(1 + m + ml) as E + *lo, R + Rl =
   erfcx(a + al) (fnl_erfc_scaled_d), rounded once where it meets x or
   x phi(x). Beyond
   a = 28, where erfc(a) is below the subnormals, a is clamped, al dropped
   and s1 set to 0. */
FNL_INLINE double fnl_gelu_tail_d(double x, double *a, double *al, double *s1, double *s2,
                                  double *m, double *ml, double *lo) {
    double yl, y = fnl_gelu_arg_d(x, &yl);
    double z = FNL_FABS(y);
    int beyond = z > 28.0;
    *al = beyond ? 0.0 : (y >= 0 ? yl : -yl);
    *a = beyond ? 28.0 : z;
    *m = fnl_exp_negsq_d(*a, s1, s2, ml);
    *s1 = beyond ? 0.0 : *s1;
    double Rl, R = fnl_erfc_scaled_d(*a, *al, &Rl);
    /* E + lo by Fast2Sum; Rl m counts, as Rl reaches 100 ulp of R */
    double w = fma(R, *m, fma(R, *ml, fma(Rl, *m, Rl))), E = R + w;
    *lo = (R - E) + w;
    return E;
}
/* x < 0: x Phi(-|x|) = (x/2) erfc(a); x >= 0: x minus that; a < 0.4765:
   (x/2)(1 + sign(x) erf(a)), one rounding (an FMA), its sign x's (the
   rounding of -0.0 + 0.0 would give +0.0). x/2 times erfc(a) / (s1 s2)
   = E + El (fnl_gelu_tail_d) rounded once. On 4 x 10^6 points of [-8, 8]
   against long double: 1.56 ulp, 0.1% of results beyond 1 ulp. Cephes'
   erfc, 1 - a T(a^2)/U(a^2) below a = 1, reached 13.8 where it cancels
   (x = -1.36) and took 20% less time; both are below torch's. For the most
   common inputs, |x| < 0.674, erf's series (1.59 ulp, 0.3% beyond 1) is
   more accurate than erfcx's polynomial, which reaches a = 0, and 0.5 ns
   per element of 7.4 faster (AVX2). The switch is where erf(a) = 1/2:
   beyond it 1 - erf(a) falls a binade below erf(a), whose ulp error it
   doubles (1.99 ulp at x = -0.695 with the switch at a = 0.5). NaN gives
   NaN; limits +inf and -0.0; below -8 the loops take fnl_gelu_rare_d. */
FNL_INLINE double fnl_gelu_d(double x) {
    double a, al, s1, s2, m, ml, El, E = fnl_gelu_tail_d(x, &a, &al, &s1, &s2, &m, &ml, &El);
    double hx = 0.5 * x;
    double tail = (fma(hx, E, hx * El) * s1) * s2;
    double small = FNL_COPYSIGN(fma(hx, FNL_COPYSIGN(fnl_erf_small_d(a, al), x), hx), x);
    double r = a < 0.4765 ? small : (x < 0 ? tail : x - tail);
    return FNL_FABS(x) == INFINITY ? (x > 0 ? x : -0.0) : r;
}
FNL_INLINE double fnl_gelu_backward_d(double g, double x) {
    /* Phi(x) + x phi(x) from one exp(-a^2) = s (1 + m), s = s1 s2, a = |x|/sqrt2
       (+ al, its rounding; exp(-x^2/2) = exp(-a^2) (1 - 2 a al) = s (1 + m2)):
       a >= 0.5, with erfc(a) = s (R + R m) (fnl_erfc_scaled_d):
         x < 0:  s (R (1 + m)/2 + x/sqrt(2 pi) (1 + m2)),
         x >= 0: 1 + s (x/sqrt(2 pi) (1 + m2) - R (1 + m)/2);
       a < 0.5: 1/2 + (sign(x) erf(a)/2 + x phi(x)).
       m2 = m + m2l kept as a pair, m2l = ml - 2 a al (1 + m). Against long
       double, outside the zero's window: 1.76 ulp in [-40, -1.5], 1.18
       beyond -0.25 (Cephes' rationals, their exp and a second exp for phi,
       before: 5.3 and 15.9 ulp, in 8-22% more time). */
    double a, al, s1, s2, m, ml, El, E = fnl_gelu_tail_d(x, &a, &al, &s1, &s2, &m, &ml, &El);
    /* x / sqrt(2 pi) = xc + xcl exactly (to 2^-106), so that x phi(x) is
       rounded only where it meets Phi */
    const double c = FNL_INV_SQRT_2PI_D, c_lo = FNL_INV_SQRT_2PI_LO_D;
    double xc = x * c, xcl = fma(x, c, -xc) + x * c_lo;
    double m2l = fma(-2 * a * al, 1 + m, ml);
    double pdf_rest = fma(xc, m, fma(xc, m2l, xcl));   /* x phi(x) / s - xc */
    double half = 0.5 * E, half_lo = 0.5 * El;   /* Phi(-|x|) / s */
    double neg = ((xc + (half + (pdf_rest + half_lo))) * s1) * s2;
    double pos = 1 + ((xc + ((pdf_rest - half_lo) - half)) * s1) * s2;
    double small = 0.5 + fma(FNL_COPYSIGN(0.5, x), fnl_erf_small_d(a, al), (xc + pdf_rest) * s1 * s2);
    /* Near the zero x0 = -0.75179152469356446 of gelu', where Phi(x) and
       x phi(x) cancel (up to 1548 ulp against mpmath in [-1, -0.75]), in the
       window [-1.5, -0.25]: as float32's, gelu' = (x - X0) K(u) - C, X0 the
       double nearest x0, u = x + 0.875, K of degree 18
       (tools/fit_derivative_zeros.py gelu -1.5 -0.25 18 float64), evaluated
       as fnl_poly18_d does, K's last rounding kept for the product with
       x - X0, which is exact in the window: 1.25 ulp on 6 x 10^6 points of
       the window against long double (2.03 with K rounded). */
    double th = x + 0.7517915246935645, u = x + 0.875;
    static const double K[19] = {
        0.3835870106433039, 0.38770970828898954, 0.02224894373669081,
        -0.10396667859058582, -0.02556850718569637, 0.015434907256882442,
        0.0061291665115137456, -0.0014235676566439473, -0.0008900306184705396,
        7.404823729424894e-05, 9.349422442453127e-05, 3.697631024804428e-07,
        -7.667101576978836e-06, -5.172806009892096e-07, 5.116748115011607e-07,
        6.224145233776903e-08, -2.839667357012285e-08, -4.498296793966231e-09,
        1.241300060051686e-09,
    };
    double klo, k = fnl_poly18_d(K, u, &klo);
    double near = fma(th, k, fma(th, klo, -6.453751729367753e-18));
    double r = g * ((x >= -1.5 && x <= -0.25) ? near : (a < 0.5 ? small : (x < 0 ? neg : pos)));
    return FNL_FABS(x) == INFINITY ? (x > 0 ? g : 0.0) : r;
}
/* float64 gelu's tail below -8, where the vector loop's erfcx polynomial
   loses bits to its own roundings (17 ulp of erfcx at a = 27): x Phi(x) =
   -phi(x) G(v), v = 1/x^2 <= 1/64, G = |x| Phi(x) / phi(x) = 1 - v + 3 v^2
   - ... (Mills' ratio times |x|), so that no erfc is needed: phi(x) G =
   exp(-x^2/2) (C + v Q(v)), C = 1/sqrt(2 pi) as a head and tail, Q of degree
   10 (tools/fit_float64_erfc.py gelu-tail 10: 2^-51.3 relative, and v Q
   below 1/64 of the sum). x^2 = h + l exactly (an FMA); exp(-h/2) 2^64 as a
   pair (fnl_exp_nonpos_hilo_scaled_d) times 1 - l/2 for the rest of the
   exponent (and v Q's share of it: without, 0.96 ulp); the product rounded
   once, then by 2^-64 into the subnormals where it is below them. Below
   -38.75 (-inf too) the result rounds to -0.0: x is clamped there. Against
   mpmath, 0.54 ulp above the subnormals and 0.71 in them, where 0.5 x
   erfcl(-x/sqrt2) in long double, before, reached 0.92 (x = -28.45) and
   was a scalar call of 166 ns per element. Plain arithmetic, inlined, so
   that the loops' fix-up vectorises it (masked): gelu of 10^5 float64
   inputs all in [-20, -9] takes 1.5 ms where erfcl took 21, and 2.0 ms
   where a fifth of them are (N(0, 100)) where it took 5.6 (A/B, AVX2, one
   thread). */
FNL_INLINE double fnl_gelu_rare_d(double x) {
    const double c = FNL_INV_SQRT_2PI_D, c_lo = FNL_INV_SQRT_2PI_LO_D;
    double xc = x < -38.75 ? -38.75 : x;
    double h = xc * xc, l = fma(xc, xc, -h), v = 1 / h;
    double q = (((((((((-1061861138.231044 * v
        + 148898546.57108065) * v
        - 11805963.313502472) * v
        + 786052.5705060264) * v
        - 53734.693692639514) * v
        + 4146.100462825804) * v
        - 376.9975197031404) * v
        + 41.8889338287742) * v
        - 5.984134200474152) * v
        + 1.1968268412021466) * v
        - 0.39894228040143254;
    double El, E = fnl_exp_nonpos_hilo_scaled_d(-0.5 * h, &El);
    double rest = fma(v, q, c_lo);   /* C G - c */
    double r = fma(c, E, fma(c + rest, fma(-0.5 * l, E, El), rest * E));
    return -(r * FNL_TWO_M64_D);
}

/* ---------------------------------------------------------------- gelu_tanh */
/* 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3):
   no 1 + tanh cancellation for x << 0; an x^3 overflowing to +-inf gives
   sigmoid exactly 1 or 0. The derivative: sigmoid(2u) + 2 x u' s(2u) s(-2u). */
FNL_INLINE float fnl_gelu_tanh_f(float x) {
    /* in float64, rounded once (torch's float32 form takes 3.8 ns per
       element, AVX2, 10^5, one thread): float32 arithmetic, even with 2u in
       double split into a head and a tail for the exp, reached 3.9 ulp.
       x^3 cannot overflow in double; NaN stays NaN */
    double xd = x;
    double u2 = 1.5957691216057307118 * (xd + 0.044715 * xd * xd * xd);
    double e = fnl_exp_fd(-FNL_FABS(u2));
    double r = xd * ((u2 >= 0 ? 1.0 : e) / (1 + e));
    return x == -INFINITY ? -0.0f : (float)r;
}
FNL_INLINE float fnl_gelu_tanh_backward_f(float g, float x) {
    /* s + 2 x u' s(2u) s(-2u) in float64, rounded once (torch's float32
       gelu_backward takes 4 ns per element, AVX2, 10^5, one thread): in
       float32, 2u's rounding and a subnormal exp(-|2u|) cost 226 ulp in the
       tail (x = -10.2). 2u' = 2c (1 + 3 0.044715 x^2); x^3 cannot overflow
       in double. Where exp(-|2u|) is clamped (|2u| > 700) the product
       with x 2u' still rounds to 0 in float32. */
    double xd = x, x2 = xd * xd;
    double u2 = 1.5957691216057307118 * (xd + 0.044715 * xd * x2);
    double du2 = 1.5957691216057307118 * (1 + 0.134145 * x2);
    double e = fnl_exp_fd(-FNL_FABS(u2));
    double q = 1 / (1 + e), eq = e * q;   /* s(2u) and s(-2u): one division */
    double s = u2 >= 0 ? q : eq, sm = u2 >= 0 ? eq : q;
    float far = (float)(s + xd * du2 * s * sm);
    /* Near the zero x0 = -0.7524614221 of this derivative, where s and
       2 x u' s(2u) s(-2u) cancel, in the window [-1.5, -0.375]: as gelu's,
       (x - X0) K(v) - C, v = x + 0.9375, K of degree 8 (tools/fit_derivative_zeros.py
       gelu_tanh -1.5 -0.375 8; 0.044715 exact, not rounded to float32),
       evaluated in float64 too (0.88 ulp; 1.83 in float32). */
    double th = xd + 0.7524614334106445, v = xd + 0.9375;
    double k = (((((((-0.001047999132424593
        * v - 0.0008306244271807373)
        * v + 0.007379370741546154)
        * v + 0.012460083700716496)
        * v - 0.03167015314102173)
        * v - 0.09565854072570801)
        * v + 0.042910728603601456)
        * v + 0.3821842670440674)
        * v + 0.35885220766067505;
    float near = (float)(th * k - 4.880576831567396e-09);
    return g * ((x >= -1.5f && x <= -0.375f) ? near : far);
}
/* +-inf and NaN, through the loops' rare fix-up (as a select, every
   element paid 6% of the time for it): the limits, g and 0 (g 0 would be
   NaN for an infinite g); a NaN's bits then come from this scalar code
   wherever the element falls */
static inline float fnl_gelu_tanh_backward_rare_f(float g, float x) {
    return FNL_FABSF(x) == INFINITY ? (x > 0 ? g : 0.0f) : fnl_gelu_tanh_backward_f(g, x);
}
/* 2 sqrt(2/pi) as a double pair: 2u's factor, and its derivative's */
#define FNL_GELU_TANH_C 1.5957691216057308
#define FNL_GELU_TANH_C_LO (-9.96930880911092e-17)
/* 2u = C (x + A x^3), C = 2 sqrt(2/pi), A = 0.044715, and in *lo its
   rounding error (C and A as double pairs, the products' errors by FMA, the
   sum's by Knuth's two-sum), to first order: exp(-|2u|) multiplies 2u's
   absolute error into its relative one, |2u| ulp (1361 at x = -20.9)
   uncorrected. Only where exp(-|2u|) is not clamped (|2u| < 1000): beyond,
   the correction of a huge 2u (or of an overflowed x^3) means nothing. */
FNL_INLINE double fnl_gelu_tanh_arg_d(double x, double *lo) {
    const double c = FNL_GELU_TANH_C, cl = FNL_GELU_TANH_C_LO;
    const double a = 0.044715, al = 2.1960211427085595e-18;
    double x2 = x * x, x2l = fma(x, x, -x2);
    double x3 = x2 * x, x3l = fma(x2, x, -x3) + x2l * x;
    double t = a * x3, tl = fma(a, x3, -t) + fma(a, x3l, al * x3);
    double s = x + t, sv = s - x, sl = ((x - (s - sv)) + (t - sv)) + tl;
    double h = c * s, hl = fma(c, s, -h) + fma(c, sl, cl * s);
    *lo = FNL_FABS(h) < 1000 ? hl : 0.0;
    return h;
}
/* s = sigmoid(-|2u|) as hi + lo (fnl_logistic_scaled_d), 2u's own lo
   added to first order, s(-(a + d)) = s - s (1 - s) d, and x times either
   s or 1 - s = m + ml (Fast2Sum) rounded once (an FMA): 1.2 ulp (x / (1 +
   e) rounded three times: 3.7). x < 0 keeps s as S = s 2^64 and the
   product with 2^-64 last: x times an s already rounded below the normal
   range would multiply its rounding error by |x|. Staged: 2u and S + Sl
   first (three results: S, Sl and 2u's lo signed as 2u, whose sign is
   x's), then the rest; 7.6 -> 6.3 ns per element (AVX2, one thread) */
FNL_INLINE double fnl_gelu_tanh_pre_d(double x, double *Sl, double *d) {
    double lo, u2 = fnl_gelu_tanh_arg_d(x, &lo);
    *d = u2 >= 0 ? lo : -lo;
    return fnl_logistic_scaled_d(FNL_FABS(u2), Sl);
}
FNL_INLINE double fnl_gelu_tanh_post_d(double x, double S, double Sl, double d) {
    double s = S * FNL_TWO_M64_D;
    double ml, m = fnl_one_minus_d(s, Sl * FNL_TWO_M64_D, &ml);
    double dm = d * m;   /* (1 - s) times 2u's correction */
    double neg = fma(x, S, x * (Sl - S * dm)) * FNL_TWO_M64_D;
    double pos = fma(x, m, x * (ml + s * dm));
    /* +-inf: the limits (x times 0 corrections would be NaN); 2u has x's
       sign (a NaN goes either way and stays NaN) */
    return FNL_FABS(x) == INFINITY ? (x > 0 ? x : -0.0) : (x >= 0 ? pos : neg);
}
FNL_INLINE double fnl_gelu_tanh_d(double x) {
    double Sl, d, S = fnl_gelu_tanh_pre_d(x, &Sl, &d);
    return fnl_gelu_tanh_post_d(x, S, Sl, d);
}
/* The derivative's far form: y = 2u, exp(-|2u|) 2^128 in *E0, 2u's
   correction signed in *d, W + Wl = 2 x u'; returns s(2u) + W s(2u) s(-2u)
   from the quotient of exact pairs (fnl_x_sigmoid_slope_d) */
FNL_INLINE double fnl_gelu_tanh_slope_far_d(double x, double *yp, double *E0p, double *dp,
                                           double *Wp, double *Wlp) {
    double lo, y = fnl_gelu_tanh_arg_d(x, &lo);
    /* exp(-|2u|) = e + el, el what 2u's rounding (lo) moves it by, to first
       order; E0 = 2^128 e, normal down to 2u = -760, for the tail below */
    double E0 = fnl_exp_nonpos_shifted_d(-FNL_FABS(y), -760.0, 128), d = y >= 0 ? lo : -lo;
    double e = E0 * FNL_TWO_M128_D, el = -e * d;
    /* W = 2 x u' = x C (1 + 3A x^2), C = 2 sqrt(2/pi) and 3A as double
       pairs, every rounding kept: W + Wl */
    double x2 = x * x, x2l = fma(x, x, -x2);
    const double a3 = 0.134145, a3l = 1.3526957332032908e-17;   /* 3A - a3 */
    const double c = FNL_GELU_TANH_C, cl = FNL_GELU_TANH_C_LO;
    double t = a3 * x2, tl = fma(a3, x2, -t) + fma(a3, x2l, a3l * x2);
    double m = 1 + t, mv = m - 1, ml = ((1 - (m - mv)) + (t - mv)) + tl;
    double cm = c * m, cml = fma(c, m, -cm) + fma(c, ml, cl * m);
    double W = x * cm, Wl = fma(x, cm, -W) + x * cml;
    *yp = y; *E0p = E0; *dp = d; *Wp = W; *Wlp = Wl;
    return fnl_x_sigmoid_slope_d(y >= 0, e, el, W, Wl);
}
/* for |x| <= 21, the vector loops' (beyond, and NaN, the rare fix-up
   below: as selects, the tails cost every element a fifth of its time) */
FNL_INLINE double fnl_gelu_tanh_backward_d(double g, double x) {
    double y, E0, d, W, Wl, far = fnl_gelu_tanh_slope_far_d(x, &y, &E0, &d, &W, &Wl);
    /* Near the zero x0 = -0.75246142207101626 of this derivative, where s
       and 2 x u' s(2u) s(-2u) cancel (10^15 ulp against mpmath at the zero,
       74 within 0.01 of it), in the window [-1.5, -0.375]: as gelu's,
       (x - X0) K(v) - C, X0 the double nearest x0, v = x + 0.9375, K of
       degree 18 (tools/fit_derivative_zeros.py gelu_tanh -1.5 -0.375 18
       float64), evaluated as fnl_poly18_d does, K's last rounding kept for
       the product with x - X0, which is exact in the window: 1.07 ulp on
       3 x 10^6 points of the window against long double (1.88 with K
       rounded). */
    double th = x + 0.7524614220710163, v = x + 0.9375;
    static const double K[19] = {
        0.358852215457993, 0.3821842632420685, 0.042910776569869274,
        -0.09565854303588099, -0.03167220952633606, 0.012460009526141768,
        0.007402990298750569, -0.0008294206200854432, -0.0011495635306414736,
        -5.836382703467229e-06, 0.00015197918687801667, 9.531141815783626e-06,
        -2.080133632388693e-05, -2.164939197510052e-06, 3.0915898961728895e-06,
        5.029899133747596e-07, -4.433853440801057e-07, -8.910717765318926e-08,
        4.869518341782406e-08,
    };
    double klo, k = fnl_poly18_d(K, v, &klo);
    double near = fma(th, k, fma(th, klo, -1.5647455740893692e-17));
    return g * ((x >= -1.5 && x <= -0.375) ? near : far);
}
/* beyond |x| = 21 (and NaN) */
static inline double fnl_gelu_tanh_backward_rare_d(double g, double x) {
    double y, E0, d, W, Wl, far = fnl_gelu_tanh_slope_far_d(x, &y, &E0, &d, &W, &Wl);
    double e = E0 * FNL_TWO_M128_D;
    /* e = 0 (|2u| > 760, where x^3 may overflow and e W be NaN): the limits */
    double plain = e == 0 ? (y >= 0 ? 1.0 : 0.0) : far;
    /* below 2u = -708 (x < -21.1), e is subnormal, and the result, about
       4000 e, would carry e's few bits (1289 ulp at x = -21.2): there e (1 +
       W) (D is 1; 1 + W exact, |W| < 2^52) from E0, rounded once into the
       subnormals, down to 2u = -760, beyond which it rounds to 0, as plain
       gives */
    double N = 1 + W, EN = E0 * N;
    double tail = (EN + (fma(E0, N, -EN) + E0 * (Wl - N * d))) * FNL_TWO_M128_D;
    double r = g * (y < -708.0 && y > -760.0 ? tail : plain);
    return FNL_FABS(x) == INFINITY ? (x > 0 ? g : 0.0) : r;
}

/* ---------------------------------------------------------------- softplus */
/* torch: x where beta x > threshold; else log(1 + exp(z)) / beta, z = beta x,
   here as max(z, 0) + log1p(exp(-|z|)), which cannot overflow whatever the
   threshold (torch's log1p(exp(z)) is inf beyond z ~ 88 / 709). Also the
   losses' -log sigmoid(x) = softplus(-x) (beta 1, no threshold). */
/* float32 in float64 (beta x exact there), rounded once: float32's exp,
   log1p and division reached 3.0 ulp; torch's float32 softplus takes
   3.7 ns per element (AVX2, 10^5, one thread) */
/* Staged (fastnl/_ops.py), as the whole logistic family: the loops take
   e = exp(-|z|) first, then the rest (fnl_<name>_pre / _post) */
FNL_INLINE double fnl_softplus_pre_f(float x, double beta, double thr) {
    (void)thr;
    return fnl_exp_fd(-FNL_FABS(x * beta));
}
FNL_INLINE float fnl_softplus_post_f(float x, double e, double beta, double thr) {
    double z = x * beta;
    double r = ((z > 0 ? z : 0) + fnl_log1p_fd(e)) / beta;
    return z > thr ? x : (float)r;
}
FNL_INLINE float fnl_softplus_f(float x, double beta, double thr) {
    return fnl_softplus_post_f(x, fnl_softplus_pre_f(x, beta, thr), beta, thr);
}
/* sigmoid(z), z = beta x, from exp(-|z|) alone (fnl_sigmoid_from_exp_f;
   |z| <= 80; beyond and NaN, the rare fix-up) */
FNL_INLINE float fnl_softplus_backward_pre_f(float x, float beta, float thr) {
    (void)thr;
    return fnl_exp_nonpos_normal_f(-FNL_FABSF(x * beta));
}
FNL_INLINE float fnl_softplus_backward_post_f(float g, float x, float e, float beta, float thr) {
    float z = x * beta;
    float r = g * fnl_sigmoid_from_exp_f(z, e);
    return z > thr ? g : r;
}
static inline float fnl_softplus_backward_rare_f(float g, float x, float beta, float thr) {
    float z = x * beta;
    return z > thr ? g : (float)(g * fnl_sigmoid_libm_d(z));  /* rounded once: subnormal there */
}
FNL_INLINE double fnl_softplus_pre_d(double x, double beta, double thr) {
    (void)thr;
    return fnl_sigmoid_pre_d(x * beta);
}
FNL_INLINE double fnl_softplus_post_d(double x, double e, double beta, double thr) {
    double z = x * beta;
    double r = fnl_log1p_exp_post_d(z, e) / beta;
    return z > thr ? x : r;
}
FNL_INLINE double fnl_softplus_d(double x, double beta, double thr) {
    return fnl_softplus_post_d(x, fnl_softplus_pre_d(x, beta, thr), beta, thr);
}
FNL_INLINE double fnl_softplus_backward_pre_d(double x, double beta, double thr) {
    return fnl_softplus_pre_d(x, beta, thr);  /* the forward's exp(-|z|) */
}
FNL_INLINE double fnl_softplus_backward_post_d(double g, double x, double e, double beta,
                                               double thr) {
    double z = x * beta;
    double r = g * fnl_sigmoid_post_d(z, e);
    return z > thr ? g : r;
}
FNL_INLINE double fnl_softplus_backward_d(double g, double x, double beta, double thr) {
    return fnl_softplus_backward_post_d(g, x, fnl_softplus_backward_pre_d(x, beta, thr), beta, thr);
}

/* ---------------------------------------------------------------- sigmoid */
/* forward: fnl_sigmoid_pre_<s> / _post_<s> in fnl_math.h (float32's with
   its fix-up fnl_sigmoid_rare_f); the
   derivative s(x) s(-x), with s = sigmoid(-|x|) <= 1/2, which does not
   cancel as s (1 - s) at s near 1 does. torch's autograd takes it from the
   output (fnl_sigmoid_from_output_<s>), the form the benchmarks compare.
   float32: e / (1 + e)^2, e = exp(-|x|), in float64, rounded once (float32
   arithmetic: 2.2 ulp). float64: s as hi + lo, rounded once
   (fnl_logistic_slope_scaled_d; e / (d^2 + 2 d dd), 1 + e = d + dd: 2.3 ulp) */
FNL_INLINE double fnl_sigmoid_backward_pre_f(float x) {  /* staged */
    return fnl_exp_fd(-FNL_FABSF(x));
}
FNL_INLINE float fnl_sigmoid_backward_post_f(float g, float x, double e) {
    double d = 1 + e;
    (void)x;
    return (float)(g * (e / (d * d)));
}
FNL_INLINE float fnl_sigmoid_backward_f(float g, float x) {
    return fnl_sigmoid_backward_post_f(g, x, fnl_sigmoid_backward_pre_f(x));
}
FNL_INLINE double fnl_sigmoid_backward_d(double g, double x) {
    return g * (fnl_logistic_slope_scaled_d(FNL_FABS(x)) * FNL_TWO_M64_D);
}

/* ---------------------------------------------------------------- tanh */
/* forward: fnl_tanh_<s> in fnl_math.h; the derivative sech^2 =
   4e / (1 + e)^2, e = exp(-2|x|), which does not cancel as 1 - tanh^2 does */
/* float32 in float64, rounded once (float32 arithmetic: 3.9 ulp); the
   benchmarks compare the form from the output, as torch's autograd runs it */
FNL_INLINE double fnl_tanh_backward_pre_f(float x) {  /* staged */
    return fnl_exp_fd(-2 * (double)FNL_FABSF(x));
}
FNL_INLINE float fnl_tanh_backward_post_f(float g, float x, double e) {
    double d = 1 + e;
    (void)x;
    return (float)(g * (4 * e / (d * d)));
}
FNL_INLINE float fnl_tanh_backward_f(float g, float x) {
    return fnl_tanh_backward_post_f(g, x, fnl_tanh_backward_pre_f(x));
}
FNL_INLINE double fnl_tanh_backward_d(double g, double x) {
    /* 4e / (1 + e)^2 = 4 s (1 - s), s = sigmoid(-2|x|), rounded once (the
       plain 4e / (1 + e)^2 rounded four times: 3.7 ulp) */
    return g * ((4 * fnl_logistic_slope_scaled_d(2 * FNL_FABS(x))) * FNL_TWO_M64_D);
}

/* ---------------------------------------------------------------- softsign */
/* limit +-1 at +-inf, where x / (1 + |x|) is inf/inf */
/* float32: 1 + |x| = dh + dl exactly (Fast2Sum, the larger first), the
   quotient q = x / dh, and its correction by the residual x - q (dh + dl)
   (exact as an FMA, but for q dl, far below it): correctly rounded on every
   97th float32 (x / (1 + |x|) rounded twice: 1.5 ulp). Two float32
   divisions cost less than one in float64 with the conversions (0.30
   against 0.45 ns per element, AVX2). */
FNL_INLINE float fnl_softsign_f(float x) {
    float a = FNL_FABSF(x), dh = 1 + a;
    float big = a > 1 ? a : 1.0f, small = a > 1 ? 1.0f : a;
    float dl = (big - dh) + small;
    float q = x / dh;
    float r = __builtin_fmaf(-q, dh, x) - q * dl;
    /* x's sign: q + r / dh of -0.0 is +0.0 */
    return FNL_COPYSIGNF(a == INFINITY ? 1.0f : q + r / dh, x);
}
FNL_INLINE float fnl_softsign_backward_f(float g, float x) {
    /* in double: 1 + |x| is exact there and (1 + |x|)^2 cannot overflow (it
       did beyond 1.8e19 in float32, giving 0 for a normal result) */
    double d = 1 + (double)FNL_FABSF(x);
    return (float)((double)g / (d * d));
}
FNL_INLINE double fnl_softsign_d(double x) {
    double a = FNL_FABS(x);
    return a == INFINITY ? FNL_COPYSIGN(1.0, x) : x / (1 + a);
}
FNL_INLINE double fnl_softsign_backward_d(double g, double x) {
    /* 1 / (1 + |x|)^2 from r = 1/d, d = 1 + |x| = d + dl exactly
       (Fast2Sum, the larger first), r's correction r (1 - r (d + dl)) (the
       residual exact as an FMA), and r^2's rounding kept (an FMA): one
       rounding (two divisions: 2.9 ulp). Squaring r, not d: d^2 overflows
       beyond 1.3e154 */
    double a = FNL_FABS(x), d = 1 + a;
    double dl = a > 1 ? (a - d) + 1 : (1 - d) + a;
    double r = 1 / d, rl = r * (fma(-r, d, 1.0) - r * dl);
    double h = r * r, hl = fma(r, r, -h) + 2 * r * rl;
    return g * (a == INFINITY ? 0.0 : h + hl);
}

/* ---------------------------------------------------------------- threshold */
FNL_INLINE float fnl_threshold_f(float x, float th, float v) { return x <= th ? v : x; }
FNL_INLINE float fnl_threshold_backward_f(float g, float x, float th, float v) {
    (void)v;
    return x <= th ? 0.0f : g;
}
FNL_INLINE double fnl_threshold_d(double x, double th, double v) { return x <= th ? v : x; }
FNL_INLINE double fnl_threshold_backward_d(double g, double x, double th, double v) {
    (void)v;
    return x <= th ? 0.0 : g;
}

/* ---------------------------------------------------------------- tanhshrink */
/* x - tanh(x); the derivative tanh(x)^2 */
/* float32 (without AVX-512: fnl_tanhshrink16_f in fnl_math.h), with a =
   |x|: below 1.5, where x - tanh(x) cancels, a^3 P(a^2)
   in float64, P of degree 10 fitted to (a - tanh a) / a^3 within 0.06
   float32 ulp (tools/fit_float32_polynomials.py tanhshrink 10 1.5), rounded
   once. From 1.5 on, in float32: (a - 1) + q, q = 1 - tanh(a) =
   fnl_tanh_tail_f(a) <= 0.095: a - 1 >= 1/2 is exact and q's error
   (mostly exp's, about 1 ulp) is at most 0.16 of the result's, so one rounding
   of the sum suffices; an infinite a gives a - 1 = inf (the tail clamps a),
   NaN stays NaN. 0.66 ulp at most over every float32, 99.31% correctly
   rounded. The cut at 1.5, not 1, is what lets q be a short exp with no
   division: from 1 on, where the result is q itself, q took exp(-2a) as a
   pair and 1 / (1 + e) corrected by its residual, in two stages (0.58 ulp;
   AVX-512, 10^5 in cache, one thread: 1.23 times the time, 102 vector
   instructions per 16 elements against 69). The same polynomial in float32
   arithmetic would take 0.7 of the time, but its terms nearly cancel up to
   1.5 (where y nears the series' radius, pi^2 / 4): 1.74 ulp even with
   x^3 and the constant term as pairs, cut at 1. */
FNL_INLINE float fnl_tanhshrink_f(float x) {
    float a = FNL_FABSF(x);
    double ad = a, y = ad * ad;
    double p = (((((((((8.348575508520901e-07 * y
        - 1.2388801426992768e-05) * y
        + 8.574832737008779e-05) * y
        - 0.0003781556337371398) * y
        + 0.0012452953738570287) * y
        - 0.0034485605828851454) * y
        + 0.00879962107904018) * y
        - 0.02185257998297713) * y
        + 0.05396590166811116) * y
        - 0.13333320358705156) * y
        + 0.33333333213255645;
    float big = (a - 1.0f) + fnl_tanh_tail_f(a);
    return FNL_COPYSIGNF(a < 1.5f ? (float)(ad * y * p) : big, x);
}
/* the derivative tanh(a)^2, in float32 arithmetic (without AVX-512:
   fnl_tanhshrink_backward16_f in fnl_math.h). Below 1, tanh(a) = a +
   a w, w = y P(y) (fnl_tanh_series_f), as hi + lo: a w's rounding (an FMA)
   and the sum's (Fast2Sum, a >= |a w|) kept, then hi^2 + 2 hi lo rounded
   once; from 1 on, 1 - (2q - q^2), q = fnl_tanh_tail_f(a) <= 0.24, whose
   error (exp's) reaches the result at most 0.62-fold. 1.51 ulp at most over
   every float32 (x = 0.8714: P's own roundings; 99.85% correctly rounded).
   tanh in float64 below 1.5, squared and rounded once, took 0.90 ulp in
   1.45 times the time (C harness, 10^5, one thread, AVX-512: 80.7 against
   55.8 us), where torch's autograd only reads the tanh its forward saved;
   w's rounding kept too, 1.32 ulp (the tail's, at 1.034) in 1.06 times. */
FNL_INLINE float fnl_tanhshrink_backward_f(float g, float x) {
    float a = FNL_FABSF(x), y = a * a, w = y * fnl_tanh_series_f(y);
    float p = a * w, hi = a + p, lo = ((a - hi) + p) + __builtin_fmaf(a, w, -p);
    float q = fnl_tanh_tail_f(a);
    float small = __builtin_fmaf(hi, hi, 2 * hi * lo);
    float big = 1.0f - __builtin_fmaf(-q, q, 2 * q);
    return g * (a < 1.0f ? small : big);
}
FNL_INLINE double fnl_tanhshrink_d(double x) {
    /* below 1/2: x^3 P(x^2) (fnl_tanh_series_hilo_d), x^3 = c + cl and P
       as double pairs, one rounding (x z p rounded three times, 1/3 once
       more: 2.9 ulp); beyond, a - tanh(a) with tanh as hi + lo, a - hi
       exact up to a = 1.9 (Sterbenz: hi >= a/2): 1.0 ulp where the
       cancellation (12 at a = 1/2) multiplied the plain tanh's error into
       23. Not taken: the polynomial up to 1 (degree 16, 2^-57.6) and (a -
       1) + 2e / (1 + e), e = exp(-2a), beyond, where nothing cancels: 0.96
       of the time, 94.8% correctly rounded against 97.2% */
    double a = FNL_FABS(x), z = a * a, zl = fma(a, a, -z);
    double c = z * a, cl = fma(z, a, -c) + zl * a;
    double pl, p = fnl_tanh_series_hilo_d(z, &pl);
    double lo, h = fnl_tanh_hilo_d(a, &lo);
    double r = a < 0.5 ? fma(c, p, fma(c, pl, cl * p)) : (a - h) - lo;
    return FNL_COPYSIGN(r, x);
}
FNL_INLINE double fnl_tanhshrink_backward_d(double g, double x) {
    /* tanh^2 = h^2 + 2 h lo, one rounding (an FMA) */
    double lo, h = fnl_tanh_hilo_d(FNL_FABS(x), &lo);
    return g * fma(h, h, 2 * h * lo);
}

/* ---------------------------------------------------------------- softshrink */
/* x - clamp(x, -l, l): x - l, x + l (as x - (-l), the same rounding) or
   x - x = +0.0 between, in three vector operations where the selects took
   eight; NaN passes both compares and gives NaN - NaN */
FNL_INLINE float fnl_softshrink_f(float x, float l) {
    float c = x < -l ? -l : x;
    c = c > l ? l : c;
    return x - c;
}
FNL_INLINE float fnl_softshrink_backward_f(float g, float x, float l) {
    return x >= -l ? (x <= l ? 0.0f : g) : g;
}
FNL_INLINE double fnl_softshrink_d(double x, double l) {
    double c = x < -l ? -l : x;
    c = c > l ? l : c;
    return x - c;
}
FNL_INLINE double fnl_softshrink_backward_d(double g, double x, double l) {
    return x >= -l ? (x <= l ? 0.0 : g) : g;
}

/* ---------------------------------------------------------------- hardshrink */
FNL_INLINE float fnl_hardshrink_f(float x, float l) {
    return x >= -l ? (x <= l ? 0.0f : x) : x;
}
FNL_INLINE float fnl_hardshrink_backward_f(float g, float x, float l) {
    return x >= -l ? (x <= l ? 0.0f : g) : g;
}
FNL_INLINE double fnl_hardshrink_d(double x, double l) {
    return x >= -l ? (x <= l ? 0.0 : x) : x;
}
FNL_INLINE double fnl_hardshrink_backward_d(double g, double x, double l) {
    return x >= -l ? (x <= l ? 0.0 : g) : g;
}

/* ---------------------------------------------------------------- logsigmoid */
/* min(x, 0) - log1p(exp(-|x|)): no log(0) where sigmoid underflows; the
   derivative sigmoid(-x) */
/* float32 in float64, rounded once (float32 arithmetic: 2.6 ulp); torch's
   float32 log_sigmoid takes 3.8 ns per element (AVX2, 10^5, one thread) */
/* staged as softplus: e = exp(-|x|), then the rest */
FNL_INLINE double fnl_logsigmoid_pre_f(float x) {
    return fnl_exp_fd(-FNL_FABS((double)x));
}
FNL_INLINE float fnl_logsigmoid_post_f(float x, double e) {
    double xd = x;
    float r = (float)((x < 0 ? xd : 0.0) - fnl_log1p_fd(e));
    return x == INFINITY ? 0.0f : r;  /* exp(-inf) is clamped to exp(-700): not -0.0 */
}
FNL_INLINE float fnl_logsigmoid_f(float x) {
    return fnl_logsigmoid_post_f(x, fnl_logsigmoid_pre_f(x));
}
/* sigmoid(-x) (|x| <= 80; beyond and NaN, the rare fix-up) */
FNL_INLINE float fnl_logsigmoid_backward_pre_f(float x) {
    return fnl_exp_nonpos_normal_f(-FNL_FABSF(x));  /* exp(-|x|): the same for -x */
}
FNL_INLINE float fnl_logsigmoid_backward_post_f(float g, float x, float e) {
    return g * fnl_sigmoid_from_exp_f(-x, e);
}
static inline float fnl_logsigmoid_backward_rare_f(float g, float x) {
    return (float)(g * fnl_sigmoid_libm_d(-(double)x));
}
FNL_INLINE double fnl_logsigmoid_pre_d(double x) {
    return fnl_sigmoid_pre_d(x);
}
FNL_INLINE double fnl_logsigmoid_post_d(double x, double e) {
    return (x < 0 ? x : 0.0) - fnl_log1p_d(e);
}
FNL_INLINE double fnl_logsigmoid_d(double x) {
    return fnl_logsigmoid_post_d(x, fnl_logsigmoid_pre_d(x));
}
FNL_INLINE double fnl_logsigmoid_backward_pre_d(double x) {
    return fnl_logsigmoid_pre_d(x);
}
FNL_INLINE double fnl_logsigmoid_backward_post_d(double g, double x, double e) {
    return g * fnl_sigmoid_post_d(-x, e);
}
FNL_INLINE double fnl_logsigmoid_backward_d(double g, double x) {
    return fnl_logsigmoid_backward_post_d(g, x, fnl_logsigmoid_backward_pre_d(x));
}

/* ---------------------------------------------------------------- silu, mish: rare */
/* x exp(x) for x below the cut (-87 float32, -708 float64), where exp(x)
   alone would be subnormal, and x * exp(x) still has its precision: scalar
   libm. silu and mish are both x exp(x) there. float32 in double, where
   exp(x) is still normal: one rounding. float64 in long double where it is
   wider (x86-64's x87), else as -exp(s), s = x + log(-x), with the
   rounding error e of s (exact by Fast2Sum, |x| > log(-x)) put back as
   exp(s) (1 + e): uncorrected it costs |x| ulp (244 at -711). */
static inline float fnl_x_exp_x_rare_f(float x) {
    double xd = x;
    return x == -INFINITY ? -0.0f : (float)(xd * exp(xd));
}
static inline double fnl_x_exp_x_rare_d(double x) {
#if LDBL_MANT_DIG > DBL_MANT_DIG
    /* in long double, rounded once: exp(x) is normal there (4.3 ulp from
       log(-x)'s rounding in the double form below) */
    long double r = (long double)x * expl((long double)x);
    return x == -INFINITY ? -0.0 : (double)r;
#else
    double l = log(-x), s = x + l, e = (x - s) + l, r = exp(s);
    return x == -INFINITY ? -0.0 : -(r + r * e);
#endif
}

/* ---------------------------------------------------------------- silu */
/* x sigmoid(x); the derivative s + x s(x) s(-x).
   float32 silu: x (q + r v) rounded once, sigmoid's pair form
   (fnl_sigmoid_parts_f; x times sigmoid rounded reached 3.31 ulp): |x| <=
   80, the rest (and NaN) through fnl_silu_rare_f. Its derivative takes
   exp(-|x|) without the 2^-64 step (fnl_exp_nonpos_normal_f), x below the
   cut going to fnl_silu_backward_rare: 3.5% less time, 10^5 and 10^6
   float32 on one thread. */
FNL_INLINE float fnl_silu_pre_f(float x, float *b) {  /* staged, as sigmoid */
    return fnl_sigmoid_pre_f(x, b);
}
FNL_INLINE float fnl_silu_post_f(float x, float a, float b) {
    float r, v, q = fnl_sigmoid_parts_f(x, a, b, &r, &v);
    return __builtin_fmaf(x, q, x * (r * v));
}
/* staged: e = exp(-|x|), then the rest */
FNL_INLINE float fnl_silu_backward_pre_f(float x) {
    return fnl_exp_nonpos_normal_f(-FNL_FABSF(x));
}
/* s + x s(x) s(-x) over the common denominator (1 + e)^2, e = exp(-|x|):
   (1 + e (1 + x)) / (1 + e)^2 for x >= 0, e (1 + x + e) / (1 + e)^2 below,
   one quotient: 4.10 ulp at most over every float32 (x = -0.5355), where
   s + x s(x) s(-x) rounded in turn reached 5.85 (x = -4.8226; the same
   time: 32 vector instructions per 16 elements against 30). Left are e's
   own error (0.9 ulp) and four roundings, which a result low in its binade
   sees up to twice. float64's quotient of exact pairs
   (fnl_x_sigmoid_slope_d) in float32 arithmetic reached 1.61 ulp but took
   1.7 times as long, 1.7 times torch's time (10^5, one thread, AVX-512);
   evaluated in float64 from this e, 2.1 times. */
FNL_INLINE float fnl_silu_backward_post_f(float g, float x, float e) {
    /* x beyond 88 only where e is exp(-87) (the clamp): e x is far below
       half an ulp of 1 there, and +inf would give inf 0 */
    float xc = x > 88.0f ? 88.0f : x;
    float d2 = __builtin_fmaf(e, e + 2.0f, 1.0f);  /* (1 + e)^2 */
    float n = x >= 0 ? __builtin_fmaf(e, 1.0f + xc, 1.0f) : e * ((1.0f + x) + e);
    /* Near the zero x0 = -1.2784645428 of silu', where 1 + x + e cancels
       and e's own error does not, in the window [-2, -0.75]: as gelu's, silu' = (x - X0) K(u) - C,
       u = x + 1.375, K of degree 7 (tools/fit_derivative_zeros.py silu -2
       -0.75 7). */
    float th = x + 1.2784645557403564f, u = x + 1.375f;
    float k = ((((((0.0001880792697193101f
        * u + 0.0006496565765701234f)
        * u - 0.00029305476346053183f)
        * u - 0.006558379624038935f)
        * u - 0.012673929333686829f)
        * u + 0.022913556545972824f)
        * u + 0.1426028311252594f)
        * u + 0.20384392142295837f;
    float near = th * k - 2.8270397134377845e-09f;
    return g * ((x >= -2.0f && x <= -0.75f) ? near : n / d2);
}
FNL_INLINE float fnl_silu_backward_f(float g, float x) {
    return fnl_silu_backward_post_f(g, x, fnl_silu_backward_pre_f(x));
}
/* below -87 (and -inf), where e is subnormal (51 ulp from its lost bits):
   q = 1 and silu' = e (1 + x), 1 + x exact, from e 2^64, rounded once into
   the subnormals; x is clamped as exp's argument is (to -110, where the
   result rounds to -0.0) */
static inline float fnl_silu_backward_rare_f(float g, float x) {
    float es = fnl_exp_nonpos_scaled_f(x);
    float d = (es * (1 + (x < -110.0f ? -110.0f : x))) * FNL_TWO_M64_F;
    return x == -INFINITY ? 0.0f : g * d;
}
/* beyond |x| = 80 (and NaN): x sigmoid(x) in float64, rounded once (the
   limit -0.0 at -inf, where it would be -inf 0) */
static inline float fnl_silu_rare_f(float x) {
    return x == -INFINITY ? -0.0f : (float)(x * fnl_sigmoid_libm_d(x));
}
/* x (q + c) rounded once, 1.5 ulp (x times sigmoid rounded: 2.8). Beyond
   752 (and at +inf, where x c could be inf 0) x itself, as silu has
   rounded to x from about 37 on: there 1 + e is 1, and q + c is 1 only
   once rounded (q carries the reciprocal's error, 2^-32.7, which c
   undoes). Staged as sigmoid: e = exp(-|x|), then the rest. */
FNL_INLINE double fnl_silu_pre_d(double x) {
    return fnl_exp_nonpos_normal_d(-FNL_FABS(x));
}
FNL_INLINE double fnl_silu_post_d(double x, double e) {
    double c, q = fnl_logistic_split_d(x, e, &c);
    return x > 752.0 ? x : fma(x, q, x * c);
}
FNL_INLINE double fnl_silu_d(double x) {
    return fnl_silu_post_d(x, fnl_silu_pre_d(x));
}
FNL_INLINE double fnl_silu_backward_pre_d(double x) {  /* staged, as the forward */
    return fnl_silu_pre_d(x);
}
/* silu' = s + x s(x) s(-x) as one quotient of exact pairs
   (fnl_x_sigmoid_slope_d, W = x): 1.4 ulp, where rounded in turn it reached
   5 to 10 ulp in [-40, -0.5]. Next to the zero x0 = -1.27846454276107380,
   where (1 + x) + e vanishes and e's own error does not, the window
   [-1.5, -1]: there 1 + x + e is taken from t = x - X0 (exact, Sterbenz),
   X0 the double nearest x0, instead of from e: 1 + x + exp(x) = c0 + t (1 +
   E0) + E0 t^2 G(t), E0 = exp(X0), c0 = 1 + X0 + E0 (about 1e-16), G(t) =
   (expm1(t) - t) / t^2 of degree 8 (2^-50 relative; tools/fit_derivative_zeros.py
   silu-window -1.5 -1.0 8), its term below 0.031 of the sum: t (1 + E0)
   as an exact pair, the sum's rounding kept (Fast2Sum), and that pair goes
   into the same quotient (fnl_sigmoid_slope_quotient_d) as D + W elsewhere. 1.10 ulp in the window (83%
   correctly rounded), the kernel in 0.92 of its time with the earlier
   window, a polynomial of degree 18 in x for the whole result (0.68 ulp,
   a third of the kernel's time). exp(-|x|) as a pair (within 2^-56, 1.2 times)
   instead let the window shrink to 0.03 around x0, sent to the rare
   fix-up, but the fix-up's scalar elements (0.7% of N(0, 9) data) cost as
   much as the window did, and a cliff for data crowded near x0. The
   first stage's exp from a 2^(j/16) table read by permutes (AVX-512
   intrinsics, 0.55 ulp) took 0.91 of the time (C harness, 10^5, one
   thread): this second stage, about 100 vector instructions per 8
   elements, is two thirds of it. */
FNL_INLINE double fnl_silu_backward_post_d(double g, double x, double e) {
    double xc = x > 752.0 ? 752.0 : x;    /* as float32's 88 */
    double t = x + 1.2784645427610737, t2 = t * t;
    double G = (((((((2.823686881843485e-07 * t
        + 2.7585307203350824e-06) * t
        + 2.4800910185888254e-05) * t
        + 0.000198412590503019) * t
        + 0.0013888889102088616) * t
        + 0.008333333334960606) * t
        + 0.041666666666453286) * t
        + 0.16666666666665952) * t
        + 0.5000000000000003;
    double p = t * 1.278464542761074;                   /* t (1 + E0), head */
    double l = fma(0.27846454276107385, t2 * G,         /* E0 t^2 G(t) */
                   fma(t, -8.209116579606444e-17,         /* t (1 + E0), tail */
                       fma(t, 1.278464542761074, -p) + 1.3995343912896686e-16));  /* + c0 */
    double wn = p + l, wnl = (p - wn) + l;
    double Nl, N = fnl_slope_factor_d(e, 0.0, xc, 0.0, &Nl);  /* elsewhere */
    int win = x >= -1.5 && x <= -1.0;
    return g * fnl_sigmoid_slope_quotient_d(x >= 0, e, 0.0, xc, 0.0, win ? wn : N, win ? wnl : Nl);
}
FNL_INLINE double fnl_silu_backward_d(double g, double x) {
    return fnl_silu_backward_post_d(g, x, fnl_silu_backward_pre_d(x));
}
/* below -708 (and -inf), as float32's below -87: e (1 + x) from e 2^64 */
static inline double fnl_silu_backward_rare_d(double g, double x) {
    double d = (fnl_exp_nonpos_scaled_d(x) * (1 + x)) * FNL_TWO_M64_D;
    return x == -INFINITY ? 0.0 : g * d;
}
static inline double fnl_silu_rare_d(double x) { return fnl_x_exp_x_rare_d(x); }

/* ---------------------------------------------------------------- mish */
/* x tanh(softplus(x)), tanh(log1p(e)) = t / (t + 2), t = e (e + 2),
   e = exp(x): exact form, no cancellation; 1 to float64's precision beyond
   100. x below -708 (and -inf) go to fnl_mish_rare.
   Derivative: tanh(sp) + x sigmoid(x) sech^2(sp), sp = log1p(e); 1
   beyond the same bound. */
/* tanh(softplus(x)) = t / (t + 2) = N / D in w = exp(-|x|) <= 1 (hi + lo):
   x <= 0, N = 2w + w^2, D = N + 2; x > 0, N = 1 + 2w, D = N + 2w^2; each
   sum's rounding kept (Fast2Sum, Knuth's two-sum for 1 + 2w), so N and D
   are pairs (and w^2, which the derivative needs too) */
struct fnl_mish_parts { double w, wl, w2, w2l, n, nl, d, dl; };
FNL_INLINE struct fnl_mish_parts fnl_mish_parts_d(double x) {
    struct fnl_mish_parts m;
    double w, wl;
    w = fnl_exp_nonpos_hilo_scaled_d(-FNL_FABS(x), &wl) * FNL_TWO_M64_D;
    wl *= FNL_TWO_M64_D;
    double w2 = w * w, w2l = fma(w, w, -w2) + 2 * w * wl;
    /* x <= 0 */
    double nn = 2 * w + w2, nnl = ((2 * w - nn) + w2) + (2 * wl + w2l);
    double dn = 2 + nn, dnl = ((2 - dn) + nn) + nnl;
    /* x > 0 */
    double np = 1 + 2 * w, v = np - 1, npl = ((1 - (np - v)) + (2 * w - v)) + 2 * wl;
    double dp = np + 2 * w2, dpl = ((np - dp) + 2 * w2) + (npl + 2 * w2l);
    m.w = w; m.wl = wl; m.w2 = w2; m.w2l = w2l;
    m.n = x > 0 ? np : nn; m.nl = x > 0 ? npl : nnl;
    m.d = x > 0 ? dp : dn; m.dl = x > 0 ? dpl : dnl;
    return m;
}
FNL_INLINE double fnl_mish_d(double x) {
    /* N / D corrected by its residual, and x times it rounded once (an
       FMA): 0.7 ulp (the plain x (t / (t + 2)) in e = exp(x), rounded five
       times: 4.1) */
    struct fnl_mish_parts m = fnl_mish_parts_d(x);
    double q = m.n / m.d, c = (fma(-q, m.d, m.n) + (m.nl - q * m.dl)) / m.d;
    double r = fma(x, q, x * c);
    return x > 100.0 ? x : r;
}
/* Near the zero x0 = -1.1924312145154952 of mish', where tanh(sp) and
   x s sech^2(sp) cancel, in the window [-2, -0.75]: as gelu's, mish' =
   (x - X0) K(u) - C, X0 the double nearest x0, u = x + 1.375, K of degree
   18 (tools/fit_derivative_zeros.py mish -2 -0.75 18 float64; 1.73 ulp
   simulated). x - X0 is exact in the window. */
FNL_INLINE double fnl_mish_slope_near_zero_d(double x) {
    double th = x + 1.1924312145154952, u = x + 1.375;
    double k = (((((((((((((((((-9.570386748956759e-09
        * u - 2.814556731105925e-08)
        * u - 9.320380389758457e-10)
        * u + 2.0552913286945737e-07)
        * u + 6.602862761583359e-07)
        * u + 5.955007109726181e-07)
        * u - 2.998465993993601e-06)
        * u - 1.403669157823059e-05)
        * u - 2.2934807423210968e-05)
        * u + 2.8878694988086337e-05)
        * u + 0.00025658354100413055)
        * u + 0.0006027333745642947)
        * u + 7.465711054733986e-05)
        * u - 0.003954406250627667)
        * u - 0.012397550737129235)
        * u - 0.009935647804498515)
        * u + 0.050065555061033835)
        * u + 0.18776742959656478)
        * u + 0.23107371876305657;
    return th * k + 1.2942924190978498e-17;
}
FNL_INLINE double fnl_mish_backward_d(double g, double x) {
    /* N / D + 4 x M / D^2 (the forward's pairs; e = exp(x), x s(x) sech^2(sp)
       = 4 x e (1 + e) / (e^2 + 2e + 2)^2, in w: M = w (1 + w) for x <= 0,
       w^2 (1 + w) for x > 0), each quotient corrected by its residual with
       one division, 1 / D, and the two terms added exactly (Knuth's
       two-sum: they cancel for x < 0): 1.04 ulp at most beyond 0.002 of
       the zero (3 x 10^6 points of [-40, 40]), where tanh(sp) + x s(x)
       sech^2(sp), rounded in turn, reached 9.9 (x = -2.17); 1.8 times its
       time */
    struct fnl_mish_parts m = fnl_mish_parts_d(x);
    double v = 1 / m.d, q = m.n * v, c = (fma(-q, m.d, m.n) + (m.nl - q * m.dl)) * v;
    double mn = m.w + m.w2, mnl = ((m.w - mn) + m.w2) + (m.wl + m.w2l);  /* Fast2Sum, w >= w^2 */
    double mm = x > 0 ? fma(m.w2, m.w, m.w2) : mn, mml = x > 0 ? 0.0 : mnl;
    double xc = x > 100.0 ? 100.0 : x;  /* beyond, the result is 1; inf would meet w = 0 */
    double xm = 4 * (xc * mm), xml = 4 * (fma(xc, mm, -(xc * mm)) + xc * mml);
    double dd = m.d * m.d, ddl = fma(m.d, m.d, -dd) + 2 * m.d * m.dl;
    double vv = v * v, b = xm * vv, cb = (fma(-b, dd, xm) + (xml - b * ddl)) * vv;
    double sh = q + b, sv = sh - q, sl = (q - (sh - sv)) + (b - sv);
    double plain = sh + (sl + (c + cb));
    /* below -708, where e is subnormal: mish' = e (1 + x) to double
       precision (N / D = w, D = 2), as silu's, from e 2^64 */
    double tail = (fnl_exp_nonpos_scaled_d(x < 0 ? x : 0.0) * (1 + x)) * FNL_TWO_M64_D;
    /* within 0.002 of the zero, where even these pairs leave more than an
       ulp (their 2^-56 against a result that vanishes), the polynomial */
    double near = fnl_mish_slope_near_zero_d(x);
    double r = g * (x < -708.0 ? tail : FNL_FABS(x + 1.1924312145154952) < 0.002 ? near : plain);
    r = x == -INFINITY ? 0.0 : r;
    return x > 100.0 ? g : r;
}
static inline double fnl_mish_rare_d(double x) { return fnl_x_exp_x_rare_d(x); }
/* float32 in float64, rounded once: within 1/2 ulp but for double
   rounding, the derivative next to its zero and below -87 included
   (float32's own exp, products and quotient cost 3.9 ulp, 51 below -87
   where exp(x) is subnormal), and with torch's mish several times slower,
   the time is there to spend. The derivative takes the plain form in e =
   exp(x), tanh(sp) + x s(x) sech^2(sp) = t / q + x (e / w) (4 w^2 / q^2),
   t = e (e + 2), q = t + 2, w = 1 + e, and the polynomial in [-2, -0.75]:
   its 10 float64 ulp are far below a float32 ulp, at half the float64
   form's time (which would put it at 1.3 times torch's). */
FNL_INLINE float fnl_mish_f(float x) { return (float)fnl_mish_d(x); }
FNL_INLINE float fnl_mish_backward_f(float g, float x) {
    double xd = x, e = fnl_exp_d(xd), w = 1 + e, t = e * (e + 2), q = t + 2;
    double tail = (fnl_exp_nonpos_scaled_d(x < 0 ? xd : 0.0) * (1 + xd)) * FNL_TWO_M64_D;
    double plain = t / q + xd * (e / w) * (4 * w * w / (q * q));
    double r = g * (x < -708.0f ? tail : (x >= -2.0f && x <= -0.75f) ? fnl_mish_slope_near_zero_d(xd) : plain);
    r = x == -INFINITY ? 0.0 : r;
    return (float)(x > 100.0f ? g : r);
}
static inline float fnl_mish_rare_f(float x) { return fnl_x_exp_x_rare_f(x); }

/* ---------------------------------------------------------------- hardsigmoid */
/* x + 3 = v + *lo exactly (Fast2Sum: |x| < 3 wherever the result is not
   clamped); (3 - v) + x, not x - (v - 3), so that *lo = +0.0 at x = -0.0,
   which hardswish needs for its zero's sign */
FNL_INLINE float fnl_x_plus_3_f(float x, float *lo) {
    float v = x + 3;
    *lo = (3 - v) + x;
    return v;
}
FNL_INLINE double fnl_x_plus_3_d(double x, double *lo) {
    double v = x + 3;
    *lo = (3 - v) + x;
    return v;
}
/* n / 6 as n (C6_HI + C6_LO), 1/6 split into two positive parts (C6_HI
   rounded down, C6_LO the rest, together within 2^-49 (float32) or 2^-107
   of 1/6), rounded once, in the last FMA, but for the small product's
   rounding: within 1/2 ulp and a hair for every float32 (0.67 ulp below
   2^-126, where n C6_LO underflows). Both parts positive, so that a zero
   keeps its sign and an infinity stays one. No division, which bounded
   these loops, and one operation fewer than the residual correction
   before: on Zen 2, 10^5 elements, one thread, float32 / float64:
   hardsigmoid 19.3 -> 18.5 / 37.3 -> 36.4 us, its gradient 18.0 -> 16.8 /
   37.0 -> 33.3, hardswish's 26.0 -> 23.2 / 51.5 -> 46.2.
   fnl_div6_pair_<s> is the same for n = nh + nl, |nl| <= ulp(nh)/2. */
#define FNL_C6_HI_F 0x1.555554p-3f
#define FNL_C6_LO_F 0x1.555556p-27f
#define FNL_C6_HI_D 0x1.5555555555554p-3
#define FNL_C6_LO_D 0x1.5555555555555p-55
FNL_INLINE float fnl_div6_f(float n) {
    return __builtin_fmaf(n, FNL_C6_HI_F, n * FNL_C6_LO_F);
}
FNL_INLINE double fnl_div6_d(double n) {
    return fma(n, FNL_C6_HI_D, n * FNL_C6_LO_D);
}
FNL_INLINE float fnl_div6_pair_f(float nh, float nl) {
    return __builtin_fmaf(nh, FNL_C6_HI_F, __builtin_fmaf(nh, FNL_C6_LO_F, nl * FNL_C6_HI_F));
}
FNL_INLINE double fnl_div6_pair_d(double nh, double nl) {
    return fma(nh, FNL_C6_HI_D, fma(nh, FNL_C6_LO_D, nl * FNL_C6_HI_D));
}
/* (x + 3) / 6 from the exact x + 3 (x + 3, then / 6, each rounded, reached
   1 ulp); 0 and 1 selected beyond -3 and 3 (clamping x first gave GCC
   constants to thread through: 15 vector operations instead of 10) */
FNL_INLINE float fnl_hardsigmoid_f(float x) {
    float vl, v = fnl_x_plus_3_f(x, &vl);
    float r = fnl_div6_pair_f(v, vl);
    r = x <= -3 ? 0.0f : r;
    return x >= 3 ? 1.0f : r;
}
FNL_INLINE double fnl_hardsigmoid_d(double x) {
    double vl, v = fnl_x_plus_3_d(x, &vl);
    double r = fnl_div6_pair_d(v, vl);
    r = x <= -3 ? 0.0 : r;
    return x >= 3 ? 1.0 : r;
}
/* g / 6 (torch 2.13's float64 kernel multiplies by 1/6 rounded to float32,
   3e-8 off) */
FNL_INLINE float fnl_hardsigmoid_backward_f(float g, float x) {
    return x > -3 ? (x < 3 ? fnl_div6_f(g) : 0.0f) : 0.0f;
}
FNL_INLINE double fnl_hardsigmoid_backward_d(double g, double x) {
    return x > -3 ? (x < 3 ? fnl_div6_d(g) : 0.0) : 0.0;
}

/* ---------------------------------------------------------------- hardswish */
/* x (x + 3) / 6 for |x| < 3 as (v + vl)(t + e/6), from the exact
   x + 3 = v + vl and x / 6 = t + e/6 (t = x (1/6) rounded, e = x - 6t
   exact, an FMA): v t + (vl t + e v/6), rounded once but for the small
   terms' roundings (within 1/2 ulp + 2^-40 in float32, every input, and
   in float64; three plain roundings reached 1.87 ulp). The form before,
   x v exact and then a corrected division by 6, took 16 vector operations
   and a longer chain, 6.7 cycles per 8 floats on Zen 2 (in L1); this takes
   12 and 5.2, as torch's clamp-and-divide does.
   Every zero keeps the sign of x (hardswish(-0.0) = hardswish(-3) = -0.0):
   hence -e v/6 as (6t - x) v (-1/6), since GCC folds a negated FMA into
   one that loses a zero's sign. x <= -3 gives -0.0 and x >= 3 gives x,
   chosen by the sign bits of x + 3 and 3 - x (a NaN keeps its sign through
   both and comes out NaN either way); x is never multiplied there (torch's
   x c / 6 overflows for x > max / 6). */
FNL_INLINE float fnl_hardswish_f(float x) {
    float vl, v = fnl_x_plus_3_f(x, &vl);
    float t = x * (1.0f / 6), ne = __builtin_fmaf(6.0f, t, -x);
    float r = __builtin_fmaf(v, t, __builtin_fmaf(ne, v * (-1.0f / 6), vl * t));
    r = fnl_sign_bit_f(v) ? -0.0f : r;
    return fnl_sign_bit_f(3 - x) ? x : r;
}
FNL_INLINE double fnl_hardswish_d(double x) {
    double vl, v = fnl_x_plus_3_d(x, &vl);
    double t = x * (1.0 / 6), ne = fma(6.0, t, -x);
    double r = fma(v, t, fma(ne, v * (-1.0 / 6), vl * t));
    r = fnl_sign_bit_d(v) ? -0.0 : r;
    return fnl_sign_bit_d(3 - x) ? x : r;
}
/* (2x + 3) / 6, not x / 3 + 1/2: 2x + 3 is exact near the zero at -1.5
   (Sterbenz), where x / 3 + 1/2 cancels its rounding into 10^4 ulp */
FNL_INLINE float fnl_hardswish_backward_f(float g, float x) {
    return x <= -3 ? 0.0f : (x < 3 ? g * fnl_div6_f(2 * x + 3) : g);
}
FNL_INLINE double fnl_hardswish_backward_d(double g, double x) {
    return x <= -3 ? 0.0 : (x < 3 ? g * fnl_div6_d(2 * x + 3) : g);
}

/* ---------------------------------------------------------------- squareplus */
/* (x + s) / 2, s = sqrt(x^2 + b) (jax.nn.squareplus), b >= 0; derivative
   (1 + x/s) / 2. Where x < 0, x + s cancels: there x + s = b / (s - x). */
/* float64: x and b are first scaled by a power of two sc (b by sc^2), so
   that x^2 + b neither overflows nor underflows: 2^-600 where max(|x|,
   sqrt(b)) > 2^500, 2^600 where it is below 2^-500 (*inv is 1 / sc). The
   quotients take b sc, not b sc^2, as their numerator, and the results are
   scaled back by the power that remains: b sc^2 underflows to 0 where |x| >
   2^500 while b / |x| is still a normal number */
FNL_INLINE double fnl_squareplus_scale_d(double x, double b, double *inv) {
    double a = FNL_FABS(x), c = sqrt(b), m = a > c ? a : c;
    int big = m > 3.273390607896142e+150, small = m < 3.054936363499605e-151;  /* 2^500, 2^-500 */
    *inv = big ? 4.149515568880993e+180 : (small ? 2.409919865102884e-181 : 1.0);
    return big ? 2.409919865102884e-181 : (small ? 4.149515568880993e+180 : 1.0);  /* 2^-600, 2^600 */
}
/* s = sqrt(x^2 + b) of the scaled operands as hi + lo (*lo): x^2 = X + Xl
   exactly (an FMA), X + b's rounding kept (Knuth's two-sum), and the square
   root's by its residual S - r^2 (an FMA) over 2r; lo is 0 at s = 0 */
FNL_INLINE double fnl_squareplus_root_d(double xs, double bs, double *lo) {
    double X = xs * xs, Xl = fma(xs, xs, -X);
    double S = X + bs, v = S - X, Sl = ((X - (S - v)) + (bs - v)) + Xl;
    double r = sqrt(S);
    *lo = r > 0 ? (fma(-r, r, S) + Sl) * (0.5 / r) : 0.0;
    return r;
}
/* n / (d + dl) for n / d near 1 ulp of its quotient: q = n (1 / d), then
   corrected by the residual n - q d (exact as an FMA) - q dl: one division,
   and within 0.5 ulp but for the reciprocal's error on the correction */
FNL_INLINE double fnl_squareplus_quotient_d(double n, double d, double dl) {
    double v = 1 / d, q = n * v;
    return fma(fma(-q, d, n) - q * dl, v, q);
}
/* x >= 0: (x + s) / 2, the sum's rounding kept (two-sum); x < 0, where x + s
   cancels: b / (2 (s + |x|)), s + |x| = d + dl (Fast2Sum, s >= |x|) and
   the quotient corrected by its residual. Each ends in one rounding: 0.74
   ulp, where b / (2 (s + |x|)) nears the subnormals (the hypot-style form
   rounded five times: 2.9). +-inf give the limits (inf and 0). */
FNL_INLINE double fnl_squareplus_d(double x, double b) {
    double inv, sc = fnl_squareplus_scale_d(x, b, &inv), xs = x * sc, b1 = b * sc;
    double sl, s = fnl_squareplus_root_d(xs, b1 * sc, &sl);
    double h = xs + s, v = h - xs, hl = ((xs - (h - v)) + (s - v)) + sl;
    double as = FNL_FABS(xs), d = s + as, dl = ((s - d) + as) + sl;
    double neg = fnl_squareplus_quotient_d(b1, d, dl);   /* b / (s + |x|) */
    double r = x >= 0 ? 0.5 * (h + hl) * inv : 0.5 * neg;
    return FNL_FABS(x) == INFINITY ? (x > 0 ? x : 0.0) : r;
}
/* (1 + x / s) / 2: x >= 0, 1 + q with q = x / s corrected by its residual
   and the sum's rounding kept (Fast2Sum); x < 0, where 1 + x / s cancels:
   b / (2 s (s + |x|)), the product s (s + |x|) a pair (FMA) and the quotient
   corrected. 0.75 ulp (six rounded operations: 5.8); b = 0 is relu, with
   the derivative 1/2 at 0 */
FNL_INLINE double fnl_squareplus_backward_d(double g, double x, double b) {
    double inv, sc = fnl_squareplus_scale_d(x, b, &inv), xs = x * sc, b1 = b * sc;
    double sl, s = fnl_squareplus_root_d(xs, b1 * sc, &sl);
    double v = s > 0 ? 1 / s : 0.0, q = xs * v, ql = (fma(-q, s, xs) - q * sl) * v;
    double h = 1 + q, hl = ((1 - h) + q) + ql;
    double as = FNL_FABS(xs), d = s + as, dl = ((s - d) + as) + sl;
    double P = s * d, Pl = fma(s, d, -P) + fma(s, dl, sl * d);
    double neg = fnl_squareplus_quotient_d(b1, P, Pl);   /* b / (s (s + |x|)) / sc */
    double r = x >= 0 ? 0.5 * (h + hl) : 0.5 * (neg * sc);
    return g * (FNL_FABS(x) == INFINITY ? (x > 0 ? 1.0 : 0.0) : r);
}
/* float32 in float64, no pairs: x^2 is exact there and x^2 + b cannot
   overflow or underflow, so s is within 1.5 2^-53 and each form within 4
   2^-53 before its one rounding to float32 (the pair form above, rounded,
   took three divisions: 4 times the time of NumPy's four passes on AVX2).
   b stays a double: float32 would round it to inf or 0 where the result is
   finite or not 0. The derivative as one quotient, x >= 0: (s + x) / s; x <
   0: b / (s (s - x)), the denominator scaled by c where b > 2^996 (not
   otherwise: c = 1) so that it cannot overflow; s = 0 only at x = b = 0,
   where the derivative is relu's 1/2. */
FNL_INLINE float fnl_squareplus_f(float x, double b) {
    double xd = x, s = sqrt(xd * xd + b);
    return (float)(0.5 * (x >= 0 ? xd + s : b / (s - xd)));
}
FNL_INLINE float fnl_squareplus_backward_f(float g, float x, double b) {
    double xd = x, s = sqrt(xd * xd + b), c = b > 0x1p996 ? 0x1p-600 : 1.0;
    double n = x >= 0 ? s + xd : b * c, d = x >= 0 ? s : s * ((s - xd) * c);
    double r = s == 0 ? 0.5 : 0.5 * (n / d);   /* NaN stays NaN */
    return (float)(g * (FNL_FABS(x) == INFINITY ? (x > 0 ? 1.0 : 0.0) : r));
}

/* ---------------------------------------------------------------- from the output */
/* The derivatives of sigmoid and tanh from their output y, as torch's
   autograd evaluates them (sigmoid_backward: g (1 - y) y; tanh_backward:
   g (1 - y^2)), in the same order of operations: cheaper than from x (no
   exp), and as accurate as y allows (1 - y cancels where y rounds to 1). */
FNL_INLINE float fnl_sigmoid_from_output_f(float g, float y) { return g * (1 - y) * y; }
FNL_INLINE double fnl_sigmoid_from_output_d(double g, double y) { return g * (1 - y) * y; }
FNL_INLINE float fnl_tanh_from_output_f(float g, float y) { return g * (1 - y * y); }
FNL_INLINE double fnl_tanh_from_output_d(double g, double y) { return g * (1 - y * y); }

#endif /* FNL_ACTIVATIONS_H */
