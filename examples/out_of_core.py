"""Cross-entropy and softmax over logits larger than memory, with Dask.

A language model's logits for 2,000,000 tokens over a 32,000-word vocabulary
are 256 GB of float32: more than this machine's memory. Here they are made
chunk by chunk from a seed (as a model would produce them batch by batch),
never all at once, and fastnl's functions run on each chunk as it is made:

- the mean cross-entropy against lazily made targets (per-chunk float64
  sums, combined by a tree reduction);
- the mean confidence, the softmax's largest probability per token (the
  softmax of each chunk, reduced at once: the 256 GB of probabilities never
  exist either).

Both are computed in one pass over the chunks, with memory bounded by a few
chunks per thread. Run::

    python examples/out_of_core.py                   # 2,000,000 x 32,000
    python examples/out_of_core.py --rows 20000 --classes 1000 --check

``--check`` also computes the same numbers in memory with NumPy arrays (for
sizes that fit) and prints the difference.
"""

import argparse
import resource
import time

import dask
import dask.array as da
import numpy as np

import fastnl


def make_targets(block_id, rows, classes, seed):
    """One chunk of target classes, from the seed and the chunk's index: the
    same chunk whenever, wherever (on any worker) it is made."""
    rng = np.random.default_rng([seed, block_id[0], 1])
    return rng.integers(0, classes, rows)


def make_logits(block_id, rows, classes, seed):
    """One chunk of logits: uniform in [-4, 4), the target's raised by 12, as
    from a model that has learnt something."""
    rng = np.random.default_rng([seed, block_id[0]])
    logits = rng.random((rows, classes), dtype=np.float32) * 8 - 4
    logits[np.arange(rows), make_targets(block_id, rows, classes, seed)] += 12
    return logits


def lazy_problem(rows, classes, chunk_rows, seed=0):
    """(logits, targets) as Dask arrays whose chunks are made on demand."""
    chunks = (chunk_rows,) * (rows // chunk_rows) + ((rows % chunk_rows,) if rows % chunk_rows
                                                     else ())
    logits = da.map_blocks(lambda block_id: make_logits(block_id, chunks[block_id[0]], classes,
                                                        seed),
                           chunks=(chunks, (classes,)), dtype=np.float32,
                           meta=np.empty((0, 0), np.float32))
    targets = da.map_blocks(lambda block_id: make_targets(block_id, chunks[block_id[0]],
                                                          classes, seed),
                            chunks=(chunks,), dtype=np.int64, meta=np.empty(0, np.int64))
    return logits, targets


def statistics(logits, targets):
    """The lazy mean cross-entropy and mean confidence (nothing computed yet)."""
    loss = fastnl.cross_entropy(logits, targets)
    confidence = fastnl.softmax(logits, axis=1).max(axis=1).mean()
    return loss, confidence


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--classes", type=int, default=32_000)
    parser.add_argument("--chunk-rows", type=int, default=1000)
    parser.add_argument("--check", action="store_true",
                        help="also compute in memory with NumPy arrays and compare")
    args = parser.parse_args(argv)

    logits, targets = lazy_problem(args.rows, args.classes, args.chunk_rows)
    size = logits.size * logits.dtype.itemsize
    print(f"logits {logits.shape} float32: {size / 2**30:.1f} GiB in {logits.numblocks[0]} "
          f"chunks of {args.chunk_rows * args.classes * 4 / 2**20:.0f} MiB")
    start = time.perf_counter()
    # Dask's threads already use every core, one chunk each: one kernel thread
    # per chunk avoids running more threads than cores.
    with fastnl.num_threads(1):
        loss, confidence = dask.compute(*statistics(logits, targets))
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(f"mean cross-entropy {float(loss):.6f}, mean confidence {float(confidence):.6f}")
    print(f"time {elapsed:.1f} s ({size / elapsed / 2**30:.2f} GiB/s of logits), "
          f"peak memory of the process {peak:.2f} GiB")
    if args.check:
        x, t = dask.compute(logits, targets)
        loss_np = fastnl.cross_entropy(x, t)
        confidence_np = fastnl.softmax(x, axis=1).max(axis=1).mean(dtype=np.float64)
        print(f"in memory: cross-entropy {float(loss_np):.6f} (relative difference "
              f"{abs(float(loss) / float(loss_np) - 1):.1e}), confidence "
              f"{float(confidence_np):.6f}")
    return float(loss), float(confidence)


if __name__ == "__main__":
    main()
