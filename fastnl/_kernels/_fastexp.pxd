# The float32 exp of d <= 0 of the row-wise kernels (the softmax family and
# cross-entropy only exponentiate d = x - max <= 0): fnl_exp_nonpos_f of
# fnl_math.h, which says how it works and how accurate it is. _rowwise.pyx.tp
# cimports this module for that header, and calls the function by its C
# name fastnl_expf_nonpos; float64 takes fnl_exp_d, the activations' own.

from cython cimport floating

cdef extern from "fnl_math.h":
    float expf_nonpos "fnl_exp_nonpos_f"(float d) noexcept nogil
    double exp_d "fnl_exp_d"(double d) noexcept nogil


cdef inline floating exp_nonpos(floating d) noexcept nogil:
    if floating is float:
        return expf_nonpos(d)
    else:
        return exp_d(d)
