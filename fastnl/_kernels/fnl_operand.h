/* fastnl: operands of any strides, as the loss loops (_losses) and the
   elementwise kernels (_elementwise) read them: a description built once
   per call (describe_operand, _ndarray.pxd) and the elements of a stretch
   of it, in place or gathered (fnl_operand_run_<T>). Gathering a block at
   a time, in the threads that compute on it, replaces a single-threaded
   copy of the whole operand before the kernel, which took longer than the
   kernel itself (mse_loss of x[:, ::2], 4096 x 256 float64, two threads:
   10 times torch's time). */
#ifndef FNL_OPERAND_H
#define FNL_OPERAND_H

#include "fnl_common.h"

#define FNL_OPERAND_AXES 64  /* NumPy's most axes (NPY_MAXDIMS) */
/* Gathered operands are gathered and computed this many elements at a
   time, so that the pieces stay in L1 (mse_loss of x[:, ::2] and x[:, 1::2],
   float64, one thread: 1140 us in blocks of 4096, 1010 in these) */
#define FNL_GATHER_CHUNK 1024
/* An operand as the kernels read it: its element 0 and, unless it is
   contiguous (ndim 0: read in place), its axes of more than one element,
   each merged into the axis before it where the two step as one, with
   their byte strides (any sign; 0 along a broadcast axis). */
typedef struct {
    const char *data;
    int ndim;
    ptrdiff_t shape[FNL_OPERAND_AXES], strides[FNL_OPERAND_AXES];
} fnl_operand;
/* Where elements pos .. pos + m - 1 (C order) of a strided operand are:
   in place where `in_place` and they are one contiguous run (the caller
   keeps m within the operand's last axis), else gathered into dst a run
   along the last axis at a time (a fill where it is broadcast, a copy
   where it is contiguous), the outer axes' indices carried from one
   run to the next. A module instantiates it for the types it reads,
   FNL_OPERAND_RUN(float) defining fnl_operand_run_float. */
#define FNL_OPERAND_RUN(T) \
FNL_CLONES static const T *fnl_operand_run_##T(const fnl_operand *a, ptrdiff_t pos, \
                                               ptrdiff_t m, int in_place, T *dst) { \
    ptrdiff_t idx[FNL_OPERAND_AXES], rest = pos, j; \
    int k, last = a->ndim - 1; \
    const char *p = a->data; \
    T *out = dst; \
    for (k = last; k >= 0; k--) { \
        idx[k] = rest % a->shape[k]; \
        rest /= a->shape[k]; \
        p += idx[k] * a->strides[k]; \
    } \
    ptrdiff_t n = a->shape[last], s = a->strides[last]; \
    if (in_place && s == (ptrdiff_t)sizeof(T)) \
        return (const T *)p; \
    while (m > 0) { \
        ptrdiff_t run = n - idx[last] < m ? n - idx[last] : m; \
        const T *src = (const T *)p; \
        if (s == 0) { \
            FNL_SIMD \
            for (j = 0; j < run; j++) dst[j] = src[0]; \
        } else if (s == (ptrdiff_t)sizeof(T)) { \
            FNL_SIMD \
            for (j = 0; j < run; j++) dst[j] = src[j]; \
        } else if (s == 2 * (ptrdiff_t)sizeof(T)) { /* x[..., ::2]: vector shuffles */ \
            FNL_SIMD \
            for (j = 0; j < run; j++) dst[j] = src[2 * j]; \
        } else { \
            ptrdiff_t step = s / (ptrdiff_t)sizeof(T); \
            for (j = 0; j < run; j++) dst[j] = src[j * step]; \
        } \
        dst += run; \
        m -= run; \
        p += run * s; \
        idx[last] += run; \
        if (idx[last] < n) \
            continue; \
        p -= n * s; \
        idx[last] = 0; \
        for (k = last - 1; k >= 0; k--) { \
            p += a->strides[k]; \
            if (++idx[k] < a->shape[k]) \
                break; \
            p -= a->shape[k] * a->strides[k]; \
            idx[k] = 0; \
        } \
    } \
    return out; \
}

#endif /* FNL_OPERAND_H */
