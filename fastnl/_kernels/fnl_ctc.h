/* fastnl: the time steps of the CTC loss (Graves et al. 2006), in log
   space and float64, for _ctc.pyx.

   A sample's target l of length S is extended with blanks to
   l' = (blank, l_1, blank, l_2, ..., l_S, blank), L = 2S + 1 states.
   alpha_t(s) is the log-probability of the prefixes that end in state s at
   time t, beta_t(s) that of the suffixes that start there (both include
   the emission at t, as torch's kernels have them):

     alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)]) + lp_t(l'_s)
     beta_t(s)  = lse(beta_{t+1}(s),  beta_{t+1}(s+1),  [beta_{t+1}(s+2)])  + lp_t(l'_s)

   where the bracketed term counts only between two different labels (a
   step over the blank between them).

   A row (one time step) keeps its S label states and its S + 1 blank
   states apart, each contiguous:

     row[0] = -inf, row[1 + k] = label state k (s = 2k + 1), row[S + 1] = -inf,
     row[S + 2 + k] = blank state k (s = 2k),

   2S + 4 cells (the last unused), so that each kind is one vectorised loop (FNL_SIMD,
   `#pragma omp simd`): the blanks' sums have two terms and one
   emission, the labels' three (the third -inf where not `allowed`) and
   their own emissions; the -inf cells stand for the states before the
   first and after the last label. The states of one step depend only on
   the previous step's. fnl_math.h's branch-free exp and log1p; nothing
   calls libm; NaN in gives NaN out, -inf (an impossible state) stays -inf. */
#ifndef FNL_CTC_H
#define FNL_CTC_H

#include <stddef.h>
#include "fnl_math.h"


/* not inline (target_clones functions cannot be); `unused`: a file that
   includes this header need not call every one */
#if defined(__GNUC__)
#define FNL_CTC_FUNC static __attribute__((unused))
#else
#define FNL_CTC_FUNC static
#endif

/* log-sum-exp of two or three terms, m the largest: m + log1p(exp(y - m)
   [+ exp(z - m)]), the argument of log1p in [0, 2]. fnl_log1p_d is written
   for [0, 1]; on [1, 2] its reduced argument s = f / (2 + f) stays within
   |s| <= 0.2 (0.172 on [0, 1]), where its series' first term left out is
   still below 3e-19 relative. Measured against long double log1pl on
   5 x 10^7 random arguments each: at most 1.05 ulp on [1, 2], 1.14 on
   [0, 1] (without FMA; 1.02 and 1.04 with).
   Every term -inf: -inf. NaN anywhere: NaN. */
FNL_INLINE double fnl_ctc_shift(double m) {
    return m == -INFINITY ? 0.0 : m;  /* where the exps are taken: finite */
}

/* m + log1p(sum_exp), the other terms' exps taken at mm = fnl_ctc_shift(m).
   m = -inf: the sum is 0 (r = 0), or NaN where a term is (NaN fails every
   compare, so the largest may be -inf beside a NaN). */
FNL_INLINE double fnl_ctc_lse_of(double m, double mm, double sum_exp) {
    double r = mm + fnl_log1p_d(sum_exp);
    return m == -INFINITY && r == r ? m : r;
}

/* log(exp(a) + exp(b)); a NaN goes to the smaller side, which propagates it */
FNL_INLINE double fnl_ctc_lse2(double a, double b) {
    double m = a > b ? a : b, y = a > b ? b : a;
    double mm = fnl_ctc_shift(m);
    return fnl_ctc_lse_of(m, mm, fnl_exp_d(y - mm));
}

/* log(exp(a) + exp(b) + exp(c)), the largest found by a sorting network of
   compare-selects (vector max and blends); a NaN ends in m, y or z */
FNL_INLINE double fnl_ctc_lse3(double a, double b, double c) {
    double x = a > b ? a : b, y = a > b ? b : a;
    double m = x > c ? x : c, z = x > c ? c : x;
    double mm = fnl_ctc_shift(m);
    return fnl_ctc_lse_of(m, mm, fnl_exp_d(y - mm) + fnl_exp_d(z - mm));
}

/* One step of alpha: row `cur` from row `prev` (the layout above), eb =
   lp_t(blank), em[k] = lp_t(l_k), allowed[k] (k < S): whether label k
   differs from label k - 1. */
