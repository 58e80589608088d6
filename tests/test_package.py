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


def test_bench_worst_line_counts_the_misses():
    """The worst line counts the cases slower than torch, and of those the
    ones beyond 1.1 copies: a case within 1.1 copies is at memory speed,
    one without a copy timed counts as a miss."""
    from fastnl import bench
    rows = [dict(op="a", dtype="float32", size=1, fastnl=1.0, torch=2.0, copy=1.0),   # faster
            dict(op="b", dtype="float32", size=1, fastnl=1.0, torch=0.9, copy=0.95),  # at 1.05 copies
            dict(op="c", dtype="float32", size=1, fastnl=1.0, torch=0.8, copy=0.5),   # a miss
            dict(op="d", dtype="float32", size=1, fastnl=1.0, torch=0.5, copy=None)]  # a miss
    lines = []
    bench._print_worst(rows, bench._size_label, lines.append)
    assert lines == ["worst fastnl/torch: 2.00 (d float32 1); fastnl slower in 3 of 4, "
                     "2 of them beyond 1.1x the copy too\n"]


def test_bench_retimes_only_the_rows_slower_than_torch(monkeypatch):
    """A row fastnl lost when timed first, torch after, is timed again in
    alternating rounds, its figures replaced and its ratio marked; a row it
    won, or one without torch, is left as it is (paired_times stubbed: no
    timing is asserted)."""
    from fastnl import bench
    paired = []
    monkeypatch.setattr(bench, "paired_times",
                        lambda f, t, max_repeat=50: paired.append((f, t)) or (1.0, 2.0))
    made = []
    slower, faster = dict(fastnl=3.0, torch=2.0), dict(fastnl=1.0, torch=2.0)
    untimed = dict(fastnl=1.0, torch=None)
    for row in (slower, faster, untimed):
        bench._retime_if_slower(row, lambda: made.append(1) or "fastnl call", "torch call", 1)
    assert (slower, faster, untimed) == (dict(fastnl=1.0, torch=2.0, retimed=True),
                                         dict(fastnl=1.0, torch=2.0),
                                         dict(fastnl=1.0, torch=None))
    assert made == [1] and paired == [("fastnl call", "torch call")]
    assert (bench._torch_ratio(slower), bench._torch_ratio(faster)) == ("0.50p", "0.50")
    lines = []
    bench._print_retimed_note([faster], lines.append)
    bench._print_retimed_note([faster, slower], lines.append)
    assert lines == [bench.RETIMED_NOTE]


def test_bench_tables_hand_their_fastnl_calls_for_the_retiming(torch, monkeypatch):
    """Each table's torch phase offers every row for re-timing with a call
    of fastnl's that runs (forced here for every row)."""
    from fastnl import bench
    offered = []

    def retime_every_row(row, make_fastnl_call, torch_call, threads, max_repeat=50):
        make_fastnl_call()()
        torch_call()
        offered.append(row["op"])

    monkeypatch.setattr(bench, "_retime_if_slower", retime_every_row)
    bench.run(ops=["sigmoid"], dtypes=["float32"], sizes=[100], threads=1, out=True)
    bench.run_rowwise(threads=1, dtypes=["float32"], shapes=["5x20"], ops=["softmax"], out=True)
    bench.run_losses(threads=1, ops=["soft_margin_loss"], dtypes=["float32"], sizes=[100])
    assert offered == ["sigmoid"] * 2 + ["softmax"] * 2 + ["soft_margin_loss"]


def test_bench_stars_what_torch_saved(torch, capsys, monkeypatch):
    """A backward row whose torch side reads a tensor saved by torch's
    forward is starred, and the table gives its worst without such rows."""
    from fastnl import bench
    monkeypatch.setattr(bench, "PAUSE", 0.001)
    bench.run(ops=["relu", "tanhshrink"], dtypes=["float32"], sizes=[100], threads=1,
              passes=["backward"], paired=True)
    out = capsys.readouterr().out.splitlines()
    table = [line.split()[0] for line in out[4:6]]
    assert table == ["relu", "tanhshrink*"]
    assert out[6].startswith("worst fastnl/torch: ")
    assert out[7].startswith("* torch's backward reads") and "tanhshrink: torch.tanh(x)" in out[7]
    assert out[8].startswith("without the * rows, worst fastnl/torch: ") and "(relu " in out[8]
    assert out[9] == ""


