# One name per libm function for both float widths: inside a function over the
# fused type `floating`, the `if floating is float` test is resolved at compile
# time, so float32 data calls the float32 routine (expf, ...) with no branch.

from libc.math cimport exp, expf, log, logf, log1p, log1pf, fabs, fabsf
from cython cimport floating


cdef inline floating exp_(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating log_(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating log1p_(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating fabs_(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)
