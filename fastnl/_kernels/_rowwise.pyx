# Row-wise kernels: the softmax family along an axis, and the class-axis losses
# (cross-entropy and NLL). Loops only; the Python layer validates.
#
# Every row is computed by one thread from start to end, in a fixed order, so
# results never depend on the thread count. Helpers take pointers, lengths and
# strides (in elements), never memoryview slices (slicing inside prange costs
# refcounts).
#
# Loops that should vectorise contain no floating-point branch: with GCC's
# default -ftrapping-math a float comparison or a division under a condition
# blocks vectorisation, so such choices are made once, outside the loop.

from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport INFINITY, NAN, log, exp, frexp
from libc.stdint cimport int64_t
from fastnl._kernels._fastexp cimport exp_nonpos, expf_nonpos

cdef enum:
    # Lanes of a non-last axis handled together, so that every pass reads whole
    # cache lines instead of one element per line: 64 lanes are 4 lines of
    # float32 per step along the axis (measured faster than 16 lanes, which
    # left the prefetcher one line per 4 KB stride to follow).
    TILE = 64
    # exp values are produced this many at a time into a stack buffer (a
    # vectorised loop), then summed in float64.
    CHUNK = 256
    # PyTorch's grain: below this many elements no thread is started.
    GRAIN = 32768
GRAIN_SIZE = GRAIN


# ---------------------------------------------------------------- shared row pieces

