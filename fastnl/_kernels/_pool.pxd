cimport numpy as cnp

cdef cnp.ndarray empty_array(int nd, cnp.npy_intp* dims, int typenum, int fortran=*)
