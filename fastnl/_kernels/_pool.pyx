# The memory of fastnl's large outputs, and a small cache of it.
#
# An array fresh from the operating system costs, on its first write, a page
# fault per page and the zeroing of that page: for a 10^7-element float64
# result that is more time than computing a sigmoid into memory already
# mapped (measured: 46 ms allocating against 20 ms with out= reused, one
# thread). fastnl therefore allocates its outputs of 1 MiB and more through
# NumPy's memory-handler hook (NEP 49) with a handler that keeps a few freed
# blocks (FPL_KEPT_BLOCKS, at most `limit` bytes in all; the blocks freed
# longest ago make room for new ones) and hands them to the next output they
# fit: a loop of allocating calls writes into memory already mapped.
# Only fastnl's own outputs use this handler (it is set around their
# allocation only); the rest of the process keeps NumPy's.
#
# NumPy allocates and frees array memory holding the GIL, which serialises
# the handler's calls; a build of Python without the GIL gets no cache.
# The public calls are fastnl.set_output_cache_limit and
# fastnl.release_output_cache (fastnl/_output_cache.py).

import math
import os

import numpy as np

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_New

cnp.import_array()

cdef extern from *:
    """
    #include <stdlib.h>
    #include <numpy/arrayobject.h>

    #define FPL_KEPT_BLOCKS 4
    #define FPL_MIN_BYTES ((size_t)1 << 20)

    /* the kept blocks; `age` orders them by when they were freed */
    static struct { void *ptr; size_t size; unsigned long long age; } fpl_kept[FPL_KEPT_BLOCKS];
    static size_t fpl_kept_bytes = 0, fpl_limit = 0;
    static unsigned long long fpl_clock = 0;

    static void fpl_drop(int i) {
        free(fpl_kept[i].ptr);
        fpl_kept[i].ptr = NULL;
        fpl_kept_bytes -= fpl_kept[i].size;
    }

    /* The smallest kept block that holds `size` bytes and is at most an
       eighth larger, else fresh memory. */
    static void *fpl_malloc(void *ctx, size_t size) {
        int i, best = -1;
        (void)ctx;
        for (i = 0; i < FPL_KEPT_BLOCKS; i++)
            if (fpl_kept[i].ptr != NULL && fpl_kept[i].size >= size
                    && fpl_kept[i].size - size <= size / 8
                    && (best < 0 || fpl_kept[i].size < fpl_kept[best].size))
                best = i;
        if (best >= 0) {
            void *p = fpl_kept[best].ptr;
            fpl_kept[best].ptr = NULL;
            fpl_kept_bytes -= fpl_kept[best].size;
            return p;
        }
        return malloc(size ? size : 1);
    }
    static void *fpl_calloc(void *ctx, size_t n, size_t size) {
        (void)ctx;
        return calloc(n ? n : 1, size ? size : 1);
    }
    static void *fpl_realloc(void *ctx, void *ptr, size_t size) {
        (void)ctx;
        return realloc(ptr, size ? size : 1);
    }
    /* Keep a large block, giving back the blocks freed longest ago to make
       room: the block freed last is the likeliest to fit the next output (a
       loop of calls). `size`, what NumPy asked for, may be up to an eighth
       less than the block: it is what the block is known to hold. */
    static void fpl_free(void *ctx, void *ptr, size_t size) {
        int i, slot;
        (void)ctx;
        if (ptr == NULL)
            return;
        if (size < FPL_MIN_BYTES || size > fpl_limit) {
            free(ptr);
            return;
        }
        for (;;) {
            int oldest = -1;
            slot = -1;
            for (i = 0; i < FPL_KEPT_BLOCKS; i++) {
                if (fpl_kept[i].ptr == NULL)
                    slot = i;
                else if (oldest < 0 || fpl_kept[i].age < fpl_kept[oldest].age)
                    oldest = i;
            }
            if (slot >= 0 && fpl_kept_bytes + size <= fpl_limit)
                break;
            fpl_drop(oldest);  /* some block is kept: no room otherwise */
        }
        fpl_kept[slot].ptr = ptr;
        fpl_kept[slot].size = size;
        fpl_kept[slot].age = ++fpl_clock;
        fpl_kept_bytes += size;
    }
    /* Give every kept block back to the system. */
    static void fpl_release(void) {
        int i;
        for (i = 0; i < FPL_KEPT_BLOCKS; i++)
            if (fpl_kept[i].ptr != NULL)
                fpl_drop(i);
    }

    static PyDataMem_Handler fpl_handler = {
        "fastnl_output_cache", 1,
        {NULL, fpl_malloc, fpl_calloc, fpl_realloc, fpl_free}
    };
    #ifdef Py_GIL_DISABLED
    #define FPL_CACHE_POSSIBLE 0
    #else
    #define FPL_CACHE_POSSIBLE 1
    #endif
    """
    ctypedef struct PyDataMem_Handler:
        pass
    PyDataMem_Handler fpl_handler
    size_t fpl_limit, fpl_kept_bytes, FPL_MIN_BYTES
    int FPL_CACHE_POSSIBLE
    void fpl_release()
    object PyDataMem_SetHandler(object handler)

