"""Inputs shared by the class-loss tests (forward in test_losses.py, backward
in test_gradients_axis_losses.py), so both check the same settings."""

# (C,), (N, C), (N, C, d1), (N, C, d1, d2), and long rows (many 16-lane
# vectors) with a ragged end.
CLASS_SHAPES = [(5,), (6, 4), (3, 4, 5), (2, 3, 2, 4), (3, 601)]


def class_problem(rng, shape, dtype, ignore_index):
    """Logits, class-index targets with some rows set to `ignore_index` (every
    third; every fourth from the second for the default -100), class weights."""
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, n_classes, tshape)
    if t.ndim:
        if ignore_index != -100:
            t.ravel()[::3] = ignore_index
        else:
            t.ravel()[1::4] = -100
    w = rng.uniform(0.2, 2.0, n_classes).astype(dtype)
    return x, t, w
