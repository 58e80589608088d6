"""Processes forked after fastnl has run on threads never hang.

GNU libgomp cannot start a new thread pool in a fork()ed child once the parent
has one: the child's first parallel region of more than one thread waits for
threads that fork() did not copy. Such a child runs fastnl on one thread; LLVM
libomp starts a new pool, so there the child keeps its threads.

Every scenario runs as a script in a fresh interpreter of its own session, so
that a hang fails its test after TIMEOUT seconds (the script and every process
it forked are killed) instead of stopping the suite.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fastnl._kernels import _build

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")

TIMEOUT = 120  # seconds; a passing scenario takes one or two
OPENMP = _build.openmp_version() != 0
SERIAL_CHILD = OPENMP and _build.openmp_runtime() != "libomp"  # runtime cannot restart
needs_openmp = pytest.mark.skipif(not OPENMP, reason="serial build: always 1 thread")

# Inputs above every parallel grain; the parent computes each result with two
# threads (so its OpenMP pool exists, whatever the machine), then a child does.
COMMON = """
import json, multiprocessing as mp, sys, warnings
import numpy as np
import fastnl
import fastnl.ufunc
from fastnl._kernels import _build

warnings.simplefilter("ignore", RuntimeWarning)  # 2 threads on a 1-CPU machine
rng = np.random.default_rng(0)
x = rng.standard_normal((400, 1000)).astype(np.float32)
labels = rng.integers(0, 1000, 400)
y = rng.standard_normal((400, 1000)).astype(np.float32)
rows = rng.standard_normal((40_000, 8))  # nll threads over rows above the grain
row_labels = rng.integers(0, 8, 40_000)

def results(_=None):
    return {
        "threads": fastnl.get_num_threads(),
        "gelu": fastnl.gelu(x).tobytes().hex(),
        "ufunc silu": fastnl.ufunc.silu(x).tobytes().hex(),  # the ufuncs' C thread count
        "ufunc softplus_backward": fastnl.ufunc.softplus_backward(y, x, 2.0, 20.0).tobytes().hex(),
        "softmax dim=1": fastnl.softmax(x, dim=1).tobytes().hex(),
        "log_softmax dim=0": fastnl.log_softmax(x, dim=0).tobytes().hex(),
        "cross_entropy": float(fastnl.cross_entropy(x, labels)),
        "nll_loss": fastnl.nll_loss(rows, row_labels, reduction="none").tobytes().hex(),
        "mse_loss": float(fastnl.mse_loss(x, y)),
        "mse_loss none": fastnl.mse_loss(x, y, reduction="none").tobytes().hex(),
        "gelu_backward": fastnl.gelu_backward(y, x).tobytes().hex(),
        "cross_entropy_backward": fastnl.cross_entropy_backward(x, labels).tobytes().hex(),
    }

def show_config(_=None):
    import contextlib, io
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        fastnl.show_config()
    return text.getvalue()

