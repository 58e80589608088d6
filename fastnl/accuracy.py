"""``python -m fastnl.accuracy``: every activation and its derivative against
the extended-precision reference, over every float32 bit pattern (or every
Nth), and float64 over every binade of both signs.

For each function it prints the largest error in ulp of the exact value
(``fastnl._reference.ulp_error``, the plain measure), where it occurs, the
share of results correctly rounded (error <= 1/2 ulp) and the share beyond
1 ulp, and exits with status 1 if an error exceeds the function's tolerance
(``fastnl._reference.TOLERANCE``).

    python -m fastnl.accuracy                     # float32 every 4099th pattern, float64 binades
    python -m fastnl.accuracy --exhaustive --fast-reference --dtypes float32
    python -m fastnl.accuracy --stride 257 --functions gelu silu --derivatives

The extended (long double) reference costs tens of minutes per function over
all 2^32 float32 patterns. ``--fast-reference`` measures float32 against
fastnl's own float64 kernels instead, 2-3 minutes per function: their
error, at most ``TOLERANCE['float64']`` ulp of float64 (checked against
mpmath on every binade by the tests), is below 1/1000 of a float32 ulp. It is
checked on the way too: one input in 251 of each chunk against the extended
reference; a function whose float64 result is beyond its tolerance there
fails, with that result named.
"""

import argparse
import sys
import time

import numpy as np

import fastnl
from fastnl import _reference as reference
from fastnl._config import _kernel_threads
from fastnl._kernels import _ulp

# float32 patterns per evaluation: 1M inputs, 16 MB per longdouble temporary;
# a few percent faster than 4M (more of each chunk's arrays stay in cache)
CHUNK = 1 << 20
# the bit patterns of the finite float32 numbers: the positive, then the negative
FINITE = ((0, 0x7F800000), (0x80000000, 0xFF800000))


def _settings(functions):
    for name, params in reference.CASES:
        if name in ("prelu", "rrelu") or (functions and name not in functions):
            continue
        yield name, params


class _Buffers:
    """Arrays reused from chunk to chunk: fresh memory for every chunk's
    inputs, outputs and grad_output costs its page faults and zeroing each
    time."""

    def __init__(self):
        self._arrays = {}

    def get(self, role, dtype, n):
        """`n` elements of the array of `role` and `dtype`; "ones" holds ones."""
        a = self._arrays.get((role, dtype))
        if a is None or a.size < n:
            a = np.ones(n, dtype) if role == "ones" else np.empty(n, dtype)
            self._arrays[role, dtype] = a
        return a[:n]


def _call(name, params, x, derivative, buffers):
    out = buffers.get("out", x.dtype, x.size)
    if derivative:
        grad = buffers.get("ones", x.dtype, x.size)
        return getattr(fastnl, f"{name}_backward")(grad, x, **params, out=out)
    return getattr(fastnl, name)(x, **params, out=out)


class _Tally:
    """The running largest error, where, and the counts of a function."""

    def __init__(self):
        self.worst, self.at, self.n, self.rounded, self.beyond = 0.0, None, 0, 0, 0

    def add(self, x, got, exact):
        """Measure `got` against `exact`, the results and exact values of `x`:
        a float32 result against a float64 stand-in compiled, any other pair by
        ulp_error (the definition), and count."""
        threads = _kernel_threads()
        if got.dtype == np.float32 and exact.dtype == np.float64:
            worst, i, rounded, beyond = _ulp.tally_float32(got, exact, threads)
        else:
            worst, i, rounded, beyond = _ulp.tally(reference.ulp_error(got, exact), threads)
        if i >= 0 and (worst > self.worst or self.at is None):
            self.worst, self.at = worst, x[i]
        self.n += x.size
        self.rounded += rounded
        self.beyond += beyond


