"""Extension definitions and OpenMP detection; all metadata is in pyproject.toml.

Kernels are Cython. Files named ``*.pyx.tp`` are Tempita templates that expand
to one written-out loop per operation; they are expanded here, at build time,
so the generated ``.pyx`` never goes stale in the repository.

Environment:
    FASTNL_NO_OPENMP=1   build serial kernels even where OpenMP is available.
    FASTNL_NATIVE=1      build the vector kernels (elementwise, row-wise) for this machine only
                         (-march=native) instead of run-time selected clones.
"""

import os
import runpy
import tempfile
import warnings
from pathlib import Path

from Cython.Build import cythonize
from Cython.Tempita import sub as tempita_sub
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

KERNELS = Path("fastnl", "_kernels")
# Largest first: build_ext compiles them concurrently (BuildExt below), and
# starting the long compiles first keeps the small ones from making the tail.
MODULES = ["_elementwise", "_rowwise", "_losses", "_rowlosses", "_ctc", "_pool", "_build", "_ulp"]


def expand_templates():
    # the table of activations (pure data): the elementwise loops and ufuncs
    table = runpy.run_path(str(Path("fastnl", "_ops.py")))
    names = {name: table[name] for name in ("KERNELS", "UFUNCS", "GRAIN_SIZE", "CHEAP")}
    for template in KERNELS.glob("*.pyx.tp"):
        target = template.with_suffix("")  # strip ".tp"
        text = tempita_sub(template.read_text(), **names)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


# (compile flags, link flags) to try, in order: GCC and LLVM clang take
# -fopenmp; Apple clang needs the preprocessor flag and Homebrew's libomp
# (its include and library paths come from CPPFLAGS/LDFLAGS).
OPENMP_CANDIDATES = [(["-fopenmp"], ["-fopenmp"]),
                     (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]


def builds(compiler, source, compile_flags, link_flags=None):
    """Whether the compiler builds `source` (C) with `compile_flags` and, given
    `link_flags`, links it into a program."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "probe.c")
        path.write_text(source)
        try:
            objects = compiler.compile([str(path)], output_dir=tmp, extra_postargs=compile_flags)
            if link_flags is not None:
                compiler.link_executable(objects, str(Path(tmp, "probe")),
                                         extra_postargs=link_flags)
        except Exception:
            return False
    return True


def openmp_flags(compiler):
    """(compile flags, link flags) for OpenMP, or None when it cannot be used."""
    if os.environ.get("FASTNL_NO_OPENMP", "") not in ("", "0"):
        return None
    if compiler.compiler_type == "msvc":
        return ["/openmp"], []
    probe = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    for compile_flags, link_flags in OPENMP_CANDIDATES:
        if builds(compiler, probe, compile_flags, link_flags):
            return compile_flags, link_flags
    return None


# GCC's limit on the size of a function it inlines, raised for the vector
# modules: the losses' Cython wrappers (cdef inline) of the always-inline
# scalar math must be inlined for their loops to vectorise, and past the
# default the float64 sigmoid's wrapper stayed a call per element
# (binary_cross_entropy_with_logits_backward of 10^5 float64: 2.4 ms against
# 0.16). Used where the compiler takes it without a warning.
INLINE_LIMIT = ["--param", "max-inline-insns-single=1000"]


# modules whose hot loops are C under `#pragma omp simd` with target_clones
VECTOR_MODULES = ("_elementwise", "_rowwise", "_losses", "_rowlosses", "_ctc")


def numpy_flags():
    """NumPy's headers, for the modules that use its C API."""
    import numpy
    return [f"-I{numpy.get_include()}", "-DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION"]


def elementwise_flags(compiler, openmp, inline_limit):
    """Flags of the vector kernels, VECTOR_MODULES (C loops under `#pragma omp simd`).

    NumPy's headers (the small-call path uses its C API). With GCC/clang: -O3;
    -fopenmp-simd so the simd pragmas hold without OpenMP too;
    -fno-trapping-math so compares inside loops can become vector blends and
    -fno-math-errno: neither changes an IEEE result (unlike -ffast-math, never
    used: it breaks NaN/inf and sets flush-to-zero process-wide).
    """
    args = numpy_flags()
    if compiler.compiler_type == "msvc":
        return args
    args += ["-O3", "-fno-trapping-math", "-fno-math-errno"]
    if inline_limit:
        args += INLINE_LIMIT
    if not openmp:
        args.append("-fopenmp-simd")
    if os.environ.get("FASTNL_NATIVE", "") not in ("", "0"):
        args += ["-march=native", "-DFASTNL_NO_CLONES"]
    return args


def usable_cpus():
    """The CPUs this process may run on (not those of the whole machine)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # Compile the extension modules concurrently, one per usable CPU,
        # unless -j/--parallel says otherwise: pip passes no -j, and a serial
        # build of the five modules takes about twice as long on two cores.
        if not self.parallel:
            self.parallel = min(usable_cpus(), len(MODULES))

    def build_extensions(self):
        flags = openmp_flags(self.compiler)
        if flags is None:
            reason = ("FASTNL_NO_OPENMP is set" if os.environ.get("FASTNL_NO_OPENMP")
                      else "the compiler cannot build and link an OpenMP program")
            warnings.warn("\n" + "*" * 72 + f"\nfastnl: building WITHOUT OpenMP ({reason}).\n"
                          "Every kernel will run on one thread. On macOS, install libomp\n"
                          "(brew install libomp) and build with a compiler that supports it.\n"
                          + "*" * 72, stacklevel=1)
        inline_limit = (self.compiler.compiler_type != "msvc"
                        and builds(self.compiler, "int fastnl_probe;\n", INLINE_LIMIT + ["-Werror"]))
        for ext in self.extensions:
            if flags is not None:
                ext.extra_compile_args += flags[0]
                ext.extra_link_args += flags[1]
            if ext.name.rsplit(".", 1)[-1] in VECTOR_MODULES:
                ext.extra_compile_args += elementwise_flags(self.compiler, flags is not None,
                                                             inline_limit)
            elif ext.name.endswith("_pool"):  # NumPy's C API only
                ext.extra_compile_args += numpy_flags()
        super().build_extensions()

    def run(self):
        super().run()
        # Python puts the current directory first on sys.path, so right after
        # `pip install .` in a checkout, `python -m fastnl` imports ./fastnl,
        # not the installed copy: give the checkout the compiled kernels too.
        if not self.inplace:
            self.copy_extensions_to_source()


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        # The sdist carries each template, never the .pyx expanded from it.
        files = [f for f in files if not (f.endswith(".pyx") and Path(f + ".tp").exists())]
        super().make_release_tree(base_dir, files)


def extensions():
    expand_templates()
    # The scalar math is in C headers beside the kernels (fnl_*.h): found by
    # include_dirs, and listed as depends so that editing one rebuilds.
    headers = sorted(str(h) for h in KERNELS.glob("*.h"))
    exts = [Extension(f"fastnl._kernels.{name}", [str(KERNELS / f"{name}.pyx")],
                      include_dirs=[str(KERNELS)], depends=headers)
            for name in MODULES]
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "cpow": True,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt, "sdist": Sdist})