FNL_CLONES
FNL_CTC_FUNC void fnl_ctc_alpha_step(const double *prev, double *cur, double eb,
                                     const double *em, const int64_t *allowed, int64_t S) {
    const double *pl = prev + 1, *pb = prev + S + 2;
    double *cl = cur + 1, *cb = cur + S + 2;
    int64_t k;
    FNL_SIMD
    for (k = 0; k <= S; k++)  /* blank 2k: from itself and label k - 1 */
        cb[k] = fnl_ctc_lse2(pb[k], pl[k - 1]) + eb;
    FNL_SIMD
    for (k = 0; k < S; k++) {  /* label 2k + 1: itself, blank k, label k - 1 */
        double skip = allowed[k] ? pl[k - 1] : -INFINITY;
        cl[k] = fnl_ctc_lse3(pl[k], pb[k], skip) + em[k];
    }
}

/* One step of beta: row `cur` from row `next` (allowed has S + 1 entries,
   allowed[S] = 0). */
FNL_CLONES
FNL_CTC_FUNC void fnl_ctc_beta_step(const double *next, double *cur, double eb,
                                    const double *em, const int64_t *allowed, int64_t S) {
    const double *nl = next + 1, *nb = next + S + 2;
    double *cl = cur + 1, *cb = cur + S + 2;
    int64_t k;
    FNL_SIMD
    for (k = 0; k <= S; k++)  /* blank 2k: to itself and label k */
        cb[k] = fnl_ctc_lse2(nb[k], nl[k]) + eb;
    FNL_SIMD
    for (k = 0; k < S; k++) {  /* label 2k + 1: itself, blank k + 1, label k + 1 */
        double skip = allowed[k + 1] ? nl[k + 1] : -INFINITY;
        cl[k] = fnl_ctc_lse3(nl[k], nb[k + 1], skip) + em[k];
    }
}

/* The gradient's posterior weights of one time step: for each state,
   exp(alpha_t + beta_t - lp_t(its class) + nll), the probability that a
   path passes through it at t (emission counted once), in [0, 1]: no
   overflow whatever the log-probabilities. w[k] for label k (k < S),
   w[S + k] for blank k (k <= S). */
FNL_CLONES
FNL_CTC_FUNC void fnl_ctc_posterior(const double *alpha, const double *beta, double eb,
                                    const double *em, double nll, double *w, int64_t S) {
    int64_t k;
    FNL_SIMD
    for (k = 0; k < S; k++)
        w[k] = fnl_exp_d(alpha[1 + k] + beta[1 + k] - em[k] + nll);
    FNL_SIMD
    for (k = 0; k <= S; k++)
        w[S + k] = fnl_exp_d(alpha[S + 2 + k] + beta[S + 2 + k] - eb + nll);
}

/* The labels' emissions of one time step, em[k] = row[off[k]] (off: the
   labels times the class stride), and one row of the gradient:
   out[c] = (exp(lp_c) - acc[c]) * gr, acc[c] the posterior summed over the
   states of class c (0 for the others, which torch computes as
   exp(-inf + nll - lp_c): NaN where lp_c is -inf or NaN, or nll is inf;
   `start` holds that for each class). */
#define FNL_CTC_TYPED(T, sfx)                                                             \
    FNL_CTC_FUNC void fnl_ctc_gather_##sfx(const T *row, const int64_t *off, double *em,  \
                                           int64_t S) {                                   \
        int64_t k;                                                                        \
        FNL_SIMD                                                                      \
        for (k = 0; k < S; k++)                                                           \
            em[k] = (double)row[off[k]];                                                  \
    }                                                                                     \
    FNL_CLONES                                                                        \
    FNL_CTC_FUNC void fnl_ctc_start_##sfx(const T *row, ptrdiff_t sC, int64_t C,          \
                                          double nll, double *acc) {                      \
        int64_t c;                                                                        \
        FNL_SIMD                                                                      \
        for (c = 0; c < C; c++) { /* -inf or NaN, whose exp is 0 or NaN */                \
            double d = -INFINITY + nll - (double)row[c * sC];                             \
            acc[c] = d == d ? 0.0 : d;                                                    \
        }                                                                                 \
    }                                                                                     \
    FNL_CLONES                                                                        \
    FNL_CTC_FUNC void fnl_ctc_grad_row_##sfx(const T *row, ptrdiff_t sC, int64_t C,       \
                                             const double *acc, double gr, T *out) {      \
        int64_t c;                                                                        \
        FNL_SIMD                                                                      \
        for (c = 0; c < C; c++)                                                           \
            out[c] = (T)((fnl_exp_d((double)row[c * sC]) - acc[c]) * gr);                 \
    }

FNL_CTC_TYPED(float, f)
FNL_CTC_TYPED(double, d)

#endif /* FNL_CTC_H */
