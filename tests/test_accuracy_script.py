"""``python -m fastnl.accuracy`` (the exhaustive float32 check, run here with
a large stride so that CI runs it on every change): every activation and its
derivative within tolerance, and its command line; and the measure it
reports, ``fastnl._reference.ulp_error``, on values worked out by hand."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnl import accuracy
from fastnl._kernels import _ulp
from fastnl._reference import ulp_error

F32_MAX = float(np.finfo(np.float32).max)  # (2 - 2^-23) 2^127, its ulp 2^104
INF, NAN = float("inf"), float("nan")
# (float32 result, exact value, error in ulp of the exact value)
BY_HAND = [
    (1.0, 1.0, 0.0), (-0.0, 0.0, 0.0), (0.0, -0.0, 0.0),
    (1 + 2.0 ** -23, 1.0, 1.0), (1.0, 1 + 2.0 ** -24, 0.5),  # the tie is half an ulp
    (1.0, 1 - 2.0 ** -30, 2.0 ** -6),  # the exact value's binade [1/2, 1): ulp 2^-24
    (2.0 ** -149, 0.0, 2.0 ** -125),  # an exact 0 takes the ulp of [1/2, 1), 2^-24
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


def _skew_float64(monkeypatch, factor):
    """Make the float64 "kernels" of the fast reference `factor` times off."""
    real = accuracy._call

    def skewed(name, params, x, derivative, buffers):
        y = real(name, params, x, derivative, buffers)
        return y * factor if x.dtype == "float64" else y

    monkeypatch.setattr(accuracy, "_call", skewed)


def test_fast_reference_refuses_a_wrong_float64_kernel(monkeypatch, capsys):
    # one part in 10^9 off: 4.5e6 float64 ulp, 1/120 of a float32 ulp, too
    # coarse to measure float32 by
    _skew_float64(monkeypatch, 1 + 1e-9)
    assert accuracy.main(["--stride", "65537", "--functions", "tanh", "--dtypes", "float32",
                          "--fast-reference"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the fast reference: float64 tanh is" in out and "1/1000" in out
    assert "65280" not in out  # the float32 row is not measured


def test_fast_reference_names_a_float64_kernel_beyond_its_tolerance(monkeypatch, capsys):
    # one part in 10^13 off: 450 float64 ulp, beyond tanh's float64 tolerance
    # (2.7) but 1/10^5 of a float32 ulp: the float32 row is measured, the run fails
    _skew_float64(monkeypatch, 1 + 1e-13)
    assert accuracy.main(["--stride", "65537", "--functions", "tanh", "--dtypes", "float32",
                          "--fast-reference"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: float64 tanh, the fast reference, is" in out and "beyond its tolerance" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("tanh "))
    assert row[1:3] == ["float32", "65280"] and row[-1] == "FAIL"


def _hard_pairs():
    """Every float32 result near each hard exact value (subnormal, zero of
    either sign, ties, binade edges, overflow, inf, NaN) against it, both signs."""
    tiny, smallest_normal = 2.0 ** -149, 2.0 ** -126
    exact = np.array([0.0, tiny, 2.0 ** -150, 3 * 2.0 ** -150, 2.0 ** -151, 5e-324, 1e-310,
                      smallest_normal, smallest_normal - 2.0 ** -150,
                      np.nextafter(smallest_normal, 0), 1.0, 1 + 2.0 ** -24, 1 - 2.0 ** -25,
                      1 - 2.0 ** -30, 2.0, np.nextafter(2.0, 0), 0.1, 1 / 3, F32_MAX,
                      F32_MAX + 2.0 ** 102, F32_MAX + 2.0 ** 103,
                      np.nextafter(F32_MAX + 2.0 ** 103, 0), 2.0 ** 128, 1e300, INF, NAN])
    exact = np.concatenate([exact, -exact])
    with np.errstate(over="ignore"):
        got = exact.astype(np.float32)
        got = np.concatenate([got, np.nextafter(got, np.float32(INF)),
                              np.nextafter(got, np.float32(-INF)),
                              np.float32([0.0, -0.0, tiny, -tiny, 1.0, INF, -INF, NAN])])
    g, y = np.meshgrid(got, exact)
    return g.ravel(), y.ravel()


def test_compiled_measure_is_ulp_error_bit_for_bit():
    rng = np.random.default_rng(0)
    g, y = _hard_pairs()
    # and random float32 results against exact values a few ulp away
    bits = rng.integers(0, 2 ** 32, 100_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    with np.errstate(invalid="ignore"):  # the signalling NaNs among the patterns
        near = x.astype(np.float64) * (1 + rng.uniform(-2 ** -22, 2 ** -22, x.size))
    got, exact = np.concatenate([g, x]), np.concatenate([y, near])
    compiled = np.empty(got.size)
    _ulp.ulp_error_float32(got, exact, compiled)
    with np.errstate(invalid="ignore"):
        want = ulp_error(got, exact)
    assert np.isinf(want).any() and (want == 0.5).any() and (want == 0).any()
    np.testing.assert_array_equal(compiled.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_tally_is_numpys(threads):
    # 300k elements: several blocks, and threads do start
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300_000)
    got = (x * (1 + rng.uniform(-2 ** -23, 2 ** -23, x.size))).astype(np.float32)
    g, y = _hard_pairs()
    got[:g.size], x[:y.size] = g, y  # infinite errors first, then finite ones...
    got[150_000:150_000 + g.size], x[150_000:150_000 + y.size] = g, y  # ...met again later
    err = ulp_error(got, x)
    want = (err.max(), int(np.argmax(err)), int(np.count_nonzero(err <= 0.5)),
            int(np.count_nonzero(err > 1)))
    assert want[0] == INF and 0 < want[2] < x.size and 0 < want[3] < x.size
    assert _ulp.tally_float32(got, x, threads) == want
    assert _ulp.tally(err, threads) == want
    # the largest finite error, once in the last block and twice before it
    finite = np.minimum(err, 5.0)
    finite[[299_999, 200_000, 70_000]] = 7.5
    assert _ulp.tally(finite, threads)[:2] == (7.5, 70_000)
    empty = np.empty(0)
    assert _ulp.tally_float32(empty.astype(np.float32), empty, threads) == (0.0, -1, 0, 0)


def _rst_rows(text):
    """The rows of the one reST simple table in `text`, split at its rules."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("===")]
    assert len(rules) == 3, "one simple table: top rule, header rule, bottom rule"
    spans, start = [], 0
    for column in lines[rules[0]].split("  "):
        spans.append((start, start + len(column)))
        start += len(column) + 2
    body = lines[rules[1] + 1:rules[2]]
    return [[line[a:b].strip() for a, b in spans] for line in body]


