# What OpenMP this build has, and the runtime's default thread count.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastnl_openmp_version(void) { return _OPENMP; }
    static int fastnl_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fastnl_openmp_version(void) { return 0; }
    static int fastnl_max_threads(void) { return 1; }
    #endif
    """
    int fastnl_openmp_version() nogil
    int fastnl_max_threads() nogil


def openmp_version():
    """The _OPENMP date (e.g. 201511) the kernels were built with, 0 for a serial build."""
    return fastnl_openmp_version()


def max_threads():
    """OpenMP's current default team size (honours OMP_NUM_THREADS, CPU affinity
    and threadpoolctl's limits); 1 for a serial build."""
    return fastnl_max_threads()
