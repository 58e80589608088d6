# Facts about this build, read from the C compiler's own macros, and what
# fork() did to this process.

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

    /* fork() and OpenMP. GNU libgomp keeps the threads of its pool parked after
       a parallel region; fork() copies the pool's bookkeeping but not its
       threads, so the child's next region of more than one thread waits for
       them forever (libgomp's team.c starts a team of one without the pool,
       which is why one thread is safe). LLVM's libomp (and Intel's, the same
       code) resets itself in the child through pthread_atfork and starts a
       new pool. So a child runs fastnl on one thread when its runtime is not
       libomp and some ancestor may have started the pool. */
    enum { FASTNL_RT_NONE, FASTNL_RT_LIBGOMP, FASTNL_RT_LIBOMP, FASTNL_RT_UNKNOWN };
    static int fastnl_runtime = FASTNL_RT_NONE;
    static int fastnl_threads_started = 0;  /* fastnl handed a kernel > 1 thread */
    static int fastnl_forked = 0;           /* this process was made by fork() */
    static int fastnl_fork_serial = 0;      /* ...and must keep to one thread */
    static int fastnl_threads_set = 0;      /* set_num_threads's value; 0: OpenMP's default */

    /* The thread count of a kernel about to run (its caller starts threads
       only above the kernel's grain): one in a forked child that must keep
       to one, else set_num_threads's value or OpenMP's default of this call;
       more than one marks this process for its future children. */
    static int fastnl_kernel_threads(void) {
        int n = fastnl_fork_serial ? 1 : (fastnl_threads_set > 0 ? fastnl_threads_set
                                                                  : fastnl_max_threads());
        if (n > 1)
            fastnl_threads_started = 1;
        return n;
    }

    #if defined(_OPENMP) && !defined(_WIN32)
    #include <pthread.h>
    #include <dlfcn.h>  /* in libc since glibc 2.34; before, in libdl, which the
                           interpreter links to load extension modules */

    /* Runs in the child of every fork(), os.fork or a C library's alike; only
       plain stores here (the child of a threaded process may do little else). */
    static void fastnl_after_fork_child(void) {
        fastnl_forked = 1;
        if (fastnl_threads_started && fastnl_runtime != FASTNL_RT_LIBOMP)
            fastnl_fork_serial = 1;
    }

    /* The runtime that actually provides our omp_* calls (a libgomp.so.1 may
       be libomp under that name, as conda's llvm-openmp installs it): only
       LLVM/Intel's exports __kmpc_fork_call, the entry point clang compiles
       parallel regions to. */
    static int fastnl_find_runtime(void) {
        Dl_info info;
        void *lib, *kmpc = NULL;
        if (!dladdr((void *)&omp_get_max_threads, &info) || !info.dli_fname)
            return FASTNL_RT_UNKNOWN;
        lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (!lib)
            return FASTNL_RT_UNKNOWN;
        kmpc = dlsym(lib, "__kmpc_fork_call");
        dlclose(lib);
        return kmpc ? FASTNL_RT_LIBOMP : FASTNL_RT_LIBGOMP;
    }

    static int fastnl_fork_setup(void) {
        fastnl_runtime = fastnl_find_runtime();
        return pthread_atfork(NULL, NULL, fastnl_after_fork_child);
    }
    #elif defined(_OPENMP)  /* Windows: no fork() */
    static int fastnl_fork_setup(void) { fastnl_runtime = FASTNL_RT_UNKNOWN; return 0; }
    #else
    static int fastnl_fork_setup(void) { return 0; }
    #endif
    """
    int fastnl_openmp_version() nogil
    int fastnl_max_threads() nogil
    const char *FASTNL_COMPILER
    int fastnl_fork_setup()
    enum:
        FASTNL_RT_NONE
        FASTNL_RT_LIBGOMP
        FASTNL_RT_LIBOMP
        FASTNL_RT_UNKNOWN
    int fastnl_runtime, fastnl_threads_started, fastnl_forked, fastnl_fork_serial
    int fastnl_threads_set
    int fastnl_kernel_threads() nogil


if fastnl_fork_setup() != 0:
    raise MemoryError("pthread_atfork: cannot register fastnl's fork handler")


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


def openmp_runtime():
    """The OpenMP runtime the kernels run on: 'libgomp' (GNU), 'libomp' (LLVM
    or Intel), 'unknown' (not found, or Windows) or 'none' (serial build)."""
    return {FASTNL_RT_NONE: "none", FASTNL_RT_LIBGOMP: "libgomp",
            FASTNL_RT_LIBOMP: "libomp"}.get(fastnl_runtime, "unknown")


def forked():
    """True in a process made by fork() from one that had imported fastnl."""
    return bool(fastnl_forked)


def fork_serial():
    """True where the kernels must run on one thread: a forked child whose
    OpenMP runtime (not libomp) may hold a thread pool started before the fork."""
    return bool(fastnl_fork_serial)


def threads_started():
    """True once fastnl has handed a kernel more than one thread in this
    process (or an ancestor it was forked from)."""
    return bool(fastnl_threads_started)


def set_threads(int n):
    """set_num_threads's value for every kernel (0: OpenMP's default)."""
    global fastnl_threads_set
    fastnl_threads_set = n


def kernel_threads():
    """The thread count for a kernel about to run (see fastnl_kernel_threads);
    more than one records that this process may have started OpenMP threads,
    so that the children of a later fork() know."""
    return fastnl_kernel_threads()


cdef int threads_for_kernel() noexcept nogil:
    return fastnl_kernel_threads()