def _printed_rows(out):
    """The measured rows of the printed table: label, dtype and the figures."""
    return [line.split()[:-1] for line in out.splitlines()
            if len(line.split()) > 2 and line.split()[1] in ("float32", "float64")]


def test_rst_table(tmp_path, capsys):
    path = tmp_path / "table.rst"
    args = ["--stride", "65537", "--functions", "sigmoid", "leaky_relu", "--derivatives",
            "--fast-reference", "--rst", str(path)]
    assert accuracy.main(args) == 0
    printed = _printed_rows(capsys.readouterr().out)
    text = path.read_text()
    comment = text.split("\n\n")[0].splitlines()
    assert comment[0] == ".." and all(line.startswith("   ") for line in comment[1:])
    assert f"   Generated by: python -m fastnl.accuracy {' '.join(args)}" in comment
    assert f"   fastnl: {accuracy.fastnl.__version__}" in comment
    assert {line.split(":")[0].strip() for line in comment[1:]} >= {"Date", "Machine", "Elapsed"}
    assert "one bit pattern in 65537" in text and "one input in 251" in text
    rows = _rst_rows(text)
    # every setting (leaky_relu has two), forward and derivative, both dtypes
    assert len(rows) == 3 * 2 * 2 and len(printed) == len(rows)
    for row, shown in zip(rows, printed):
        assert row[0] == f"``{shown[0]}``" and row[1:] == shown[1:]
    assert "Every function is within its tolerance" in text


def test_rst_table_names_what_fails(tmp_path, monkeypatch):
    table = dict(accuracy.reference.TOLERANCE["float32"], sigmoid=(0.0, "test"))
    monkeypatch.setitem(accuracy.reference.TOLERANCE, "float32", table)
    path = tmp_path / "table.rst"
    assert accuracy.main(["--stride", "1000003", "--functions", "sigmoid", "--dtypes",
                          "float32", "--rst", str(path)]) == 1
    assert "Beyond its tolerance: sigmoid float32." in path.read_text()


def test_percentages_are_never_rounded_to_the_ends():
    n = 4_278_190_080  # every finite float32
    assert [accuracy._percent(c, n) for c in (0, 1, n // 3, n - 1, n)] == [
        "0%", "<0.01%", "33.33%", ">99.99%", "100%"]


TABLE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "accuracy_table.rst"


@pytest.mark.skipif(not TABLE.parent.is_dir(), reason="docs/ is not beside tests/ (installed run)")
def test_the_docs_table_covers_every_activation():
    # the committed table (docs/guides/numerics.rst includes it): a row for
    # every setting, forward and derivative, float32 and float64; a new
    # activation fails here until the table is regenerated
    text = TABLE.read_text()
    command = next(line for line in text.splitlines() if "Generated by:" in line)
    assert "--derivatives" in command and "--fast-reference" in command
    want = [(f"``{accuracy._label(name, params, derivative)}``", dtype)
            for name, params in accuracy._settings(None) for derivative in (False, True)
            for dtype in ("float32", "float64")]
    assert [tuple(row[:2]) for row in _rst_rows(text)] == want