fastnl.set_num_threads(2)
parent = results()
fastnl.set_num_threads(None)
# OpenMP's default here: a child's too, unless it must keep to one thread (the
# test's own process may differ: Dask's nanny sets OMP_NUM_THREADS=1 in it)
parent["default"] = _build.max_threads()
"""


def run_script(path):
    """Run the script at `path` in a session of its own and return the JSON its
    last line prints; fail on an error, or after TIMEOUT seconds (then the
    script and every process it forked are killed: none is left hanging)."""
    proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"hung: no result within {TIMEOUT} s")
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def run(tmp_path, body):
    """run_script of COMMON followed by `body` (under the main guard: spawn
    and forkserver children import the script again)."""
    script = tmp_path / "scenario.py"
    script.write_text(COMMON + "\nif __name__ == '__main__':\n"
                      + textwrap.indent(textwrap.dedent(body), "    "))
    return run_script(script)


def check_child(child, parent, forked=True):
    """The child's results are the parent's bits; its thread count is 1 where a
    forked child must keep to one thread, else the default."""
    assert {k: v for k, v in child.items() if k != "threads"} == \
        {k: v for k, v in parent.items() if k not in ("threads", "default")}
    if OPENMP:
        if forked and SERIAL_CHILD:
            assert child["threads"] == 1
        else:
            assert child["threads"] == parent["default"]


def test_fork_pool_after_parent_used_threads(tmp_path):
    out = run(tmp_path, """
        with mp.get_context("fork").Pool(2) as pool:
            children = pool.map_async(results, range(4)).get(timeout=60)
        print(json.dumps({"parent": parent, "children": children}))
    """)
    assert out["parent"]["threads"] == 2
    assert len(out["children"]) == 4
    for child in out["children"]:
        check_child(child, out["parent"])


def test_process_pool_executor_with_fork(tmp_path):
    out = run(tmp_path, """
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
            children = [f.result(timeout=60) for f in [ex.submit(results) for _ in range(3)]]
        print(json.dumps({"parent": parent, "children": children}))
    """)
    for child in out["children"]:
        check_child(child, out["parent"])


def test_fork_from_c_is_detected(tmp_path):
    """A fork() that bypasses os.fork (a C library calling libc's fork) too."""
    out = run(tmp_path, """
        import ctypes, os
        read, write = os.pipe()
        pid = ctypes.CDLL(None).fork()
        if pid == 0:
            os.write(write, json.dumps(results()).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as f:
            child = json.loads(f.read())
        os.waitpid(pid, 0)
        print(json.dumps({"parent": parent, "child": child}))
    """)
    check_child(out["child"], out["parent"])


def test_child_asking_for_two_threads(tmp_path):
    out = run(tmp_path, """
        def ask(_):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fastnl.set_num_threads(2)
                threads = fastnl.get_num_threads()
                with fastnl.num_threads(2):
                    in_block = fastnl.get_num_threads()
                    gelu = fastnl.gelu(x).tobytes().hex()
                    softmax = fastnl.softmax(x, dim=1).tobytes().hex()
            return {"threads": threads, "in_block": in_block, "gelu": gelu, "softmax": softmax,
                    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}
        with mp.get_context("fork").Pool(1) as pool:
            child = pool.map_async(ask, [0]).get(timeout=60)[0]
        print(json.dumps({"parent": parent, "child": child}))
    """)
    child, parent = out["child"], out["parent"]
    assert child["gelu"] == parent["gelu"]
    assert child["softmax"] == parent["softmax dim=1"]
    if SERIAL_CHILD:
        assert child["threads"] == child["in_block"] == 1
        assert len(child["warnings"]) == 2  # set_num_threads and num_threads
        for message in child["warnings"]:
            assert message.startswith("RuntimeWarning: fastnl stays on 1 thread, not 2")
            assert "fork" in message and "spawn" in message
    elif OPENMP:
        assert child["threads"] == child["in_block"] == 2
        assert not [w for w in child["warnings"] if "fork" in w]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_and_forkserver_keep_threads(tmp_path, method):
    out = run(tmp_path, f"""
        with mp.get_context({method!r}).Pool(2) as pool:
            children = pool.map_async(results, range(2)).get(timeout=60)
        print(json.dumps({{"parent": parent, "children": children}}))
    """)
    for child in out["children"]:
        check_child(child, out["parent"], forked=False)
        if OPENMP and out["parent"]["default"] > 1:  # more than one usable CPU
            assert child["threads"] > 1


def test_show_config_in_child(tmp_path):
    out = run(tmp_path, """
        with mp.get_context("fork").Pool(1) as pool:
            child = pool.map_async(show_config, [0]).get(timeout=60)[0]
        print(json.dumps({"parent": show_config(), "child": child}))
    """)
    child = dict(line.split(": ", 1) for line in out["child"].splitlines())
    parent = dict(line.split(": ", 1) for line in out["parent"].splitlines())
    if SERIAL_CHILD:
        assert child["threads"] == "1"
        assert child["fork"].startswith("this is a forked child, fastnl runs on 1 thread")
        assert "cannot start a new thread pool after fork()" in child["fork"]
        assert parent["fork"].startswith("forked children of this process run fastnl on 1 thread")
    elif OPENMP:
        assert child["threads"] == parent["threads"]  # the default, as in the parent
        assert child["fork"].startswith("this is a forked child, threads kept")


@needs_openmp
def test_child_of_parent_without_threads_keeps_them(tmp_path):
    """A parent that never handed a kernel more than one thread has no pool:
    its forked children keep their threads (and do not hang using them)."""
    script = tmp_path / "cold.py"
    script.write_text(textwrap.dedent("""
        import json, os, numpy as np, fastnl
        from fastnl._kernels import _build
        x = np.random.default_rng(0).standard_normal(400_000)
        with fastnl.num_threads(1):
            one = fastnl.gelu(x).tobytes()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            with fastnl.num_threads(2):
                same = fastnl.gelu(x).tobytes() == one
            os.write(write, json.dumps([fastnl.get_num_threads(), same,
                                        fastnl._config.build_info()["fork"]]).encode())
            os._exit(0)
        os.close(write)
        print(json.dumps(json.loads(os.read(read, 4096)) + [_build.max_threads()]))
        os.waitpid(pid, 0)
    """))
    threads, same, fork, default = run_script(script)
    assert threads == default and same
    assert fork.startswith("this is a forked child, threads kept")
