"""Train a small MLP on scikit-learn's bundled digits with NumPy and fastnl alone.

The network is 64 -> 128 -> 10 with a GELU between the layers, written as a
torch program is and ported line by line (fastnl.nn for torch.nn, NumPy
arrays for tensors, ``backward`` and a loop over ``named_parameters`` for
autograd and torch.optim.SGD), trained by plain minibatch SGD on the mean
cross-entropy. Its torch twin:

    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(),
                                torch.nn.Linear(128, 10))
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=step)
    for batch in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(X[batch]), y[batch])
        loss.backward()
        optimizer.step()

A second experiment trains on a deliberately imbalanced copy of the
training set (classes 5-9 cut to a tenth) twice, once with plain shuffled
batches and once with fastnl.sampling.BalancedBatchSampler, and compares the
per-class recall on the untouched test set.

    python examples/train_digits.py            # both experiments
    python examples/train_digits.py --epochs 5 # shorter

Needs scikit-learn for the data (it ships with the package: no download).
"""

import argparse
import time

import numpy as np

from fastnl import nn
from fastnl.sampling import BalancedBatchSampler


def load(seed=0):
    """Digits scaled to [0, 1], split 75/25 with every class in proportion."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    return train_test_split(X, digits.target, test_size=0.25, random_state=seed,
                            stratify=digits.target)


def mlp(n_in, n_hidden, n_out, rng):
    """Two dense layers with a GELU between them: torch.nn.Linear's layout and
    initialisation, float32 weights."""
    return nn.Sequential(nn.Linear(n_in, n_hidden, rng=rng), nn.GELU(),
                         nn.Linear(n_hidden, n_out, rng=rng))


def predict(model, X):
    return np.argmax(model(X), axis=1)


def shuffled_batches(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train(X, y, epochs=30, batch_size=32, lr=0.5, balanced=False, seed=0, model=None):
    """Plain SGD on the mean cross-entropy, the step decaying linearly to 0 over
    the epochs (so the last updates do not throw the model off); batches
    shuffled at the true class frequencies, or balanced (the same count of
    every class in each batch: `batch_size` rounded down to a multiple of the
    number of classes, at least one sample of each)."""
    rng = np.random.default_rng(seed)
    model = model or mlp(X.shape[1], 128, 10, rng)
    loss_fn = nn.CrossEntropyLoss()
    if balanced:
        n_classes = len(np.unique(y))
        per_class = max(batch_size // n_classes, 1)
        sampler = BalancedBatchSampler(y, batch_size=per_class * n_classes, rng=rng)
    for epoch in range(epochs):
        step = lr * (1 - epoch / epochs)
        batches = sampler if balanced else shuffled_batches(len(y), batch_size, rng)
        for batch in batches:
            model.zero_grad()
            loss_fn(model(X[batch]), y[batch])
            model.backward(loss_fn.backward())
            for _, parameter, grad in model.named_parameters():  # SGD
                parameter -= step * grad
    return model


def recall_per_class(model, X, y):
    predicted = predict(model, X)
    return np.array([np.mean(predicted[y == c] == c) for c in range(10)])


def imbalanced(X, y, keep=0.1, seed=0):
    """Classes 0-4 whole, classes 5-9 cut to `keep` of their samples."""
    rng = np.random.default_rng(seed)
    chosen = [np.flatnonzero(y == c) for c in range(10)]
    chosen = [idx if c < 5 else rng.choice(idx, max(1, int(keep * len(idx))), replace=False)
              for c, idx in enumerate(chosen)]
    idx = np.concatenate(chosen)
    return X[idx], y[idx]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(argv)
    X_train, X_test, y_train, y_test = load()

    start = time.perf_counter()
    model = train(X_train, y_train, epochs=args.epochs)
    seconds = time.perf_counter() - start
    accuracy = np.mean(predict(model, X_test) == y_test)
    print(f"digits, {len(y_train)} training samples, {args.epochs} epochs: "
          f"test accuracy {accuracy:.4f} in {seconds:.2f} s")

    X_small, y_small = imbalanced(X_train, y_train)
    print(f"\nimbalanced training set: {np.bincount(y_small).tolist()} samples per class")
    plain = train(X_small, y_small, epochs=args.epochs)
    balanced = train(X_small, y_small, epochs=args.epochs, balanced=True)
    columns = {"plain shuffling": recall_per_class(plain, X_test, y_test),
               "balanced batches": recall_per_class(balanced, X_test, y_test)}
    # The follow-up: a few epochs at the true frequencies, with a smaller step,
    # to bring the output probabilities back to the real class priors.
    train(X_small, y_small, epochs=3, lr=0.02, model=balanced, seed=1)
    columns["then 3 epochs plain"] = recall_per_class(balanced, X_test, y_test)
    print(f"{'recall':>6}" + "".join(f"{name:>21}" for name in columns))
    for c in range(10):
        print(f"{c:>6}" + "".join(f"{r[c]:>21.3f}" for r in columns.values()))
    print(f"{'mean':>6}" + "".join(f"{r.mean():>21.3f}" for r in columns.values()))
    print(f"{'5-9':>6}" + "".join(f"{r[5:].mean():>21.3f}" for r in columns.values()))
    return accuracy


if __name__ == "__main__":
    main()
