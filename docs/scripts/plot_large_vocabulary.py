"""Draw docs/guides/large_vocabulary.png: time and peak extra memory of one
training step (forward + backward) of a large-vocabulary output layer against
the number of classes C, three ways:

- ``cross_entropy`` on materialised logits (x @ W.T + b, then the loss, its
  gradient and the three products);
- ``nn.LinearCrossEntropy`` (the fused layer and loss);
- ``nn.AdaptiveLogSoftmaxWithLoss`` (a different, factorised model: the
  head of frequent classes plus two narrower tail clusters).

Run it by hand (it takes about a minute; fastnl, matplotlib and
threadpoolctl, no torch) and commit the PNG; the documentation build only
shows it, so it needs no timing::

    PYTHONPATH=. python docs/scripts/plot_large_vocabulary.py [--threads 1]
"""

import argparse
import os
import time
import tracemalloc

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastnl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, os.pardir, "guides", "large_vocabulary.png")


def materialised_step(x, W, b, t):
    z = x @ W.T + b
    loss = fastnl.cross_entropy(z, t)
    g = fastnl.cross_entropy_backward(z, t)
    return loss, g @ W, g.T @ x, g.sum(axis=0)


def fused_step(module, x, t):
    module.zero_grad()
    loss = module(x, t)
    return loss, module.backward()


def adaptive_step(module, x, t):
    module.zero_grad()
    _, loss = module(x, t)
    return loss, module.backward()


def measure(call, repeat):
    """(median seconds, tracemalloc peak bytes) of call()."""
    call()  # warm up
    tracemalloc.start()
    try:
        call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), peak


def run(n=1024, d=256, classes=(2000, 8000, 16000, 32000, 64000), repeat=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    rows = {"cross_entropy on the logits": [], "LinearCrossEntropy": [],
            "AdaptiveLogSoftmaxWithLoss": []}
    for c in classes:
        t = rng.integers(0, c, n)
        fused = fastnl.nn.LinearCrossEntropy(d, c, rng=0)
        W, b = fused.weight, fused.bias
        adaptive = fastnl.nn.AdaptiveLogSoftmaxWithLoss(d, c, cutoffs=[c // 20, c // 4],
                                                        div_value=4.0, rng=0)
        # results each call returns or keeps (the gradients): not extra memory
        kept = (x.size + W.size + b.size) * 4
        adaptive_kept = x.size * 4 + sum(p.size * 4 for p in adaptive.parameters())
        for name, call, k in (("cross_entropy on the logits",
                               lambda: materialised_step(x, W, b, t), kept),
                              ("LinearCrossEntropy", lambda: fused_step(fused, x, t), kept),
                              ("AdaptiveLogSoftmaxWithLoss",
                               lambda: adaptive_step(adaptive, x, t), adaptive_kept)):
            seconds, peak = measure(call, repeat)
            extra = max(peak - k, 0)
            rows[name].append((seconds, extra))
            print(f"C={c:6d} {name:30s} {seconds * 1e3:8.1f} ms {extra / 2**20:8.1f} MiB extra")
    return classes, rows


def draw(classes, rows, n, d, threads, path=OUT):
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 2.8), layout="constrained")
    for (name, values), style in zip(rows.items(), ("o-", "s-", "^-")):
        seconds, peak = zip(*values)
        left.plot(classes, np.array(seconds) * 1e3, style, ms=4, label=name)
        right.plot(classes, np.array(peak) / 2**20, style, ms=4, label=name)
    logits = np.array(classes) * n * 4 / 2**20
    right.plot(classes, logits, ":", color="0.5", label="the (N, C) float32 logits")
    left.set(xlabel="classes C", ylabel="ms per step", title="forward + backward time")
    right.set(xlabel="classes C", ylabel="MiB", title="peak extra memory", yscale="log")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    right.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"N={n}, in_features={d}, float32, {threads} thread(s)", fontsize=9)
    fig.savefig(path, dpi=90)
    print("wrote", os.path.normpath(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    n, d = 1024, 256
    # the same threads for all three: fastnl's, and NumPy's BLAS (the
    # materialised logits' products would otherwise run on all cores)
    import threadpoolctl
    with fastnl.num_threads(args.threads), \
            threadpoolctl.threadpool_limits(args.threads, user_api="blas"):
        classes, rows = run(n, d)
    draw(classes, rows, n, d, args.threads)


if __name__ == "__main__":
    main()
