"""The C headers of the scalar math (fastnl/_kernels/fnl_*.h) compile on their
own, warning-free: each is real C that a C tool, or a reader, can take alone,
not a fragment that only builds inside the generated kernels."""

import os
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[1] / "fastnl" / "_kernels"
HEADERS = sorted(p.name for p in KERNELS.glob("fnl_*.h"))


def _compiler():
    """The C compiler Python's extensions are built with (or $CC), as an
    argument list; None where there is none, or it is MSVC (other flags)."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    return cc if shutil.which(cc[0]) else None


def test_headers_present():
    assert {"fnl_common.h", "fnl_math.h", "fnl_activations.h"} <= set(HEADERS)


@pytest.mark.parametrize("header", HEADERS)
def test_header_compiles_alone(header):
    cc = _compiler()
    if cc is None:
        pytest.skip("no GCC-style C compiler")
    # -fopenmp-simd: the kernels are always built with it or -fopenmp, and
    # without either `#pragma omp simd` (FNL_SIMD) is an unknown pragma
    cmd = cc + ["-fsyntax-only", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
                "-fopenmp-simd", "-x", "c", str(KERNELS / header)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, f"{shlex.join(cmd)}\n{run.stderr}"
