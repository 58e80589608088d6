"""``python -m fastnl.accuracy`` (the exhaustive float32 check, run here with
a large stride so that CI runs it on every change): every activation and its
derivative within tolerance, and its command line; and the measure it
reports, ``fastnl._reference.ulp_error``, on values worked out by hand."""

import subprocess
import sys

import numpy as np
import pytest

from fastnl import accuracy
from fastnl._reference import ulp_error

F32_MAX = float(np.finfo(np.float32).max)  # (2 - 2^-23) 2^127, its ulp 2^104
INF, NAN = float("inf"), float("nan")
# (float32 result, exact value, error in ulp of the exact value)
BY_HAND = [
    (1.0, 1.0, 0.0), (-0.0, 0.0, 0.0), (0.0, -0.0, 0.0),
    (1 + 2.0 ** -23, 1.0, 1.0), (1.0, 1 + 2.0 ** -24, 0.5),  # the tie is half an ulp
    (1.0, 1 - 2.0 ** -30, 2.0 ** -6),  # the exact value's binade [1/2, 1): ulp 2^-24
    (2.0 ** -149, 0.0, 1.0),  # an exact 0 is below the smallest normal: ulp 2^-149
    (2.0 ** -149, 3 * 2.0 ** -150, 0.5), (0.0, 2.0 ** -151, 0.25),
    (2.0 ** -126, 2.0 ** -126 - 2.0 ** -150, 0.5),  # just below the smallest normal
    (F32_MAX, F32_MAX + 2.0 ** 102, 0.25),  # beyond max, but it rounds to max
    (INF, F32_MAX + 2.0 ** 103, 0.0),  # the tie rounds to inf (max's significand is odd)
    (F32_MAX, F32_MAX + 2.0 ** 103, INF), (-INF, -1e300, 0.0), (INF, INF, 0.0),
    (INF, 1.0, INF), (-INF, INF, INF), (1.0, INF, INF),
    (NAN, NAN, 0.0), (NAN, 1.0, INF), (1.0, NAN, INF), (INF, NAN, INF),
]


@pytest.mark.parametrize("exact_dtype", [np.float64, np.longdouble])
def test_ulp_error_by_hand(exact_dtype):
    got, exact, want = map(np.array, zip(*BY_HAND))
    err = ulp_error(got.astype(np.float32), exact.astype(exact_dtype))
    assert err.dtype == np.float64
    np.testing.assert_array_equal(err, want)


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
