/* fastnl: the scalar building blocks of the activations and losses:
   exp, sigmoid and log for float32 (suffix _f) and float64 (_d); expm1
   (x <= 0), log1p (t in [0, 1]) and the normal tail (erfc) for float64 and float32;
   the row-wise kernels' float32 exp of d <= 0; and exp, expm1, log1p, log
   and tanh in float64 to the accuracy the float32 kernels that compute in
   float64 need (suffix _fd).

   Branch-free inline C that GCC and clang vectorise under `#pragma omp simd`:
   compares become selects (with -fno-trapping-math), and nothing calls libm.
   No -ffast-math: NaN and infinities are handled explicitly. Compares are
   written so that NaN fails them and falls through to an expression of x
   (NaN in, NaN out).

   Each polynomial is one expression, one Horner step per line: clang
   contracts a * b + c to an FMA only within one expression, so splitting
   it into statements would change its results there. A sum of two
   products is written with an explicit fma (fma(a, b, c * d)): GCC fuses
   one of the two after vectorising and may pick the other one in the
   scalar remainder, so that an element's bits would depend on where it
   falls (float64 sigmoid' at the odd end of a row, by an ulp). Where the
   coefficients come from is said at each polynomial. */
#ifndef FNL_MATH_H
#define FNL_MATH_H

#include "fnl_common.h"

union fnl_bits_f { float f; int32_t i; uint32_t u; };
union fnl_bits_d { double f; int64_t i; uint64_t u; };

/* Whether x's sign bit is set (-0.0 and a negative NaN included). As the
   condition of a select it costs nothing: a vector blend reads only the
   sign bit, where x < 0 would need a compare, on the multiply ports. */
FNL_INLINE int fnl_sign_bit_f(float x) { union fnl_bits_f b = {.f = x}; return b.i < 0; }
FNL_INLINE int fnl_sign_bit_d(double x) { union fnl_bits_d b = {.f = x}; return b.i < 0; }

/* Argument reduction x = k ln2 + r: k = round(x / ln2) by adding MAGIC =
   1.5 * 2^MANT (the sum's low mantissa bits are then k, and its bits minus
   MAGICBITS are k as an integer), and Cody-Waite r = (x - k LN2HI) - k LN2LO,
   LN2HI having so few bits that k LN2HI is exact. float32: Cephes expf's
   split (LN2HI = 0.693359375, 9 bits); float64: fdlibm's (32 bits). */
#define FNL_LOG2E_F 1.44269504088896341f
#define FNL_MAGIC_F 12582912.0f
#define FNL_MAGICBITS_F 0x4B400000u
#define FNL_LN2HI_F 0.693359375f
#define FNL_LN2LO_F (-2.12194440e-4f)

#define FNL_LOG2E_D 1.44269504088896338700
#define FNL_MAGIC_D 6755399441055744.0
#define FNL_MAGICBITS_D 0x4338000000000000ull
#define FNL_LN2HI_D 6.93147180369123816490e-01
#define FNL_LN2LO_D 1.90821492927058770002e-10

/* ---------------------------------------------------------------- exp */

/* P(r) of exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2, r2 = r * r, float32:
   Cephes expf.c's coefficients (S. L. Moshier); with float32 coefficients its
   error is 0.018 ulp, well below the roundings of the callers' last steps.
   Evaluated in Estrin's form, three pairs joined by r2: three FMAs deep
   instead of Horner's five, which on a CPU that cannot overlap enough
   vectors of a long chain (AVX2 on AMD Zen 2) makes every exp 10% faster. */
FNL_INLINE float fnl_exp_poly_f(float r, float r2) {
    return (5.0000001201e-1f + 1.6666665459e-1f * r)
           + r2 * ((4.1665795894e-2f + 8.3334519073e-3f * r)
                   + r2 * (1.3981999507e-3f + 1.9875691500e-4f * r));
}

/* exp(x) for every x: clamp (NaN passes the compares and stays NaN; beyond
   the clamps exp rounds to 0 or overflows to inf), k and r as above, a
   polynomial for exp(r), |r| <= ln2/2, and 2^k as two normal halves so that
   overflow gives inf and results below the normal range round once, to the
   right subnormal.
   float32, for any x (mish's exp(x), the derivatives of elu and gelu, the
   losses): its bits are those of every elementwise float32 result. */
FNL_INLINE float fnl_exp_f(float x) {
    union fnl_bits_f kb, s1, s2;
    float k, r, r2, p;
    int32_t ki, k1;
    x = x < -104.0f ? -104.0f : x;
    x = x > 89.0f ? 89.0f : x;
    kb.f = x * FNL_LOG2E_F + FNL_MAGIC_F;
    k = kb.f - FNL_MAGIC_F;
    ki = (int32_t)(kb.u - FNL_MAGICBITS_F);
    r = x - k * FNL_LN2HI_F;
    r = r - k * FNL_LN2LO_F;
    /* measured on every float32 in [-104, 88.7] against libm's double exp:
       at most 0.99 ulp built for x86-64, 1.02 for x86-64-v3 (FMA); 0.75
       subnormal ulp below the normal range */
    r2 = r * r;
    p = fnl_exp_poly_f(r, r2);
    p = p * r2 + r + 1.0f;
    k1 = ki >> 1;
    s1.u = (uint32_t)(k1 + 127) << 23;
    s2.u = (uint32_t)(ki - k1 + 127) << 23;
    return p * s1.f * s2.f;
}

/* x = k ln2 + r, float64: k's bits in *kb (k = kb->f - MAGIC, an integer),
   r by the Cody-Waite steps above. The float64 exp, expm1 and the float32
   kernels' float64 exp share it; fnl_reduce_ln2_pair_d also gives r's
   rounding error, r + *rl = x - k ln2 to about 2^-100 (t - r is exact). */
FNL_INLINE double fnl_reduce_ln2_pair_d(double x, union fnl_bits_d *kb, double *rl) {
    double k, t, r;
    kb->f = x * FNL_LOG2E_D + FNL_MAGIC_D;
    k = kb->f - FNL_MAGIC_D;
    t = fma(-k, FNL_LN2HI_D, x);
    r = fma(-k, FNL_LN2LO_D, t);
    *rl = fma(-k, FNL_LN2LO_D, t - r);
    return r;
}
FNL_INLINE double fnl_reduce_ln2_d(double x, union fnl_bits_d *kb) {
    double rl;
    return fnl_reduce_ln2_pair_d(x, kb, &rl);
}

/* P(r) of exp(r) = 1 + r + r^2 P(r) for |r| <= ln2/2, float64: degree 10,
   fitted by Remez's exchange for the relative error of exp
   (tools/fit_exp.py 10): 2^-60.3 once its coefficients are rounded to
   doubles, where the Taylor series to degree 13 (one more term, one more
   FMA) left 4e-18 = 2^-57.8. Estrin's form (pairs joined by r^2 and r^4):
   four multiplies deep instead of Horner's ten; 3-4% less time than the
   series in sigmoid and exp (AVX-512). */
FNL_INLINE double fnl_exp_poly_d(double r) {
    double r2 = r * r, r4 = r2 * r2;
    return ((0.5 + 0.16666666666666682 * r)
            + r2 * (0.041666666666666095 + 0.008333333333317079 * r))
           + r4 * (((0.0013888888889114995 + 0.00019841269896268466 * r)
                    + r2 * (2.4801586927415718e-05 + 2.7557234979714444e-06 * r))
                   + r4 * ((2.7557581484571474e-07 + 2.5111994963027037e-08 * r)
                           + r2 * 2.0826660914218275e-09));
}
/* exp(r), |r| <= ln2/2, float64, for x = k ln2 + r (k's bits in *kb, as
   above): 1 + r = s + sl exactly (Fast2Sum) and s + (sl + r^2 P(r)), one
   FMA and one addition after P, where 1 + r (1 + r P) took two FMAs. For
   a double r: 0.63 ulp and 1.3% of results beyond 1/2 (0.74 and 4.4%
   before); 5-10% less time in float64 sigmoid (AVX2), whose loop is
   bound by its chain's latency. */
FNL_INLINE double fnl_exp_reduced_d(double x, union fnl_bits_d *kb) {
    double r = fnl_reduce_ln2_d(x, kb);
    double s = 1.0 + r, sl = (1.0 - s) + r;
    return s + fma(r * r, fnl_exp_poly_d(r), sl);
}

FNL_INLINE double fnl_exp_d(double x) {
    union fnl_bits_d kb, s1, s2;
    double p;
    int64_t ki, k1;
    x = x < -746.0 ? -746.0 : x;
    x = x > 710.0 ? 710.0 : x;
    p = fnl_exp_reduced_d(x, &kb);
    ki = (int64_t)(kb.u - FNL_MAGICBITS_D);
    k1 = ki >> 1;
    s1.u = (uint64_t)(k1 + 1023) << 52;
    s2.u = (uint64_t)(ki - k1 + 1023) << 52;
    return p * s1.f * s2.f;
}

/* d = k ln2 + r, r = rh + c: returns exp(r) - 1 - rh = c + r^2 P(r), with
   rh in *rh and k's bits in *kb (fnl_exp_nonpos_shifted_f and
   fnl_exp_pair_f below share it). The linear term of exp(r) = 1 + r +
   r^2 P(r) adds rh and c separately (r's rounding would cost ~0.2 ulp). */
FNL_INLINE float fnl_exp_reduced_tail_f(float d, union fnl_bits_f *kb, float *rh) {
    float k, c, r, r2, p;
    kb->f = d * FNL_LOG2E_F + FNL_MAGIC_F;
    k = kb->f - FNL_MAGIC_F;
    *rh = d - k * FNL_LN2HI_F;
    c = k * -FNL_LN2LO_F;
    r = *rh + c;
    r2 = r * r;
    p = fnl_exp_poly_f(r, r2);
    return c + p * r2;
}
/* exp(d) for d <= 0 only, float32: the exp(-|z|) of the float32
   activations and their derivatives (silu, gelu's tanh form, ...; the
   sigmoid family takes fnl_exp_pair_f below), and the
   softmax family's and cross-entropy's exp(x - max) in their innermost
   loop. Unlike fnl_exp_f, one clamp (a vector max) and a split reduction
   that keeps the error under 0.91 ulp; about 20% faster (sigmoid of 10^5
   float32 in cache: 0.31 against 0.39 ns per element, AVX-512).

   Cody-Waite reduction d = k ln2 + r, |r| <= ln2/2, the Cephes expf
   polynomial, and 2^k applied as p 2^(k+64) (exact: a normal number) times
   2^-64, so that results below 2^-126 round once, correctly, to subnormals.
   Measured error: < 1 ulp in the normal range, < 1 subnormal ulp below it
   (tests/test_softmax.py::test_fast_exp, which runs the vector loops of
   _rowwise; every float32 in [-110, 0] checked against libm's double exp: at
   most 0.91 ulp built for x86-64, 0.90 for x86-64-v3/v4, where GCC
   contracts to FMA). d is clamped to -110 (exp(-110) rounds to 0, and -inf
   must give 0, not NaN) by a compare-select, which a module built with
   -fno-trapping-math turns into one vector max; NaN fails the compare,
   passes through and gives NaN.

   fnl_exp_nonpos_shifted_f is exp(max(d, lo)) 2^shift, rounded once, for
   constant lo and shift with 2^shift exp(lo) a normal number: the kernels
   below take lo = -110, shift = 64; a loop whose rare fix-up takes every x
   below exp's normal range takes lo = -87, shift = 0 (exp(-87) is normal),
   and saves the product with 2^-64 (the same bits above -87). */
FNL_INLINE float fnl_exp_nonpos_shifted_f(float d, float lo, int shift) {
    union fnl_bits_f kb, sb;
    float rh, w, q;
    d = d < lo ? lo : d;
    w = fnl_exp_reduced_tail_f(d, &kb, &rh);
    q = rh + w;
    /* 2^(k+shift), a normal power of two (exponent field
       k + shift + 127 = kb.i - MAGICBITS + shift + 127; with lo = -110,
       shift = 64: k in [-159, 0]). q s + s is (1 + q) s, a normal number,
       rounded once (one FMA where the CPU has it; else q s is exact and the
       addition rounds): the bits of (1 + q) times s; a caller's product
       with 2^-64 rounds once more, into the subnormals where the result is
       below 2^-126 */
    sb.i = (int32_t)((uint32_t)(kb.i - (int32_t)FNL_MAGICBITS_F + 127 + shift) << 23);
    return q * sb.f + sb.f;
}
FNL_INLINE float fnl_exp_nonpos_scaled_f(float d) {
    return fnl_exp_nonpos_shifted_f(d, -110.0f, 64);
}
/* fnl_exp_nonpos_scaled_f is exp(d) 2^64, rounded once: a normal number
   down to d = -110 (the clamp), so that a caller can multiply it by more
   (silu's 1 + x) before the one rounding below the normal range */
FNL_INLINE float fnl_exp_nonpos_f(float d) {
    return fnl_exp_nonpos_scaled_f(d) * 5.42101086242752217004e-20f;
}
/* exp(d) for d in [-80, 0] as the pair a + *b (returned a = u 2^k, *b =
   lo 2^k), to about 2^-27: 1 + rh = u + ((1 - u) + rh) exactly (Fast2Sum:
   |rh| <= ln2/2), and lo adds the rest of exp(r). Left unnormalised (|b|
   up to 0.07 a), which the caller's next step does for free; a <= 1, since
   rh <= 0 where k = 0. No clamp: below -87 2^k is not a normal number, and
   below about -84 b, 2^-5 of a, falls into the subnormals and loses bits
   (silu, x (a + b), reached 1.33 ulp at -86.95): the loops send d below
   -80 to a fix-up of their own. */
FNL_INLINE float fnl_exp_pair_f(float d, float *b) {
    union fnl_bits_f kb, sb;
    float rh, w = fnl_exp_reduced_tail_f(d, &kb, &rh);
    float u = 1.0f + rh, lo = ((1.0f - u) + rh) + w;
    sb.i = (int32_t)((uint32_t)(kb.i - (int32_t)FNL_MAGICBITS_F + 127) << 23);
    *b = lo * sb.f;
    return u * sb.f;
}
/* exp(max(d, -87)), normal: silu's float32 loops, whose rare fix-up takes
   x below -87 (the silu row of KERNELS); above -87 the bits of
   fnl_exp_nonpos_f, one product fewer, and beyond 87 a positive x gets
   exp(-87) for exp(-x), which 1 + e rounds away as it does exp(-x) */
