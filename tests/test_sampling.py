"""BalancedBatchSampler: the invariants of its scheme (its docstring, docs: guides/losses)."""

import math

import numpy as np
import pytest

from fastnl.sampling import BalancedBatchSampler

# 3 classes of very different sizes, labels not sorted and not 0..K-1.
LABELS = np.repeat(np.array([7, -1, 3]), [103, 10, 1])
LABELS = LABELS[np.random.default_rng(0).permutation(LABELS.size)]


@pytest.mark.parametrize("batch_size", [3, 6, 12, 30])
def test_epoch_invariants(batch_size):
    sampler = BalancedBatchSampler(LABELS, batch_size, rng=1)
    per_class = batch_size // 3
    batches = list(sampler)
    assert len(batches) == len(sampler) == math.ceil(103 / per_class)
    for batch in batches:
        assert batch.dtype == np.int64 and batch.shape == (batch_size,)
        # Every batch is full and balanced.
        counts = {c: int(np.sum(LABELS[batch] == c)) for c in (7, -1, 3)}
        assert counts == {7: per_class, -1: per_class, 3: per_class}
    used = np.bincount(np.concatenate(batches), minlength=LABELS.size)
    majority = np.flatnonzero(LABELS == 7)
    # Every sample of the largest class at least once; more than once only
    # where the last batch wrapped to stay full.
    assert used[majority].min() >= 1
    assert used[majority].sum() == len(batches) * per_class
    assert used[majority].max() <= 2
    # Minority classes are cycled: each sample as often as the others, +-1.
    for c in (-1, 3):
        members = used[LABELS == c]
        assert members.max() - members.min() <= 1 and members.sum() == len(batches) * per_class


def test_epochs_are_reshuffled_and_reproducible():
    a, b = BalancedBatchSampler(LABELS, 6, rng=5), BalancedBatchSampler(LABELS, 6, rng=5)
    epoch1, epoch2 = np.concatenate(list(a)), np.concatenate(list(a))
    assert not np.array_equal(epoch1, epoch2)
    assert np.array_equal(epoch1, np.concatenate(list(b)))
    assert np.array_equal(epoch2, np.concatenate(list(b)))
    generator = BalancedBatchSampler(LABELS, 6, rng=np.random.default_rng(5))
    assert np.array_equal(np.concatenate(list(generator)), epoch1)


def test_one_class_and_exact_multiples():
    sampler = BalancedBatchSampler(np.zeros(10, int), 5, rng=0)
    batches = list(sampler)
    assert len(batches) == 2
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


@pytest.mark.parametrize("labels, batch_size", [
    (LABELS, 4), (LABELS, 0), (LABELS, -3), (LABELS, 3.0), (LABELS, True),
    ([], 2), (np.zeros((2, 2)), 2),
])
def test_invalid(labels, batch_size):
    with pytest.raises(ValueError):
        BalancedBatchSampler(labels, batch_size)