# The handler, as NumPy takes it: a capsule named "mem_handler"; it lives as
# long as the module (arrays made with it hold a reference).
cdef object _handler = PyCapsule_New(<void *>&fpl_handler, "mem_handler", NULL)


cdef cnp.ndarray empty_array(int nd, cnp.npy_intp* dims, int typenum, int fortran=0):
    """PyArray_EMPTY in C order (Fortran order with `fortran`), through the
    cache for 1 MiB and more."""
    cdef Py_ssize_t nbytes = cnp.PyArray_MultiplyList(dims, nd) * \
        cnp.PyDataType_ELSIZE(cnp.PyArray_DescrFromType(typenum))
    if fpl_limit == 0 or <size_t>nbytes < FPL_MIN_BYTES:
        return cnp.PyArray_EMPTY(nd, dims, typenum, fortran)
    previous = PyDataMem_SetHandler(_handler)
    try:
        return cnp.PyArray_EMPTY(nd, dims, typenum, fortran)
    finally:
        PyDataMem_SetHandler(previous)


def empty(shape, dtype, order="C"):
    """numpy.empty for a fastnl output: through the cache for 1 MiB and more."""
    dtype = np.dtype(dtype)
    count = math.prod(shape) if np.iterable(shape) else shape  # an int, as numpy.empty takes
    if fpl_limit == 0 or count * dtype.itemsize < <Py_ssize_t>FPL_MIN_BYTES:
        return np.empty(shape, dtype, order=order)
    previous = PyDataMem_SetHandler(_handler)
    try:
        return np.empty(shape, dtype, order=order)
    finally:
        PyDataMem_SetHandler(previous)


def set_limit(Py_ssize_t nbytes):
    """Keep at most `nbytes` of freed outputs (0: none; the kept blocks are
    given back at once when the limit falls below what is kept)."""
    global fpl_limit
    if nbytes < 0:
        raise ValueError(f"the cache limit must be >= 0, got {nbytes}")
    if not FPL_CACHE_POSSIBLE:
        nbytes = 0
    fpl_limit = <size_t>nbytes
    if fpl_kept_bytes > fpl_limit:
        fpl_release()


def release():
    """Give every kept block back to the system (the limit stays); returns
    the bytes released."""
    cdef size_t released = fpl_kept_bytes
    fpl_release()
    return released


def limit():
    """The most bytes of freed outputs kept for reuse (0: the cache is off)."""
    return fpl_limit


def kept():
    """The bytes of freed outputs kept for reuse now."""
    return fpl_kept_bytes


# FASTNL_OUTPUT_CACHE_MB: the limit in MiB (0 turns the cache off).
set_limit(int(os.environ.get("FASTNL_OUTPUT_CACHE_MB", "256")) << 20)