FNL_INLINE float fnl_exp_nonpos_normal_f(float d) {
    return fnl_exp_nonpos_shifted_f(d, -87.0f, 0);
}
/* exp(max(d, lo)) 2^shift, d <= 0, float64, for constant lo and shift with
   2^shift exp(lo) a normal number: fnl_exp_d's reduction and polynomial,
   one clamp (a vector max; NaN fails the compare and stays NaN) and 2^k
   applied as the normal power of two 2^(k+shift) (exact). The variants
   below, as float32's fnl_exp_nonpos_shifted_f: */
FNL_INLINE double fnl_exp_nonpos_shifted_d(double d, double lo, int shift) {
    union fnl_bits_d kb, sb;
    double p = fnl_exp_reduced_d(d < lo ? lo : d, &kb);
    sb.i = (int64_t)((uint64_t)(kb.i - (int64_t)FNL_MAGICBITS_D + shift + 1023) << 52);
    return p * sb.f;
}
/* exp(d) 2^64: a normal number down to d = -752 (k >= -1085), so that a
   caller can multiply it by more (gelu_tanh's x) before the one rounding
   below the normal range (a product with 2^-64); 0 below -752, where even
   2^10 exp(d) rounds to 0 */
FNL_INLINE double fnl_exp_nonpos_scaled_d(double d) {
    return d < -752.0 ? 0.0 : fnl_exp_nonpos_shifted_d(d, -752.0, 64);
}
#define FNL_TWO_M64_D 5.42101086242752217004e-20  /* 2^-64 */
#define FNL_TWO_M128_D 2.938735877055718770e-39  /* 2^-128 */
/* exp(d): every exp(-|z|) of the float64 activations, and the row-wise
   kernels' exp(x - max). Results below 2^-1022 round once, to the right
   subnormal, in the product with 2^-64: the same bits as fnl_exp_d, 0.66 ->
   0.51 ns per element (AVX-512). Clamped at -746, where exp(d) rounds to 0
   as the product does, rather than 0 selected below -752 as in
   fnl_exp_nonpos_scaled_d: GCC carries such a select through a caller's
   arithmetic as masked operations (float64 softplus and logsigmoid took
   1.36-1.47x the time). */
FNL_INLINE double fnl_exp_nonpos_d(double d) {
    return fnl_exp_nonpos_shifted_d(d, -746.0, 64) * FNL_TWO_M64_D;
}
/* exp(max(d, -708)), normal: silu's loops, whose rare fix-up takes x below
   -708 (as fnl_exp_nonpos_normal_f is float32's), save the product with
   2^-64; the same bits as fnl_exp_nonpos_d above -708 */
FNL_INLINE double fnl_exp_nonpos_normal_d(double d) {
    return fnl_exp_nonpos_shifted_d(d, -708.0, 0);
}

/* d = k ln2 + r + re (k's bits in *kb; r and its rounding error re by
   Knuth's two-sum, as fnl_exp_d's reduction rounds it) and expm1(r + re) as
   hi + lo (*lo): r + r^2/2 + r^3 P(r) + re (1 + r), r^2 split exactly (an
   FMA) and r + r^2/2's rounding kept (Fast2Sum), so that only the small
   terms' roundings remain, then hi the rounded sum and lo the rest: the
   sum within 2^-56 of expm1(r + re) (P: the Taylor series 1/3! .. 1/13!,
   whose first term left out is 4e-18 of the result at |r| = ln2/2). The float64 kernels that correct a quotient or a
   difference with exp or expm1 (tanh, gelu_tanh, mish, elu) start here. */
FNL_INLINE double fnl_expm1_reduced_hilo_d(double d, union fnl_bits_d *kb, double *lo) {
    kb->f = d * FNL_LOG2E_D + FNL_MAGIC_D;
    double k = kb->f - FNL_MAGIC_D;
    double rh = d - k * FNL_LN2HI_D, rl = k * -FNL_LN2LO_D;
    double r = rh + rl, rv = r - rh, re = (rh - (r - rv)) + (rl - rv);
    double r2 = r * r, r2l = fma(r, r, -r2), r4 = r2 * r2;
    double p = ((0.16666666666666666 + 0.041666666666666664 * r)               /* 1/3!, 1/4! */
                + r2 * (0.008333333333333333 + 0.001388888888888889 * r))     /* 1/5!, 1/6! */
               + r4 * (((0.0001984126984126984 + 2.48015873015873e-05 * r)    /* 1/7!, 1/8! */
                        + r2 * (2.7557319223985893e-06 + 2.755731922398589e-07 * r))  /* 1/9!, 1/10! */
                       + r4 * ((2.505210838544172e-08 + 2.08767569878681e-09 * r)     /* 1/11!, 1/12! */
                               + r2 * 1.6059043836821613e-10));                       /* 1/13! */
    double h = r + 0.5 * r2;
    double l = ((r - h) + 0.5 * r2) + fma(re, 1 + r, fma(r * r2, p, 0.5 * r2l));
    double m = h + l;  /* hi the rounded sum, lo below its last bit (Fast2Sum) */
    *lo = (h - m) + l;
    return m;
}

/* 1 + (e + el) as D + *Dl, D the rounded sum and *Dl the rest (Fast2Sum,
   |e| <= 1; el below e's last bit): the rounding of 1 + e kept, for the
   float64 exp pairs and the quotients over 1 + exp(-|x|) */
FNL_INLINE double fnl_one_plus_d(double e, double el, double *Dl) {
    double D = 1 + e;
    *Dl = ((1 - D) + e) + el;
    return D;
}

/* exp(d) 2^64 for d <= 0 as hi + lo (*lo), float64: 1 + expm1(r) with the
   addition's rounding kept (Fast2Sum), times 2^(k+64) (exact: a normal
   power of two down to d = -752, below which both are 0, as
   fnl_exp_nonpos_scaled_d). The sum is within 2^-56 of exp(d) 2^64
   (measured, 2 x 10^7 points against long double), where hi alone is
   within 1 ulp. */
FNL_INLINE double fnl_exp_nonpos_hilo_scaled_d(double d, double *lo) {
    union fnl_bits_d kb, sb;
    double ml, m = fnl_expm1_reduced_hilo_d(d < -752.0 ? -752.0 : d, &kb, &ml);
    double el, eh = fnl_one_plus_d(m, ml, &el);
    sb.i = (int64_t)((uint64_t)(kb.i - (int64_t)FNL_MAGICBITS_D + 64 + 1023) << 52);
    *lo = d < -752.0 ? 0.0 : el * sb.f;
    return d < -752.0 ? 0.0 : eh * sb.f;
}

/* sigmoid(-a) = e / (1 + e), e = exp(-a), a >= 0, times 2^64, as hi + lo
   (*lo), float64: 1 + e = d + dl exactly (Fast2Sum, with e's own lo), the
   quotient q = e / d and its residual e - q d (exact as an FMA) give the
   correction (e - q (d + dl)) / (d + dl), 1 / d being 1 - q to the few bits
   a correction needs. The sum is within 2^-56 of the true value (measured
   as above); times 2^64 so that a caller can multiply it by x before one
   rounding into the subnormals (gelu_tanh's x s(2u) for x << 0). NaN gives
   NaN. */
FNL_INLINE double fnl_logistic_scaled_d(double a, double *lo) {
    double El, E = fnl_exp_nonpos_hilo_scaled_d(-a, &El);
    double e = E * FNL_TWO_M64_D, el = El * FNL_TWO_M64_D;
    double dl, d = fnl_one_plus_d(e, el, &dl);
    double q = E / d;
    double rem = fma(-q, d, E) + El;
    *lo = fma(-q, dl, rem) * (1 - q * FNL_TWO_M64_D);
    return q;
}

/* 1 - (s + sl) as hi + lo (*lo), s <= 1: 1 - s's rounding kept (Fast2Sum)
   and sl subtracted from it: the complement of a pair (sigmoid's 1 - s) */
FNL_INLINE double fnl_one_minus_d(double s, double sl, double *lo) {
    double h = 1 - s;
    *lo = ((1 - h) - s) - sl;
    return h;
}

/* s (1 - s) 2^64, s = sigmoid(-a), a >= 0, float64: sigmoid's derivative
   at +-a (tanh's sech^2 is 4 s (1 - s) at 2a), rounded once (an FMA) but
   for s's own 2^-56: s as hi + lo (fnl_logistic_scaled_d) and 1 - s as a
   pair (fnl_one_minus_d); times 2^64 so that the caller's product with
   2^-64 rounds once into the subnormals. 0 beyond a = 752, NaN for NaN. */
FNL_INLINE double fnl_logistic_slope_scaled_d(double a) {
    double sl, S = fnl_logistic_scaled_d(a, &sl), s = S * FNL_TWO_M64_D;
    double ml, m = fnl_one_minus_d(s, sl * FNL_TWO_M64_D, &ml);
    return fma(S, m, fma(S, ml, sl * m));
}

/* the row-wise kernels (_rowwise.pyx.tp) call it by this name */
#define fastnl_expf_nonpos fnl_exp_nonpos_f

/* ---------------------------------------------------------------- expm1 */

/* expm1(x) for x <= 0 (larger x are clamped to 0), float64, as hi + lo
   (*lo): below -40 the result is -1 to double precision. k = 0 (|x| <
   ln2/2) returns expm1(r) itself (r = x), so -0.0 and tiny x keep full
   relative accuracy; else 2^k (1 + expm1(r)) - 1, 2^k (1 + expm1(r)) a
   pair as in fnl_exp_nonpos_hilo_scaled_d and the subtraction's rounding
   kept (Fast2Sum): it cancels at most 2.4-fold (at x = -ln2/2), on a pair
   within 2^-56. The sum is within 2^-55 of expm1(x) (measured, 2 x 10^7
   points against long double). */
FNL_INLINE double fnl_expm1n_hilo_d(double x, double *lo) {
    union fnl_bits_d kb, sb;
    double c = x < -40.0 ? -40.0 : (x > 0 ? 0.0 : x);
    double ml, m = fnl_expm1_reduced_hilo_d(c, &kb, &ml);
    double k = kb.f - FNL_MAGIC_D;
    double el, eh = fnl_one_plus_d(m, ml, &el);
    sb.u = (kb.u - FNL_MAGICBITS_D + 1023) << 52;
    eh *= sb.f;
    el *= sb.f;
    double bh = eh - 1, bl = (eh - (bh + 1)) + el;
    *lo = c == 0 ? c : (k == 0 ? ml : bl);  /* c: keeps the sign of zero */
    return c == 0 ? c : (k == 0 ? m : bh);  /* (-0.0 + -0.0 is -0.0) */
}

/* ---------------------------------------------------------------- log1p */

/* log(2^k (1 + f)) + c, for f in [sqrt(2)/2 - 1, sqrt(2) - 1] (exact) and
   c a correction below f's last bit, from log(1 + f) = 2 atanh(s) =
   2 s (1 + s^2/3 + s^4/5 + ...), s = f / (2 + f), |s| <= 0.172: R below is
   that series' tail, 1/3, 1/5, ... in s^2. As fdlibm's log does, 2 s is
   formed as f - (h - s h), h = f^2 / 2, so that s's rounding only touches
   the small s (h + 2 R); k ln2_hi + f is added exactly (Fast2Sum: |k| >= 1
   or k = 0) and only the rest is rounded before the last addition.
   Measured against long double on 2 x 10^8 arguments: log at most 0.91 ulp
   (1.27 when f - s f was rounded first); log1p 1.14 on [0, 1] (was 1.49). */
FNL_INLINE double fnl_log_reduced_d(double f, double k, double c) {
    double s = f / (2 + f);
    double z = s * s;
    double R = z * ((((((((((0.043478260869565216 * z     /* 1/23 */
                             + 0.047619047619047616) * z  /* 1/21 */
                             + 0.05263157894736842) * z   /* 1/19 */
                             + 0.058823529411764705) * z  /* 1/17 */
                             + 0.06666666666666667) * z   /* 1/15 */
                             + 0.07692307692307693) * z   /* 1/13 */
                             + 0.09090909090909091) * z   /* 1/11 */
                             + 0.1111111111111111) * z    /* 1/9 */
                             + 0.14285714285714285) * z   /* 1/7 */
                             + 0.2) * z                   /* 1/5 */
                             + 0.3333333333333333);       /* 1/3 */
    double h = 0.5 * f * f;
    double hi = k * FNL_LN2HI_D + f;
    double lo = (k * FNL_LN2HI_D - hi) + f;
    return hi + (lo + ((s * (h + 2 * R) - h) + (k * FNL_LN2LO_D + c)));
}

/* log1p(t) for t in [0, 1] (softplus and logsigmoid need log1p(exp(-|z|))):
   u = 1 + t rounded, c = the rounding error over u; u = 2^e m with m in
   [sqrt(2)/2, sqrt(2)], f = m - 1 exact. */
FNL_INLINE double fnl_log1p_d(double t) {
    double u = 1 + t;
    /* c only corrects the last bit: 1/u to a few bits (1.5 - u/2, within
       12.5% on [1, 2]) is plenty, and saves a division */
    double c = (t - (u - 1)) * (1.5 - 0.5 * u);
    int hi = u > 1.41421356237309504880;  /* sqrt(2) */
    double m = hi ? u * 0.5 : u;
    return fnl_log_reduced_d(m - 1, hi ? 1.0 : 0.0, c);
}

/* v = 2^k m with m in [sqrt(2)/2, sqrt(2)) for a positive normal double v:
   returns m and k (in *k). The exponent field is read as a double by placing
   it in the low bits of 2^52 (64-bit integer to double conversion is
   AVX-512 only). */