def test_bench_rowwise_runs(capsys):
    """The row-wise table on a tiny grid (no timing is asserted): every case
    once per dtype and shape, printed op by op, its worst case last."""
    from fastnl import bench
    rows = bench.run_rowwise(threads=1, use_torch=False, dtypes=["float32", "float64"],
                             shapes=["4x30", "3x7"])
    cases = bench.rowwise_cases()
    assert len(rows) == len(cases) * 2 * 2
    assert {(r["op"], r["axis"], r["dtype"], r["shape"]) for r in rows} == {
        (c.name, c.axis, d, s) for c in cases for d in ("float32", "float64") for s in ("4x30", "3x7")}
    assert all(r["fastnl"] > 0 and r["copy"] > 0 and r["torch"] is None for r in rows)
    assert all((r["numpy"] is None) == (r["direction"] != "forward") for r in rows)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("fastnl ") and "row-wise, allocating; torch skipped" in out[0]
    assert out[1].startswith("ratios: fastnl / other")
    table = [line.split()[0] for line in out[4:4 + len(rows)]]
    assert table == [c.name for c in cases for _ in range(4)]
    assert out[-2] == "worst fastnl/torch: - (torch not timed)"


def test_bench_rowwise_with_torch(torch, capsys):
    from fastnl import bench
    rows = bench.run_rowwise(threads=2, dtypes=["float64"], shapes=["5x20"],
                             ops=["softmin_backward", "nll_loss", "cross_entropy+backward"],
                             out=True)
    assert [(r["op"], r["axis"]) for r in rows] == [
        ("softmin_backward", -1), ("softmin_backward", 0), ("nll_loss", -1),
        ("cross_entropy+backward", -1)]
    assert all(r["torch"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "writing into out=; torch " in out and "worst fastnl/torch: " in out


def test_bench_paired(torch, capsys, monkeypatch):
    """--paired times each case's two sides in alternating rounds: every
    table that has it gets the flag, and its rows hold both times."""
    from fastnl import bench
    monkeypatch.setattr(bench, "PAUSE", 0.001)
    rows = bench.run_rowwise(threads=1, dtypes=["float32"], shapes=["5x20"],
                             ops=["one_hot", "softmax_backward"], paired=True)
    rows += bench.run(ops=["gelu"], dtypes=["float64"], sizes=[100], threads=1, paired=True)
    rows += bench.run_losses(threads=1, ops=["soft_margin_loss"], dtypes=["float32"],
                             sizes=[100], paired=True)
    assert len(rows) == 3 + 2 + 1 and all(r["fastnl"] > 0 and r["torch"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert out.count("the fastest of 5 rounds alternating with fastnl's") == 4  # one per table
    seen = {}
    monkeypatch.setattr(bench, "run", lambda *a, paired, **kw: seen.setdefault("run", paired))
    for name in ("run_rowwise", "run_losses"):
        monkeypatch.setattr(bench, name, lambda *a, paired, _n=name, **kw:
                            seen.setdefault(_n, paired))
    monkeypatch.setattr(bench, "run_ctc", lambda *a, **kw: None)
    bench.main(["--paired", "--threads", "1"])
    assert seen == {"run": True, "run_rowwise": True, "run_losses": True}


def test_bench_ctc(torch, capsys):
    from fastnl import bench
    rows = bench.run_ctc(threads=1, dtypes=["float64"], sizes=["3x20x5x4"])
    assert [r["op"] for r in rows] == list(bench.CTC_OPS)
    assert all(r["fastnl"] > 0 and r["torch"] > 0 for r in rows)
    out = capsys.readouterr().out.splitlines()
    assert "CTC loss" in out[0] and [line.split()[0] for line in out[4:6]] == list(bench.CTC_OPS)
    assert out[-2].startswith("worst fastnl/torch: ")


def _bench_main(argv, monkeypatch):
    """The tables python -m fastnl.bench `argv` prints, as (kind, threads)."""
    from fastnl import bench
    calls = []
    monkeypatch.setattr(bench, "run", lambda ops, dtypes, sizes, threads, out, use_torch, passes,
                        paired: calls.append(("elementwise", threads, ops, dtypes, sizes, passes,
                                              out)))
    monkeypatch.setattr(bench, "run_rowwise", lambda threads, use_torch, **kw:
                        calls.append(("rowwise", threads, kw["ops"], kw["dtypes"], kw["shapes"],
                                      kw["passes"], kw["out"])))
    monkeypatch.setattr(bench, "run_ctc", lambda threads, use_torch, **kw:
                        calls.append(("ctc", threads, kw["ops"], kw["dtypes"])))
    monkeypatch.setattr(bench, "run_losses", lambda threads, use_torch, **kw:
                        calls.append(("losses", threads, kw["ops"], kw["dtypes"])))
    bench.main(argv)
    return calls


def test_bench_command_line(monkeypatch):
    """Which tables the options select: the whole matrix by default, then
    the filters (--ops takes both kinds of names, --sizes names the
    elementwise tables, --shapes and --rowwise the row-wise one)."""
    from fastnl.bench import DTYPES, PASSES, ROWWISE_SHAPES, SIZES
    calls = _bench_main([], monkeypatch)
    assert calls == [("elementwise", 1, [], list(DTYPES), SIZES, list(PASSES), False),
                     ("elementwise", 2, [], list(DTYPES), SIZES, list(PASSES), False),
                     ("rowwise", 1, [], list(DTYPES), ROWWISE_SHAPES, list(PASSES), False),
                     ("rowwise", 2, [], list(DTYPES), ROWWISE_SHAPES, list(PASSES), False),
                     ("losses", 1, [], list(DTYPES)), ("losses", 2, [], list(DTYPES)),
                     ("ctc", 1, [], list(DTYPES)), ("ctc", 2, [], list(DTYPES))]
    assert _bench_main("--rowwise --dtypes float64 --threads 1 --shapes 64x1000".split(),
                       monkeypatch) == [("rowwise", 1, [], ["float64"], ["64x1000"],
                                         list(PASSES), False)]
    assert [c[:3] for c in _bench_main("--ops relu softmax --threads 2 --out".split(),
                                       monkeypatch)] == [("elementwise", 2, ["relu"]),
                                                         ("rowwise", 2, ["softmax"])]
    assert [c[0] for c in _bench_main("--ops nll_loss".split(), monkeypatch)] == ["rowwise"] * 2
    assert [c[0] for c in _bench_main("--ops gelu".split(), monkeypatch)] == ["elementwise"] * 2
    assert [c[0] for c in _bench_main("--sizes 1000 --threads 1".split(),
                                      monkeypatch)] == ["elementwise"]
    assert [c[0] for c in _bench_main("--shapes 8x10 --threads 1".split(),
                                      monkeypatch)] == ["rowwise"]
    assert [c[0] for c in _bench_main("--sizes 10 --shapes 8x10 --threads 1".split(),
                                      monkeypatch)] == ["elementwise", "rowwise"]
    assert _bench_main("--ctc --threads 2 --dtypes float32".split(), monkeypatch) == [
        ("ctc", 2, [], ["float32"])]
    assert _bench_main("--ops ctc_loss+backward relu --threads 1".split(), monkeypatch) == [
        ("elementwise", 1, ["relu"], list(DTYPES), SIZES, list(PASSES), False),
        ("ctc", 1, ["ctc_loss+backward"], list(DTYPES))]
    assert _bench_main("--ops relu hinge_embedding_loss --threads 1".split(), monkeypatch) == [
        ("elementwise", 1, ["relu"], list(DTYPES), SIZES, list(PASSES), False),
        ("losses", 1, ["hinge_embedding_loss"], list(DTYPES))]
    assert [c[0] for c in _bench_main("--out --threads 1".split(), monkeypatch)] == [
        "elementwise", "rowwise", "ctc"]  # the losses have no out= table
    with pytest.raises(SystemExit):
        _bench_main(["--shapes", "64by1000"], monkeypatch)


def test_bench_command_line_runs():
    """The row-wise table from the command line, on a tiny grid."""
    result = subprocess.run(
        [sys.executable, "-m", "fastnl.bench", "--rowwise", "--dtypes", "float64", "--threads",
         "1", "--shapes", "4x9", "--no-torch", "--passes", "backward"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    ops = [line.split()[0] for line in result.stdout.splitlines()[4:11]]
    assert ops == ["softmax_backward", "softmax_backward", "log_softmax_backward",
                   "log_softmax_backward", "softmin_backward", "softmin_backward",
                   "cross_entropy+backward"]


def _asv_module(name, monkeypatch, smoke):
    import importlib.util
    if smoke:
        monkeypatch.setenv("FASTNL_ASV_SMOKE", "1")
    else:
        monkeypatch.delenv("FASTNL_ASV_SMOKE", raising=False)
    path = os.path.join(os.path.dirname(__file__), "..", "asv_bench", "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_asv_{name}_{smoke}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_asv_rowwise_covers_the_bench(monkeypatch):
    """asv's Rowwise grid is the bench's row-wise matrix (all cases, shapes
    and dtypes); the smoke grid a small part of it with every kind of case."""
    from fastnl import bench
    full = _asv_module("bench_rowwise", monkeypatch, smoke=False)
    ops, shapes, dtypes, threads = full.Rowwise.params
    assert [(full.CASES[op].name, full.CASES[op].axis) for op in ops] == [
        (c.name, c.axis) for c in bench.rowwise_cases()]
    assert shapes == list(bench.ROWWISE_SHAPES) and dtypes == list(bench.DTYPES)
    assert threads == list(bench.THREADS)
    smoke = _asv_module("bench_rowwise", monkeypatch, smoke=True)
    ops = smoke.Rowwise.params[0]
    assert set(ops) < set(full.CASES)
    assert {smoke.CASES[op].direction for op in ops} == {"forward", "backward", "forward+backward"}
    assert {smoke.CASES[op].axis for op in ops} == {-1, 0}


def _run_asv_grid(cls):
    """Every benchmark of `cls` over its grid, once, as asv --quick does."""
    import itertools
    methods = [m for m in dir(cls) if m.startswith("time_")]
    assert methods
    for params in itertools.product(*cls.params):
        bench = cls()
        bench.setup(*params)
        try:
            for m in methods:
                getattr(bench, m)(*params)
        finally:
            bench.teardown(*params)


def test_asv_rowwise_smoke_grid_runs(monkeypatch):
    """The CI smoke grid of bench_rowwise.py, each benchmark once (no timing)."""
    threads = fastnl.get_num_threads()
    smoke = _asv_module("bench_rowwise", monkeypatch, smoke=True)
    for cls in (smoke.Rowwise, smoke.AlongAxis, smoke.CrossEntropy):
        _run_asv_grid(cls)
    assert fastnl.get_num_threads() == threads  # teardown restored the default


def test_bench_losses_runs(capsys):
    """The losses table on a tiny grid (no timing is asserted): every loss
    forward and forward + backward, per dtype and size, its worst case last."""
    from fastnl import bench
    rows = bench.run_losses(threads=1, use_torch=False, dtypes=["float32", "float64"],
                            sizes=[100, 7])
    cases = bench.loss_cases()
    assert {c.name for c in cases} == set(bench.LOSSES) | {f"{n}+backward" for n in bench.LOSSES}
    assert [(r["op"], r["dtype"], r["size"]) for r in rows] == [
        (c.name, d, n) for c in cases for d in ("float32", "float64") for n in (100, 7)]
    assert all(r["fastnl"] > 0 and r["torch"] is None for r in rows)
    out = capsys.readouterr().out.splitlines()
    assert "losses, allocating; torch skipped" in out[0]
    assert out[-2] == "worst fastnl/torch: - (torch not timed)"


def test_bench_losses_with_torch_and_command_line(torch, monkeypatch, capsys):
    from fastnl import bench
    rows = bench.run_losses(threads=2, dtypes=["float64"], sizes=[50],
                            ops=["gaussian_nll_loss+backward", "hinge_embedding_loss"])
    assert [r["op"] for r in rows] == ["hinge_embedding_loss", "gaussian_nll_loss+backward"]
    assert all(r["torch"] > 0 for r in rows)
    assert "worst fastnl/torch: " in capsys.readouterr().out
    calls = []
    monkeypatch.setattr(bench, "run_losses", lambda threads, use_torch, **kw:
                        calls.append((threads, kw["ops"], kw["sizes"])))
    bench.main("--losses --sizes 1000 --threads 2".split())
    bench.main("--ops soft_margin_loss+backward --threads 1".split())
    assert calls == [(2, [], [1000]), (1, ["soft_margin_loss+backward"], bench.LOSS_SIZES)]


def test_asv_losses_covers_the_bench_and_runs(monkeypatch):
    from fastnl import bench
    full = _asv_module("bench_losses", monkeypatch, smoke=False)
    assert full.Losses.params[0] == [c.name for c in bench.loss_cases()]
    assert full.Losses.params[1] == list(bench.LOSS_SIZES)
    threads = fastnl.get_num_threads()
    _run_asv_grid(_asv_module("bench_losses", monkeypatch, smoke=True).Losses)
    assert fastnl.get_num_threads() == threads


def test_asv_nn_smoke_grid_runs(monkeypatch):
    """bench_nn.py's smoke grid, each benchmark once: the step lowers the loss."""
    smoke = _asv_module("bench_nn", monkeypatch, smoke=True)
    _run_asv_grid(smoke.MLPStep)
    bench = smoke.MLPStep()
    bench.setup(16, "float32", 1)
    before = bench.loss_fn(bench.model(bench.x), bench.t)
    for _ in range(3):
        bench.time_step(16, "float32", 1)
    assert bench.loss_fn(bench.model(bench.x), bench.t) < before
    bench.teardown()


def test_asv_ctc_covers_the_bench_and_its_smoke_grid_runs(monkeypatch):
    """asv's CTC grid is the bench's CTC table (ops, sizes, dtypes, threads);
    the smoke grid, a smaller size, runs each benchmark once."""
    from fastnl import bench
    full = _asv_module("bench_ctc", monkeypatch, smoke=False)
    assert full.CTC.params == (list(bench.CTC_OPS), list(bench.CTC_SIZES), list(bench.DTYPES),
                               list(bench.THREADS))
    threads = fastnl.get_num_threads()
    _run_asv_grid(_asv_module("bench_ctc", monkeypatch, smoke=True).CTC)
    assert fastnl.get_num_threads() == threads  # teardown restored the default
