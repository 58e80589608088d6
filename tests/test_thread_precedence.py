"""set_num_threads takes precedence over OMP_NUM_THREADS and threadpoolctl, as
its docstring says: checked in a fresh process, by the threads OpenMP really
starts (counted in /proc/self/task), not only by get_num_threads()."""

import json
import os
import subprocess
import sys

import pytest

from fastnl._kernels import _build

_SCRIPT = """
import json, os
import numpy as np
import threadpoolctl
import fastnl

def os_threads():
    return len(os.listdir("/proc/self/task"))

x = np.ones(1 << 20, np.float32)  # far above every kernel's grain
seen = {}

def run(label):
    before = os_threads()
    fastnl.gelu(x)
    # OpenMP keeps its worker threads: a region of n threads leaves n - 1 more
    seen[label] = [fastnl.get_num_threads(), os_threads() - before]

run("environment")                       # OMP_NUM_THREADS=1: one thread
fastnl.set_num_threads(2)
run("set over environment")              # 2 threads despite OMP_NUM_THREADS=1
fastnl.set_num_threads(3)
with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
    run("set over threadpoolctl")        # 3 threads despite the limit of 1
    fastnl.set_num_threads(None)
    run("threadpoolctl after reset")     # the limit applies again: 1 thread
print(json.dumps(seen))
"""


@pytest.mark.skipif(not _build.openmp_version(), reason="serial build: always 1 thread")
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_set_num_threads_wins_over_environment_and_threadpoolctl():
    pytest.importorskip("threadpoolctl")
    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    # [get_num_threads(), threads started by the call]; the first call starts
    # none (one thread) so the count can tell the cases apart
    assert seen == {
        "environment": [1, 0],
        "set over environment": [2, 1],
        "set over threadpoolctl": [3, 1],  # one more than the two already running
        "threadpoolctl after reset": [1, 0],
    }
