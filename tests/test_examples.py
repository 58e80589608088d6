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
