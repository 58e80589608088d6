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
    python -m fastnl.accuracy --exhaustive --fast-reference --derivatives --rst table.rst

``--rst PATH`` also writes the table as reST (docs/guides/accuracy_table.rst,
which the numerical notes include, is written so), with the command line, the
date, fastnl's version, the machine and the time taken in its header comment.

The extended (long double) reference costs tens of minutes per function over
all 2^32 float32 patterns. ``--fast-reference`` measures float32 against
fastnl's own float64 kernels instead: their error, at most
``TOLERANCE['float64']`` ulp of float64, is below 1/1000 of a float32 ulp.
It is checked on the way: one input in 251 of each chunk against the
extended reference. A float64 result beyond its own tolerance there fails the
run, named, and the float32 row stands; one more than 1/1000 of a float32 ulp
off leaves the float32 row unmeasured.

With the measure and tally compiled (fastnl._kernels._ulp), an exhaustive
--fast-reference row takes 20 to 80 seconds on two idle cores, the whole
float32 table with derivatives about 40 minutes. Idle matters: OpenMP threads
that share their cores with another busy process wait for each other, and a
row takes up to three times as long.
"""

import argparse
import datetime
import platform
import shlex
import sys
import time

import numpy as np

import fastnl
from fastnl import _reference as reference
from fastnl._config import _kernel_threads, build_info
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
        # --fast-reference: the largest error of the float64 stand-in (in float64
        # ulp) at the spot checks, and where
        self.spot_worst, self.spot_at = 0.0, None

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
# ... where the float64 stand-in must be within 1/1000 of a float32 ulp of the
# exact value for the float32 row to be measured: a float32 ulp is 2^29
# float64 ulps (more below float32's smallest normal number)
STAND_IN = 2.0 ** 29 / 1000


class ReferenceError(RuntimeError):
    """The fast reference, a float64 kernel, is too far off to measure float32 by."""


def _exact(name, params, x, derivative, fast, buffers, tally):
    """The exact values of x, or with `fast` fastnl's float64 results,
    checked on every SPOT-th input (the largest error kept in `tally`)."""
    if not fast:
        return reference.exact(name, x, params, derivative)
    x64 = buffers.get("x", np.float64, x.size)
    x64[...] = x
    y64 = _call(name, params, x64, derivative, buffers)
    spot = slice(None, None, SPOT)
    err = reference.ulp_error(y64[spot], reference.exact(name, x64[spot], params, derivative))
    i = int(np.argmax(err)) if err.size else None
    if i is not None and err[i] > tally.spot_worst:
        tally.spot_worst, tally.spot_at = float(err[i]), float(x64[spot][i])
    if tally.spot_worst > STAND_IN:
        raise ReferenceError(f"the fast reference: float64 {name}{'_backward' if derivative else ''}"
                             f" is {tally.spot_worst:.4g} ulp off at x = {tally.spot_at!r}, more "
                             "than 1/1000 of a float32 ulp; measure without --fast-reference")
    return y64


def check(name, params, derivative, chunks, dtype, fast=False):
    """The tally of a setting over the inputs `chunks` in `dtype` (against
    the float64 kernels with `fast`), and its tolerance."""
    tally, buffers = _Tally(), _Buffers()
    for x in chunks:
        x = x.astype(dtype, copy=False)
        with np.errstate(all="ignore"):
            tally.add(x, _call(name, params, x, derivative, buffers),
                      _exact(name, params, x, derivative, fast, buffers, tally))
    allowed = reference.tolerance(dtype, name, params, derivative)[0]
    return tally, allowed


COLUMNS = ("function", "dtype", "inputs", "max ulp", "allowed", "at x", "<= 1/2 ulp", "> 1 ulp")


def _row(name, params, derivative, dtype, stride, fast):
    """A row of the table: its measured cells (None if not measured), a note
    (or None) and whether it is within tolerance."""
    if not reference.measurable(dtype):
        return None, "not measured: this platform's long double is float64", True
    try:
        tally, allowed = check(name, params, derivative, inputs(dtype, stride, derivative),
                               np.dtype(dtype), fast)
    except ReferenceError as e:
        return None, f"FAIL: {e}", False
    cells, ok, note = _cells(tally, allowed), tally.worst <= allowed, None
    allowed64 = reference.tolerance(np.float64, name, params, derivative)[0]
    if fast and tally.spot_worst > allowed64:
        # the float32 row stands (its exact values are within 1/1000 of a
        # float32 ulp), but the float64 kernel is beyond its own tolerance
        note, ok = (f"FAIL: float64 {name}{'_backward' if derivative else ''}, the fast "
                    f"reference, is {tally.spot_worst:.4g} ulp off at x = {tally.spot_at!r}, "
                    f"beyond its tolerance ({allowed64:g})"), False
    return cells, note, ok


def _label(name, params, derivative):
    arguments = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"{name}{'_backward' if derivative else ''}" + (f"({arguments})" if params else "")


def _percent(count, n):
    """count / n in percent, 2 decimals, never rounded to 0 or 100 unless exact."""
    if count in (0, n):
        return "0%" if count == 0 else "100%"
    text = f"{100 * count / n:.2f}"
    return {"0.00": "<0.01", "100.00": ">99.99"}.get(text, text) + "%"


def _cells(tally, allowed):
    """The measured columns of a row (COLUMNS from "inputs" on)."""
    return [str(tally.n), f"{tally.worst:.4g}", f"{allowed:g}", str(tally.at),
            _percent(tally.rounded, tally.n), _percent(tally.beyond, tally.n)]


def _machine():
    """The CPU, the platform, and how fastnl runs there, for the reST header."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = build_info()
    return (f"{cpu}, {info['platform']}, {info['usable cpus']} usable CPUs; fastnl on "
            f"{info['threads']} threads, built by {info['compiler']}")


