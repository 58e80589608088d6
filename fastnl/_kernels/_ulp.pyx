# The tally of python -m fastnl.accuracy, compiled: the largest error in ulp,
# the first index where it occurs, how many errors are <= 1/2 ulp (correctly
# rounded) and how many are > 1 ulp.
#
# The exhaustive float32 check measures 2^32 results per function. NumPy's
# ulp_error (fastnl/_reference.py) makes a dozen full-size temporaries per
# call and then the tally reads its result four times: more than half the
# time of the whole check. Here a float32 result and the float64 stand-in of its exact
# value (--fast-reference) are measured and tallied in one pass, with exactly
# ulp_error's semantics for that pair (tests/test_accuracy_script.py checks
# them bit for bit); any other pair is measured by ulp_error and tallied here.
#
# Threads reduce fixed blocks, and the block results are combined in order,
# so the result is the same for any thread count.

from cython.parallel cimport prange
from libc.math cimport INFINITY, fabs, isfinite, isnan
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from libc.stdlib cimport free, malloc

cdef enum:
    GRAIN_SIZE = 32768  # below this many elements no thread is started
    BLOCK = 65536  # elements per block of the tally

cdef extern from *:
    """
    typedef struct { double worst; Py_ssize_t at, rounded, beyond; } fnl_tally;
    """
    ctypedef struct fnl_tally:
        double worst
        Py_ssize_t at, rounded, beyond


cdef inline double error_float32(float got, double y) noexcept nogil:
    """ulp_error(got, y) for a float32 result and a float64 exact value."""
    cdef double g = got
    cdef double rounded = <double><float>y  # inf where y is beyond float32's range
    cdef double scale
    cdef uint64_t bits
    cdef int k
    if isnan(g) or not isfinite(rounded):  # NaN must meet NaN, overflow its infinity
        return 0.0 if (isnan(g) and isnan(y)) or g == rounded else INFINITY
    # ulp(y) = 2^k: k = e - 24 for y = m 2^e with 1/2 <= |m| < 1, read from
    # y's exponent bits (calls to frexp and ldexp took two thirds of the
    # time), and the subnormal spacing 2^-149 below float32's smallest normal
    # number, float64's subnormals included; 0 has frexp's e = 0, as in
    # ulp_error (see its docstring)
    memcpy(&bits, &y, sizeof(double))
    k = <int>((bits >> 52) & 0x7FF) - 1022 - 24
    if y == 0:
        k = -24
    elif k < -149:
        k = -149
    bits = <uint64_t>(1023 - k) << 52  # 2^-k: the product rounds as the quotient by 2^k
    memcpy(&scale, &bits, sizeof(double))
    return fabs(g - y) * scale


cdef void tally_block(const float* got, const double* exact, const double* err,
                      Py_ssize_t start, Py_ssize_t stop, fnl_tally* t) noexcept nogil:
    """The tally of [start, stop): of `err` if given, else of got against exact."""
    cdef Py_ssize_t i
    cdef double e
    t.worst = -1.0
    t.at = -1
    t.rounded = 0
    t.beyond = 0
    for i in range(start, stop):
        e = err[i] if err != NULL else error_float32(got[i], exact[i])
        if e > t.worst:  # the first index of the largest error, as numpy.argmax
            t.worst = e
            t.at = i
        t.rounded += e <= 0.5
        t.beyond += e > 1


cdef tuple tally_of(const float* got, const double* exact, const double* err, Py_ssize_t n,
                    int n_threads):
    cdef Py_ssize_t b, n_blocks = (n + BLOCK - 1) // BLOCK
    cdef fnl_tally total
    cdef fnl_tally* blocks = <fnl_tally*>malloc(max(n_blocks, 1) * sizeof(fnl_tally))
    if blocks == NULL:
        raise MemoryError()
    for b in prange(n_blocks, nogil=True, schedule='static', num_threads=n_threads,
                    use_threads_if=n > GRAIN_SIZE):
        tally_block(got, exact, err, b * BLOCK, min(b * BLOCK + BLOCK, n), &blocks[b])
    total.worst = 0.0
    total.at = -1
    total.rounded = 0
    total.beyond = 0
    for b in range(n_blocks):  # in order: the earliest block wins a tie
        if blocks[b].worst > total.worst or total.at < 0:
            total.worst = blocks[b].worst
            total.at = blocks[b].at
        total.rounded += blocks[b].rounded
        total.beyond += blocks[b].beyond
    free(blocks)
    return total.worst, total.at, total.rounded, total.beyond


def tally_float32(const float[::1] got, const double[::1] exact, int n_threads):
    """(largest error, its first index, count <= 1/2 ulp, count > 1 ulp) of
    ulp_error(got, exact) for float32 results and float64 exact values; the
    index is -1 for empty arrays."""
    if got.shape[0] != exact.shape[0]:
        raise ValueError(f"{got.shape[0]} results but {exact.shape[0]} exact values")
    if got.shape[0] == 0:
        return 0.0, -1, 0, 0
    return tally_of(&got[0], &exact[0], NULL, got.shape[0], n_threads)


def tally(const double[::1] err, int n_threads):
    """The same tally of errors already measured (ulp_error's result)."""
    if err.shape[0] == 0:
        return 0.0, -1, 0, 0
    return tally_of(NULL, NULL, &err[0], err.shape[0], n_threads)


def ulp_error_float32(const float[::1] got, const double[::1] exact, double[::1] out):
    """The errors that tally_float32 tallies, one by one (for the tests)."""
    cdef Py_ssize_t i
    for i in range(got.shape[0]):
        out[i] = error_float32(got[i], exact[i])
