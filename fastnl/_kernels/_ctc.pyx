# The CTC loss and its gradient: loops only (fastnl._drivers.ctc checks and
# converts the operands first).
#
# One sample is one thread's, from start to end (a dynamic schedule over the
# batch: the samples' lengths differ), and its loss and gradient are computed
# in float64 in a fixed order, so the bits never depend on the thread count.
# Each time step is one vectorised C loop over the sample's states
# (fnl_ctc.h); Cython keeps the loop over time and the batch.
#
# log_probs arrive as a flat buffer and strides in elements (any layout is
# read in place); the targets as one int64 buffer with each sample's start
# (the padded and the concatenated layouts alike), already range-checked.

from cython.parallel cimport parallel, prange
from cython cimport floating
from libc.math cimport INFINITY
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

cdef extern from *:
    """
    #include "fnl_ctc.h"
    """
    void fnl_ctc_alpha_step(const double *prev, double *cur, double eb, const double *em,
                            const int64_t *allowed, int64_t S) noexcept nogil
    void fnl_ctc_beta_step(const double *next, double *cur, double eb, const double *em,
                           const int64_t *allowed, int64_t S) noexcept nogil
    void fnl_ctc_posterior(const double *alpha, const double *beta, double eb,
                           const double *em, double nll, double *w, int64_t S) noexcept nogil
    double fnl_ctc_lse2(double a, double b) noexcept nogil
    void fnl_ctc_gather_f(const float *row, const int64_t *off, double *em,
                          int64_t S) noexcept nogil
    void fnl_ctc_gather_d(const double *row, const int64_t *off, double *em,
                          int64_t S) noexcept nogil
    void fnl_ctc_start_f(const float *row, Py_ssize_t sC, int64_t C, double nll,
                         double *acc) noexcept nogil
    void fnl_ctc_start_d(const double *row, Py_ssize_t sC, int64_t C, double nll,
                         double *acc) noexcept nogil
    void fnl_ctc_grad_row_f(const float *row, Py_ssize_t sC, int64_t C, const double *acc,
                            double gr, float *out) noexcept nogil
    void fnl_ctc_grad_row_d(const double *row, Py_ssize_t sC, int64_t C, const double *acc,
                            double gr, double *out) noexcept nogil

# Below this many alpha cells (time steps times states, over the batch) no
# thread is started: a cell costs a few ns (an exp or two and a log1p, in
# vectors), so this is some 0.1 ms of work, many times a thread's start.
cdef enum:
    GRAIN = 32768
GRAIN_SIZE = GRAIN


cdef inline double _emissions(const floating *row, Py_ssize_t sC, int64_t blank,
                              const int64_t *off, double *em, int64_t S) noexcept nogil:
    """em[k] = the row's log-probability of label k; returns the blank's."""
    if floating is float:
        fnl_ctc_gather_f(row, off, em, S)
    else:
        fnl_ctc_gather_d(row, off, em, S)
    return <double>row[blank * sC]


cdef inline void _labels(const int64_t *targets, int64_t S, Py_ssize_t sC, int64_t *off,
                         int64_t *allowed) noexcept nogil:
    """Each label times the class stride, and where a step from the label
    before (over the blank between) is allowed: between two different
    labels. allowed has S + 1 entries, the last 0 (for the beta step)."""
    cdef int64_t k
    for k in range(S):
        off[k] = targets[k] * sC
        allowed[k] = k > 0 and targets[k] != targets[k - 1]
    allowed[S] = 0


