"""The package as a whole: the self-check, the docstring examples, and what
importing it must not change."""

import doctest
import subprocess
import sys

import numpy as np
import pytest

import fastnl
import fastnl._config
import fastnl.activations


def test_self_check_passes():
    result = subprocess.run([sys.executable, "-m", "fastnl"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK:" in result.stdout


@pytest.mark.parametrize("module", [fastnl.activations, fastnl._config])
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


def test_public_names():
    for name in fastnl.__all__:
        assert hasattr(fastnl, name)
