"""Thread control: get/set/num_threads, OMP_NUM_THREADS, threadpoolctl."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastnl
from fastnl._config import _usable_cpus
from fastnl._kernels import _build


def test_set_get_and_reset():
    default = fastnl.get_num_threads()
    assert default >= 1
    fastnl.set_num_threads(3)
    try:
        assert fastnl.get_num_threads() == 3
    finally:
        fastnl.set_num_threads(None)
    assert fastnl.get_num_threads() == default


def test_context_manager_restores_even_on_error():
    default = fastnl.get_num_threads()
    with pytest.raises(RuntimeError):
        with fastnl.num_threads(1):
            assert fastnl.get_num_threads() == 1
            raise RuntimeError
    assert fastnl.get_num_threads() == default


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError),
                                        (1.5, TypeError), ("2", TypeError)])
def test_invalid_thread_counts(bad, error):
    with pytest.raises(error):
        fastnl.set_num_threads(bad)
    with pytest.raises(error):
        with fastnl.num_threads(bad):
            pass


@pytest.mark.skipif(not _build.openmp_version(), reason="serial build: no threads to oversubscribe")
def test_more_threads_than_cpus_warns_but_sets():
    cpus = _usable_cpus()
    try:
        with pytest.warns(RuntimeWarning, match="oversubscription") as caught:
            fastnl.set_num_threads(cpus + 1)
        assert caught[0].filename == __file__  # points at the caller
        assert fastnl.get_num_threads() == cpus + 1
        with pytest.warns(RuntimeWarning, match="oversubscription") as caught:
            with fastnl.num_threads(cpus + 2):
                assert fastnl.get_num_threads() == cpus + 2
        assert len(caught) == 1 and caught[0].filename == __file__  # none on restoring
        assert fastnl.get_num_threads() == cpus + 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fastnl.set_num_threads(cpus)  # one per CPU: fine
    finally:
        fastnl.set_num_threads(None)


def _in_subprocess(code, **env):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(not _build.openmp_version(), reason="serial build: always 1 thread")
def test_default_respects_omp_num_threads():
    assert _in_subprocess("import fastnl; print(fastnl.get_num_threads())",
                          OMP_NUM_THREADS="1") == "1"
    assert _in_subprocess("import fastnl; print(fastnl.get_num_threads())",
                          OMP_NUM_THREADS="3") == "3"


@pytest.mark.skipif(not _build.openmp_version(), reason="serial build: always 1 thread")
def test_threadpoolctl_limits_fastnl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with fastnl.num_threads(None):
        before = fastnl.get_num_threads()
        with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
            assert fastnl.get_num_threads() == 1
        assert fastnl.get_num_threads() == before


def test_results_do_not_depend_on_thread_count():
    x = np.random.default_rng(0).standard_normal((400, 500)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        with fastnl.num_threads(n):
            results.append(fastnl.gelu(x).tobytes())
    assert results[0] == results[1] == results[2]
