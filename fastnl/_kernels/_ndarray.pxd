# Checks of the small-call paths (_elementwise.fast, _rowwise.fast_softmax and
# fast_softmax_backward): plain ndarrays are used through NumPy's C API with no
# memoryview (whose acquisition costs a microsecond per array); anything else
# goes to the general path in Python, which converts, copies and raises.

cimport numpy as cnp
from fastnl._kernels._pool cimport empty_array


cdef inline bint plain_array(object a, int typenum):
    """`a` is an aligned, C-contiguous, native-order ndarray of `typenum`."""
    cdef cnp.ndarray arr
    if type(a) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_ISNOTSWAPPED(arr)
            and cnp.PyArray_ISCARRAY_RO(arr))


cdef inline int float_typenum(object a):
    """NPY_FLOAT or NPY_DOUBLE for a plain float32 / float64 ndarray of at least
    one dimension, else -1."""
    cdef int typenum
    if type(a) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>a) == 0:
        return -1
    typenum = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if typenum != cnp.NPY_FLOAT and typenum != cnp.NPY_DOUBLE:
        return -1
    return typenum if plain_array(a, typenum) else -1


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b):
    cdef int d, nd = cnp.PyArray_NDIM(a)
    if cnp.PyArray_NDIM(b) != nd:
        return False
    for d in range(nd):
        if cnp.PyArray_DIM(a, d) != cnp.PyArray_DIM(b, d):
            return False
    return True


cdef inline bint overlaps(cnp.ndarray a, cnp.ndarray b):
    cdef char *pa = <char *>cnp.PyArray_DATA(a)
    cdef char *pb = <char *>cnp.PyArray_DATA(b)
    cdef Py_ssize_t na = cnp.PyArray_NBYTES(a), nb = cnp.PyArray_NBYTES(b)
    return pa < pb + nb and pb < pa + na


cdef inline object plain_out(object out, cnp.ndarray like, tuple inputs):
    """The array a small-call path writes into: a new one of `like`'s shape and
    type for out=None; `out` itself when it is a plain writeable array of that
    shape and type that is one of `inputs` (in place) or overlaps none of them;
    else None (the general path writes through a temporary, or raises)."""
    cdef cnp.ndarray oa
    cdef int typenum = cnp.PyArray_TYPE(like)
    if out is None:
        return empty_array(cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like), typenum)
    if not plain_array(out, typenum):
        return None
    oa = <cnp.ndarray>out
    if not cnp.PyArray_ISWRITEABLE(oa) or not same_shape(oa, like):
        return None
    for a in inputs:
        if a is not None and a is not oa and overlaps(oa, <cnp.ndarray>a):
            return None
    return oa