cdef inline floating _row_max(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """Largest element (-inf for an empty row). NaN is skipped here: the sum of
    exp(x - max) that always follows turns it into NaN."""
    cdef Py_ssize_t j
    cdef floating v, m = -INFINITY
    for j in range(n):
        v = x[j * s]
        if v > m:
            m = v
    return m


cdef inline floating _row_min(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating v, m = INFINITY
    for j in range(n):
        v = x[j * s]
        if v < m:
            m = v
    return m


cdef inline double _sum(const floating* v, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """Float64 sum in a fixed order: element j goes to partial sum j % 4 (four
    chains of additions instead of one), then (a0 + a1) + (a2 + a3).
    _softmax_tile sums its lanes in exactly this order, so a softmax has the
    same bits whichever kernel the memory layout selects."""
    cdef Py_ssize_t j = 0
    cdef double a0 = 0, a1 = 0, a2 = 0, a3 = 0
    while j + 4 <= n:
        a0 += v[j * s]
        a1 += v[(j + 1) * s]
        a2 += v[(j + 2) * s]
        a3 += v[(j + 3) * s]
        j += 4
    if j < n:
        a0 += v[j * s]
    if j + 1 < n:
        a1 += v[(j + 1) * s]
    if j + 2 < n:
        a2 += v[(j + 2) * s]
    return (a0 + a1) + (a2 + a3)


cdef inline double _chunked_sum(const floating* v, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """The float64 sum of n values in the order of _sum_exp (CHUNK at a time)."""
    cdef Py_ssize_t start = 0
    cdef double acc = 0
    while start < n:
        acc += _sum(v + start * s, CHUNK if start + CHUNK <= n else n - start, s)
        start += CHUNK
    return acc


cdef inline void _exp_scaled(const floating* x, Py_ssize_t s, Py_ssize_t n, floating xm,
                             floating t, floating r, bint pow2, floating* out,
                             Py_ssize_t os) noexcept nogil:
    """out[j] = exp((x[j] - xm) / t), all arguments <= 0. A power-of-two t has
    the exact reciprocal r: multiplying gives the same bits as dividing."""
    cdef Py_ssize_t j
    if pow2:
        for j in range(n):
            out[j * os] = exp_nonpos((x[j * s] - xm) * r)
    else:
        for j in range(n):
            out[j * os] = exp_nonpos((x[j * s] - xm) / t)


cdef inline double _sum_exp(const floating* x, Py_ssize_t s, Py_ssize_t n, floating xm,
                            floating t, floating r, bint pow2) noexcept nogil:
    """sum_j exp((x[j] - xm) / t) in float64, CHUNK values at a time."""
    cdef floating buf[CHUNK]
    cdef Py_ssize_t start = 0, m
    cdef double acc = 0
    while start < n:
        m = CHUNK if start + CHUNK <= n else n - start
        _exp_scaled(x + start * s, s, m, xm, t, r, pow2, buf, 1)
        acc += _sum(buf, m, 1)
        start += CHUNK
    return acc


# ---------------------------------------------------------------- softmax family
#
# x and y are C-contiguous (outer, n, inner) buffers; the softmax runs along n.
# The logits are z = x / t, with t = temperature for softmax / log_softmax and
# -temperature for softmin. Passes: the extreme xm of the row (max for t > 0,
# min for t < 0, i.e. where z is largest), the float64 sum of exp(d) with
# d = (x - xm) / t <= 0, and the write. Only exp(d) <= 1 is evaluated, so
# nothing overflows (not even x / t for a tiny temperature: x - xm is formed
# first), and log_softmax = d - log(sum) is finite wherever the true value is.
# A NaN needs no test: it makes the sum, hence the whole row, NaN. A +inf
# logit (x / t = +inf for an infinite x) gets the limit: the mass is shared by the +inf logits
# and every other entry gets 0 (log: -inf); torch returns NaN there.

cdef inline bint _infinite_logit(floating xm, floating t) noexcept nogil:
    # The largest logit is +inf: xm = +inf (t > 0) or -inf (t < 0). Not
    # xm / t == inf: a finite xm over a tiny t must take the normal path,
    # whose log-probabilities stay finite wherever they are representable.
    return xm == INFINITY if t > 0 else xm == -INFINITY


cdef inline void _special_row(const floating* x, floating* y, Py_ssize_t n, Py_ssize_t s,
                              floating xm, bint log_out) noexcept nogil:
    """A row whose largest logit is +inf: the limit (NaN if it has a NaN)."""
    cdef Py_ssize_t j
    cdef double k = 0
    cdef bint nan = False
    for j in range(n):
        if x[j * s] == xm:
            k += 1
        elif x[j * s] != x[j * s]:
            nan = True
    for j in range(n):
        if nan:
            y[j * s] = NAN
        elif x[j * s] == xm:
            y[j * s] = <floating>(0 - log(k) if log_out else 1 / k)  # 0 - log(1) is +0
        else:
            y[j * s] = -INFINITY if log_out else 0


cdef inline void _softmax_row(const floating* x, floating* y, Py_ssize_t n, Py_ssize_t s,
                              floating t, floating r, bint pow2, bint log_out) noexcept nogil:
    """One row of n elements, `s` apart (s = 1 for the last axis). y may be x:
    every element is read before it is overwritten."""
    cdef Py_ssize_t j
    cdef floating xm = _row_max(x, n, s) if t > 0 else _row_min(x, n, s)
    cdef floating lse_
    cdef double inv
    if _infinite_logit(xm, t):
        _special_row(x, y, n, s, xm, log_out)
        return
    if log_out:
        lse_ = <floating>log(_sum_exp(x, s, n, xm, t, r, pow2))
        # (x - xm) / t - lse, rounded once more than in float64: at most 1 ulp
        # of the result more, and the loop vectorises.
        if pow2:
            for j in range(n):
                y[j * s] = (x[j * s] - xm) * r - lse_
        else:
            for j in range(n):
                y[j * s] = (x[j * s] - xm) / t - lse_
    else:
        _exp_scaled(x, s, n, xm, t, r, pow2, y, s)
        inv = 1 / _chunked_sum(y, n, s)  # float64: y * inv rounds to float32 as y / sum would
        for j in range(n):
            y[j * s] = <floating>(y[j * s] * inv)


cdef inline void _softmax_tile(const floating* x, floating* y, Py_ssize_t n,
                               Py_ssize_t inner, Py_ssize_t width, floating t, floating r,
                               bint pow2, bint log_out) noexcept nogil:
    """`width` <= TILE adjacent lanes, each of n elements `inner` apart: the
    passes of _softmax_row, interleaved so that every read uses whole cache
    lines and the loops over lanes vectorise."""
    cdef Py_ssize_t j, l, o
    cdef floating v
    cdef floating m[TILE]
    cdef floating e[TILE]
    cdef floating lse[TILE]
    cdef double acc[TILE]
    cdef double part[4][TILE]
    cdef Py_ssize_t q, in_chunk = 0
    for l in range(width):
        m[l] = -INFINITY if t > 0 else INFINITY
        acc[l] = 0
        for q in range(4):
            part[q][l] = 0
    for j in range(n):
        o = j * inner
        if t > 0:
            for l in range(width):
                v = x[o + l]
                if v > m[l]:
                    m[l] = v
        else:
            for l in range(width):
                v = x[o + l]
                if v < m[l]:
                    m[l] = v
    for l in range(width):
        if _infinite_logit(m[l], t):
            # A +inf logit: lane by lane, resolved before anything is written
            # (y may be x).
            for l in range(width):
                _softmax_row(x + l, y + l, n, inner, t, r, pow2, log_out)
            return
    for j in range(n):
        o = j * inner
        if pow2:
            for l in range(width):
                e[l] = exp_nonpos((x[o + l] - m[l]) * r)
        else:
            for l in range(width):
                e[l] = exp_nonpos((x[o + l] - m[l]) / t)
        if not log_out:
            for l in range(width):
                y[o + l] = e[l]
        # the order of _sum_exp: CHUNK values at a time, element j of a chunk
        # into partial sum j % 4
        q = in_chunk & 3
        for l in range(width):
            part[q][l] += e[l]
        in_chunk += 1
        if in_chunk == CHUNK or j == n - 1:
            for l in range(width):
                acc[l] += (part[0][l] + part[1][l]) + (part[2][l] + part[3][l])
                part[0][l] = 0
                part[1][l] = 0
                part[2][l] = 0
                part[3][l] = 0
            in_chunk = 0
    for l in range(width):
        lse[l] = <floating>log(acc[l])
        acc[l] = 1 / acc[l]
    for j in range(n):
        o = j * inner
        if not log_out:
            for l in range(width):
                y[o + l] = <floating>(y[o + l] * acc[l])
        elif pow2:
            for l in range(width):
                y[o + l] = (x[o + l] - m[l]) * r - lse[l]
        else:
            for l in range(width):
                y[o + l] = (x[o + l] - m[l]) / t - lse[l]


def softmax(const floating[::1] x, floating[::1] y, Py_ssize_t outer, Py_ssize_t n,
            Py_ssize_t inner, double t, bint log_out, int n_threads):
    """Softmax (log_out=False) or log-softmax of x / t along the middle axis of
    the C-contiguous (outer, n, inner) buffer x, into y (which may be x)."""
    cdef Py_ssize_t row, tile, o, k0, width, size = outer * n * inner
    cdef Py_ssize_t tiles_per_block = (inner + TILE - 1) // TILE
    cdef floating t_ = <floating>t
    cdef floating r = 1 / t_
    cdef int e2
    # t = +-2^k (1 and -1 included): its reciprocal is exact
    cdef bint pow2 = frexp(<double>t_ if t_ > 0 else -<double>t_, &e2) == 0.5 and r * t_ == 1
    cdef const floating* xp
    cdef floating* yp
    if size == 0:
        return
    xp = &x[0]
    yp = &y[0]
    if inner == 1:
        for row in prange(outer, nogil=True, schedule='static', num_threads=n_threads,
                          use_threads_if=size > GRAIN):
            _softmax_row(xp + row * n, yp + row * n, n, 1, t_, r, pow2, log_out)
    else:
        for tile in prange(outer * tiles_per_block, nogil=True, schedule='static',
                           num_threads=n_threads, use_threads_if=size > GRAIN):
            o = tile // tiles_per_block
            k0 = (tile % tiles_per_block) * TILE
            width = TILE if k0 + TILE <= inner else inner - k0
            _softmax_tile(xp + o * n * inner + k0, yp + o * n * inner + k0, n, inner,
                          width, t_, r, pow2, log_out)


# ---------------------------------------------------------------- softmax family, backward
#
# From the forward's output y (as torch does), along the middle axis of
# C-contiguous (outer, n, inner) buffers g (grad_output) and y, into gx; with
# t = temperature, or -temperature for softmin (softmax of -x / T), and
# r = 1 / t in float64:
#   softmax:     gx = y (g - sum(g y)) r
#   log_softmax: gx = (g - exp(y) sum(g)) r
# evaluated in float64 and rounded once. One float64 sum per row (or lane) in
# the order of _sum (partial sum j % 4), then one write pass; the tile kernel
# keeps exactly that order, so the layout and the thread count never change
# the bits. gx may be g or y: each element is written only after every read
# of the row.

cdef extern from *:
    """
    #include <stdint.h>
    /* the bits of a float as an integer: <= 0 exactly for -0, +0, negative
       numbers (and NaNs with the sign bit); an integer max vectorises where
       a floating-point comparison (under -ftrapping-math) does not */
    static inline int64_t fastnl_bits_f32(float v) {
        union { float f; int32_t i; } u; u.f = v; return u.i;
    }
    static inline int64_t fastnl_bits_f64(double v) {
        union { double f; int64_t i; } u; u.f = v; return u.i;
    }
    """
    int64_t bits_f32 "fastnl_bits_f32"(float v) noexcept nogil
    int64_t bits_f64 "fastnl_bits_f64"(double v) noexcept nogil


cdef inline int64_t _bits(floating v) noexcept nogil:
    if floating is float:
        return bits_f32(v)
    else:
        return bits_f64(v)


cdef inline double _dot(const floating* g, const floating* y, Py_ssize_t n,
                        Py_ssize_t s) noexcept nogil:
    """sum_j g[j] y[j] in float64, in the order of _sum."""
    cdef Py_ssize_t j = 0
    cdef double a0 = 0, a1 = 0, a2 = 0, a3 = 0
    while j + 4 <= n:
        a0 += <double>g[j * s] * <double>y[j * s]
        a1 += <double>g[(j + 1) * s] * <double>y[(j + 1) * s]
        a2 += <double>g[(j + 2) * s] * <double>y[(j + 2) * s]
        a3 += <double>g[(j + 3) * s] * <double>y[(j + 3) * s]
        j += 4
    if j < n:
        a0 += <double>g[j * s] * <double>y[j * s]
    if j + 1 < n:
        a1 += <double>g[(j + 1) * s] * <double>y[(j + 1) * s]
    if j + 2 < n:
        a2 += <double>g[(j + 2) * s] * <double>y[(j + 2) * s]
    return (a0 + a1) + (a2 + a3)


cdef inline int64_t _max_bits(const floating* y, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """The largest _bits(y[j]): <= 0 iff every y[j] <= 0 (a log-probability)."""
    cdef Py_ssize_t j
    cdef int64_t b, mb = -1
    for j in range(n):
        b = _bits(y[j * s])
        mb = b if b > mb else mb
    return mb


cdef inline void _softmax_backward_row(const floating* g, const floating* y, floating* gx,
                                       Py_ssize_t n, Py_ssize_t s, double r,
                                       bint log_out) noexcept nogil:
    cdef Py_ssize_t j
    cdef double acc
    if log_out:
        acc = _sum(g, n, s)
        if _max_bits(y, n, s) <= 0:  # two copies of the loop: no branch inside either
            # every y <= 0, as log_softmax's output: the vectorised exp
            for j in range(n):
                gx[j * s] = <floating>((<double>g[j * s] - <double>exp_nonpos(y[j * s]) * acc) * r)
        else:
            for j in range(n):
                gx[j * s] = <floating>((<double>g[j * s] - exp(<double>y[j * s]) * acc) * r)
    else:
        acc = _dot(g, y, n, s)
        for j in range(n):
            gx[j * s] = <floating>(<double>y[j * s] * (<double>g[j * s] - acc) * r)


cdef inline void _softmax_backward_tile(const floating* g, const floating* y, floating* gx,
                                        Py_ssize_t n, Py_ssize_t inner, Py_ssize_t width,
                                        double r, bint log_out) noexcept nogil:
    """`width` <= TILE adjacent lanes, n elements `inner` apart: the passes of
    _softmax_backward_row interleaved over lanes (whole cache lines per read)."""
    cdef Py_ssize_t j, l, o, q
    cdef double acc[TILE]
    cdef double part[4][TILE]
    cdef int64_t mb[TILE]
    cdef int64_t b
    for l in range(width):
        mb[l] = -1
        for q in range(4):
            part[q][l] = 0
    for j in range(n):
        o = j * inner
        q = j & 3
        if log_out:
            for l in range(width):
                part[q][l] += <double>g[o + l]
                b = _bits(y[o + l])
                mb[l] = b if b > mb[l] else mb[l]
        else:
            for l in range(width):
                part[q][l] += <double>g[o + l] * <double>y[o + l]
    for l in range(width):
        acc[l] = (part[0][l] + part[1][l]) + (part[2][l] + part[3][l])
    if log_out:
        for l in range(width):
            if mb[l] > 0:
                # a lane with y > 0: not a log_softmax output; lane by lane,
                # with libm's exp, as the row kernel does
                for l in range(width):
                    _softmax_backward_row(g + l, y + l, gx + l, n, inner, r, log_out)
                return
    for j in range(n):
        o = j * inner
        if log_out:
            for l in range(width):
                gx[o + l] = <floating>((<double>g[o + l] - <double>exp_nonpos(y[o + l]) * acc[l]) * r)
        else:
            for l in range(width):
                gx[o + l] = <floating>(<double>y[o + l] * (<double>g[o + l] - acc[l]) * r)


def softmax_backward(const floating[::1] g, const floating[::1] y, floating[::1] gx,
                     Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, double t,
                     bint log_out, int n_threads):
    """Gradient of softmax (log_out=False) or log_softmax of x / t along the
    middle axis of (outer, n, inner) buffers, from the forward's output y."""
    cdef Py_ssize_t row, tile, o, k0, width, size = outer * n * inner
    cdef Py_ssize_t tiles_per_block = (inner + TILE - 1) // TILE
    cdef double r = 1 / t
    cdef const floating* gp
    cdef const floating* yp
    cdef floating* xp
    if size == 0:
        return
    gp = &g[0]
    yp = &y[0]
    xp = &gx[0]
    if inner == 1:
        for row in prange(outer, nogil=True, schedule='static', num_threads=n_threads,
                          use_threads_if=size > GRAIN):
            _softmax_backward_row(gp + row * n, yp + row * n, xp + row * n, n, 1, r, log_out)
    else:
        for tile in prange(outer * tiles_per_block, nogil=True, schedule='static',
                           num_threads=n_threads, use_threads_if=size > GRAIN):
            o = tile // tiles_per_block
            k0 = (tile % tiles_per_block) * TILE
            width = TILE if k0 + TILE <= inner else inner - k0
            _softmax_backward_tile(gp + o * n * inner + k0, yp + o * n * inner + k0,
                                   xp + o * n * inner + k0, n, inner, width, r, log_out)


def exp_nonpos_f32(const float[::1] d, float[::1] out):
    """The float32 exp of _fastexp.pxd over a buffer (for its accuracy test)."""
    cdef Py_ssize_t j
    with nogil:
        for j in range(d.shape[0]):
            out[j] = expf_nonpos(d[j])


# ---------------------------------------------------------------- class-axis losses
#
# x is a strided (N, C, inner) array given by its first element and its
# strides in elements (classes on the middle axis); row r = (i, k) with
# i = r // inner, k = r % inner starts at i * sN + k * sK and has C elements
# sC apart. The kernels write one float64 loss per row, and the row's weight
# in the mean's denominator; the Python layer sums them in order. Nothing of
# size N x C is ever allocated.

cdef inline double _row_lse(const floating* x, Py_ssize_t n, Py_ssize_t s,
                            floating* m) noexcept nogil:
    """log sum_c exp(x_c - m) with m = max_c x_c (stored); NaN propagates."""
    m[0] = _row_max(x, n, s)
    return log(_sum_exp(x, s, n, m[0], 1, 1, True))


cdef inline double _weighted_spread(const floating* x, Py_ssize_t n, Py_ssize_t s, floating m,
                                    const double* w) noexcept nogil:
    """sum_c w_c (m - x_c) (w NULL: all ones); every term >= 0 for w >= 0."""
    cdef Py_ssize_t c
    cdef double a = 0
    if w == NULL:
        for c in range(n):
            a += <double>m - <double>x[c * s]
    else:
        for c in range(n):
            a += w[c] * (<double>m - <double>x[c * s])
    return a


def cross_entropy_index(const floating[::1] x, Py_ssize_t sN, Py_ssize_t sC, Py_ssize_t sK,
                        Py_ssize_t N, Py_ssize_t C, Py_ssize_t inner,
                        const int64_t[::1] target, const double[::1] weight,
                        double weight_sum, int64_t ignore_index, double eps,
                        double[::1] loss, double[::1] row_weight, int n_threads):
    """Cross-entropy with class indices, fused: per row one pass for the max,
    one for sum(exp(x - max)), then -log p[target] = (max - x[target]) + log(sum)
    and, with label smoothing eps, the weighted sum of -log p_c as
    sum_c w_c (max - x_c) + weight_sum * log(sum) (no cancellation: both terms
    are >= 0 for weights >= 0). `x` is a flat buffer holding the strided
    array; an empty `weight` means all ones, weight_sum is then C. Rows whose
    target is ignore_index get loss 0 and weight 0. Targets must be valid
    (checked by the caller)."""
    cdef Py_ssize_t r, tgt, rows = N * inner
    cdef const floating* row
    cdef const double* w = &weight[0] if weight.shape[0] > 0 else NULL
    cdef floating m
    cdef double lse, w_t, nll
    if rows == 0:
        return
    for r in prange(rows, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=rows * C > GRAIN):
        tgt = target[r]
        if tgt == ignore_index:
            loss[r] = 0
            row_weight[r] = 0
            continue
        row = &x[0] + (r // inner) * sN + (r % inner) * sK
        if sC == 1:  # the common case gets its own, vectorised, copy of the loops
            lse = _row_lse(row, C, 1, &m)
        else:
            lse = _row_lse(row, C, sC, &m)
        w_t = w[tgt] if w != NULL else 1.0
        nll = w_t * ((<double>m - <double>row[tgt * sC]) + lse)
        if eps > 0:
            loss[r] = (1 - eps) * nll + eps / C * (
                _weighted_spread(row, C, sC, m, w) + weight_sum * lse)
        else:
            loss[r] = nll
        row_weight[r] = w_t


def cross_entropy_prob(const floating[::1] x, const floating[::1] target,
                       Py_ssize_t sN, Py_ssize_t sC, Py_ssize_t sK,
                       Py_ssize_t tN, Py_ssize_t tC, Py_ssize_t tK,
                       Py_ssize_t N, Py_ssize_t C, Py_ssize_t inner,
                       const double[::1] weight, double eps, double[::1] loss,
                       int n_threads):
    """Cross-entropy with class probabilities: per row -sum_c w_c q_c log p_c
    with q = (1 - eps) target + eps / C, computed as
    sum_c w_c q_c (max - x_c) + (sum_c w_c q_c) log(sum exp(x - max)).
    x and target are flat buffers of strided arrays (strides s* and t*)."""
    cdef Py_ssize_t r, c, i, k, rows = N * inner
    cdef const floating* row
    cdef const floating* trow
    cdef const double* w = &weight[0] if weight.shape[0] > 0 else NULL
    cdef floating m
    cdef double lse, spread, mass, wq
    if rows == 0 or C == 0:
        for r in range(rows):
            loss[r] = 0
        return
    for r in prange(rows, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=rows * C > GRAIN):
        i = r // inner
        k = r % inner
        row = &x[0] + i * sN + k * sK
        trow = &target[0] + i * tN + k * tK
        lse = _row_lse(row, C, sC, &m)
        spread = 0
        mass = 0
        for c in range(C):
            wq = (1 - eps) * trow[c * tC] + eps / C
            if w != NULL:
                wq = wq * w[c]
            spread = spread + wq * (<double>m - <double>row[c * sC])
            mass = mass + wq
        loss[r] = spread + mass * lse


def nll(const floating[::1] x, Py_ssize_t sN, Py_ssize_t sC, Py_ssize_t sK,
        Py_ssize_t N, Py_ssize_t inner, const int64_t[::1] target,
        const double[::1] weight, int64_t ignore_index, double[::1] loss,
        double[::1] row_weight, int n_threads):
    """Negative log-likelihood: per row -w[target] * x[target] (loss 0 and
    weight 0 where target == ignore_index). Targets must be valid."""
    cdef Py_ssize_t r, tgt, rows = N * inner
    cdef const double* w = &weight[0] if weight.shape[0] > 0 else NULL
    cdef double w_t
    if rows == 0:
        return
    for r in prange(rows, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=rows > GRAIN):
        tgt = target[r]
        if tgt == ignore_index:
            loss[r] = 0
            row_weight[r] = 0
            continue
        w_t = w[tgt] if w != NULL else 1.0
        loss[r] = -w_t * <double>x[(r // inner) * sN + (r % inner) * sK + tgt * sC]
        row_weight[r] = w_t


# ---------------------------------------------------------------- class-axis losses, backward
#
# The gradient with respect to x, written into gx: a C-contiguous (N, C, inner)
# buffer (element (i, c, k) at (i * C + c) * inner + k). `g` holds one
# upstream gradient per row (reduction='none'), or is empty: then every row
# uses `scale` (grad_output over the mean's denominator, or grad_output).


cdef inline double _row_grad(const double* g, Py_ssize_t r, double scale) noexcept nogil:
    return g[r] if g != NULL else scale


cdef inline double _exp_into(const floating* row, Py_ssize_t s, floating* out, Py_ssize_t os,
                             Py_ssize_t C, floating m) noexcept nogil:
    """out[c] = exp(row[c] - m); returns their float64 sum in the order of
    _sum_exp (so 1 / sum has the forward's bits)."""
    _exp_scaled(row, s, C, m, 1, 1, True, out, os)
    return _chunked_sum(out, C, os)


cdef inline void _ce_scale(floating* out, Py_ssize_t os, Py_ssize_t C, double inv, double a,
                           double b, const double* w) noexcept nogil:
    """out[c] = p_c a - b w_c (w NULL: all ones), with p_c = out[c] * inv."""
    cdef Py_ssize_t c
    if w == NULL:
        for c in range(C):
            out[c * os] = <floating>(out[c * os] * inv * a - b)
    else:
        for c in range(C):
            out[c * os] = <floating>(out[c * os] * inv * a - b * w[c])


def cross_entropy_index_backward(const floating[::1] x, Py_ssize_t sN, Py_ssize_t sC,
                                 Py_ssize_t sK, Py_ssize_t N, Py_ssize_t C, Py_ssize_t inner,
                                 const int64_t[::1] target, const double[::1] weight,
                                 double weight_sum, int64_t ignore_index, double eps,
                                 const double[::1] g, double scale, floating[::1] gx,
                                 int n_threads):
    """d loss / d x_c = gs (p_c a - (1 - eps) w_t [c == t] - eps / C w_c), with
    p = softmax(x_row), a = (1 - eps) w_t + eps / C * weight_sum and gs the
    row's upstream gradient: per row the max pass, exp(x - max) written into
    gx with its sum, and the scaling in place (softmax's passes); nothing
    else is allocated. Ignored rows get 0."""
    cdef Py_ssize_t r, c, i, k, tgt, rows = N * inner
    cdef const floating* row
    cdef floating* out
    cdef const double* w = &weight[0] if weight.shape[0] > 0 else NULL
    cdef const double* gr = &g[0] if g.shape[0] > 0 else NULL
    cdef floating m, e_t
    cdef double inv, gs, w_t, a, b
    if rows == 0 or C == 0:
        return
    for r in prange(rows, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=rows * C > GRAIN):
        i = r // inner
        k = r % inner
        out = &gx[0] + i * C * inner + k
        tgt = target[r]
        if tgt == ignore_index:
            for c in range(C):
                out[c * inner] = 0
            continue
        row = &x[0] + i * sN + k * sK
        m = _row_max(row, C, sC)
        gs = _row_grad(gr, r, scale)
        w_t = w[tgt] if w != NULL else 1.0
        a = gs * ((1 - eps) * w_t + eps / C * weight_sum)  # gs * sum_c w_c q_c
        b = gs * eps / C  # gs * q_c for c != t, before the class weight
        # passes: the max, exp(x - max) into out with its sum, the scaling in
        # place; (N, C) in C order gets its own unit-stride, vectorised copy
        if sC == 1 and inner == 1:
            inv = 1 / _exp_into(row, 1, out, 1, C, m)
            e_t = out[tgt]
            _ce_scale(out, 1, C, inv, a, b, w)
        else:
            inv = 1 / _exp_into(row, sC, out, inner, C, m)
            e_t = out[tgt * inner]
            _ce_scale(out, inner, C, inv, a, b, w)
        # the target's element, from its exp: one rounding, as the others
        out[tgt * inner] = <floating>(e_t * inv * a - gs * ((1 - eps) + eps / C) * w_t)


def cross_entropy_prob_backward(const floating[::1] x, const floating[::1] target,
                                Py_ssize_t sN, Py_ssize_t sC, Py_ssize_t sK,
                                Py_ssize_t tN, Py_ssize_t tC, Py_ssize_t tK,
                                Py_ssize_t N, Py_ssize_t C, Py_ssize_t inner,
                                const double[::1] weight, double eps, const double[::1] g,
                                double scale, floating[::1] gx, int n_threads):
    """Class probabilities: d loss / d x_c = gs (p_c sum_k w_k q_k - w_c q_c)
    with q = (1 - eps) target + eps / C."""
    cdef Py_ssize_t r, c, i, k, rows = N * inner
    cdef const floating* row
    cdef const floating* trow
    cdef floating* out
    cdef const double* w = &weight[0] if weight.shape[0] > 0 else NULL
    cdef const double* gr = &g[0] if g.shape[0] > 0 else NULL
    cdef floating m
    cdef double inv, gs, mass, wq
    if rows == 0 or C == 0:
        return
    for r in prange(rows, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=rows * C > GRAIN):
        i = r // inner
        k = r % inner
        out = &gx[0] + i * C * inner + k
        row = &x[0] + i * sN + k * sK
        trow = &target[0] + i * tN + k * tK
        m = _row_max(row, C, sC)
        inv = 1 / _exp_into(row, sC, out, inner, C, m)
        gs = _row_grad(gr, r, scale)
        mass = 0
        for c in range(C):
            wq = (1 - eps) * trow[c * tC] + eps / C
            if w != NULL:
                wq = wq * w[c]
            mass = mass + wq
        for c in range(C):
            wq = (1 - eps) * trow[c * tC] + eps / C
            if w != NULL:
                wq = wq * w[c]
            out[c * inner] = <floating>(gs * (out[c * inner] * inv * mass - wq))


def nll_backward(Py_ssize_t N, Py_ssize_t C, Py_ssize_t inner, const int64_t[::1] target,
                 const double[::1] weight, int64_t ignore_index, const double[::1] g,
                 double scale, floating[::1] gx, int n_threads):
    """-gs w_t at each counted row's target; gx must be zero-filled by the caller."""
    cdef Py_ssize_t r, tgt, rows = N * inner
    cdef const double* w = &weight[0] if weight.shape[0] > 0 else NULL
    cdef const double* gr = &g[0] if g.shape[0] > 0 else NULL
    if rows == 0:
        return
    for r in prange(rows, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=rows > GRAIN):
        tgt = target[r]
        if tgt != ignore_index:
            gx[((r // inner) * C + tgt) * inner + r % inner] = <floating>(
                -_row_grad(gr, r, scale) * (w[tgt] if w != NULL else 1.0))


def ordered_sum(const double[::1] v):
    """Sum in index order: the same bits whatever thread computed each term."""
    cdef Py_ssize_t i
    cdef double s = 0
    with nogil:
        for i in range(v.shape[0]):
            s += v[i]
    return s
