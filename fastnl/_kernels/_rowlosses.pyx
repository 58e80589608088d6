# Row losses over the last axis of (N, D) operands: cosine_embedding_loss.
# Loops only; the drivers (fastnl._drivers.losses) check and broadcast.
#
# Each row is one thread's, its sums in float64 in element order, so the
# results do not depend on the thread count; the per-row losses are float64
# (the driver sums them in row order).

from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport sqrt

cdef enum:
    # PyTorch's grain: below this many elements no thread is started.
    GRAIN = 32768
GRAIN_SIZE = GRAIN
# torch's EPSILON of cosine_embedding_loss, added to both squared norms: a
# float constant, 1e-12 rounded to float32 (9.99999996e-13), in any dtype
cdef double EPS = <float>1e-12
COSINE_EPS = EPS


cdef inline void _cosine(const floating *a, const floating *b, Py_ssize_t D, double *cos,
                         double *m1, double *m2, double *den) noexcept nogil:
    """cos = a.b / sqrt((|a|^2 + eps)(|b|^2 + eps)), and its parts."""
    cdef Py_ssize_t j
    cdef double p = 0, s1 = 0, s2 = 0
    for j in range(D):
        p = p + <double>a[j] * b[j]
        s1 = s1 + <double>a[j] * a[j]
        s2 = s2 + <double>b[j] * b[j]
    m1[0] = s1 + EPS
    m2[0] = s2 + EPS
    den[0] = sqrt(m1[0] * m2[0])
    cos[0] = p / den[0]


cdef inline double _passes(double z) noexcept nogil:
    # the sub-gradient of max(z, 0): 1 for z >= 0 (torch's), 0 below, NaN for NaN
    if z >= 0:
        return 1
    if z < 0:
        return 0
    return z


def cosine_embedding(const floating[:, ::1] x1, const floating[:, ::1] x2,
                     const floating[::1] y, double margin, double[::1] out, int n_threads):
    """Each row's loss: 1 - cos where y = 1, max(cos - margin, 0) where y = -1,
    0 for any other target (torch's where(...) + where(...))."""
    cdef Py_ssize_t n, N = x1.shape[0], D = x1.shape[1]
    cdef double cos, m1, m2, den, pos, neg
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * D > GRAIN):
        _cosine(&x1[n, 0] if D else NULL, &x2[n, 0] if D else NULL, D, &cos, &m1, &m2, &den)
        pos = 1 - cos if y[n] == 1 else 0
        neg = 0
        if y[n] == -1:
            neg = cos - margin
            neg = 0 if neg < 0 else neg
        out[n] = pos + neg


def cosine_embedding_backward(const floating[:, ::1] x1, const floating[:, ::1] x2,
                              const floating[::1] y, double margin, const floating[::1] g,
                              double scale, floating[:, ::1] gx1, floating[:, ::1] gx2,
                              int n_threads):
    """d loss / d cos times the row's upstream gradient (g[n], or `scale` for
    an empty g), through d cos / d x1 = x2 / den - cos x1 / m1 (and the same
    with the operands swapped)."""
    cdef Py_ssize_t n, j, N = x1.shape[0], D = x1.shape[1]
    cdef bint has_g = g.shape[0] > 0
    cdef double cos, m1, m2, den, c
    for n in prange(N, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=N * D > GRAIN):
        if D == 0:
            continue
        _cosine(&x1[n, 0], &x2[n, 0], D, &cos, &m1, &m2, &den)
        c = 0
        if y[n] == 1:
            c = -1
        if y[n] == -1:
            c = _passes(cos - margin)
        c = c * (g[n] if has_g else scale)
        for j in range(D):
            gx1[n, j] = <floating>(c * (x2[n, j] / den - cos * x1[n, j] / m1))
            gx2[n, j] = <floating>(c * (x1[n, j] / den - cos * x2[n, j] / m2))