def float32_patterns(stride):
    """The finite float32 inputs, every `stride`-th bit pattern (those of
    inf and NaN skipped), in chunks of at most CHUNK."""
    for low, high in FINITE:
        first = -(-low // stride) * stride  # the first multiple of stride from low
        for start in range(first, high, CHUNK * stride):
            stop = min(start + CHUNK * stride, high)
            yield np.arange(start, stop, stride, dtype=np.uint32).view(np.float32)


def float64_binades(per_binade=64, seed=0):
    """Random significands in every binade of both signs (subnormals as one
    binade), and the sweep's tails."""
    rng = np.random.default_rng(seed)
    exponents = np.arange(-1074, 1024)
    mantissa = rng.uniform(1, 2, (exponents.size, per_binade))
    x = np.ldexp(mantissa, exponents[:, None]).ravel()
    x = x[np.isfinite(x)]
    return np.concatenate([x, -x, reference.sweep(np.float64)])


def inputs(dtype, stride, derivative):
    """The inputs of a row of the table, in chunks: every `stride`-th float32
    bit pattern, or float64's binades, without NaN for a derivative (its value
    there is a convention: torch's masks give 0 or 1)."""
    if dtype == "float32":
        return float32_patterns(stride)  # finite already
    x = float64_binades()
    return [x[~np.isnan(x)] if derivative else x]


# --fast-reference: every SPOT-th input also against the extended reference.
# Every 61st took a third of the time (long double is slow); every 251st still
# checks 17 million inputs per function in an exhaustive run.
SPOT = 251


class ReferenceError(RuntimeError):
    """A float64 kernel, the fast reference, is beyond its own tolerance."""


def _exact(name, params, x, derivative, fast, buffers):
    """The exact values of x, or with `fast` fastnl's float64 results,
    checked on every SPOT-th input."""
    if not fast:
        return reference.exact(name, x, params, derivative)
    x64 = buffers.get("x", np.float64, x.size)
    x64[...] = x
    y64 = _call(name, params, x64, derivative, buffers)
    spot = slice(None, None, SPOT)
    err = reference.ulp_error(y64[spot], reference.exact(name, x64[spot], params, derivative))
    allowed = reference.tolerance(np.float64, name, params, derivative)[0]
    if err.size and err.max() > allowed:
        i = int(np.argmax(err))
        raise ReferenceError(f"the fast reference: float64 {name}{'_backward' if derivative else ''}"
                             f" is {err[i]:.4g} ulp off at x = {x64[spot][i]!r} (allowed "
                             f"{allowed:g}); measure without --fast-reference")
    return y64


def check(name, params, derivative, chunks, dtype, fast=False):
    tally, buffers = _Tally(), _Buffers()
    for x in chunks:
        x = x.astype(dtype, copy=False)
        with np.errstate(all="ignore"):
            tally.add(x, _call(name, params, x, derivative, buffers),
                      _exact(name, params, x, derivative, fast, buffers))
    allowed = reference.tolerance(dtype, name, params, derivative)[0]
    return tally, allowed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnl.accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exhaustive", action="store_true",
                        help="every float32 bit pattern (the same as --stride 1)")
    parser.add_argument("--stride", type=int, default=4099,
                        help="float32: every STRIDE-th bit pattern (default 4099)")
    parser.add_argument("--functions", nargs="+", help="activations (default: all)")
    parser.add_argument("--derivatives", action="store_true",
                        help="also each <name>_backward with grad_output = 1")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--fast-reference", action="store_true",
                        help="float32 against fastnl's float64 kernels, spot-checked (see above)")
    args = parser.parse_args(argv)
    stride = 1 if args.exhaustive else args.stride
    if stride < 1:
        parser.error("--stride must be >= 1")
    print(f"fastnl {fastnl.__version__}: errors in ulp of the exact value; float32 every "
          f"{stride}-th bit pattern, float64 64 points in every binade of both signs")
    if args.fast_reference:
        print(f"float32's exact values: fastnl's float64 results (one in {SPOT} checked against "
              "the extended reference)")
    header = (f"{'function':<40}{'dtype':<9}{'inputs':>12}{'max ulp':>11}{'allowed':>9}"
              f"{'at x':>16}{'<=1/2':>9}{'>1':>10}")
    print(header)
    print("-" * len(header))
    failed = []
    started = time.perf_counter()
    for name, params in _settings(args.functions):
        for derivative in ((False, True) if args.derivatives else (False,)):
            label = f"{name}{'_backward' if derivative else ''}" + (f" {params}" if params else "")
            for dtype in args.dtypes:
                if not reference.measurable(dtype):
                    print(f"{label:<40}{dtype:<9}  not measured: this platform's long double "
                          "is float64")
                    continue
                try:
                    tally, allowed = check(name, params, derivative,
                                           inputs(dtype, stride, derivative), np.dtype(dtype),
                                           fast=args.fast_reference and dtype == "float32")
                except ReferenceError as e:
                    print(f"{label:<40}{dtype:<9}  FAIL: {e}", flush=True)
                    failed.append(f"{label} {dtype}")
                    continue
                ok = tally.worst <= allowed
                print(f"{label:<40}{dtype:<9}{tally.n:>12}{tally.worst:>11.4g}{allowed:>9.3g}"
                      f"{float(tally.at):>16.8g}{tally.rounded / tally.n:>9.2%}"
                      f"{tally.beyond / tally.n:>10.2%}" + ("" if ok else "  FAIL"), flush=True)
                if not ok:
                    failed.append(f"{label} {dtype}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("OK: every function within its tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
