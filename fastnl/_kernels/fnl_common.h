/* fastnl: portability macros of the scalar math headers (fnl_math.h,
   fnl_activations.h). */
#ifndef FNL_COMMON_H
#define FNL_COMMON_H

#include <math.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
/* MSVC has no GCC builtins */
#define FNL_INLINE static __forceinline
#define FNL_FABSF fabsf
#define FNL_FABS fabs
#define FNL_COPYSIGNF copysignf
#define FNL_COPYSIGN copysign
#else
/* Always inlined: a call inside a `#pragma omp simd` loop would not
   vectorise, and inside a target_clones kernel the inlined copy is compiled
   for that clone's instruction set (AVX-512, AVX2+FMA or baseline). */
#define FNL_INLINE static inline __attribute__((always_inline))
#define FNL_FABSF __builtin_fabsf
#define FNL_FABS __builtin_fabs
#define FNL_COPYSIGNF __builtin_copysignf
#define FNL_COPYSIGN __builtin_copysign
#endif

#endif /* FNL_COMMON_H */
