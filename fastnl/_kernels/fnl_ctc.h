/* fastnl: the time steps of the CTC loss (Graves et al. 2006), in log
   space and float64, for _ctc.pyx.

   A sample's target l of length S is extended with blanks to
   l' = (blank, l_1, blank, l_2, ..., l_S, blank), L = 2S + 1 states.
   alpha_t(s) is the log-probability of the prefixes that end in state s at
   time t, beta_t(s) that of the suffixes that start there (both include
   the emission at t, as torch's kernels have them):

     alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)]) + lp_t(l'_s)
     beta_t(s)  = lse(beta_{t+1}(s),  beta_{t+1}(s+1),  [beta_{t+1}(s+2)])  + lp_t(l'_s)

   where the bracketed term counts only if l'_s is a label that differs
   from l'_{s-2} (`allowed[s]`: a step over a blank to another label).
   Each step is one loop over the states, vectorised (`FNL_CTC_SIMD`, which
   the module defines as `#pragma omp simd`) with fnl_math.h's branch-free
   exp and log1p: the states of one step depend only on the previous one.
   Rows are stored with two -inf cells before (alpha) or after (beta) the L
   states, so s-1, s-2, s+1, s+2 need no bounds test.

   Nothing here calls libm; NaN in gives NaN out (an exp or log1p of NaN
   is NaN; no compare drops it for good), -inf (an impossible state) stays
   -inf. */
#ifndef FNL_CTC_H
#define FNL_CTC_H

#include <stddef.h>
#include "fnl_math.h"

#ifndef FNL_CTC_SIMD
#define FNL_CTC_SIMD
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(FASTNL_NO_CLONES)
#define FNL_CTC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FNL_CTC_CLONES
#endif
/* not inline (target_clones functions cannot be); `unused`: a file that
   includes this header need not call every one */
#if defined(__GNUC__)
#define FNL_CTC_FUNC static __attribute__((unused))
#else
#define FNL_CTC_FUNC static
#endif

/* log(exp(a) + exp(b) + exp(c)) for a, b, c <= 0 or -inf: m + log(sum of
   exp(x - m)), m the largest, so the sum is in [1, 3] and its log is
   log1p(sum - 1), sum - 1 exact (Sterbenz). fnl_log1p_d is written for
   [0, 1]; on [1, 2] its reduced argument s = f / (2 + f) stays within
   |s| <= 0.2 (0.172 on [0, 1]), where the first term its series leaves
   out is 2 s^25 / 25 < 3e-19 relative: the same accuracy. All -inf: -inf
   (torch's kernels take m = 0 there, for the same -inf). */
FNL_INLINE double fnl_ctc_lse3(double a, double b, double c) {
    double m = a > b ? a : b, mm, sum;
    m = c > m ? c : m;
    mm = m == -INFINITY ? 0.0 : m;
    sum = fnl_exp_d(a - mm) + fnl_exp_d(b - mm) + fnl_exp_d(c - mm);
    return m == -INFINITY ? m : mm + fnl_log1p_d(sum - 1);
}

/* log(exp(a) + exp(b)), the same way (a sum in [1, 2]) */
FNL_INLINE double fnl_ctc_lse2(double a, double b) {
    return fnl_ctc_lse3(a, b, -INFINITY);
}

/* One step of alpha: cur[s] for s in [0, L) from prev (both with prev[-2],
   prev[-1] = -inf), em[s] = lp_t(l'_s). */
FNL_CTC_CLONES
FNL_CTC_FUNC void fnl_ctc_alpha_step(const double *prev, double *cur, const double *em,
                               const int64_t *allowed, int64_t L) {
    int64_t s;
    FNL_CTC_SIMD
    for (s = 0; s < L; s++) {
        double skip = allowed[s] ? prev[s - 2] : -INFINITY;
        cur[s] = fnl_ctc_lse3(prev[s], prev[s - 1], skip) + em[s];
    }
}

/* One step of beta: cur[s] for s in [0, L) from next (next[L], next[L + 1]
   = -inf; allowed has L + 2 entries, the last two 0). */
FNL_CTC_CLONES
FNL_CTC_FUNC void fnl_ctc_beta_step(const double *next, double *cur, const double *em,
                              const int64_t *allowed, int64_t L) {
    int64_t s;
    FNL_CTC_SIMD
    for (s = 0; s < L; s++) {
        double skip = allowed[s + 2] ? next[s + 2] : -INFINITY;
        cur[s] = fnl_ctc_lse3(next[s], next[s + 1], skip) + em[s];
    }
}

/* The gradient's posterior weights of one time step: w[s] = exp(alpha_t(s)
   + beta_t(s) - lp_t(l'_s) + nll), the probability that a path passes
   through state s at t (emission counted once), in [0, 1]: no overflow
   whatever the log-probabilities. */
FNL_CTC_CLONES
FNL_CTC_FUNC void fnl_ctc_posterior(const double *alpha, const double *beta, const double *em,
                              double nll, double *w, int64_t L) {
    int64_t s;
    FNL_CTC_SIMD
    for (s = 0; s < L; s++)
        w[s] = fnl_exp_d(alpha[s] + beta[s] - em[s] + nll);
}

/* The emissions of one time step, em[s] = row[off[s]] (off: the classes of
   l' times the class stride), and one row of the gradient:
   out[c] = (exp(lp_c) - acc[c]) * gr, acc[c] the posterior summed over the
   states of class c (0 for the others, which torch computes as
   exp(-inf + nll - lp_c): NaN where lp_c is -inf or NaN, or nll is inf;
   `start` holds that for each class). */
#define FNL_CTC_TYPED(T, sfx)                                                             \
    FNL_CTC_FUNC void fnl_ctc_gather_##sfx(const T *row, const int64_t *off, double *em,        \
                                     int64_t L) {                                         \
        int64_t s;                                                                        \
        FNL_CTC_SIMD                                                                      \
        for (s = 0; s < L; s++)                                                           \
            em[s] = (double)row[off[s]];                                                  \
    }                                                                                     \
    FNL_CTC_CLONES                                                                        \
    FNL_CTC_FUNC void fnl_ctc_start_##sfx(const T *row, ptrdiff_t sC, int64_t C, double nll,    \
                                    double *acc) {                                        \
        int64_t c;                                                                        \
        FNL_CTC_SIMD                                                                      \
        for (c = 0; c < C; c++)                                                           \
            acc[c] = fnl_exp_d(-INFINITY + nll - (double)row[c * sC]);                    \
    }                                                                                     \
    FNL_CTC_CLONES                                                                        \
    FNL_CTC_FUNC void fnl_ctc_grad_row_##sfx(const T *row, ptrdiff_t sC, int64_t C,             \
                                       const double *acc, double gr, T *out) {            \
        int64_t c;                                                                        \
        FNL_CTC_SIMD                                                                      \
        for (c = 0; c < C; c++)                                                           \
            out[c] = (T)((fnl_exp_d((double)row[c * sC]) - acc[c]) * gr);                 \
    }

FNL_CTC_TYPED(float, f)
FNL_CTC_TYPED(double, d)

#endif /* FNL_CTC_H */
