"""``python -m fastnl``: the self-check.

Runs every function on sample data with the hard cases in it (the tails, inf,
NaN, subnormals) and prints its largest error in the plain measure,
``|got - f(x)| / ulp(f(x))`` (``fastnl._reference.ulp_error``):

- every activation setting of ``fastnl._reference.CASES`` and its derivative
  (``<name>_backward`` with grad_output = 1), in float32 and float64, against
  the extended-precision reference, within the tolerance of
  ``fastnl._reference.TOLERANCE``;
- the softmax family, logsumexp, the losses and their gradients in float32
  against the float64 reference (exact to far below a float32 ulp), within
  4 ulp: they sum in float64 and round once, but their inputs pass through
  exp and log; the softmax outputs far below their row's largest within 70
  ulp (see SOFTMAX_TOLERANCE); glu and its gradient, products in float32,
  within 6 (GLU_TOLERANCE).

Exits with status 1 if an error exceeds its tolerance. Speed is
``python -m fastnl.bench``'s.
"""

import argparse
import sys
import warnings

import numpy as np

import fastnl
from fastnl import _reference as reference
from fastnl._kernels import _build

# float32 results of the softmax family and the losses against the float64
# reference: see the module docstring
ROWWISE_TOLERANCE = 4.0
# The softmax kernels round d = x - max to float32 before exp(d): an output
# far below its row's largest (d = -70) carries |d| eps relative error, 64 ulp
# here (torch's kernels do the same).
SOFTMAX_TOLERANCE = 70.0
# glu and its gradient are products computed in float32: sigmoid(b) (within
# 2 ulp: exp's error, 1 + e's rounding and the quotient's) times a half of
# the input, grad_output and sigmoid(-b), each product rounded once (2.9 and
# 5.1 ulp measured; 5.5 at most by that count).
GLU_TOLERANCE = 6.0


def label(name, params):
    shown = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    return name + (f" {shown}" if shown else "")


def parse_args(argv):
    """The command line: no options but --help (an unknown one is an error,
    not a reason to run the check)."""
    parser = argparse.ArgumentParser(
        prog="python -m fastnl",
        description="Self-check of fastnl: every activation and its derivative against the "
                    "extended-precision reference on a sweep of sample data (tails, inf, NaN "
                    "and subnormals included), in float32 and float64, and the softmax family, "
                    "losses and gradients in float32 against the float64 reference: the "
                    "largest error of each in ulp of the exact value. Exits with status 1 if "
                    "an error exceeds its tolerance.",
        epilog="Thread count: OMP_NUM_THREADS or fastnl.set_num_threads. Speed: "
               "python -m fastnl.bench --help.")
    return parser.parse_args(argv)


def _activations(print_row):
    failed = []
    for name, params in reference.CASES:
        if name in ("prelu", "rrelu"):  # leaky_relu's kernel: checked through it
            continue
        cells, ok = [], True
        for derivative in (False, True):
            for dtype in (np.float32, np.float64):
                if not reference.measurable(dtype):
                    cells.append("n/a")  # this platform's long double is float64
                    continue
                x = reference.sweep(dtype)
                if derivative:
                    x = x[~np.isnan(x)]
                    got = getattr(fastnl, f"{name}_backward")(np.ones_like(x), x, **params)
                else:
                    got = getattr(fastnl, name)(x, **params)
                err = float(reference.ulp_error(got, reference.exact(name, x, params,
                                                                     derivative)).max())
                allowed = reference.tolerance(dtype, name, params, derivative)[0]
                ok &= err <= allowed
                cells.append(f"{err:.3g}/{allowed:.3g}")
        print_row(label(name, params), cells, ok)
        if not ok:
            failed.append(label(name, params))
    return failed


