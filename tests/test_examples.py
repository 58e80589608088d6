"""The examples run and reach what they claim."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_digits_reaches_95_percent():
    pytest.importorskip("sklearn")
    example = load_example("train_digits")
    X_train, X_test, y_train, y_test = example.load()
    model = example.train(X_train, y_train, epochs=30)
    assert np.mean(model.predict(X_test) == y_test) >= 0.95


def test_balanced_batches_lift_the_rare_classes():
    pytest.importorskip("sklearn")
    example = load_example("train_digits")
    X_train, X_test, y_train, y_test = example.load()
    X_small, y_small = example.imbalanced(X_train, y_train)
    plain = example.recall_per_class(example.train(X_small, y_small, epochs=30), X_test, y_test)
    balanced = example.recall_per_class(
        example.train(X_small, y_small, epochs=30, balanced=True), X_test, y_test)
    assert balanced[5:].mean() > plain[5:].mean()


def test_out_of_core_matches_memory():
    # The lazily made logits, chunk by chunk, give the in-memory numbers: the
    # loss to float64 summation order (the chunks' sums are added as a tree),
    # the confidence (a float32 softmax, averaged in float64 both ways) to 1e-6.
    import fastnl
    example = load_example("out_of_core")
    logits, targets = example.lazy_problem(3000, 500, chunk_rows=700)
    assert logits.numblocks == (5, 1)
    loss, confidence = example.statistics(logits, targets)
    x, t = logits.compute(), targets.compute()
    assert x[0].argmax() == t[0]  # the target's logit raised by 12
    np.testing.assert_allclose(loss.compute(), fastnl.cross_entropy(x, t), rtol=1e-6)
    np.testing.assert_allclose(confidence.compute(),
                               fastnl.softmax(x, axis=1).max(axis=1).mean(dtype=np.float64),
                               rtol=1e-6)
    assert np.array_equal(logits.compute(), x)  # the same chunks whenever they are made
