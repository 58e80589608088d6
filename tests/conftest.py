import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnl


def _test_dependency(name):
    """The module `name`: its tests are skipped where it is not installed, but
    in CI (CI=true, where .ci/run installs it) a missing one is an error."""
    if os.environ.get("CI", "").lower() == "true":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(scope="session")
def torch():
    """torch as the second oracle (installed beside the test extra by .ci/run)."""
    return _test_dependency("torch")


@pytest.fixture(scope="session")
def bf16():
    """ml_dtypes' bfloat16 dtype (ml_dtypes is in the test extra)."""
    return np.dtype(_test_dependency("ml_dtypes").bfloat16)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request):
    """Run the test body with fastnl on 1 and on 2 threads."""
    with fastnl.num_threads(request.param):
        yield request.param


@pytest.fixture(scope="session")
def fresh_python():
    """Run Python code in a new interpreter that imports the fastnl this
    process imported (a checkout or an installed wheel); fails the test with
    the interpreter's stderr unless it exits 0."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastnl.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(code):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env=env, timeout=120)
        assert result.returncode == 0, result.stderr
    return run


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