FNL_INLINE double fnl_log_split_d(double v, double *k) {
    union fnl_bits_d b, e;
    b.f = v;
    e.u = 0x4330000000000000ull | (b.u >> 52);        /* 2^52 + biased exponent */
    b.u = (b.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;  /* [1, 2) */
    int hi = b.f > 1.41421356237309504880;            /* sqrt(2) */
    *k = (e.f - (4503599627370496.0 + 1023)) + (hi ? 1.0 : 0.0);
    return hi ? 0.5 * b.f : b.f;
}
/* log's value r at a positive finite v, or v's special case: 0 gives -inf,
   a negative NaN, inf inf, NaN NaN */
FNL_INLINE double fnl_log_special_d(double v, double r) {
    return (v > 0 && v < INFINITY) ? r : v == 0 ? -INFINITY : v > 0 ? v : NAN;
}
/* log(v), any double: k ln2 + log(m), m - 1 exact; subnormals are first
   scaled by 2^54. */
FNL_INLINE double fnl_log_d(double v) {
    int sub = v < 2.2250738585072014e-308;            /* DBL_MIN */
    double k, m = fnl_log_split_d(sub ? v * 18014398509481984.0 : v, &k);  /* 2^54 */
    return fnl_log_special_d(v, fnl_log_reduced_d(m - 1, sub ? k - 54 : k, 0.0));
}

/* ---------------------------------------------------------------- tanh */

/* (x - tanh x) / x^3 = 1/3 + z Q(z) in z = x^2: Q's Taylor series (from the
   Bernoulli numbers: tanh x = sum 2^2k (2^2k - 1) B_2k x^(2k-1) / (2k)!),
   16 terms, whose terms fall by 10 at |x| = 1/2: float64's precision there */
FNL_INLINE double fnl_tanh_series_tail_d(double z) {
    double p = 1.7406618963571648e-07;
    p = p * z - 4.294911078273806e-07;
    p = p * z + 1.0597268320104654e-06;
    p = p * z - 2.6147711512907546e-06;
    p = p * z + 6.451689215655431e-06;
    p = p * z - 1.5918905069328964e-05;
    p = p * z + 3.927832388331683e-05;
    p = p * z - 9.691537956929451e-05;
    p = p * z + 0.00023912911424355248;
    p = p * z - 0.000590027440945586;
    p = p * z + 0.0014558343870513183;
    p = p * z - 0.003592128036572481;
    p = p * z + 0.008863235529902197;
    p = p * z - 0.021869488536155203;
    p = p * z + 0.05396825396825397;
    return p * z - 0.13333333333333333;
}
/* the series' sum 1/3 + z Q(z) as hi + lo (*lo): 1/3 itself as a double
   pair and the last addition's rounding kept (Fast2Sum, z Q <= 1/30 for
   z <= 1/4), for the results that are x^3 times it (tanhshrink) */
FNL_INLINE double fnl_tanh_series_hilo_d(double z, double *lo) {
    double t = z * fnl_tanh_series_tail_d(z) + 1.8503717077085942e-17;  /* 1/3 - RN(1/3) */
    double h = 0.3333333333333333 + t;
    *lo = (0.3333333333333333 - h) + t;
    return h;
}

/* tanh(a), a = |x| >= 0, float64, as hi + lo (*lo): E / (2 + E), E =
   expm1(2a) >= 0, one form for every a (nothing cancels: E >= 0). E =
   (2^k - 1) + 2^k expm1(r), expm1(r) a pair (fnl_expm1_reduced_hilo_d),
   the sum's rounding kept (Fast2Sum: 2^k - 1 >= 2^k / 2 > 2^k |expm1(r)|
   for k >= 1, and 0 for k = 0, where E is expm1(r) itself). 2^k - 1 is
   exact up to k = 53 and rounds beyond, where tanh(a) sees E's error
   divided by E. 2 + E = D + Dl (Fast2Sum, larger first), q = E (1 / D)
   and the correction (E - q (D + Dl)) / D from the exact residual (the
   one division, 1 / D, serves both). The sum is within 2^-54 of tanh
   (E's own error, which E / (2 + E) does not magnify). 2a is clamped at
   40, where q rounds to 1 (tanh(a) is within 2^-56 of 1 beyond a = 19.1).
   NaN gives NaN. */
FNL_INLINE double fnl_tanh_hilo_d(double a, double *lo) {
    union fnl_bits_d kb, sb;
    double ml, m = fnl_expm1_reduced_hilo_d(a > 20.0 ? 40.0 : 2 * a, &kb, &ml);
    sb.u = (kb.u - FNL_MAGICBITS_D + 1023) << 52;
    double s = sb.f - 1, t = m * sb.f;
    double E = s + t, El = (t - (E - s)) + ml * sb.f;
    double D = 2 + E, Dl = ((E > 2 ? E : 2.0) - D) + (E > 2 ? 2.0 : E) + El;
    double v = 1 / D, q = E * v;
    *lo = fma(-q, Dl, fma(-q, D, E) + El) * v;
    return q;
}
/* float64 tanh, a = |x|: below 1 the odd polynomial a + a y P(y), y =
   a^2, P of degree 15 (tanh's relative error from P within 2^-56:
   tools/fit_float64_tanh.py 1.0 15); from 1 on 1 - q, q = 2e
   / (1 + e), e = exp(-2a) <= e^-2, in plain double arithmetic: q errs by
   about 1.4 of its ulps (e's, 1 + e's and the quotient's roundings), at
   most 0.31 of the result there, so tanh stays within 1 ulp (0.98 at most
   on the accuracy script's points, 97.8% correctly rounded; cut at 0.8
   with P of degree 13, 1.2 ulp; 1 / (1 + e) by a quadratic and two Newton
   steps instead of the division took 1.03-1.07 times the time). The pair
   form above (fnl_tanh_hilo_d: 0.57 ulp, 99.9%) took 1.5
   times the time (A/B, 10^5, one thread, AVX-512: 281 -> 186 us), 1.35
   times torch's; tanhshrink and the derivatives keep it. 2a is clamped at
   40, where q rounds away beside 1; NaN stays NaN. */
FNL_INLINE double fnl_tanh_d(double x) {
    double a = FNL_FABS(x), y = a * a;
    double P = ((((((((((((((2.5155023659382105e-08 * y
                   - 2.6330772232959337e-07) * y
                   + 1.3791814499083342e-06) * y
                   - 4.987760317520347e-06) * y
                   + 1.4606131676715378e-05) * y
                   - 3.8389607893147334e-05) * y
                   + 9.646277743313181e-05) * y
                   - 0.00023895705228738225) * y
                   + 0.0005899792946300052) * y
                   - 0.0014558246920964941) * y
                   + 0.003592126679366341) * y
                   - 0.008863235404578283) * y
                   + 0.02186948852912909) * y
                   - 0.05396825396804637) * y
                   + 0.1333333333333309) * y
                   - 0.3333333333333333;
    double small = fma(a, y * P, a);
    double e = fnl_exp_nonpos_normal_d(-2 * (a > 20.0 ? 20.0 : a));
    double big = 1 - 2 * e / (1 + e);
    return FNL_COPYSIGN(a < 1.0 ? small : big, x);
}

/* ---------------------------------------------------------------- normal tail, float64 */

/* The float64 gelu derivative takes Phi(x) and phi(x) from one exp:
   erfc(a) = exp(-a^2) erfcx(a), a = |x|/sqrt2, and exp(-x^2/2) = exp(-a^2)
   to first order in a's rounding (fnl_gelu_arg_d gives what it lost).

   fnl_exp_negsq_d: exp(-a^2) for a in [0, 28] as s1 s2 (1 + m + ml), m
   returned: a^2 = h^2 + d, h = a to 26 bits (h^2 exact, so rounding a^2
   costs nothing), exp(-h^2) = 2^k (1 + expm1(r + rl)) by fnl_exp_d's
   reduction (with r's rounding error rl) and series, m = expm1(r) rounded
   once; in *ml, never added to m, rl and exp(-d) - 1 = -d + d^2/2 - d^3/6
   (d < 2^-25 a^2) times 1 + m. 2^k as two normal powers of two, since k
   reaches -1131, so that a product with them rounds once, into the
   subnormals where the result is below them. Rounding r, 1 + r P(r) and
   m + ml (as before) cost 1 ulp of 1 + m, which float64 gelu' showed as
   2.44 ulp at x = -6.711; as a pair, 1.76 at most in [-40, -1.5]. */
FNL_INLINE double fnl_exp_negsq_d(double a, double *s1, double *s2, double *ml) {
    union fnl_bits_d hb, kb, b1, b2;
    hb.f = a;
    hb.u &= ~(uint64_t)0x7FFFFFF;
    double h = hb.f, d = (a - h) * (a + h);
    double rl, r = fnl_reduce_ln2_pair_d(-(h * h), &kb, &rl);
    double m = fma(r, r * fnl_exp_poly_d(r), r);
    *ml = fma(-d, 1 - d * 0.5 * (1 - d * (1.0 / 3)), rl) * (1 + m);
    int64_t k = (int64_t)(kb.u - FNL_MAGICBITS_D), k1 = k >> 1;
    b1.u = (uint64_t)(k1 + 1023) << 52;
    b2.u = (uint64_t)(k - k1 + 1023) << 52;
    *s1 = b1.f;
    *s2 = b2.f;
    return m;
}
/* The long float64 polynomials (erfcx's below, the windows around the
   zeros of GELU's derivatives), their coefficients c lowest degree first:
   c[0] + v (c[1] + v (c[2] + v T)), the low steps, which make the result's
   roundings, in Horner's order, over a tail T in Estrin's form. On AVX2
   their loops were bound by Horner's chain (18-22 multiplies deep, where
   these are 7-8): float64 gelu 10.8 -> 7.4 ns per element, gelu' 12.4 ->
   8.9, gelu_tanh' 6.8 -> 6.1. fnl_estrin16_d is c[0] + ... + c[15] v^15 in
   pairs joined by v^2, v^4 and v^8. */
FNL_INLINE double fnl_estrin16_d(const double *c, double v, double v2, double v4, double v8) {
    return (((c[0] + c[1] * v) + v2 * (c[2] + c[3] * v))
            + v4 * ((c[4] + c[5] * v) + v2 * (c[6] + c[7] * v)))
           + v8 * (((c[8] + c[9] * v) + v2 * (c[10] + c[11] * v))
                   + v4 * ((c[12] + c[13] * v) + v2 * (c[14] + c[15] * v)));
}
/* c0 + v inner, one FMA, and in *lo its rounding error: exact where the
   result is within a factor 2 of c0 (Sterbenz: c0 - p exact), else
   rounded once, far below the result's ulp. The callers round hi + lo
   once, later. */
FNL_INLINE double fnl_last_step_d(double c0, double v, double inner, double *lo) {
    double p = fma(v, inner, c0);
    *lo = fma(v, inner, c0 - p);
    return p;
}
/* degree 18: the derivative windows', as hi + *lo */
FNL_INLINE double fnl_poly18_d(const double *c, double v, double *lo) {
    double v2 = v * v, v4 = v2 * v2, v8 = v4 * v4;
    double tail = fnl_estrin16_d(c + 3, v, v2, v4, v8);
    return fnl_last_step_d(c[0], v, c[1] + v * (c[2] + v * tail), lo);
}
/* erfc(a + al) exp(a^2), a in [0, 28], al a correction below a's last
   bit: erfcx(a) as a polynomial in v = t - 9/16, t = 4/(4 + a), of degree
   22 (tools/fit_float64_erfc.py erfcx 22, its coefficients rounded in
   turn: 2^-54.8 relative over a <= 5.66, float64 gelu's vector loop,
   2^-56.6 beyond), three Horner steps over an Estrin tail (its last four
   coefficients joined by v^16). The last step, p = c[0] + v inner, keeps
   its rounding error (fnl_last_step_d; exact where erfcx is within a
   factor 2 of c[0], a in [1.25, 6.4]): float64 gelu 2.31 -> 1.99
   ulp on 4 x 10^6 points of [-8, 8] against long double, for 4% more
   time (earlier, the last one to four steps in double-double gained less
   for 11-43%). 1.6 ulp of erfcx from the roundings before that, over a <=
   5.66 (17 at a = 27, where gelu and its derivative see erfc's error
   divided by x^2 > 1400).
   t's own rounding (of 4 + a and of the quotient) would move erfcx by up
   to 3.8 times as much: t + tl = 4/(4 + a) to first order (4 + a exact as
   d + dl by Fast2Sum for a < 8; beyond, where dl is only roughly right,
   Phi is below 1/128 of gelu' and its error hardly shows; the quotient's
   remainder exact as an FMA), and erfcx(t + tl) = erfcx(t) +
   tl (2/sqrt(pi) - 2 a erfcx) (4 + a)^2 / 4. Then erfc(a + al) = erfc(a)
   - al 2/sqrt(pi) exp(-a^2). Returned as hi + *lo, both corrections in lo. */
FNL_INLINE double fnl_erfc_scaled_d(double a, double al, double *lo) {
    double d = 4 + a, dl = a - (d - 4), t = 4 / d;
    double tl = fma(-t, dl, fma(-t, d, 4)) * (0.25 * t);
    static const double c[23] = {
        0.1731499287561747, 0.6447639085845848, 1.1675501270033664,
        1.8395165155020308, 2.5070674278348672, 2.920476377110193,
        2.8443311782187224, 2.2197410464009013, 1.2584729943781665,
        0.3557758409808209, -0.15545739749875115, -0.22181898752138984,
        -0.061666801102501514, 0.060360975657536536, 0.0503620220181643,
        -0.010185500522011162, -0.026347029940821966, -0.0007112144237412413,
        0.012953753941473195, 0.0017377157027812283, -0.005958328592070485,
        -0.0008029735739135901, 0.0018314151466484613,
    };
    double v = t - 0.5625, v2 = v * v, v4 = v2 * v2, v8 = v4 * v4, v16 = v8 * v8;
    double tail = fnl_estrin16_d(c + 3, v, v2, v4, v8)
                  + v16 * ((c[19] + c[20] * v) + v2 * (c[21] + c[22] * v));
    double plo, p = fnl_last_step_d(c[0], v, c[1] + v * (c[2] + v * tail), &plo);
    /* t's and a's corrections and plo, kept apart in the low part (up to
       100 ulp of p), for the caller's one rounding */
    *lo = tl * (0.25 * d * d) * (1.1283791670955126 - 2 * a * p) - al * 1.1283791670955126 + plo;
    return p;
}
/* erf(a + al), a in [0, 0.5]: a E(a^2), E of degree 8
   (tools/fit_float64_erfc.py erf 8: 2^-55 relative), plus al 2/sqrt(pi) */
FNL_INLINE double fnl_erf_small_d(double a, double al) {
    double v = a * a;
    double e = (((((((1.4725865480556744e-06
        * v - 1.4845849259707869e-05)
        * v + 0.00012053335124353741)
        * v - 0.0008548297753674966)
        * v + 0.00522397737302147)
        * v - 0.026866170632887928)
        * v + 0.11283791670925353)
        * v - 0.37612638903183476)
        * v + 1.1283791670955126;
    return fma(a, e, al * 1.1283791670955126);
}

/* ---------------------------------------------------------------- normal tail, float32 */

/* The float32 gelu and its derivative write Phi(-z) = erfc(z/sqrt2) / 2,
   z = |x|, as exp(-z^2/2) M(z) / z, M(z) = z erfcx(z/sqrt2) / 2 (z/2 at 0,
   1/sqrt(2 pi) for large z): no 1 + erf cancellation, relative accuracy
   down to the smallest subnormal result. M is the rational function
   P / Q below, whose one division also makes the result's last rounding.
   They stay in float32 arithmetic for speed (6.1 ulp, its derivative 6.7:
   the Horner roundings of P and Q). The same coefficients evaluated in
   float64, exp(-z^2/2) by fnl_exp_fd and rounded once, measured 0.82 and
   0.90 ulp over every float32, but at 2.6 to 2.8 times the time: 3.3 and
   1.7 times torch's (10^5, one thread, AVX-512), twice as many vector
   instructions per element, on ports the float32 form already fills.
   Refitted for float64 (double coefficients, exp's polynomial of degree 4,
   the quotient from a float32 reciprocal corrected once instead of a
   float64 division) it reached 0.66 and 0.67 ulp, still at 2.5 and 2.15
   times the time: 104 vector instructions per 16 elements against about
   60, and the loop is bound by their count, not by the division. On
   AVX-512 the derivative takes pieces instead (fnl_gelu_backward16_f); an
   earlier piecewise form took 1.6 to 1.9 times the time on AVX2. The
   forward with M = P / Q read by pieces as tanh's (fnl_pieces16_f, M kept
   as an unrounded pair, no division) reached 1.77 ulp over every float32
   (98.8% correctly rounded; this exp's error is most of it) in 1.13-1.19
   times the time (A/B, 10^5 and 10^6, one thread, AVX-512). With
   exp(-z^2/2) as a pair from a 2^(j/32) table read by two more permutes
   (within 2^-29) it reached 2.02 ulp (98.77%; at x = -0.066, where piece
   0's M has no head to carry the exp's low part and three roundings
   remain), at 1.21-1.24 times the time (the same A/B): its eleven
   permutes share one port with the arithmetic.

   fnl_exp_halfsq_f: exp(-z^2/2) for z in [0, 15] as 2^-64 s (1 + q),
   returning q, s a normal power of two (2^(k+64), k in [-163, 0]); the
   kernels divide by 2^65 Q (fnl_gelu_scaled_num_f), so that a result below
   2^-126 is rounded once, by that division, into the subnormals.
   -z^2/2 = k ln2 + r, with rho = -2r = z^2 + 2k ln2 (the halving folded
   into the polynomial): h + 2k ln2hi is exact (2k ln2hi has 17 bits, and
   h is within ln2 of it), and z^2's own rounding, l (an FMA), goes into
   rho: rounding z^2 to float32 would cost z^2/2 ulp (112 at 15). Then
   exp(-rho/2) = 1 + rho E(rho), E of degree 5 with E(0) = -1/2
   (tools/fit_float32_polynomials.py exp_halfsq 5: 0.05 ulp). */
#define FNL_EXP_HALFSQ_E5 2.159721e-05f   /* E's coefficients, highest first */
#define FNL_EXP_HALFSQ_E4 -0.00026152094f
#define FNL_EXP_HALFSQ_E3 0.0026042657f
#define FNL_EXP_HALFSQ_E2 -0.020833151f
#define FNL_EXP_HALFSQ_E1 0.124999985f
FNL_INLINE float fnl_exp_halfsq_f(float z, float *s) {
    union fnl_bits_f kb, sb;
    float h = z * z, l = __builtin_fmaf(z, z, -h), k, rho, e;
    kb.f = h * (-0.5f * FNL_LOG2E_F) + FNL_MAGIC_F;
    k = kb.f - FNL_MAGIC_F;
    rho = h + k * (2 * FNL_LN2HI_F);
    rho = rho + k * (2 * FNL_LN2LO_F);
    rho = rho + l;
    e = ((((FNL_EXP_HALFSQ_E5 * rho
            + FNL_EXP_HALFSQ_E4) * rho
            + FNL_EXP_HALFSQ_E3) * rho
            + FNL_EXP_HALFSQ_E2) * rho
            + FNL_EXP_HALFSQ_E1) * rho
            - 0.5f;
    sb.i = (int32_t)((uint32_t)(kb.i - (int32_t)FNL_MAGICBITS_F + 64 + 127) << 23);
    *s = sb.f;
    return rho * e;
}
#define FNL_TWO_M64_F 5.42101086242752217004e-20f  /* 2^-64 */
#define FNL_TWO_P65_F 36893488147419103232.0f      /* 2^65 */

/* M(z) = P(z) / Q(z) for z in [0, 15], degrees (5, 5), fitted with float32
   coefficients to a relative error of 1.9e-8 (0.32 ulp;
   tools/fit_float32_polynomials.py gelu). Every coefficient is positive,
   so Horner's form in z >= 0 never cancels. fnl_gelu_num_f is 2 P(z) =
   z + z^2 H(z) (the last step an FMA on z^2 = h, one product fewer than
   z (1 + z H)), fnl_gelu_den_f 2^64 times 2 Q(z) (powers of two: the same
   roundings). */
FNL_INLINE float fnl_gelu_num_f(float z) {
    float H = ((0.0041215746f * 2 * z
                + 0.040684454f * 2) * z
                + 0.18341023f * 2) * z
                + 0.43856734f * 2;
    return (z * z) * H + z;
}
FNL_INLINE float fnl_gelu_den_f(float z) {
    return (((((0.01033114f * FNL_TWO_P65_F * z
                + 0.10198707f * FNL_TWO_P65_F) * z
                + 0.4699257f * FNL_TWO_P65_F) * z
                + 1.2032887f * FNL_TWO_P65_F) * z
                + 1.6750195f * FNL_TWO_P65_F) * z
                + FNL_TWO_P65_F);
}
/* gelu's derivative for x = -z < 0 is Phi(-z) - z phi(z) = exp(-z^2/2)
   (erfcx(z/sqrt2) / 2 - z / sqrt(2 pi)), which vanishes at z0 =
   0.7517915247. Over the common denominator, N(z) = 2 Q(z) (erfcx(z/sqrt2)
   / 2 - z / sqrt(2 pi)) = (z - z0) R(z), z0 = Z0 + Z0lo as a float32 head
   and tail: z - Z0 is exact near the zero (Sterbenz), and R < 0 has
   coefficients of one sign, so N keeps its relative accuracy (0.45 ulp,
   fitted by the same tool) through the zero, where the difference of the
   two terms would lose all of it. R(0) is the float32 whose product with
   -Z0 rounds to N(0) = 1: gelu'(+-tiny) rounds to 1/2 with or without
   FMA. */
FNL_INLINE float fnl_gelu_slope_num_f(float z) {
    float R = ((((-0.008243057f * z
                  - 0.08757096f) * z
                  - 0.43253854f) * z
                  - 1.2038951f) * z
                  - 1.8747301f) * z
                  - 1.330156f;
    return ((z - 0.75179154f) + 1.211444945855772e-08f) * R;
}
/* z = |x| clamped to 15, where the tail is below the subnormals, so that
   an infinite x gives x, or -0.0 at -inf (the limit). The clamp is an
   unsigned minimum of the bits (|x|'s order is theirs): as a float compare
   GCC sank it past the arithmetic, computing the rest on the unclamped z
   and blending constants in (five blends a vector): 0.87 of the time
   forward, 0.92 backward (10^5, one thread, AVX-512), the same bits. NaN
   (bits above 15's) comes out as 15: the forward keeps it through x, the
   derivative returns x itself. */
FNL_INLINE float fnl_gelu_abs_f(float x) {
    union fnl_bits_f b = {.f = x};
    uint32_t a = b.u & 0x7fffffffu;
    b.u = a < 0x41700000u ? a : 0x41700000u;  /* 15.0f */
    return b.f;
}
/* exp(-z^2/2) n 2^64, the numerator of the float32 gelu's tail (n =
   fnl_gelu_num_f) and of its derivative's (n = fnl_gelu_slope_num_f), from
   q and s of fnl_exp_halfsq_f; divided by den = fnl_gelu_den_f(z), 2^65
   Q(z), it is rounded once, by the division. The kernels compute it and
   den as a first stage and the division as a second (fastnl/_ops.py): the
   chains of the exp, n and den overlap in the first, and the division waits
   for none of them in the second (10^5 float32 in cache, Zen 2, one
   thread: gelu 102 -> 91 us, its derivative 132 -> 110). */
FNL_INLINE float fnl_gelu_scaled_num_f(float n, float q, float s) {
    return (n + n * q) * s;
}

/* ---------------------------------------------------------------- float32 computed in float64 */

/* Blocks for the float32 kernels that compute in float64 and round once
   (the result is then within 1/2 ulp but for the rare double rounding):
   they need a relative error far below float32's 2^-24, not float64's
   2^-53, so their polynomials are shorter than the float64 kernels'. Used
   where torch's own float32 kernel is slow enough to leave the time (tanh,
   softplus, elu, ...): on AVX2 a float64 lane costs about twice a float32
   one, and the conversions more.

   fnl_expm1_reduced_fd: d = k ln2 + r (fnl_exp_d's reduction), returns
   expm1(r) = r + r^2 p(r), p Taylor's 1/2! .. 1/9! (the first term left
   out, (ln2/2)^10 / 10!, is 7e-12 = 2^-37 of the result), and 2^k in
   *scale. d is clamped to -700, where 2^k is still a normal double: a
   float32 x times exp(-700) rounds to 0, as x exp(x) does. d <= 0 only. */
FNL_INLINE double fnl_expm1_reduced_fd(double d, double *scale) {
    union fnl_bits_d kb, sb;
    double r, r2, r4, p;
    d = d < -700.0 ? -700.0 : d;
    r = fnl_reduce_ln2_d(d, &kb);
    r2 = r * r;
    r4 = r2 * r2;
    p = ((0.5 + 0.16666666666666666 * r) + r2 * (0.041666666666666664 + 0.008333333333333333 * r))
        + r4 * ((0.001388888888888889 + 0.0001984126984126984 * r)
                + r2 * (2.48015873015873e-05 + 2.7557319223985893e-06 * r));
    sb.i = (int64_t)((uint64_t)(kb.i - (int64_t)FNL_MAGICBITS_D + 1023) << 52);
    *scale = sb.f;
    return r + r2 * p;
}
/* exp(d) = 2^k (1 + expm1(r)), d <= 0 */
FNL_INLINE double fnl_exp_fd(double d) {
    double s, m = fnl_expm1_reduced_fd(d, &s);
    return s + s * m;
}
/* expm1(d) = 2^k expm1(r) + (2^k - 1), d <= 0: k = 0 (|d| < ln2/2) keeps
   expm1(r)'s full relative accuracy near 0, and 2^k - 1 is exact */
FNL_INLINE double fnl_expm1_fd(double d) {
    double s, m = fnl_expm1_reduced_fd(d, &s);
    return d == 0 ? d : s * m + (s - 1);  /* keeps the sign of zero */
}
/* log1p(t), t in [0, 1]: 2 s (1 + z/3 + z^2/5 + ... + z^11/23), s = t / (2 + t),
   z = s^2 <= 1/9 (the first term left out, z^12/25, is 2^-42 of the sum) */
FNL_INLINE double fnl_log1p_fd(double t) {
    double s = t / (2 + t), z = s * s, z2 = z * z, z4 = z2 * z2;
    double R = z * (((0.3333333333333333 + 0.2 * z)                                  /* 1/3, 1/5 */
                     + z2 * (0.14285714285714285 + 0.1111111111111111 * z))          /* 1/7, 1/9 */
                    + z4 * (((0.09090909090909091 + 0.07692307692307693 * z)         /* 1/11, 1/13 */
                             + z2 * (0.06666666666666667 + 0.058823529411764705 * z)) /* 1/15, 1/17 */
                            + z4 * ((0.05263157894736842 + 0.047619047619047616 * z)  /* 1/19, 1/21 */
                                    + z2 * 0.043478260869565216)));                  /* 1/23 */
    return fma(2 * s, R, 2 * s);
}
/* log(v) of a float32 v, in float64 (every float32, subnormals too, is a
   normal double): k ln2 + log1p(m - 1) (fnl_log_split_d; |s| <= 0.172 in
   fnl_log1p_fd's series). */
FNL_INLINE double fnl_log_fd(double v) {
    double k, m = fnl_log_split_d(v, &k);
    return fnl_log_special_d(v, k * FNL_LN2HI_D + (fnl_log1p_fd(m - 1) + k * FNL_LN2LO_D));
}
FNL_INLINE float fnl_log_f(float x) {
    return (float)fnl_log_fd(x);
}
/* 1 - tanh(a) = 2e / (1 + e), e = exp(-2a) <= e^-2, for a >= 1 (float32
   tanh, tanhshrink and tanhshrink's derivative beyond 1): the polynomial
   2e + e^2 R(e) instead of a division, R of degree 4
   (tools/fit_float32_polynomials.py tanh_tail 4: 0.04 ulp), so that it errs
   by e's own error and a little of its two last roundings. e needs no more
   than exp's usual accuracy at a = 1, and less beyond, where q shrinks
   beside 1: so exp here reduces by ln2 rounded to float32 in one FMA
   (|k| <= 29, an error of |k| 1.9e-9 in r, 0.1 ulp of e at a = 1) and takes
   a polynomial of degree 4 (0.05 ulp), clamping a at 10, where tanh has long
   rounded to 1 and e is still normal; 12 vector instructions where the
   general exp (fnl_exp_nonpos_normal_f) takes 17 (A/B, 10^5 float32, one
   thread, AVX-512: tanh 0.92 of the time, tanhshrink 0.93), and tanh beyond
   1 is still within 0.875 ulp. NaN fails the compare and stays NaN. */
FNL_INLINE float fnl_tanh_tail_f(float a) {
    union fnl_bits_f kb, sb;
    float d = -2 * (a > 10.0f ? 10.0f : a), k, r, p, e, R;
    kb.f = __builtin_fmaf(d, FNL_LOG2E_F, FNL_MAGIC_F);
    k = kb.f - FNL_MAGIC_F;
    r = __builtin_fmaf(k, -0.693147182464599609375f, d);  /* ln2 to float32 */
    p = (((0.0013821539469063282f * r      /* (exp(r) - 1 - r) / r^2: */
           + 0.008368675597012043f) * r    /* tools/fit_float32_polynomials.py exp 4 */
           + 0.04166825860738754f) * r
           + 0.1666652113199234f) * r
           + 0.4999999403953552f;
    sb.i = (int32_t)((uint32_t)(kb.i - (int32_t)FNL_MAGICBITS_F + 127) << 23);
    e = __builtin_fmaf(sb.f, __builtin_fmaf(r * r, p, r), sb.f);
    R = (((-1.367165446281433f * e
           + 1.9132033586502075f) * e
           - 1.994358777999878f) * e
           + 1.9998369216918945f) * e
           - 1.9999984502792358f;
    return __builtin_fmaf(e * e, R, 2 * e);
}

/* P(y) of tanh(a) = a + a y P(y), y = a^2, for a = |x| < 1 (float32 tanh,
   and tanhshrink's derivative, which keeps a y P's rounding): degree 7
   (tools/fit_float32_polynomials.py tanh 7 1.0: 0.008 ulp) */
FNL_INLINE float fnl_tanh_series_f(float y) {
    return ((((((0.00011620864097494632f * y
                 - 0.0008212039829231799f) * y
                 + 0.0030481235589832067f) * y
                 - 0.008571074344217777f) * y
                 + 0.021774355322122574f) * y
                 - 0.0539507158100605f) * y
                 + 0.13333174586296082f) * y
                 - 0.333333283662796f;
}
/* float32 tanh in float32 arithmetic (without AVX-512: fnl_tanh16_f
   below), within 1 ulp of every float32 (0.89
   at most, 99.92% correctly rounded; checked on all of them). With a =
   |x|: below 1 the odd polynomial a + a y P(y), y = a^2
   (fnl_tanh_series_f); from 1 on, 1 - q, q = fnl_tanh_tail_f(a) with no
   division: a vector division costs more than five FMAs (AVX-512, 10^5 in cache, one thread:
   50.5 -> 42.0 us, and 0.93 -> 0.89 ulp). The tail's clamp (a at 10)
   keeps e normal for a large or infinite a, where tanh has long rounded
   to 1; NaN fails the compares and stays NaN. Computing in float64 and rounding once
   gave 1/2 ulp in 2.5 times the time of the division form (111 -> 45 us;
   torch's 26). */
FNL_INLINE float fnl_tanh_f(float x) {
    float a = FNL_FABSF(x);
    float y = a * a;
    float small = __builtin_fmaf(a, y * fnl_tanh_series_f(y), a);
    float big = 1 - fnl_tanh_tail_f(a);
    return FNL_COPYSIGNF(a < 1.0f ? small : big, x);
}

/* ---------------------------------------------------------------- float32 by pieces, AVX-512 */

/* On CPUs with AVX-512 the float32 tanh (and tanhshrink and its gradient)
   is a polynomial picked per element from a table of 32 pieces held in
   registers: piece j = (bits(a) - bits(1/16)) >> 21 clamped to 0..31, a =
   |x|, so each piece is a quarter of a binade of a in [1/16, 16) (piece 0
   reaches down to 0, piece 31 up to the clamp) and its coefficients are
   read by vpermt2ps from two registers, 16 lanes at a time. On it, with r
   = a - centre (exact: the centre lies within the piece's binade), f = H +
   (S r + (L + r^2 P(r))): H + L is f(centre) as a float32 pair, S the
   slope and P of degree 4 (tools/fit_float32_polynomials.py pieces), so
   that the rounding of H + (...) is the only one of the result's size. tanh within 0.573 ulp
   over every float32 (99.97% correctly rounded), against 0.89 for the
   two-branch form of fnl_tanh_f (which the other instruction sets keep:
   a permute from 32 entries costs AVX2 two permutes and a blend, and
   gathers cost 3 to 6 times the time), in 27 vector instructions per 16
   elements (9 of them permutes) against 38: 0.68-0.70 of the time (A/B,
   10^5 and 10^6, one thread). Intel's MKL (torch's tanh here) evaluates
   its float32 tanh in this way too, as a profile of its AVX-512 kernel
   shows. tanhshrink (fnl_tanhshrink16_f): 0.837 ulp (99.86%) against 0.66
   (99.31%) for fnl_tanhshrink_f, in 0.52-0.76 of its time; its gradient
   (fnl_tanhshrink_backward16_f, tanh^2): 0.772 ulp (99.93%) against 1.51,
   in 0.68-0.73 of the time. GELU's gradient (fnl_gelu_backward16_f) reads
   a smooth factor of it by pieces as a pair: 1.673 ulp (99.86%) against
   6.717, in 1.22 times the time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) \
    && (defined(FNL_HAS_CLONES) || defined(__AVX512F__))
#define FNL_HAS_PIECES 1
#include <immintrin.h>
#define FNL_AVX512 __attribute__((target("arch=x86-64-v4")))
/* the 16-lane math, always inlined into the AVX-512 loops, as FNL_INLINE
   is into the clones (a call would reload the tables every time) */
#define FNL_INLINE16 static inline __attribute__((always_inline, target("arch=x86-64-v4")))

typedef struct {
    float head[32], low[32], slope[32], p0[32], p1[32], p2[32], p3[32], p4[32];
} __attribute__((aligned(64))) fnl_pieces32_f;

#define FNL_PIECES_START_BITS 0x3d800000  /* 1/16, where piece 1 starts */
#define FNL_PIECE0_END 0.078125f          /* 5/64, where piece 0 ends */
#define FNL_PIECES_END 16.0f              /* where piece 31 ends */

/* the pieces' centres, the same for every table: 2^e (1 + (2q + 1)/8) for
   piece j = 4 (e + 4) + q >= 1, 0 for piece 0 */
static const float fnl_piece_centres[32] __attribute__((aligned(64))) = {
    0.0f, 0.0859375f, 0.1015625f, 0.1171875f,
    0.140625f, 0.171875f, 0.203125f, 0.234375f,
    0.28125f, 0.34375f, 0.40625f, 0.46875f,
    0.5625f, 0.6875f, 0.8125f, 0.9375f,
    1.125f, 1.375f, 1.625f, 1.875f,
    2.25f, 2.75f, 3.25f, 3.75f,
    4.5f, 5.5f, 6.5f, 7.5f,
    9.0f, 11.0f, 13.0f, 15.0f,
};

/* the CPU runs x86-64-v4 (AVX-512 F, BW, DQ, VL) code */
static inline int fnl_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v4");
}

