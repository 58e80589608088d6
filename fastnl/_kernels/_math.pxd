# One name per libm function for both float widths: inside a function over the
# fused type `floating`, the `if floating is float` test is resolved at compile
# time, so float32 data calls the float32 routine (expf, ...) with no branch.

from libc.math cimport (exp, expf, expm1, expm1f, log, logf, log1p, log1pf, tanh, tanhf,
                        erfc, erfcf, fabs, fabsf)
from cython cimport floating


cdef inline floating exp_(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating expm1_(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


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


cdef inline floating tanh_(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating erfc_(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline floating fabs_(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)
