"""``python -m fastnl``: the self-check.

Runs every activation setting of ``fastnl._reference.CASES`` on a sweep of
sample data in float32 and float64, compares it with the float64 NumPy
reference, times it against that plain NumPy formula on the same float64
array, and prints a table. Exits with status 1 if any error exceeds the
tolerance (``fastnl._reference.MAX_ERROR``).
"""

import argparse
import sys
import time
import warnings

import numpy as np

import fastnl
from fastnl import _reference as reference
from fastnl._kernels import _build


def sample(n_random=200_000, seed=0):
    """Dense grid over [-30, 30], random normals, both tails up to 1e300, and
    the special values 0, -0, +-inf, NaN and the smallest subnormal."""
    rng = np.random.default_rng(seed)
    tails = np.geomspace(1e-300, 1e300, 4000)
    return np.concatenate([
        np.linspace(-30, 30, 60_001), 5 * rng.standard_normal(n_random), tails, -tails,
        [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324],
    ])


def median_time(f, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def label(name, params):
    shown = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    return name + (f" {shown}" if shown else "")


def parse_args(argv):
    """The command line: no options but --help (an unknown one is an error,
    not a reason to run the check)."""
    parser = argparse.ArgumentParser(
        prog="python -m fastnl",
        description="Self-check of fastnl: every activation setting against the float64 "
                    "NumPy reference on a sweep of sample data (inf, NaN and subnormals "
                    "included), in float32 and float64, with its largest error and its speed "
                    "against the NumPy formula. Exits with status 1 if an error exceeds the "
                    "tolerance.",
        epilog="Thread count: OMP_NUM_THREADS or fastnl.set_num_threads. Benchmarks: "
               "python -m fastnl.bench --help.")
    return parser.parse_args(argv)


def main(argv=()):
    """Run the check; `argv` is the command line's arguments (none when called
    in-process, as the docs build does)."""
    parse_args(argv)
    x64 = sample()
    timing_x = np.random.default_rng(1).standard_normal(1_000_000) * 4
    timing_out = np.empty_like(timing_x)
    print(f"fastnl {fastnl.__version__}: self-check against the float64 NumPy reference")
    print(f"threads: {fastnl.get_num_threads()} "
          f"(OpenMP {'build ' + str(_build.openmp_version()) if _build.openmp_version() else 'off'})")
    print(f"errors: largest over {x64.size} points, in units of eps x max(|f(x)|, |x f'(x)|); "
          f"tolerance {reference.MAX_ERROR:g}")
    print(f"speed: NumPy reference time / fastnl time, float64, {timing_x.size} elements, "
          "out= given, fastnl on the threads above\n")
    header = f"{'function':<46}{'err f32':>9}{'err f64':>9}{'speed':>9}"
    print(header)
    print("-" * len(header))
    failed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, params in reference.CASES:
            ours, ref = getattr(fastnl, name), getattr(reference, name)
            errors = []
            for dtype in (np.float32, np.float64):
                x = x64.astype(dtype)
                err = reference.ulp_error(name, x, ours(x, **params), ref(x, **params), params)
                errors.append(float(err.max()))
            t_ours = median_time(lambda: ours(timing_x, **params, out=timing_out))
            t_ref = median_time(lambda: ref(timing_x, **params), repeat=3)
            ok = max(errors) <= reference.MAX_ERROR
            if not ok:
                failed.append(label(name, params))
            print(f"{label(name, params):<46}{errors[0]:>9.2f}{errors[1]:>9.2f}"
                  f"{t_ref / t_ours:>8.1f}x{'' if ok else '  FAIL'}")
    print()
    if failed:
        print(f"FAILED: {len(failed)} setting(s) beyond tolerance: {', '.join(failed)}")
        return 1
    print(f"OK: {len(reference.CASES)} settings within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
