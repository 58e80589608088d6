# libm's log1p and fabs under one name for both float widths: inside a
# function over the fused type `floating`, the `if floating is float` test is
# resolved at compile time, so float32 data calls the float32 routine
# (log1pf, ...) with no branch. fastnl's own functions (exp, sigmoid, log,
# ...; fnl_math.h) are in _scalar.pxd; these are the ones it has no version
# of its own for (its log1p covers [0, 1] only).

from libc.math cimport log1p, log1pf, fabs, fabsf
from cython cimport floating


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
