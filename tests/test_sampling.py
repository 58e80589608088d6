"""BalancedBatchSampler: the invariants of its scheme (its docstring, docs: guides/losses)."""

import math
import warnings

import numpy as np
import pytest

from fastnl.sampling import BalancedBatchSampler

# 3 classes of very different sizes, labels not sorted and not 0..K-1.
LABELS = np.repeat(np.array([7, -1, 3]), [103, 10, 1])
LABELS = LABELS[np.random.default_rng(0).permutation(LABELS.size)]


@pytest.mark.parametrize("batch_size", [3, 6, 12, 30])
def test_epoch_invariants(batch_size):
    with pytest.warns(UserWarning, match=r"class 3 \(1 sample, each ~1\d\d times\)"):
        sampler = BalancedBatchSampler(LABELS, batch_size, rng=1)  # class 3: 1 sample
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


@pytest.mark.filterwarnings("ignore:BalancedBatchSampler")  # LABELS' class of 1 sample
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


@pytest.mark.parametrize("labels, batch_size, match", [
    (LABELS, 4, r"positive multiple of the number of classes \(3\), got 4"),
    (LABELS, 0, "positive multiple"), (LABELS, -3, "positive multiple"),
    (LABELS, 3.0, r"must be an int .*got 3\.0 of type float"),
    (LABELS, True, "must be an int .*got True of type bool"),
    (LABELS, "6", "must be an int"),
    ([], 2, "non-empty"), (np.zeros((2, 2)), 2, "1-d"),
    ([0.0, np.nan, 1.0, np.nan], 2, r"must not contain NaN \(found 2\)"),
])
def test_invalid(labels, batch_size, match):
    with pytest.raises(ValueError, match=match):
        BalancedBatchSampler(labels, batch_size)


def test_warns_when_a_class_is_repeated_a_hundred_times():
    labels = np.array([0] * 1000 + [1])
    with pytest.warns(UserWarning, match=r"class 1 \(1 sample, each ~1000 times\)"):
        BalancedBatchSampler(labels, 2, rng=0)
    names = np.array(["cat"] * 500 + ["dog"] * 5 + ["emu"] * 499)
    with pytest.warns(UserWarning, match=r"'dog' \(5 samples, each ~100 times\)") as record:
        BalancedBatchSampler(names, 3, rng=0)
    assert "emu" not in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 99 repeats: no warning
        BalancedBatchSampler(np.array([0] * 99 + [1]), 2, rng=0)