FNL_INLINE16 __m512 fnl_abs16_f(__m512 x) {
    return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
}

/* entries j (0..31, per lane) of the 32-float table t, 64-byte aligned */
FNL_INLINE16 __m512 fnl_pick32_f(const float *t, __m512i j) {
    return _mm512_permutex2var_ps(_mm512_load_ps(t), j, _mm512_load_ps(t + 16));
}

/* f(a) for 16 lanes of a >= 0 (or NaN, which gives NaN: its bits pick
   piece 31 and r is NaN) from the table t, as H + *rest before the last
   rounding (a caller that needs f as a pair) */
FNL_INLINE16 __m512 fnl_pieces16_parts_f(const fnl_pieces32_f *t, __m512 a, __m512 *rest) {
    __m512i j = _mm512_srai_epi32(_mm512_sub_epi32(_mm512_castps_si512(a),
                                                   _mm512_set1_epi32(FNL_PIECES_START_BITS)), 21);
    j = _mm512_min_epi32(_mm512_max_epi32(j, _mm512_setzero_si512()), _mm512_set1_epi32(31));
    __m512 r = _mm512_sub_ps(a, fnl_pick32_f(fnl_piece_centres, j));
    __m512 p = _mm512_fmadd_ps(fnl_pick32_f(t->p4, j), r, fnl_pick32_f(t->p3, j));
    p = _mm512_fmadd_ps(p, r, fnl_pick32_f(t->p2, j));
    p = _mm512_fmadd_ps(p, r, fnl_pick32_f(t->p1, j));
    p = _mm512_fmadd_ps(p, r, fnl_pick32_f(t->p0, j));
    __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, fnl_pick32_f(t->low, j));
    *rest = _mm512_fmadd_ps(fnl_pick32_f(t->slope, j), r, s);
    return fnl_pick32_f(t->head, j);
}
/* f(a) rounded once */
FNL_INLINE16 __m512 fnl_pieces16_f(const fnl_pieces32_f *t, __m512 a) {
    __m512 rest, head = fnl_pieces16_parts_f(t, a, &rest);
    return _mm512_add_ps(head, rest);
}

