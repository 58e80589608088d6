"""Batch sampling for imbalanced classes."""

import warnings

import numpy as np

from fastnl._validate import is_float, rng_from

__all__ = ["BalancedBatchSampler"]

# How many times per epoch a sample may be repeated before the sampler warns.
REPEATS_WARNING = 100


class BalancedBatchSampler:
    """Batches that hold the same number of samples of every class.

    The scheme for imbalanced classes: keep one circular buffer of sample
    indices per class, shuffled at the start of every epoch. Every batch takes
    ``batch_size // n_classes`` indices from each buffer in turn; a class with
    fewer samples wraps around its buffer and is seen several times per epoch.
    An epoch ends once every sample of the largest class has been used, so no
    data is left on the floor: it has ``ceil(n_largest / per_class)`` batches,
    and the last one wraps the largest class's buffer if needed to stay full.

    Parameters
    ----------
    labels : array_like, 1-d
        The class of every sample (any values NumPy can sort).
    batch_size : int
        A positive multiple of the number of classes.
    rng : None, int or numpy.random.Generator
        Source of the shuffles: a seed makes every epoch reproducible.

    Raises
    ------
    ValueError
        If `labels` is empty, not 1-d or holds NaN, or `batch_size` is not an
        int that is a positive multiple of the number of classes.

    Warns
    -----
    UserWarning
        If the samples of some class are each repeated 100 times or more per
        epoch (a class of one sample beside a class of 1000): the model may
        memorise them.

    Notes
    -----
    Balanced batches train the model as if the classes were equally frequent,
    which shifts its predicted probabilities towards the rare classes. The usual
    follow-up is to fine-tune for a few epochs at the true class frequencies
    (plain shuffled batches) with a small learning rate, so that the output
    probabilities are calibrated to the real priors again. A class weight
    vector in the loss (``cross_entropy(..., weight=...)``) is the alternative
    that keeps plain batches but scales each sample's gradient instead.

    Iterating gives one epoch: ``len(sampler)`` index arrays (int64, of length
    `batch_size`, grouped by class in sorted class order) into `labels`. Every
    new iteration is a new epoch with fresh shuffles.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnl.sampling import BalancedBatchSampler
    >>> labels = np.array([0] * 6 + [1] * 2)
    >>> sampler = BalancedBatchSampler(labels, batch_size=4, rng=0)
    >>> len(sampler)
    3
    >>> [np.bincount(labels[batch]).tolist() for batch in sampler]
    [[2, 2], [2, 2], [2, 2]]
    """

    def __init__(self, labels, batch_size, rng=None):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"labels must be a non-empty 1-d array, got shape {labels.shape}")
        if (labels.dtype.kind == "c" or is_float(labels.dtype)) and np.isnan(labels).any():
            # np.unique would make every NaN one class of its own
            raise ValueError(f"labels must not contain NaN (found "
                             f"{np.count_nonzero(np.isnan(labels))})")
        self.classes, codes = np.unique(labels, return_inverse=True)
        n_classes = len(self.classes)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size must be an int (a positive multiple of the number "
                             f"of classes, {n_classes}), got {batch_size!r} of type "
                             f"{type(batch_size).__name__}")
        if batch_size <= 0 or batch_size % n_classes:
            raise ValueError(f"batch_size must be a positive multiple of the number of "
                             f"classes ({n_classes}), got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.per_class = self.batch_size // n_classes
        # Indices of each class, in sample order; shuffled copies each epoch.
        order = np.argsort(codes, kind="stable")
        self._members = np.split(order, np.cumsum(np.bincount(codes))[:-1])
        self._rng = rng_from(rng)
        self._warn_if_repeated()

    def _warn_if_repeated(self):
        """A class this much smaller than the largest has each of its samples
        in REPEATS_WARNING batches or more per epoch: the model may learn
        those few samples by heart. Warn, naming the classes."""
        taken = len(self) * self.per_class  # what each class gives per epoch
        sizes = np.array([len(m) for m in self._members])
        repeated = np.flatnonzero(taken / sizes >= REPEATS_WARNING)
        if repeated.size:
            classes = self.classes.tolist()
            shown = ", ".join(f"{classes[i]!r} ({sizes[i]} sample"
                              f"{'s' if sizes[i] > 1 else ''}, each ~{taken // sizes[i]} times)"
                              for i in repeated[:5])
            more = f" and {repeated.size - 5} more" if repeated.size > 5 else ""
            warnings.warn(f"BalancedBatchSampler: every epoch repeats the samples of class "
                          f"{shown}{more}; consider more data for them, class weights in "
                          "the loss instead, or leaving such classes out", UserWarning,
                          stacklevel=3)

    def __len__(self):
        largest = max(len(m) for m in self._members)
        return -(-largest // self.per_class)

    def __iter__(self):
        n_batches = len(self)
        # Each class's shuffled buffer, repeated circularly to cover the epoch:
        # row b of a class's block is what batch b takes from it.
        taken = n_batches * self.per_class
        blocks = []
        for members in self._members:
            buffer = self._rng.permutation(members)
            blocks.append(np.resize(buffer, taken).reshape(n_batches, self.per_class))
        epoch = np.concatenate(blocks, axis=1).astype(np.int64)
        yield from epoch
