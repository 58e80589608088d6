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
