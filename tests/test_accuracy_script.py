"""``python -m fastnl.accuracy`` (the exhaustive float32 check, run here with
a large stride so that CI runs it on every change): every activation and its
derivative within tolerance, and its command line."""

import subprocess
import sys

import pytest

from fastnl import accuracy


def test_strided_run_passes(capsys):
    assert accuracy.main(["--stride", "262147", "--derivatives", "--dtypes", "float32"]) == 0
    out = capsys.readouterr().out
    assert "OK: every function within its tolerance" in out
    assert "gelu_backward" in out and "squareplus" in out


def test_a_failure_is_reported(monkeypatch, capsys):
    # a tolerance of 0 for sigmoid: its few rounded results now fail
    table = dict(accuracy.reference.TOLERANCE["float32"], sigmoid=(0.0, "test"))
    monkeypatch.setitem(accuracy.reference.TOLERANCE, "float32", table)
    assert accuracy.main(["--stride", "1000003", "--functions", "sigmoid",
                          "--dtypes", "float32"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_command_line():
    result = subprocess.run([sys.executable, "-m", "fastnl.accuracy", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--exhaustive" in result.stdout
    with pytest.raises(SystemExit):
        accuracy.main(["--stride", "0"])


def test_fast_reference_agrees_with_the_extended_one(capsys):
    # the same inputs measured both ways: the float64 stand-in is off by far
    # less than the 3 decimals printed
    args = ["--stride", "65537", "--functions", "gelu", "tanh", "--derivatives",
            "--dtypes", "float32"]
    assert accuracy.main(args) == 0
    extended = capsys.readouterr().out
    assert accuracy.main(args + ["--fast-reference"]) == 0
    fast = capsys.readouterr().out
    assert "fastnl's float64 results" in fast

    def rows(out):
        return [line.split()[:4] for line in out.splitlines() if "float32" in line.split()]

    assert rows(extended) and rows(fast) == rows(extended)


def test_fast_reference_refuses_a_wrong_float64_kernel(monkeypatch, capsys):
    # a float64 "kernel" one part in 10^9 off: far beyond float64's tolerance
    real = accuracy._call

    def skewed(name, params, x, derivative):
        y = real(name, params, x, derivative)
        return y * (1 + 1e-9) if x.dtype == "float64" else y

    monkeypatch.setattr(accuracy, "_call", skewed)
    assert accuracy.main(["--stride", "65537", "--functions", "tanh", "--dtypes", "float32",
                          "--fast-reference"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the fast reference: float64 tanh is" in out
