"""The package as a whole: the self-check, the docstring examples, and what
importing it must not change."""

import doctest
import os
import subprocess
import sys

import pytest

import fastnl
import fastnl._config
import fastnl.activations
import fastnl.sampling
import fastnl.nn.activation
import fastnl.nn.adaptive


def test_self_check_passes():
    result = subprocess.run([sys.executable, "-m", "fastnl"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK:" in result.stdout


def test_self_check_command_line():
    """--help prints the usage without running the check; an unknown option
    is an error (status 2), not a run of the check."""
    result = subprocess.run([sys.executable, "-m", "fastnl", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m fastnl")
    assert "self-check against" not in result.stdout  # the check's first line
    result = subprocess.run([sys.executable, "-m", "fastnl", "--bogus"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("module", [fastnl.activations, fastnl._config, fastnl.sampling,
                                    fastnl.nn.activation, fastnl.nn.adaptive])
def test_docstring_examples(module):
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


def test_every_public_activation_is_documented_with_an_example():
    for name in fastnl.activations.__all__:
        doc = getattr(fastnl, name).__doc__
        assert doc and "Examples" in doc and "torch" in doc, name


def test_import_keeps_subnormals():
    """No flush-to-zero / denormals-are-zero mode is set by importing fastnl
    (what -ffast-math would do to the whole process)."""
    code = ("import numpy as np, fastnl; t = np.finfo(np.float64).smallest_normal; "
            "print(t / 4 > 0, np.float32(1e-40) * np.float32(1) > 0, "
            "fastnl.relu(np.array([5e-324]))[0] > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


def test_built_with_openmp():
    """A serial build passes every "same bits on 1 and 2 threads" test
    trivially (it runs one thread either way), so CI (CI=true) must be
    testing an OpenMP build; elsewhere a serial build skips this test."""
    from fastnl._kernels import _build
    if _build.openmp_version() == 0 and os.environ.get("CI", "").lower() != "true":
        pytest.skip("serial build (no OpenMP): the thread tests compare one thread with itself")
    assert _build.openmp_version() > 0, "CI must test a build with OpenMP"


def test_unbuilt_checkout_says_how_to_build(tmp_path):
    """Importing the package without its compiled kernels (a checkout never
    built) names the command that builds them, not just a missing _build."""
    import shutil
    from pathlib import Path
    package = Path(fastnl.__file__).parent
    shutil.copytree(package, tmp_path / "fastnl",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    result = subprocess.run([sys.executable, "-c", "import fastnl"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0
    assert "python setup.py build_ext --inplace" in result.stderr, result.stderr
    assert "pip install ." in result.stderr


def test_public_names():
    for name in fastnl.__all__:
        assert hasattr(fastnl, name)


def test_imported_from_the_installed_package():
    """Under FASTNL_TEST_INSTALLED=1 (.ci/run's wheel step) the suite must be
    testing the installed wheel, not a checkout."""
    if os.environ.get("FASTNL_TEST_INSTALLED") != "1":
        pytest.skip("only meaningful when testing an installed wheel")
    assert "site-packages" in fastnl.__file__, fastnl.__file__


_TWO_RUNTIMES = """
import hashlib, sys
import numpy as np
first = sys.argv[1]
if first == "torch":
    import torch
import fastnl
if first == "fastnl":
    import torch
x = np.random.default_rng(0).standard_normal(1_000_000).astype(np.float32)
if first != "none":
    torch.set_num_threads(2)
    torch.nn.functional.gelu(torch.from_numpy(x)).sum()  # torch's OpenMP pool runs
with fastnl.num_threads(2):
    y = fastnl.gelu(x)
if first != "none":
    torch.nn.functional.gelu(torch.from_numpy(x)).sum()  # and runs again after ours
print(hashlib.sha256(y.tobytes()).hexdigest())
"""


def test_alongside_torch_two_openmp_runtimes(torch):
    """torch ships its own OpenMP runtime: fastnl imported before or after it in
    one process works and gives bit-identical results to a torch-free process."""
    digests = {}
    for first in ("none", "torch", "fastnl"):
        result = subprocess.run([sys.executable, "-c", _TWO_RUNTIMES, first],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        digests[first] = result.stdout.strip()
    assert digests["none"] == digests["torch"] == digests["fastnl"]


def test_bench_runs(capsys):
    """Smoke test of python -m fastnl.bench (no timing is asserted)."""
    from fastnl import bench
    rows = bench.run(ops=["relu", "gelu_tanh"], dtypes=["float32"], sizes=[100], threads=1,
                     use_torch=False)
    assert [(r["op"], r["direction"]) for r in rows] == [
        ("relu", "forward"), ("gelu_tanh", "forward"), ("relu", "backward"), ("gelu_tanh", "backward")]
    assert all(r["fastnl"] > 0 and r["copy"] > 0 for r in rows)
    assert [r["numpy"] is None for r in rows] == [False, False, True, True]
    out = capsys.readouterr().out
    # the meaning of the ratios comes before each table, its worst case after it
    assert out.count("ratios: fastnl / other") == 2 and out.count("worst fastnl/torch") == 2
    assert out.index("ratios:") < out.index("gelu_tanh")
