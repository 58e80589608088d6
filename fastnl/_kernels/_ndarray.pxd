# Checks of the small-call paths (_elementwise.fast, _rowwise.fast_softmax and
# fast_softmax_backward): plain ndarrays are used through NumPy's C API with no
# memoryview (whose acquisition costs a microsecond per array); anything else
# goes to the general path in Python, which converts, copies and raises.

cimport numpy as cnp
from fastnl._kernels._pool cimport empty_array


cdef extern from "fnl_operand.h":
    enum: FNL_OPERAND_AXES
    ctypedef struct fnl_operand:
        const char *data
        int ndim
        Py_ssize_t shape[FNL_OPERAND_AXES]
        Py_ssize_t strides[FNL_OPERAND_AXES]


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b):
    cdef int d, nd = cnp.PyArray_NDIM(a)
    if cnp.PyArray_NDIM(b) != nd:
        return False
    for d in range(nd):
        if cnp.PyArray_DIM(a, d) != cnp.PyArray_DIM(b, d):
            return False
    return True


cdef inline cnp.ndarray check_operand(object a, cnp.ndarray like, int typenum, str name):
    """`a`, raising (naming it `name`) unless it is an ndarray the strided
    kernels read (describe_operand): aligned, native order, of `typenum` and
    of `like`'s shape."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if (cnp.PyArray_TYPE(<cnp.ndarray>a) != typenum or not cnp.PyArray_ISNOTSWAPPED(a)
            or not cnp.PyArray_ISALIGNED(a)):
        raise ValueError(f"{name} must be an aligned, native-order array of the kernel's dtype")
    if not same_shape(<cnp.ndarray>a, like):
        raise ValueError(f"{name} has shape {a.shape}, expected {(<object>like).shape}")
    return <cnp.ndarray>a


cdef inline bint describe_operand(cnp.ndarray a, fnl_operand *d) noexcept:
    """*d = `a` (aligned, native order, at most FNL_OPERAND_AXES axes: NumPy's
    limit) as the kernels read it (fnl_operand.h): in place where it is
    contiguous (ndim 0), else its axes of more than one element, each
    merged into the one before where the two step as one. Returns whether
    it is strided (ndim > 0)."""
    cdef int k, nd = 0
    cdef Py_ssize_t n, s
    d.data = <const char *>cnp.PyArray_DATA(a)
    d.ndim = 0
    if cnp.PyArray_IS_C_CONTIGUOUS(a):
        return False
    for k in range(cnp.PyArray_NDIM(a)):
        n, s = cnp.PyArray_DIM(a, k), cnp.PyArray_STRIDE(a, k)
        if n == 1:
            continue
        if nd and d.strides[nd - 1] == n * s:
            d.shape[nd - 1] *= n
            d.strides[nd - 1] = s
        else:
            d.shape[nd] = n
            d.strides[nd] = s
            nd += 1
    if nd == 1 and d.strides[0] == cnp.PyArray_ITEMSIZE(a):
        return False  # contiguous after all
    d.ndim = nd
    return True


cdef inline bint plain_array(object a, int typenum, bint fortran=False):
    """`a` is an aligned, C-contiguous (Fortran-contiguous with `fortran`),
    native-order ndarray of `typenum`."""
    cdef cnp.ndarray arr
    if type(a) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_ISNOTSWAPPED(arr)
            and (cnp.PyArray_ISFARRAY_RO(arr) if fortran else cnp.PyArray_ISCARRAY_RO(arr)))


cdef inline int float_type(object a):
    """NPY_FLOAT or NPY_DOUBLE for a float32 / float64 ndarray of at least one
    dimension, any layout, else -1."""
    cdef int typenum
    if type(a) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>a) == 0:
        return -1
    typenum = cnp.PyArray_TYPE(<cnp.ndarray>a)
    return typenum if typenum == cnp.NPY_FLOAT or typenum == cnp.NPY_DOUBLE else -1


cdef inline int float_typenum(object a):
    """float_type for a plain (plain_array) ndarray, else -1."""
    cdef int typenum = float_type(a)
    return typenum if typenum >= 0 and plain_array(a, typenum) else -1


cdef inline char *extent(cnp.ndarray a, char **end):
    """The first byte of `a`'s memory, and in *end one past its last, for any
    strides (negative ones reach below the data pointer)."""
    cdef char *lo = <char *>cnp.PyArray_DATA(a)
    cdef char *hi = lo
    cdef int d
    cdef Py_ssize_t step
    if cnp.PyArray_SIZE(a) == 0:
        end[0] = lo
        return lo
    for d in range(cnp.PyArray_NDIM(a)):
        step = (cnp.PyArray_DIM(a, d) - 1) * cnp.PyArray_STRIDE(a, d)
        if step < 0:
            lo += step
        else:
            hi += step
    end[0] = hi + cnp.PyArray_ITEMSIZE(a)
    return lo


cdef inline bint overlaps(cnp.ndarray a, cnp.ndarray b):
    """Whether the memory spans of a and b meet (numpy.may_share_memory)."""
    cdef char *ea
    cdef char *eb
    cdef char *pa = extent(a, &ea)
    cdef char *pb = extent(b, &eb)
    return pa < eb and pb < ea


cdef inline object plain_out(object out, cnp.ndarray like, tuple inputs, bint fortran=False):
    """The array a small-call path writes into: a new one of `like`'s shape and
    type for out=None; `out` itself when it is a plain writeable array of that
    shape and type that is one of `inputs` (in place) or overlaps none of them;
    else None (the general path writes through a temporary, or raises). In
    Fortran order with `fortran`."""
    cdef cnp.ndarray oa
    cdef int typenum = cnp.PyArray_TYPE(like)
    if out is None:
        return empty_array(cnp.PyArray_NDIM(like), cnp.PyArray_DIMS(like), typenum, fortran)
    if not plain_array(out, typenum, fortran):
        return None
    oa = <cnp.ndarray>out
    if not cnp.PyArray_ISWRITEABLE(oa) or not same_shape(oa, like):
        return None
    for a in inputs:
        if a is not None and a is not oa and overlaps(oa, <cnp.ndarray>a):
            return None
    return oa


# Fewest elements per row for the kernels over rows that lie apart
# (_elementwise's Kernel.rows): below, a call per row costs more than a copy
cdef enum:
    MIN_ROW = 8


cdef inline Py_ssize_t row_length(cnp.ndarray a):
    """How many elements the trailing axes of `a` that lie contiguous hold
    (C order; x[:, i:j] of an (N, C, H, W) array: (j - i) H W), 0 where its
    last axis is not contiguous: the longest rows the elementwise kernels
    can read `a` as."""
    cdef int d = cnp.PyArray_NDIM(a) - 1
    cdef Py_ssize_t n = 1, step = cnp.PyArray_ITEMSIZE(a)
    if d < 0 or cnp.PyArray_STRIDE(a, d) != step:
        return 0
    while d >= 0 and (cnp.PyArray_DIM(a, d) == 1 or cnp.PyArray_STRIDE(a, d) == step * n):
        n *= cnp.PyArray_DIM(a, d)
        d -= 1
    return n


cdef inline bint row_layout(cnp.ndarray a, Py_ssize_t *stride, Py_ssize_t cols=0):
    """Whether `a` (aligned, native order, two or more dimensions) is rows of
    `cols` (default: its last axis) contiguous elements, at least MIN_ROW,
    whose other axes collapse into one (x[:, a:b], a broadcast row, a
    C-ordered array; with cols = row_length(a), x[:, i:j] of (N, C, H, W)
    as rows of (j - i) H W); their byte stride (any sign, 0 for a broadcast
    row) in *stride."""
    cdef int d, nd = cnp.PyArray_NDIM(a)
    cdef Py_ssize_t n, inner_n = 0, inner_s = 0, row = 1
    if (nd < 2 or not cnp.PyArray_ISNOTSWAPPED(a) or not cnp.PyArray_ISALIGNED(a)
            or cnp.PyArray_STRIDE(a, nd - 1) != cnp.PyArray_ITEMSIZE(a)):
        return False
    if cols == 0:
        cols = cnp.PyArray_DIM(a, nd - 1)
    if cols < MIN_ROW:
        return False
    d = nd - 1
    while row < cols:  # the row's axes, each contiguous with those after it
        if d < 0 or (cnp.PyArray_DIM(a, d) != 1
                     and cnp.PyArray_STRIDE(a, d) != row * cnp.PyArray_ITEMSIZE(a)):
            return False
        row *= cnp.PyArray_DIM(a, d)
        d -= 1
    if row != cols:
        return False
    stride[0] = 0
    for d in range(d, -1, -1):  # the leading axes, innermost first; size 1 has no step
        n = cnp.PyArray_DIM(a, d)
        if n == 1:
            continue
        if inner_n == 0:
            stride[0] = cnp.PyArray_STRIDE(a, d)
        elif cnp.PyArray_STRIDE(a, d) != inner_n * inner_s:
            return False
        inner_n, inner_s = n, cnp.PyArray_STRIDE(a, d)
    return True
