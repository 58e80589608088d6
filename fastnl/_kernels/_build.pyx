# Facts about this build, read from the C compiler's own macros.

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
    #define FASTNL_STR2(x) #x
    #define FASTNL_STR(x) FASTNL_STR2(x)
    #if defined(__clang__)
    #define FASTNL_COMPILER "clang " __clang_version__
    #elif defined(__GNUC__)
    #define FASTNL_COMPILER "gcc " __VERSION__
    #elif defined(_MSC_VER)
    #define FASTNL_COMPILER "msvc " FASTNL_STR(_MSC_FULL_VER)
    #else
    #define FASTNL_COMPILER "unknown"
    #endif
    """
    int fastnl_openmp_version() nogil
    int fastnl_max_threads() nogil
    const char *FASTNL_COMPILER


def openmp_version():
    """The _OPENMP date (e.g. 201511) the kernels were built with, 0 for a serial build."""
    return fastnl_openmp_version()


def max_threads():
    """OpenMP's current default team size (honours OMP_NUM_THREADS, CPU affinity
    and threadpoolctl's limits); 1 for a serial build."""
    return fastnl_max_threads()


def compiler():
    """The C compiler and version that built the kernels."""
    return FASTNL_COMPILER.decode()