def _rst_table(rows):
    """A reST simple table of `rows` (lists of cells), the first its header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)

    def line(row):
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    return [rule, line(rows[0]), rule, *map(line, rows[1:]), rule]


def write_rst(path, rows, command, description, elapsed, failed):
    """The table as reST: how it was made in a comment, then what it
    measures, the table, the verdict and the rows' notes (failures, rows not
    measured)."""
    header = [f"Generated by: {command}",
              f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
              f"fastnl: {fastnl.__version__}", f"Machine: {_machine()}",
              f"Elapsed: {elapsed:.0f} s",
              "Regenerate it with the command above rather than editing it."]
    table = [["``" + label + "``", dtype] + (cells or ["-"] * (len(COLUMNS) - 2))
             for label, dtype, cells, _ in rows]
    notes = [f"- ``{label}`` {dtype}: {note}" for label, dtype, _, note in rows if note]
    verdict = (f"Beyond its tolerance: {', '.join(failed)}." if failed else
               "Every function is within its tolerance (``fastnl._reference.TOLERANCE``).")
    text = ["..", *("   " + line for line in header), "", *description, "",
            *_rst_table([list(COLUMNS)] + table), "", verdict, *([""] + notes if notes else [])]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")


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
    parser.add_argument("--rst", metavar="PATH",
                        help="also write the table to PATH as reST, with this command line, the "
                             "date, fastnl's version, the machine and the time taken")
    args = parser.parse_args(argv)
    stride = 1 if args.exhaustive else args.stride
    if stride < 1:
        parser.error("--stride must be >= 1")
    description = ["Errors in ulp of the exact value."]
    if "float32" in args.dtypes:
        description.append(
            "float32: " + ("every finite input (the 2^32 bit patterns but inf and NaN)"
                           if stride == 1 else
                           f"one bit pattern in {stride} of the 2^32 (inf and NaN left out)")
            + (f", against fastnl's float64 results, one input in {SPOT} checked against the "
               "extended reference." if args.fast_reference else
               ", against the extended (long double) reference."))
    if "float64" in args.dtypes:
        description.append("float64: 64 points in every binade of both signs and the tests' "
                           "sweep, against the extended reference.")
    description.append("\"<= 1/2 ulp\" is the share of results correctly rounded, "
                       "\"> 1 ulp\" the share beyond 1 ulp.")
    print(f"fastnl {fastnl.__version__}")
    print("\n".join(description))
    settings = [(name, params, derivative) for name, params in _settings(args.functions)
                for derivative in ((False, True) if args.derivatives else (False,))]
    width = max(len(_label(*s)) for s in settings) + 2
    print(f"{COLUMNS[0]:<{width}}{COLUMNS[1]:<9}{COLUMNS[2]:>12}{COLUMNS[3]:>11}{COLUMNS[4]:>9}"
          f"{COLUMNS[5]:>24}{COLUMNS[6]:>12}{COLUMNS[7]:>10}{'s':>8}")
    rows, failed = [], []
    started = time.perf_counter()
    for name, params, derivative in settings:
        label = _label(name, params, derivative)
        for dtype in args.dtypes:
            row_started = time.perf_counter()
            cells, note, ok = _row(name, params, derivative, dtype, stride,
                                   args.fast_reference and dtype == "float32")
            rows.append((label, dtype, cells, note))
            if not ok:
                failed.append(f"{label} {dtype}")
            if cells is not None:
                n, worst, allowed, at, rounded, beyond = cells
                print(f"{label:<{width}}{dtype:<9}{n:>12}{worst:>11}{allowed:>9}{at:>24}"
                      f"{rounded:>12}{beyond:>10}{time.perf_counter() - row_started:>8.1f}"
                      + ("" if ok else "  FAIL"), flush=True)
            if note:
                print(f"{label:<{width}}{dtype:<9}  {note}", flush=True)
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s")
    if args.rst:
        command = " ".join(["python -m fastnl.accuracy"]
                           + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
        write_rst(args.rst, rows, command, description, elapsed, failed)
        print(f"table written to {args.rst}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("OK: every function within its tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
