# libm's log1p, fabs and fma under one name for both float widths: inside a
# function over the fused type `floating`, the `if floating is float` test is
# resolved at compile time, so float32 data calls the float32 routine
# (log1pf, ...) with no branch. fastnl's own functions (exp, sigmoid, log,
# ...; fnl_math.h) are in _scalar.pxd; these are the ones it has no version
# of its own for (its log1p covers [0, 1] only).

from libc.math cimport log1p, log1pf, fabs, fabsf, fma, fmaf
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


cdef inline floating fma_(floating a, floating b, floating c) noexcept nogil:
    # a b + c rounded once. Where a sum of two products is written a b + c d,
    # GCC fuses one of the two, and may pick another in a loop's vector body
    # than in its scalar remainder: the same element then gets other bits in
    # a short call than in a long one. An explicit fma decides.
    if floating is float:
        return fmaf(a, b, c)
    else:
        return fma(a, b, c)
