# The scalar math of fnl_math.h for the Cython loops that are not the
# vectorised C kernels of _elementwise.pyx.tp: the losses' (through
# _loss_scalar.pxd). The math is written once, in those C
# headers, and shared with the elementwise kernels; here each function only
# gets one name for both float widths: inside a function over the fused type
# `floating`, `if floating is float` is resolved at compile time, so float32
# data calls the float32 version with no branch.

from cython cimport floating

cdef extern from "fnl_math.h" nogil:
    float fnl_exp_f(float x) noexcept
    double fnl_exp_d(double x) noexcept
    float fnl_sigmoid_f(float x) noexcept
    double fnl_sigmoid_d(double x) noexcept
    float fnl_log1p_exp_f(float x) noexcept
    double fnl_log1p_exp_d(double x) noexcept
    float fnl_log_f(float x) noexcept
    double fnl_log_d(double x) noexcept


cdef inline floating exp_(floating x) noexcept nogil:
    if floating is float:
        return fnl_exp_f(x)
    else:
        return fnl_exp_d(x)


cdef inline floating sigmoid(floating x) noexcept nogil:
    if floating is float:
        return fnl_sigmoid_f(x)
    else:
        return fnl_sigmoid_d(x)


cdef inline floating log_(floating x) noexcept nogil:
    # ours, branch-free, so that the loss loops vectorise: float32 in float64,
    # rounded once (0.5 ulp over every float32); float64 at most 0.91 ulp
    # (libm's is a call per element)
    if floating is float:
        return fnl_log_f(x)
    else:
        return fnl_log_d(x)


cdef inline floating log1p_exp(floating x) noexcept nogil:
    if floating is float:
        return fnl_log1p_exp_f(x)
    else:
        return fnl_log1p_exp_d(x)
