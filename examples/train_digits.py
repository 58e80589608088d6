"""Train a small MLP on scikit-learn's bundled digits with NumPy and fastnl alone.

The network is 64 -> 128 -> 10: NumPy matrix products, fastnl's GELU and
cross-entropy, and their fastnl backward passes, trained by plain minibatch
SGD. A second experiment trains on a deliberately imbalanced copy of the
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

import fastnl
from fastnl.sampling import BalancedBatchSampler


def load(seed=0):
    """Digits scaled to [0, 1], split 75/25 with every class in proportion."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    return train_test_split(X, digits.target, test_size=0.25, random_state=seed,
                            stratify=digits.target)


class MLP:
    """Two dense layers with a GELU between them; weights in float32."""

    def __init__(self, n_in, n_hidden, n_out, rng):
        # He-style initialisation for the GELU layer, small for the output.
        self.W1 = (rng.standard_normal((n_in, n_hidden)) * np.sqrt(2 / n_in)).astype(np.float32)
        self.b1 = np.zeros(n_hidden, np.float32)
        self.W2 = (rng.standard_normal((n_hidden, n_out)) * np.sqrt(1 / n_hidden)).astype(np.float32)
        self.b2 = np.zeros(n_out, np.float32)

    def forward(self, X):
        self.X = X
        self.z1 = X @ self.W1 + self.b1
        self.h1 = fastnl.gelu(self.z1)
        return self.h1 @ self.W2 + self.b2

    def backward(self, grad_logits):
        """Gradients of every parameter, from the gradient of the logits."""
        grad_h1 = grad_logits @ self.W2.T
        grad_z1 = fastnl.gelu_backward(grad_h1, self.z1)
        return {"W2": self.h1.T @ grad_logits, "b2": grad_logits.sum(axis=0),
                "W1": self.X.T @ grad_z1, "b1": grad_z1.sum(axis=0)}

    def step(self, grads, lr):
        for name, grad in grads.items():
            getattr(self, name)[...] -= lr * grad

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)


def shuffled_batches(n, batch_size, rng):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train(X, y, epochs=30, batch_size=32, lr=0.2, balanced=False, seed=0, model=None):
    """Plain SGD on the mean cross-entropy, the step decaying linearly to 0 over
    the epochs (so the last updates do not throw the model off); batches
    shuffled at the true class frequencies, or balanced (the same count of
    every class in each batch: `batch_size` rounded down to a multiple of the
    number of classes, at least one sample of each)."""
    rng = np.random.default_rng(seed)
    model = model or MLP(X.shape[1], 128, 10, rng)
    if balanced:
        n_classes = len(np.unique(y))
        per_class = max(batch_size // n_classes, 1)
        sampler = BalancedBatchSampler(y, batch_size=per_class * n_classes, rng=rng)
    for epoch in range(epochs):
        step = lr * (1 - epoch / epochs)
        batches = sampler if balanced else shuffled_batches(len(y), batch_size, rng)
        for batch in batches:
            logits = model.forward(X[batch])
            grad_logits = fastnl.cross_entropy_backward(logits, y[batch])
            model.step(model.backward(grad_logits), step)
    return model


def recall_per_class(model, X, y):
    predicted = model.predict(X)
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
    accuracy = np.mean(model.predict(X_test) == y_test)
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