cdef inline void _fill(double *row, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        row[i] = -INFINITY


cdef double _alpha(const floating *lp, Py_ssize_t sT, Py_ssize_t sC, int64_t blank,
                   int64_t il, int64_t S, const int64_t *off, const int64_t *allowed,
                   double *rows, bint keep, double *em) noexcept nogil:
    """The negative log-likelihood -log p(l | x) from the alpha recursion.
    Row t (2S + 4 cells, fnl_ctc.h's layout) is written at rows + t (2S + 4)
    when `keep` (the gradient reads them all), else the rows alternate
    between two. Without time steps: 0 for an empty target (as torch:
    -0.0), inf otherwise."""
    cdef int64_t t, W = 2 * S + 4
    cdef double *prev = rows
    cdef double *cur
    cdef double eb, loglik
    if il == 0:
        return -0.0 if S == 0 else INFINITY
    _fill(rows, W)
    eb = _emissions(lp, sC, blank, off, em, S)
    rows[S + 2] = eb  # blank 0
    if S > 0:
        rows[1] = em[0]  # label 0
    for t in range(1, il):
        cur = rows + (t * W if keep else (t % 2) * W)
        cur[0] = cur[S + 1] = -INFINITY
        eb = _emissions(lp + t * sT, sC, blank, off, em, S)
        fnl_ctc_alpha_step(prev, cur, eb, em, allowed, S)
        prev = cur
    # the paths end in the last blank or the last label
    loglik = prev[S + 2] if S == 0 else fnl_ctc_lse2(prev[S], prev[2 * S + 2])
    return -loglik


cdef void _gradient(const floating *lp, Py_ssize_t sT, Py_ssize_t sC, int64_t C,
                    int64_t blank, int64_t il, int64_t S, const int64_t *targets,
                    const int64_t *off, const int64_t *allowed, const double *alpha,
                    double nll, double gr, double *beta, double *em, double *w, double *acc,
                    floating *grad, Py_ssize_t grad_step) noexcept nogil:
    """Rows t < il of one sample's gradient (grad + t * grad_step), from the
    alpha rows and the beta recursion, run from the last step back:
    (exp(lp) - posterior of each class) * gr, torch's formula."""
    cdef int64_t t, k, W = 2 * S + 4
    cdef double *next = beta
    cdef double *cur = beta + W
    cdef double *swap
    cdef double eb
    for t in range(il - 1, -1, -1):
        eb = _emissions(lp + t * sT, sC, blank, off, em, S)
        if t == il - 1:  # the paths end in the last blank or the last label
            _fill(cur, W)
            cur[2 * S + 2] = eb
            if S > 0:
                cur[S] = em[S - 1]
        else:
            cur[0] = cur[S + 1] = -INFINITY
            fnl_ctc_beta_step(next, cur, eb, em, allowed, S)
        fnl_ctc_posterior(alpha + t * W, cur, eb, em, nll, w, S)
        if floating is float:
            fnl_ctc_start_f(lp + t * sT, sC, C, nll, acc)
        else:
            fnl_ctc_start_d(lp + t * sT, sC, C, nll, acc)
        for k in range(S):  # in a fixed order: labels, then blanks
            acc[targets[k]] += w[k]
        for k in range(S + 1):
            acc[blank] += w[S + k]
        if floating is float:
            fnl_ctc_grad_row_f(lp + t * sT, sC, C, acc, gr, grad + t * grad_step)
        else:
            fnl_ctc_grad_row_d(lp + t * sT, sC, C, acc, gr, grad + t * grad_step)
        swap = next
        next = cur
        cur = swap


def ctc(const floating[::1] lp, Py_ssize_t sT, Py_ssize_t sN, Py_ssize_t sC,
        Py_ssize_t T, Py_ssize_t N, Py_ssize_t C,
        const int64_t[::1] targets, const int64_t[::1] start, const int64_t[::1] target_lengths,
        const int64_t[::1] input_lengths, int64_t blank, double[::1] nll,
        const double[::1] gr, bint zero_infinity, floating[::1] grad, double[::1] saved,
        int n_threads):
    """Each sample's negative log-likelihood into `nll` (float64, N); with a
    non-empty `grad` (T x N x C, C-contiguous) also the gradient, each sample's
    scaled by gr[n] (zero rows past its input length, and everywhere for an
    infinite loss with zero_infinity). Lengths and targets are checked.

    A non-empty `saved` (N x T x (2 max(S) + 4) float64) keeps the alpha rows
    (sample n's from n T (2 max(S) + 4), each of its own 2S + 4 cells): a
    forward call writes them there, and a backward call then reads them, and
    the losses from `nll`, instead of running the alpha recursion again."""
    cdef bint backward = grad.shape[0] > 0
    cdef bint has_saved = saved.shape[0] > 0
    cdef int64_t S_max = 0, n, il, S, W, work = 0, t
    cdef double *dbuf = NULL
    cdef int64_t *ibuf = NULL
    cdef int failed[1]  # an element, not a variable: shared by the threads
    cdef const int64_t *labels
    cdef const floating *base
    cdef floating *gbase
    cdef double *alpha
    for n in range(N):
        S_max = max(S_max, target_lengths[n])
        work += input_lengths[n] * (2 * target_lengths[n] + 1)
    W = 2 * S_max + 4
    # per thread: alpha (T rows for the gradient, else 2; none when saved),
    # beta (2 rows), the labels' emissions, the states' posteriors (W each),
    # the classes' sums (C); the labels' offsets and allowed skips (W each)
    cdef Py_ssize_t n_alpha = 0 if has_saved else (T if backward else 2) * W
    cdef Py_ssize_t n_double = n_alpha + 4 * W + C
    failed[0] = 0
    with nogil, parallel(num_threads=n_threads, use_threads_if=work > GRAIN and N > 1):
        dbuf = <double *>malloc(n_double * sizeof(double))
        ibuf = <int64_t *>malloc(2 * W * sizeof(int64_t))
        if dbuf == NULL or ibuf == NULL:
            failed[0] = 1
        for n in prange(N, schedule="dynamic"):
            if dbuf == NULL or ibuf == NULL:
                continue
            il = input_lengths[n]
            S = target_lengths[n]
            labels = &targets[0] + start[n] if S > 0 else NULL
            _labels(labels, S, sC, ibuf, ibuf + W)
            base = &lp[0] + n * sN
            alpha = &saved[0] + n * T * W if has_saved else dbuf
            if not (backward and has_saved):  # else the forward's rows and loss
                nll[n] = _alpha(base, sT, sC, blank, il, S, ibuf, ibuf + W, alpha,
                                backward or has_saved, dbuf + n_alpha + 2 * W)
            if not backward:
                continue
            gbase = &grad[0] + n * C
            if zero_infinity and nll[n] == INFINITY:
                il = 0  # a zero gradient
            else:
                _gradient(base, sT, sC, C, blank, il, S, labels, ibuf, ibuf + W, alpha, nll[n],
                          gr[n], dbuf + n_alpha, dbuf + n_alpha + 2 * W,
                          dbuf + n_alpha + 3 * W, dbuf + n_alpha + 4 * W, gbase, N * C)
            for t in range(il, T):
                memset(gbase + t * N * C, 0, C * sizeof(floating))
        free(dbuf)
        free(ibuf)
    if failed[0]:
        raise MemoryError("ctc_loss: no memory for the alpha rows")
