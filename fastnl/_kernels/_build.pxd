# The one thread count of every kernel, for the modules whose C reads it
# without the GIL (the elementwise kernels and ufuncs).
cdef int threads_for_kernel() noexcept nogil