static const fnl_pieces32_f fnl_tanh_pieces = {  /* tools/fit_float32_polynomials.py pieces tanh */
    .head = {
        0.0f, 0.08572657f, 0.10121473f, 0.11665399f,
        0.1397053f, 0.17020231f, 0.20037672f, 0.2301757f,
        0.2740616f, 0.33082113f, 0.38528398f, 0.43718877f,
        0.50983f, 0.59637356f, 0.6709671f, 0.7340715f,
        0.8093011f, 0.8798267f, 0.9253462f, 0.95404524f,
        0.9780261f, 0.99185973f, 0.99699765f, 0.99889445f,
        0.99975324f, 0.9999666f, 0.99999547f, 0.9999994f,
        0.99999994f, 1.0f, 1.0f, 1.0f,
    },
    .low = {
        0.0f, -2.6771008e-10f, 1.8210033e-09f, 2.3955529e-09f,
        2.4971984e-09f, -6.447206e-09f, -7.1596395e-10f, 7.2681714e-09f,
        -1.4723543e-09f, -9.205819e-09f, -1.05238165e-08f, 1.0794407e-08f,
        -2.4281102e-08f, -2.5651912e-09f, -2.7843907e-08f, 2.6455538e-08f,
        -8.117769e-09f, -2.4877282e-08f, 2.9613958e-08f, 2.4069262e-08f,
        2.2686354e-08f, -9.490172e-09f, -1.8951493e-08f, -1.03225535e-08f,
        -2.5922603e-08f, -2.4242622e-08f, 9.304407e-09f, -1.5758006e-08f,
        2.9144685e-08f, -5.578936e-10f, -1.0218178e-11f, -1.8715246e-13f,
    },
    .slope = {
        1.0f, 0.9926509f, 0.9897556f, 0.98639184f,
        0.9804824f, 0.9710312f, 0.9598492f, 0.94701916f,
        0.9248902f, 0.8905574f, 0.85155624f, 0.80886596f,
        0.7400734f, 0.6443386f, 0.5498032f, 0.461139f,
        0.34503177f, 0.22590497f, 0.14373437f, 0.08979764f,
        0.043464918f, 0.016214289f, 0.0059957164f, 0.002209893f,
        0.0004935277f, 6.680599e-05f, 9.041469e-06f, 1.2236345e-06f,
        6.10056e-08f, 1.1173567e-09f, 2.0465102e-11f, 3.748314e-13f,
    },
    .p0 = {
        0.0f, -0.0850969f, -0.100177914f, -0.11506658f,
        -0.13697879f, -0.16527167f, -0.19233139f, -0.21798073f,
        -0.25347698f, -0.29461515f, -0.32809103f, -0.35362715f,
        -0.37731162f, -0.38426647f, -0.36889982f, -0.33850902f,
        -0.2792346f, -0.19875723f, -0.13300405f, -0.085671015f,
        -0.042509817f, -0.016082298f, -0.0059777144f, -0.0022074496f,
        -0.0004934032f, -6.680338e-05f, -9.041378e-06f, -1.223627e-06f,
        -6.098558e-08f, -1.11699e-09f, -2.0458385e-11f, -3.7470838e-13f,
    },
    .p1 = {
        -0.33333305f, -0.3216414f, -0.3192989f, -0.3150753f,
        -0.30721733f, -0.29578915f, -0.28154397f, -0.2657899f,
        -0.23872489f, -0.19946998f, -0.15734632f, -0.11501291f,
        -0.054311235f, 0.0143605545f, 0.064239435f, 0.09478766f,
        0.11097709f, 0.09957274f, 0.0751631f, 0.051802453f,
        0.027087688f, 0.010546302f, 0.003960985f, 0.0014682898f,
        0.00032842963f, 4.4485394e-05f, 6.0211273e-06f, 8.148836e-07f,
        3.989562e-08f, 7.3071366e-10f, 1.3383484e-11f, 2.451271e-13f,
    },
    .p2 = {
        -2.676038e-05f, 0.07870282f, 0.0703504f, 0.07761131f,
        0.091890976f, 0.104083434f, 0.11986564f, 0.13253398f,
        0.15030026f, 0.1639803f, 0.17023265f, 0.16820855f,
        0.15348637f, 0.11948228f, 0.079843976f, 0.043274943f,
        0.003267667f, -0.02135218f, -0.025217079f, -0.020863881f,
        -0.012323087f, -0.0051f, -0.0019566596f, -0.0007309001f,
        -0.00016407564f, -2.2242803e-05f, -3.0109181e-06f, -4.074958e-07f,
        -1.999013e-08f, -3.66132e-10f, -6.7059427e-12f, -1.2282365e-13f,
    },
    .p3 = {
        0.1341867f, -25.402552f, -6.1728806f, -3.8015902f,
        -1.439936f, 0.894408f, 0.5268377f, 1.0316218f,
        -0.025800742f, 0.09952226f, -0.07402713f, -0.02319246f,
        -0.04665634f, -0.056251075f, -0.0601542f, -0.055298053f,
        -0.032157525f, -0.009592643f, 0.0014373882f, 0.0045631235f,
        0.0039778617f, 0.0019143525f, 0.0007704565f, 0.00029262857f,
        6.8285386e-05f, 9.277324e-06f, 1.2562053e-06f, 1.700206e-07f,
        9.558215e-09f, 1.7506507e-10f, 3.206431e-12f, 5.87278e-14f,
    },
    .p4 = {
        -0.011345065f, -296.1592f, -60.510353f, -32.538773f,
        -10.7376995f, 4.2840123f, 2.0149474f, 3.9616535f,
        -0.36126867f, 0.08713553f, -0.23820245f, -0.08855893f,
        -0.041252766f, -0.0060764537f, 0.009587341f, 0.014843076f,
        0.018458264f, 0.010961993f, 0.0040959055f, 0.00063892984f,
        -0.00071692164f, -0.00054535415f, -0.00024364545f, -9.572616e-05f,
        -2.2612958e-05f, -3.083406e-06f, -4.1773706e-07f, -5.654323e-08f,
        -3.1606484e-09f, -5.788939e-11f, -1.0602798e-12f, -1.9419687e-14f,
    },
};
/* largest relative error of a piece's rounded fit: 8.01e-10 (0.0134 float32 ulp) */

