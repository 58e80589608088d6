import os

import numpy as np
import pytest

import fastnl


@pytest.fixture(scope="session")
def torch():
    """torch as the second oracle: skipped where it is not installed, but in CI
    (CI=true, where .ci/run installs it) a missing torch is an error."""
    if os.environ.get("CI", "").lower() == "true":
        import torch
        return torch
    return pytest.importorskip("torch")


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def n_threads(request):
    """Run the test body with fastnl on 1 and on 2 threads."""
    with fastnl.num_threads(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