def _rowwise_cases(rng):
    """(label, fastnl result, float64 reference) of the softmax family, the
    losses and their gradients, on float32 logits with large, tiny and
    infinite values."""
    x = (rng.standard_normal((257, 1000)) * 8).astype(np.float32)
    x[0, :3] = [60.0, -60.0, -100.0]  # infinite logits: tests/test_infinite_logits.py
    t = rng.integers(0, 1000, 257)
    p = rng.uniform(0.01, 0.99, (257, 10)).astype(np.float32)
    y = rng.uniform(0, 1, (257, 10)).astype(np.float32)
    z = rng.standard_normal((257, 10)).astype(np.float32) * 4
    g = rng.standard_normal((257, 1000)).astype(np.float32)
    x64 = x.astype(np.float64)
    sm = reference.softmax(x64, axis=1)
    out = [
        ("softmax", fastnl.softmax(x, axis=1), sm),
        ("softmax axis=0", fastnl.softmax(x, axis=0), reference.softmax(x64, axis=0)),
        ("log_softmax", fastnl.log_softmax(x, axis=1), reference.log_softmax(x64, axis=1)),
        ("softmin", fastnl.softmin(x, axis=1), reference.softmin(x64, axis=1)),
        ("softmax_backward", fastnl.softmax_backward(g, sm.astype(np.float32), axis=1),
         sm.astype(np.float32).astype(np.float64) * (g - np.sum(
             g * sm.astype(np.float32).astype(np.float64), axis=1, keepdims=True))),
        ("cross_entropy", fastnl.cross_entropy(x, t), reference.cross_entropy(x64, t)),
        ("cross_entropy label_smoothing", fastnl.cross_entropy(x, t, label_smoothing=0.1),
         reference.cross_entropy(x64, t, label_smoothing=0.1)),
        ("cross_entropy none", fastnl.cross_entropy(x, t, reduction="none"),
         reference.cross_entropy(x64, t, reduction="none")),
        ("nll_loss", fastnl.nll_loss(x, t), reference.nll_loss(x64, t)),
        ("mse_loss", fastnl.mse_loss(z, y), reference.mse_loss(z, y)),
        ("l1_loss", fastnl.l1_loss(z, y), reference.l1_loss(z, y)),
        ("smooth_l1_loss", fastnl.smooth_l1_loss(z, y), reference.smooth_l1_loss(z, y)),
        ("huber_loss", fastnl.huber_loss(z, y), reference.huber_loss(z, y)),
        ("kl_div", fastnl.kl_div(np.log(p), y, reduction="batchmean"),
         reference.kl_div(np.log(p), y, reduction="batchmean")),
        ("binary_cross_entropy", fastnl.binary_cross_entropy(p, y),
         reference.binary_cross_entropy(p, y)),
        ("binary_cross_entropy_with_logits", fastnl.binary_cross_entropy_with_logits(z, y),
         reference.binary_cross_entropy_with_logits(z, y)),
        ("mse_loss_backward", fastnl.mse_loss_backward(z, y),
         2 * (z.astype(np.float64) - y) / z.size),
    ]
    # cross_entropy's gradient: (softmax - one-hot) / N
    onehot = np.zeros_like(x64)
    onehot[np.arange(257), t] = 1
    out.append(("cross_entropy_backward", fastnl.cross_entropy_backward(x, t),
                (sm - onehot) / 257))
    # logsumexp, and glu with its gradient (the halves of the rows, a and b)
    a, b = x64[:, :500], x64[:, 500:]
    ga = g[:, :500].astype(np.float64)
    out += [
        ("logsumexp", fastnl.logsumexp(x, 1), reference.logsumexp(x64, 1)),
        ("logsumexp axis=0", fastnl.logsumexp(x, 0), reference.logsumexp(x64, 0)),
        ("glu", fastnl.glu(x), reference.glu(x64)),
        ("glu_backward", fastnl.glu_backward(x, grad_output=g[:, :500]),
         np.concatenate([ga * reference.sigmoid(b), ga * a * reference.sigmoid(b)
                         * reference.sigmoid(-b)], axis=1).astype(np.float64)),
    ]
    # ctc_loss: 4 samples of up to 50 steps of 20 classes, targets of up to 12 labels
    lp = fastnl.log_softmax(x[:200, :20].reshape(50, 4, 20))
    labels, il, tl = rng.integers(1, 20, (4, 12)), np.arange(47, 51), np.arange(9, 13)
    out.append(("ctc_loss none", fastnl.ctc_loss(lp, labels, il, tl, reduction="none"),
                reference.ctc_loss(lp.astype(np.float64), labels, il, tl, reduction="none")))
    return out


def _rowwise(print_row):
    failed = []
    with np.errstate(all="ignore"):
        for name, got, want in _rowwise_cases(np.random.default_rng(0)):
            got = np.asarray(got, dtype=np.float32)
            err = float(reference.ulp_error(got, want).max())
            allowed = (SOFTMAX_TOLERANCE if name.startswith(("softmax", "softmin"))
                       or name == "cross_entropy_backward"
                       else GLU_TOLERANCE if name.startswith("glu") else ROWWISE_TOLERANCE)
            ok = err <= allowed
            print_row(name, [f"{err:.3g}/{allowed:g}", "", "", ""], ok)
            if not ok:
                failed.append(name)
    return failed


def main(argv=()):
    """Run the check; `argv` is the command line's arguments (none when called
    in-process, as the docs build does)."""
    parse_args(argv)
    print(f"fastnl {fastnl.__version__}: self-check, errors in ulp of the exact value "
          f"(largest / allowed)")
    print(f"threads: {fastnl.get_num_threads()} "
          f"(OpenMP {'build ' + str(_build.openmp_version()) if _build.openmp_version() else 'off'})\n")
    header = f"{'function':<46}{'f32':>17}{'f64':>17}{'f32 deriv':>17}{'f64 deriv':>17}"
    print(header)
    print("-" * len(header))

    def print_row(name, cells, ok):
        print(f"{name:<46}" + "".join(f"{c:>17}" for c in cells) + ("" if ok else "  FAIL"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        failed = _activations(print_row) + _rowwise(print_row)
    print()
    if failed:
        print(f"FAILED: {len(failed)} beyond tolerance: {', '.join(failed)}")
        return 1
    print("OK: every function within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