/* tanh of 16 float32: a clamped at 16 (tanh rounds to 1 from 9.01 on: an
   infinite a would make r infinite; vminps keeps a NaN in its second
   operand), the sign of x put back (tanh(-0) = -0) */
FNL_INLINE16 __m512 fnl_tanh16_f(__m512 x) {
    __m512 a = _mm512_min_ps(_mm512_set1_ps(FNL_PIECES_END), fnl_abs16_f(x));
    return _mm512_or_ps(fnl_pieces16_f(&fnl_tanh_pieces, a), _mm512_and_ps(_mm512_set1_ps(-0.0f), x));
}

static const fnl_pieces32_f fnl_tanhshrink_pieces = {  /* tools/fit_float32_polynomials.py pieces tanhshrink */
    .head = {
        0.0f, 0.00021093365f, 0.00034776892f, 0.00053351134f,
        0.00091969717f, 0.0016726915f, 0.0027482815f, 0.004199289f,
        0.007188411f, 0.012928883f, 0.020966034f, 0.031561214f,
        0.052670028f, 0.09112644f, 0.14153293f, 0.20342848f,
        0.31569892f, 0.4951733f, 0.6996538f, 0.92095476f,
        1.2719738f, 1.7581403f, 2.2530024f, 2.7511055f,
        3.5002468f, 4.5000334f, 5.5000043f, 6.5000005f,
        8.0f, 10.0f, 12.0f, 14.0f,
    },
    .low = {
        0.0f, 5.77561e-12f, 1.2537992e-11f, -9.038689e-12f,
        5.7309244e-12f, 4.4363162e-11f, 1.7472045e-11f, 1.8240941e-10f,
        7.537049e-11f, -1.07406126e-10f, -6.52054e-10f, 3.8146386e-10f,
        -1.7959313e-09f, 2.5651912e-09f, -1.9584148e-09f, 3.3467846e-09f,
        8.117769e-09f, -4.925041e-09f, -2.9613958e-08f, -2.4069262e-08f,
        3.691829e-08f, -5.0114473e-08f, -4.0653152e-08f, 1.03225535e-08f,
        2.5922603e-08f, 2.4242622e-08f, 2.2911418e-07f, 1.349673e-07f,
        3.0459958e-08f, 5.578936e-10f, 1.0218178e-11f, 1.8715246e-13f,
    },
    .slope = {
        0.0f, 0.007349044f, 0.010244422f, 0.013608153f,
        0.01951757f, 0.028968826f, 0.04015083f, 0.05298086f,
        0.07510976f, 0.109442614f, 0.14844373f, 0.19113404f,
        0.2599266f, 0.35566142f, 0.4501968f, 0.538861f,
        0.6549682f, 0.774095f, 0.85626566f, 0.9102024f,
        0.9565351f, 0.9837857f, 0.9940043f, 0.9977901f,
        0.9995065f, 0.9999332f, 0.99999094f, 0.99999875f,
        0.99999994f, 1.0f, 1.0f, 1.0f,
    },
    .p0 = {
        0.0f, 0.08509655f, 0.10017784f, 0.11506654f,
        0.13697858f, 0.16527174f, 0.19233142f, 0.21798082f,
        0.25347692f, 0.2946152f, 0.32809094f, 0.35362715f,
        0.37731153f, 0.3842665f, 0.3688998f, 0.33850896f,
        0.27923456f, 0.1987572f, 0.13300408f, 0.08567104f,
        0.04250984f, 0.016082285f, 0.0059777247f, 0.002207446f,
        0.0004934089f, 6.6799956e-05f, 9.037897e-06f, 1.2192927e-06f,
        6.1106235e-08f, 1.2277043e-09f, 2.2145319e-11f, 4.0113664e-13f,
    },
    .p1 = {
        0.0f, 0.3235948f, 0.31978735f, 0.31538066f,
        0.30770597f, 0.29554477f, 0.28142193f, 0.26548463f,
        0.2388163f, 0.19937833f, 0.15746848f, 0.115012996f,
        0.05434185f, -0.014391182f, -0.0642394f, -0.09475707f,
        -0.110969394f, -0.0995651f, -0.07517076f, -0.05180818f,
        -0.02708891f, -0.010544835f, -0.0039625946f, -0.0014677114f,
        -0.00032844552f, -4.4306125e-05f, -5.725214e-06f, -3.6570873e-07f,
        -4.5395414e-08f, -5.198735e-09f, -9.521811e-11f, -1.7439391e-12f,
    },
    .p2 = {
        0.0f, -0.055814818f, -0.06544892f, -0.07507958f,
        -0.0883914f, -0.10537795f, -0.12035047f, -0.1339698f,
        -0.15006338f, -0.16424365f, -0.16985865f, -0.16821954f,
        -0.1533931f, -0.1195188f, -0.079813994f, -0.043214742f,
        -0.0032583624f, 0.021360686f, 0.025209047f, 0.020857966f,
        0.012321773f, 0.0051008295f, 0.001955987f, 0.0007311315f,
        0.00016400265f, 2.2293914e-05f, 3.0660651e-06f, 4.7678185e-07f,
        1.9442808e-08f, -7.7956475e-11f, -6.411957e-14f, 1.6745433e-14f,
    },
    .p3 = {
        0.0f, -0.20694993f, -0.23146476f, -0.2023781f,
        -0.16200127f, -0.09316461f, -0.12692651f, -0.031045645f,
        -0.04904781f, -0.024387384f, -0.02609631f, 0.02308886f,
        0.040375862f, 0.06253417f, 0.060142852f, 0.049027205f,
        0.031761818f, 0.009200915f, -0.0010443069f, -0.0042698765f,
        -0.0039619836f, -0.0019334066f, -0.00075004186f, -0.00030011302f,
        -6.823955e-05f, -9.861599e-06f, -2.204752e-06f, -1.6078578e-06f,
        -5.198981e-09f, 3.3992966e-09f, 6.226023e-11f, 1.1402838e-12f,
    },
    .p4 = {
        0.0f, -3.5594487f, -3.8305476f, -1.1386178f,
        -0.8412065f, 0.05807507f, -0.43062213f, 0.7061187f,
        0.16962221f, 0.13496532f, -0.07079355f, 0.10135871f,
        0.022007711f, 0.014069698f, -0.015682956f, -0.027101092f,
        -0.018970717f, -0.011415956f, -0.0036765456f, -0.0003318977f,
        0.0007329382f, 0.00053478475f, 0.00025235125f, 9.2805196e-05f,
        2.282145e-05f, 2.9256569e-06f, 2.4203766e-07f, -1.6511527e-07f,
        3.6217258e-09f, 4.13669e-10f, 6.485417e-12f, 1.0441903e-13f,
    },
};
/* largest relative error of a piece's rounded fit: 3.47e-09 (0.0583 float32 ulp) */

/* tanhshrink x - tanh(x) of 16 float32, by pieces of a - tanh(a) from 5/64
   to 16 (a - 1 beyond, exact and correctly rounded: the rest, 2 exp(-2a),
   is below 2^-45 there; inf stays inf). Below 5/64, piece 0, the series
   a^3 (1/3 - 2/15 y + 17/315 y^2 - 62/2835 y^3), y = a^2, in float64 (its
   next term is 1e-11 of the sum) and rounded once: in float32 the rounding
   of 1/3 alone would cost half an ulp there. Taken only for vectors with
   such a lane. */
FNL_INLINE16 __m512 fnl_tanhshrink16_f(__m512 x) {
    __m512 a = fnl_abs16_f(x);
    __m512 y = fnl_pieces16_f(&fnl_tanhshrink_pieces, a);
    __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(FNL_PIECE0_END), _CMP_LT_OQ);
    y = _mm512_mask_sub_ps(y, _mm512_cmp_ps_mask(a, _mm512_set1_ps(FNL_PIECES_END), _CMP_GE_OQ),
                           a, _mm512_set1_ps(1.0f));
    if (small) {
        __m512d half[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
                           _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1))};
        __m256 low[2];
        for (int k = 0; k < 2; k++) {
            __m512d v = half[k], w = _mm512_mul_pd(v, v);
            __m512d s = _mm512_fmadd_pd(_mm512_set1_pd(-0.021869488536155203), w,
                                        _mm512_set1_pd(0.05396825396825397));
            s = _mm512_fmadd_pd(s, w, _mm512_set1_pd(-0.13333333333333333));
            s = _mm512_fmadd_pd(s, w, _mm512_set1_pd(0.3333333333333333));
            low[k] = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(w, v), s));
        }
        y = _mm512_mask_mov_ps(y, small, _mm512_insertf32x8(_mm512_castps256_ps512(low[0]), low[1], 1));
    }
    return _mm512_or_ps(y, _mm512_and_ps(_mm512_set1_ps(-0.0f), x));
}

static const fnl_pieces32_f fnl_tanh2_pieces = {  /* tools/fit_float32_polynomials.py pieces tanh2 */
    .head = {
        0.0f, 0.007349044f, 0.010244422f, 0.013608153f,
        0.01951757f, 0.028968826f, 0.04015083f, 0.05298086f,
        0.07510976f, 0.109442614f, 0.14844373f, 0.19113404f,
        0.2599266f, 0.35566142f, 0.4501968f, 0.538861f,
        0.6549682f, 0.774095f, 0.85626566f, 0.9102024f,
        0.9565351f, 0.9837857f, 0.9940043f, 0.9977901f,
        0.9995065f, 0.9999332f, 0.99999094f, 0.99999875f,
        0.99999994f, 1.0f, 1.0f, 1.0f,
    },
    .low = {
        0.0f, 9.275652e-11f, 1.2476961e-10f, 9.467297e-11f,
        9.0432695e-10f, -1.4942891e-10f, 6.654731e-10f, -8.8344976e-10f,
        -2.9393055e-09f, -2.2391842e-09f, 5.978957e-09f, -1.7336245e-09f,
        1.4775677e-08f, -4.3392836e-09f, 1.2053613e-08f, 1.9198213e-08f,
        2.0115642e-08f, 2.2583986e-08f, -2.740196e-08f, -2.552323e-08f,
        -1.982579e-08f, 2.4343414e-08f, -2.4011674e-08f, 9.5188835e-09f,
        9.059681e-09f, 1.2235151e-08f, 1.8629251e-08f, 2.8089007e-08f,
        -1.3152723e-09f, -1.1157872e-09f, -2.0436356e-11f, -3.7430492e-13f,
    },
    .slope = {
        0.0f, 0.17019312f, 0.2003557f, 0.23013309f,
        0.2739572f, 0.3305435f, 0.38466287f, 0.4359616f,
        0.5069538f, 0.58923036f, 0.65618193f, 0.70725423f,
        0.7546232f, 0.768533f, 0.73779964f, 0.67701805f,
        0.5584692f, 0.39751446f, 0.2660081f, 0.17134203f,
        0.08501962f, 0.032164596f, 0.01195543f, 0.0044148997f,
        0.0009868115f, 0.00013360751f, 1.8082856e-05f, 2.4472674e-06f,
        1.220112e-07f, 2.2347133e-09f, 4.0930204e-11f, 7.496628e-13f,
    },
    .p0 = {
        0.0f, 0.97076595f, 0.95933723f, 0.94612294f,
        0.9230726f, 0.8866422f, 0.8442331f, 0.79649746f,
        0.7164854f, 0.5981625f, 0.4723316f, 0.3450604f,
        0.16297902f, -0.04316052f, -0.19275579f, -0.28433043f,
        -0.33292282f, -0.2987108f, -0.22549002f, -0.15540443f,
        -0.081262186f, -0.03163986f, -0.011883584f, -0.004405134f,
        -0.0009863187f, -0.00013359783f, -1.8082592e-05f, -2.4472513e-06f,
        -1.2197115e-07f, -2.23398e-09f, -4.091677e-11f, -7.4941675e-13f,
    },
    .p1 = {
        0.0f, -0.22473758f, -0.26332137f, -0.30056477f,
        -0.35464397f, -0.42146662f, -0.4821986f, -0.53501016f,
        -0.59976465f, -0.65657574f, -0.6800177f, -0.67253345f,
        -0.6138429f, -0.47804523f, -0.31939808f, -0.17308213f,
        -0.013070372f, 0.085409306f, 0.10086887f, 0.083456054f,
        0.049293365f, 0.020399978f, 0.007826576f, 0.002923571f,
        0.0006562209f, 8.8959074e-05f, 1.204204e-05f, 1.6297645e-06f,
        7.979123e-08f, 1.4614273e-09f, 2.6766969e-11f, 4.902542e-13f,
    },
    .p2 = {
        0.0f, -0.63235f, -0.6148919f, -0.5917522f,
        -0.5607409f, -0.5097342f, -0.45717788f, -0.3933487f,
        -0.2952255f, -0.15917993f, -0.029163424f, 0.08646263f,
        0.21852215f, 0.30872548f, 0.31394526f, 0.26547897f,
        0.15985124f, 0.04692219f, -0.0073740324f, -0.023167934f,
        -0.019945458f, -0.009516763f, -0.003818467f, -0.0014488732f,
        -0.00032751312f, -4.4473887e-05f, -6.0216225e-06f, -8.14984e-07f,
        -3.9980243e-08f, -7.32264e-10f, -1.3411885e-11f, -2.456473e-13f,
    },
    .p3 = {
        0.0f, 4.321447f, 3.9647565f, 0.0337395f,
        0.4917832f, -0.0147388885f, 1.0450085f, 0.15293582f,
        0.4146598f, 0.35620603f, 0.3321922f, 0.24684913f,
        0.21781942f, 0.071564354f, -0.048529882f, -0.09606372f,
        -0.110806964f, -0.06583713f, -0.024614045f, -0.003881386f,
        0.0042874347f, 0.0032727586f, 0.0014627667f, 0.00057475246f,
        0.00013596193f, 1.854352e-05f, 2.5122079e-06f, 3.40034e-07f,
        1.9116419e-08f, 3.5013015e-10f, 6.412862e-12f, 1.174556e-13f,
    },
    .p4 = {
        0.0f, 90.722984f, 69.8689f, 2.9482098f,
        3.2045562f, -3.3305354f, 7.306429f, -1.4152298f,
        -0.045952156f, -0.47733414f, -0.39658383f, -0.5422875f,
        -0.23213854f, -0.18085869f, -0.12318139f, -0.03694424f,
        0.0174735f, 0.033177383f, 0.020430738f, 0.008350343f,
        0.00078509195f, -0.0007335878f, -0.000435054f, -0.00018379063f,
        -4.4820157e-05f, -6.1594133e-06f, -8.353353e-07f, -1.130955e-07f,
        -6.321292e-09f, -1.1577877e-10f, -2.1205596e-12f, -3.8839374e-14f,
    },
};
/* largest relative error of a piece's rounded fit: 1.57e-09 (0.0264 float32 ulp) */

/* tanhshrink's gradient g tanh(x)^2 for 16 float32, tanh^2 by pieces of
   its own, a clamped at 16 as tanh's (tanh^2 rounds to 1 from 9.4 on).
   Below 5/64 (piece 0) a^2 + a^2 c, c = -2/3 y + 17/45 y^2 - 62/315 y^3,
   y = a^2 (the series; its next term is 4e-10 of the sum), with a^2 exact
   in the FMA: r^2 rounded first cost up to 1.95 ulp there. */
FNL_INLINE16 __m512 fnl_tanhshrink_backward16_f(__m512 g, __m512 x) {
    __m512 a = _mm512_min_ps(_mm512_set1_ps(FNL_PIECES_END), fnl_abs16_f(x));
    __m512 y = _mm512_mul_ps(a, a);
    __m512 c = _mm512_fmadd_ps(_mm512_set1_ps(-62.0f / 315), y, _mm512_set1_ps(17.0f / 45));
    c = _mm512_mul_ps(_mm512_fmadd_ps(c, y, _mm512_set1_ps(-2.0f / 3)), y);
    __m512 small = _mm512_fmadd_ps(a, a, _mm512_mul_ps(y, c));
    __mmask16 in0 = _mm512_cmp_ps_mask(a, _mm512_set1_ps(FNL_PIECE0_END), _CMP_LT_OQ);
    return _mm512_mul_ps(g, _mm512_mask_mov_ps(fnl_pieces16_f(&fnl_tanh2_pieces, a), in0, small));
}

static const fnl_pieces32_f fnl_gelu_slope_pieces = {  /* tools/fit_float32_polynomials.py pieces gelu_slope */
    .head = {
        -0.665078f, -0.6505885f, -0.6480957f, -0.6456441f,
        -0.642042f, -0.6373753f, -0.63285804f, -0.628484f,
        -0.6221785f, -0.6142192f, -0.6067346f, -0.5996876f,
        -0.5898648f, -0.5780104f, -0.5673924f, -0.5578419f,
        -0.54521453f, -0.5309713f, -0.51907206f, -0.5090114f,
        -0.49657187f, -0.48361647f, -0.47358352f, -0.4656095f,
        -0.4563345f, -0.4472929f, -0.44067803f, -0.4356377f,
        -0.4299942f, -0.42469767f, -0.4209383f, -0.4181336f,
    },
    .low = {
        -1.0798396e-08f, -2.8481734e-08f, 9.915916e-09f, 2.516913e-08f,
        -2.0371761e-08f, 1.2234987e-08f, -8.763822e-09f, -4.8074473e-09f,
        -2.3753422e-08f, -2.428722e-08f, -2.3586258e-08f, 1.0220192e-08f,
        2.472487e-08f, -1.1474526e-08f, -2.4724056e-08f, -2.0389608e-08f,
        2.2391697e-08f, -7.456598e-09f, 2.5995812e-08f, 1.8194092e-08f,
        -7.513717e-09f, -2.6386373e-09f, 5.1644986e-09f, -6.7227095e-09f,
        -6.291873e-09f, 1.3193575e-08f, 7.152207e-09f, 1.4465899e-08f,
        4.190091e-09f, 3.8338537e-09f, -1.4504564e-09f, -1.4315828e-08f,
    },
    .slope = {
        0.17665344f, 0.1608789f, 0.15821235f, 0.15560377f,
        0.15179633f, 0.14690892f, 0.14222766f, 0.13774212f,
        0.1313595f, 0.12344747f, 0.11615906f, 0.10943554f,
        0.100296296f, 0.08964328f, 0.0804685f, 0.07252763f,
        0.06250598f, 0.05189514f, 0.043632217f, 0.037101064f,
        0.029638182f, 0.02263274f, 0.017780004f, 0.014299197f,
        0.010689164f, 0.0076435436f, 0.0057227137f, 0.0044384175f,
        0.0031884175f, 0.0021991052f, 0.0016064506f, 0.00122411f,
    },
    .p0 = {
        -0.09756161f, -0.086273916f, -0.084393896f, -0.082562976f,
        -0.07990548f, -0.07652072f, -0.0733075f, -0.070255876f,
        -0.065961294f, -0.06071893f, -0.055973843f, -0.051672284f,
        -0.045949623f, -0.03947517f, -0.034085125f, -0.029573448f,
        -0.024105972f, -0.018630046f, -0.014624017f, -0.011643141f,
        -0.008470658f, -0.0057617147f, -0.004069506f, -0.0029669967f,
        -0.0019404611f, -0.0011857568f, -0.0007734838f, -0.000530817f,
        -0.00032471732f, -0.00018670391f, -0.000116836774f, -7.783127e-05f,
    },
    .p1 = {
        0.047068432f, 0.04083383f, 0.03932632f, 0.038765483f,
        0.0370315f, 0.035205033f, 0.033337377f, 0.031810034f,
        0.029395856f, 0.026594238f, 0.024090277f, 0.02183595f,
        0.018928876f, 0.015715357f, 0.01312094f, 0.011015986f,
        0.0085493075f, 0.006201632f, 0.004578754f, 0.0034356855f,
        0.0022955814f, 0.0014036689f, 0.00089785736f, 0.0005968821f,
        0.00034378885f, 0.00018062776f, 0.000103091705f, 6.2781866e-05f,
        3.2800985e-05f, 1.576128e-05f, 8.462013e-06f, 4.933013e-06f,
    },
    .p2 = {
        -0.019349976f, -0.01720444f, -0.01663956f, -0.016416222f,
        -0.015544383f, -0.014679349f, -0.013776735f, -0.013032237f,
        -0.011894552f, -0.010596535f, -0.009452515f, -0.008440949f,
        -0.007148813f, -0.005759641f, -0.0046657356f, -0.0038012639f,
        -0.0028242941f, -0.0019347505f, -0.0013510277f, -0.0009602842f,
        -0.00059330085f, -0.0003285941f, -0.00019151438f, -0.000116667245f,
        -5.9523583e-05f, -2.703934e-05f, -1.3553397e-05f, -7.345722e-06f,
        -3.2870005e-06f, -1.323098e-06f, -6.103477e-07f, -3.116576e-07f,
    },
    .p3 = {
        -0.0048941765f, -2.513604f, 3.3059967f, -2.867755f,
        0.086461f, -0.106037766f, 0.19551454f, -0.28260913f,
        2.0061454e-05f, -0.0058636633f, -0.0052784407f, 0.010968002f,
        0.0026596035f, 0.0022213638f, 0.0016280123f, 0.00059978775f,
        0.00085740874f, 0.00055474543f, 0.00036132513f, 0.00024760247f,
        0.00014847663f, 7.524519e-05f, 4.0208277e-05f, 2.2559665e-05f,
        1.020783e-05f, 4.026924e-06f, 1.7616062e-06f, 8.6211475e-07f,
        3.3218973e-07f, 1.1163832e-07f, 4.4261327e-08f, 1.9659183e-08f,
    },
    .p4 = {
        0.053705532f, -0.6429585f, -1.4196516f, 1.7755035f,
        0.009618333f, 0.12339325f, -0.033737108f, 0.11337913f,
        -0.003528318f, -0.00017116148f, 0.0004734655f, -0.0024918409f,
        -0.0009779418f, -0.00050650135f, -0.0004706736f, -0.00037685357f,
        -0.00025340277f, -0.00015713289f, -9.812779e-05f, -6.445563e-05f,
        -3.5291883e-05f, -1.623317e-05f, -7.965652e-06f, -4.1111734e-06f,
        -1.6860693e-06f, -5.8069753e-07f, -2.2729715e-07f, -9.8268295e-08f,
        -3.2916482e-08f, -9.2904475e-09f, -3.1656253e-09f, -1.2384845e-09f,
    },
};
/* largest relative error of a piece's rounded fit: 1.42e-10 (0.00238 float32 ulp) */

/* gelu's derivative for 16 float32: gelu'(-z) = Phi(-z) - z phi(z) =
   exp(-z^2/2) (z - z0) R(z), z = |x|, and gelu'(z) = 1 - gelu'(-z). R is
   smooth through the zero z0 (tools/fit_float32_polynomials.py pieces
   gelu_slope), read by pieces as a float32 pair; z - z0 is a pair too (z0
   = Z0 - Z0_EXCESS, Knuth's two-sum) and exp(-z^2/2) = 2^-64 s (1 + q) the
   clones' (fnl_exp_halfsq_f, in 16 lanes: the same operations), so that
   their product, to first order in the tails, is rounded once (and again
   by 2^-64 below the normal range). z is clamped at 15 as the clones'
   (fnl_gelu_abs_f: there the result rounds to 0 or 1), a NaN kept (it
   gives NaN); x = -inf gives 0 and +inf g, as the clones do. */
FNL_INLINE16 __m512 fnl_gelu_backward16_f(__m512 g, __m512 x) {
    __m512 z = _mm512_min_ps(_mm512_set1_ps(15.0f), fnl_abs16_f(x));  /* NaN stays NaN */
    /* exp(-z^2/2) as fnl_exp_halfsq_f computes it */
    __m512 h = _mm512_mul_ps(z, z), l = _mm512_fmsub_ps(z, z, h);
    __m512 kb = _mm512_fmadd_ps(h, _mm512_set1_ps(-0.5f * FNL_LOG2E_F), _mm512_set1_ps(FNL_MAGIC_F));
    __m512 k = _mm512_sub_ps(kb, _mm512_set1_ps(FNL_MAGIC_F));
    __m512 rho = _mm512_fmadd_ps(k, _mm512_set1_ps(2 * FNL_LN2HI_F), h);
    rho = _mm512_add_ps(_mm512_fmadd_ps(k, _mm512_set1_ps(2 * FNL_LN2LO_F), rho), l);
    __m512 e = _mm512_fmadd_ps(_mm512_set1_ps(FNL_EXP_HALFSQ_E5), rho, _mm512_set1_ps(FNL_EXP_HALFSQ_E4));
    e = _mm512_fmadd_ps(e, rho, _mm512_set1_ps(FNL_EXP_HALFSQ_E3));
    e = _mm512_fmadd_ps(e, rho, _mm512_set1_ps(FNL_EXP_HALFSQ_E2));
    e = _mm512_fmadd_ps(e, rho, _mm512_set1_ps(FNL_EXP_HALFSQ_E1));
    e = _mm512_fmadd_ps(e, rho, _mm512_set1_ps(-0.5f));
    __m512 q = _mm512_mul_ps(rho, e);
    __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(kb),
        _mm512_set1_epi32(64 + 127 - (int32_t)FNL_MAGICBITS_F)), 23));
    /* z - z0 = zd + zdl (Z0 - z0 = 1.2114e-8, below Z0's ulp) */
    const float Z0 = 0.75179154f, Z0_EXCESS = 1.211444945855772e-08f;
    __m512 zd = _mm512_sub_ps(z, _mm512_set1_ps(Z0)), zv = _mm512_sub_ps(zd, z);
    __m512 zdl = _mm512_add_ps(_mm512_sub_ps(z, _mm512_sub_ps(zd, zv)),
                               _mm512_sub_ps(_mm512_set1_ps(-Z0), zv));
    zdl = _mm512_add_ps(zdl, _mm512_set1_ps(Z0_EXCESS));
    /* (zd + zdl) (Rh + Rl) (1 + q) = P + c, P = zd Rh and c = P q + cs (1
       + q), cs the small terms of the first factors' product (q, up to
       0.4, is not small; nor is Rl, the piece's S r + ..., up to 2% of
       Rh: zdl takes the sum, which counts at the zero, where zd = 0) */
    __m512 Rl, Rh = fnl_pieces16_parts_f(&fnl_gelu_slope_pieces, z, &Rl);
    __m512 P = _mm512_mul_ps(zd, Rh), Pl = _mm512_fmsub_ps(zd, Rh, P);
    __m512 cs = _mm512_fmadd_ps(zd, Rl, _mm512_fmadd_ps(zdl, _mm512_add_ps(Rh, Rl), Pl));
    __m512 c = _mm512_fmadd_ps(P, q, _mm512_fmadd_ps(cs, q, cs));
    __m512 two_m64 = _mm512_set1_ps(FNL_TWO_M64_F);
    __m512 neg = _mm512_mul_ps(_mm512_fmadd_ps(P, s, _mm512_mul_ps(c, s)), two_m64);
    /* 1 - (t + tc), t = P 2^k in [-0.09, 0.5]: Fast2Sum, then one rounding */
    __m512 sk = _mm512_mul_ps(s, two_m64), one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_mul_ps(P, sk), tc = _mm512_mul_ps(c, sk), w = _mm512_sub_ps(one, t);
    __m512 pos = _mm512_add_ps(w, _mm512_sub_ps(_mm512_sub_ps(_mm512_sub_ps(one, w), t), tc));
    __mmask16 negative = _mm512_movepi32_mask(_mm512_castps_si512(x));
    __m512 r = _mm512_mul_ps(g, _mm512_mask_mov_ps(pos, negative, neg));
    /* at -inf the limit 0 (g 0 would be NaN for an infinite g, -0.0 for a
       negative one); +inf gives g 1 */
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ),
                              _mm512_setzero_ps());
}

#endif

/* ---------------------------------------------------------------- sigmoid */

/* sigmoid(x) = (x >= 0 ? 1 : e) / (1 + e), e = exp(-|x|): never overflows.
   Plain, within 2.4 ulp in float32 (exp's own 0.91, then 1 + e and the
   quotient rounded): a building block of silu's derivative, gelu_tanh and
   the losses, and fnl_sigmoid_f for any x (the losses' scalar sigmoid). */
FNL_INLINE float fnl_logistic_f(float x, float e) {
    return (x >= 0 ? 1.0f : e) / (1 + e);  /* e = exp(-|x|) */
}
FNL_INLINE float fnl_sigmoid_f(float x) {
    return fnl_logistic_f(x, fnl_exp_nonpos_f(-FNL_FABSF(x)));
}
/* The float32 sigmoid activation, and silu, glu and the derivatives of
   softplus and logsigmoid, within 1 ulp (0.71 at most, silu 0.77, 99.97%
   correctly rounded, every float32), in two stages (their loops run them
   as two loops of a few hundred elements, fastnl/_ops.py): e = exp(-|x|)
   as a pair (the same for x and -x), then n / (1 + e), n = 1 or e, as
   q = nh (1 / d) corrected by its residual (n - q d exact as an FMA). For
   |x| <= 80, where exp(-|x|) is a normal pair (fnl_exp_pair_f); the loops
   send larger |x|, and NaN, to fnl_sigmoid_rare_f. On Zen 2 (10^5 in
   cache, one thread) 85 us against the plain form's 62 and torch's 90.
   1 / d from a cubic in d and one Newton step instead of the division
   took the same time (C harness, AVX-512): the loop is bound by its
   instruction count, not by the divider. Also measured there (Xeon, 10^5,
   one thread) and not taken: the two stages as one loop, 1.12-1.21 times
   the time; the exp pair from a 2^(j/32) table read by permutes (|r| <=
   ln2/64, so r + r^2/2 + r^3/6, in 16-lane intrinsics), 0.92-1.0 times:
   34 vector operations per 16 elements against 40, and the two 512-bit
   ports bound both. */
FNL_INLINE float fnl_sigmoid_pre_f(float x, float *b) {
    return fnl_exp_pair_f(-FNL_FABSF(x), b);
}
/* e = a + b normalised, eh + *el, and 1 + e = *d + *dl (both Fast2Sum:
   a >= |b|, e <= 1) */
FNL_INLINE float fnl_one_plus_pair_f(float a, float b, float *el, float *d, float *dl) {
    float eh = a + b;
    *el = (a - eh) + b;
    *d = 1.0f + eh;
    *dl = ((1.0f - *d) + eh) + *el;
    return eh;
}
/* the quotient q and its correction r v, sigmoid(x) = q + r v before the
   last rounding (silu rounds x q + x r v once) */
FNL_INLINE float fnl_sigmoid_parts_f(float x, float a, float b, float *r, float *v) {
    float el, d, dl, eh = fnl_one_plus_pair_f(a, b, &el, &d, &dl);
    int neg = fnl_sign_bit_f(x);
    float nh = neg ? eh : 1.0f, nl = neg ? el : 0.0f;
    float q;
    *v = 1.0f / d;
    q = nh * *v;
    *r = __builtin_fmaf(-q, dl, __builtin_fmaf(-q, d, nh) + nl);
    return q;
}
FNL_INLINE float fnl_sigmoid_post_f(float x, float a, float b) {
    float r, v, q = fnl_sigmoid_parts_f(x, a, b, &r, &v);
    return __builtin_fmaf(r, v, q);
}
/* sigmoid(x) within 2 ulp, for the derivatives that are one (softplus',
   logsigmoid' = sigmoid(-x)), from e = exp(-|x|) alone
   (fnl_exp_nonpos_normal_f, |x| <= 80): 1 + e's rounding kept and the
   quotient corrected by its residual, so that e's own error (0.9 ulp) and
   the last rounding remain: 1.48 ulp over every float32 of |x| < 80, 96.6%
   correctly rounded; the pair form above (0.71 ulp, which the forward needs
   for 1) took 1.15 times the time (C harness, 10^5, one thread, AVX-512:
   48.5 against 42.2 us), and the pair form given a zero tail the same bits
   in 1.08 times (its additions of 0 do not fold away). */
FNL_INLINE float fnl_sigmoid_from_exp_f(float x, float e) {
    float d = 1.0f + e, dl = (1.0f - d) + e;
    float n = fnl_sign_bit_f(x) ? e : 1.0f, v = 1.0f / d, q = n * v;
    return __builtin_fmaf(__builtin_fmaf(-q, dl, __builtin_fmaf(-q, d, n)), v, q);
}
/* sigmoid(x), and sigmoid(-x) in *neg, from one pair: the quotients 1 / (1
   + e) and e / (1 + e), each corrected as above, assigned by x's sign (the
   same bits as two fnl_sigmoid_post_f, with two selects instead of eight
   operations; glu's gradient) */
FNL_INLINE float fnl_sigmoid_both_f(float x, float a, float b, float *neg) {
    float el, d, dl, eh = fnl_one_plus_pair_f(a, b, &el, &d, &dl);
    float v = 1.0f / d, qe = eh * v;
    float big = __builtin_fmaf(__builtin_fmaf(-v, dl, __builtin_fmaf(-v, d, 1.0f)), v, v);
    float small = __builtin_fmaf(__builtin_fmaf(-qe, dl, __builtin_fmaf(-qe, d, eh) + el), v, qe);
    int sx = fnl_sign_bit_f(x);
    *neg = sx ? big : small;
    return sx ? small : big;
}
/* whether x is beyond the pair's range (or NaN): the loops' condition for
   the fix-up, fnl_sigmoid_rare_f, float64 libm rounded once (within 1/2
   ulp but for double rounding, subnormal results included) */
#define FNL_BEYOND_SIGMOID_PAIR_F(x) (!(FNL_FABSF(x) <= 80.0f))
static inline double fnl_sigmoid_libm_d(double x) {
    return 1 / (1 + exp(-x));
}
static inline float fnl_sigmoid_rare_f(float x) {
    return (float)fnl_sigmoid_libm_d(x);
}

/* 1/d for d in [1, 2] (d = 1 + e, e = exp(-|x|)) in float64 without a
   division: the linear seed 24/17 - 8/17 d (1/17 relative error at most)
   and three Newton steps v + v (1 - d v), each squaring the error (17^-8 =
   2^-32.7), for a quotient q = n v then corrected by its residual n - q d
   (an FMA), as fnl_logistic_split_d does: the correction leaves the
   reciprocal's error squared, 2^-65 of the result (a fourth step, which
   made v exact, took 6% more time in float64 sigmoid and 4-8% in silu and
   the softplus gradient; silu then returns x itself where 1 + e is 1).
   On AVX-512 a float64 vector division costs more than the nine FMAs of
   four steps where the rest is short (Xeon,
   10^5 in cache, one thread: sigmoid 116-120 -> 99-104 us, silu 121-124 ->
   111-117, the softplus and logsigmoid gradients 4-7% less); where the
   rest is long it overlaps the division, and the FMAs cost more (the tanh
   gradient through fnl_logistic_scaled_d: 220 -> 251-260 us; tanh as -M /
   (2 + M), M = expm1(-2|x|), D in (1, 2]: 190-196 -> 207-209). float32 keeps
   its division, which cost less than seven FMAs (sigmoid 45 -> 46-50 us).
   On AMD Zen 3 (AVX2) the division wins instead: float64 silu, 10^5 in a C
   harness staged as its loop, 224-247 -> 188-193 us. Not chosen per CPU:
   the two can differ in the last bit, which would then depend on the vendor. */
FNL_INLINE double fnl_recip_1to2_d(double d) {
    double v = fma(-0.47058823529411764, d, 1.411764705882353);
    v = fma(v, fma(-d, v, 1.0), v);
    v = fma(v, fma(-d, v, 1.0), v);
    return fma(v, fma(-d, v, 1.0), v);
}

/* float64: sigmoid(x) = q + *c, n / (1 + e) with n = 1 or e, e = exp(-|x|)
   (the caller's: silu's is normal only): 1 + e = d + dl exactly (Fast2Sum,
   e <= 1), q = n (1 / d), and the correction c = (n - q (d + dl)) / d from
   the quotient's residual (n - q d exact as an FMA). One reciprocal, 1 / d
   (fnl_recip_1to2_d, no division), which the correction reuses. Left is
   e's own error (0.51 ulp), so that q + c rounded once is within 1.5 ulp,
   where n / (1 + e) rounded twice reached 2.1 (1 + e's rounding counts up
   to 1 ulp of the result). Kept as a pair for silu, x q + x c with one
   rounding. fnl_logistic_scaled_d is the same correction
   with e itself a pair (within 2^-56, for gelu_tanh and the sigmoid and
   tanh derivatives, which need the last bits): a sigmoid built on it took
   1.45-1.5x the plain form's time, this one 1.16x. */
FNL_INLINE double fnl_logistic_split_d(double x, double e, double *c) {
    double n = x >= 0 ? 1.0 : e;
    double dl, d = fnl_one_plus_d(e, 0.0, &dl);
    double v = fnl_recip_1to2_d(d), q = n * v;
    *c = fma(-q, dl, fma(-q, d, n)) * v;
    return q;
}
/* s(z) + W s(z) s(-z), the derivative of x sigmoid(z(x)) with W = x z':
   silu's (z = W = x) and GELU's tanh form's (z = 2u, W = 2 x u'). From
   e + el = exp(-|z|) and W + Wl (el, Wl below the last bits of e, W),
   over the common denominator D^2, D = 1 + e: (D + W e) / D^2 for z >= 0
   (pos), e (D + W) / D^2 below. D, its square and the numerator are exact
   pairs (Fast2Sum for 1 + e and for D + W e, which D bounds for both
   callers; Knuth's two-sum for D + W; the products' errors by FMA), and
   the quotient is corrected by its residual: e's and W's own errors and one
   rounding remain, where s + W s(z) s(-z) rounded in turn reached 5-10 ulp
   as its terms half cancel. Not at the derivative's zero, where e (D + W)
   vanishes and e's error does not: there silu's window computes D + W
   itself and calls fnl_sigmoid_slope_quotient_d with it, gelu_tanh takes a
   polynomial window instead. Not free: 1.3 times the plain form's time in
   silu's float64 derivative (10^5, one thread, AVX-512). */
/* the quotient, given N + Nl = D + W */
FNL_INLINE double fnl_sigmoid_slope_quotient_d(int pos, double e, double el, double W, double Wl,
                                               double N, double Nl) {
    double Dl, D = fnl_one_plus_d(e, el, &Dl);
    double p = e * N, pl = fma(e, N, -p) + fma(e, Nl, el * N);
    double We = W * e, P = D + We;
    double Pl = ((D - P) + We) + (fma(W, e, -We) + (Dl + fma(Wl, e, W * el)));
    double num = pos ? P : p, num_lo = pos ? Pl : pl;
    double D2 = D * D, D2l = fma(D, D, -D2) + 2 * D * Dl;
    double inv = 1 / D2, q = num * inv;
    return fma(fma(-q, D2, num) - fma(q, D2l, -num_lo), inv, q);
}
/* D + W as an exact pair (Knuth's two-sum, D's and W's tails added) */
FNL_INLINE double fnl_slope_factor_d(double e, double el, double W, double Wl, double *Nl) {
    double Dl, D = fnl_one_plus_d(e, el, &Dl);
    double N = D + W, Nv = N - D;
    *Nl = ((D - (N - Nv)) + (W - Nv)) + (Dl + Wl);
    return N;
}
FNL_INLINE double fnl_x_sigmoid_slope_d(int pos, double e, double el, double W, double Wl) {
    double Nl, N = fnl_slope_factor_d(e, el, W, Wl, &Nl);
    return fnl_sigmoid_slope_quotient_d(pos, e, el, W, Wl, N, Nl);
}
/* in two stages, as float32's */
FNL_INLINE double fnl_sigmoid_pre_d(double x) {
    return fnl_exp_nonpos_d(-FNL_FABS(x));
}
FNL_INLINE double fnl_sigmoid_post_d(double x, double e) {
    double c, q = fnl_logistic_split_d(x, e, &c);
    return q + c;
}
FNL_INLINE double fnl_sigmoid_d(double x) {
    return fnl_sigmoid_post_d(x, fnl_sigmoid_pre_d(x));
}

/* ---------------------------------------------------------------- log(1 + exp(x)) */

/* log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): exp never overflows. The
   softplus activation (its float32 in float64, fnl_activations.h) and the
   losses' -log sigmoid. The float32 form stays in float32 arithmetic, 3 ulp
   per element: a loss sums it in float64, where 1/2 ulp per element would
   not show, and torch's float32 losses leave no time for float64 (it
   doubled soft_margin_loss's time). log1p(t), t in [0, 1], as
   2 s (1 + R(s^2)), s = t / (2 + t) in [0, 1/3], R to (1/9)^7 / 15. */
FNL_INLINE float fnl_log1p_exp_f(float x) {
    float t = fnl_exp_nonpos_f(-FNL_FABSF(x));
    float s = t / (2 + t), z = s * s;
    float R = z * ((((((0.06666666666666667f * z      /* 1/15 */
                        + 0.07692307692307693f) * z   /* 1/13 */
                        + 0.09090909090909091f) * z   /* 1/11 */
                        + 0.1111111111111111f) * z    /* 1/9 */
                        + 0.14285714285714285f) * z   /* 1/7 */
                        + 0.2f) * z                   /* 1/5 */
                        + 0.3333333333333333f);       /* 1/3 */
    return (x > 0 ? x : 0.0f) + __builtin_fmaf(2 * s, R, 2 * s);
}
/* in two stages as sigmoid: e = exp(-|x|) (fnl_sigmoid_pre_d), then the
   rest (the staged softplus loop) */
FNL_INLINE double fnl_log1p_exp_post_d(double x, double e) {
    return (x > 0 ? x : 0.0) + fnl_log1p_d(e);
}
FNL_INLINE double fnl_log1p_exp_d(double x) {
    return fnl_log1p_exp_post_d(x, fnl_sigmoid_pre_d(x));
}

#endif /* FNL_MATH_H */
