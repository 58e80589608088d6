"""The accuracy tests must fail on the wrong versions a reviewer named: each
is built here from fastnl's own result and put through the checks of
tests/test_activations.py and tests/test_activation_gradients.py (the plain
measure against the reference, with the table's tolerances)."""

import numpy as np
import pytest

import fastnl
from fastnl import _reference as reference


def within_tolerance(name, params, x, got, derivative=False):
    err = reference.ulp_error(got, reference.exact(name, x, params, derivative))
    return err.max() <= reference.tolerance(got.dtype, name, params, derivative)[0]


def test_the_kernels_pass():
    for dtype in filter(reference.measurable, (np.float32, np.float64)):
        x = reference.sweep(dtype)
        assert within_tolerance("gelu", {}, x, fastnl.gelu(x))
        assert within_tolerance("tanhshrink", {}, x, fastnl.tanhshrink(x))


def test_gelu_130_ulp_off_at_minus_13():
    x = reference.sweep(np.float32)
    bad = fastnl.gelu(x)
    i = np.nanargmin(np.abs(x + 13.1))
    bad[i] += np.float32(130) * np.spacing(np.abs(bad[i]))
    assert not within_tolerance("gelu", {}, x, bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanhshrink_zero_near_zero(dtype):
    x = reference.sweep(dtype)
    bad = np.where(np.abs(x) < 1e-3, dtype(0), fastnl.tanhshrink(x)).astype(dtype)
    assert not within_tolerance("tanhshrink", {}, x, bad)


def test_gelu_tail_from_a_three_term_asymptotic_series():
    x = reference.sweep(np.float64)
    x = x[np.isfinite(x)]
    with np.errstate(all="ignore"):
        z = -x / np.sqrt(2)
        series = np.exp(-z * z) / (z * np.sqrt(np.pi)) * (1 - 1 / (2 * z * z) + 3 / (4 * z ** 4))
    bad = np.where(x < -8, 0.5 * x * series, fastnl.gelu(x))
    assert not within_tolerance("gelu", {}, x, bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_derivatives_zeroed_in_their_tails(dtype):
    x = reference.sweep(dtype)
    x = x[~np.isnan(x)]
    g = fastnl.gelu_backward(np.ones_like(x), x)
    assert not within_tolerance("gelu", {}, x, np.where(x < -6, dtype(0), g).astype(dtype), True)
    s = fastnl.sigmoid_backward(np.ones_like(x), x)
    assert not within_tolerance("sigmoid", {}, x,
                                np.where(np.abs(x) > 17, dtype(0), s).astype(dtype), True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cancelling_derivative_forms(dtype):
    """s (1 - s) and 1 - tanh^2 lose the derivative where s, tanh round to 1."""
    x = reference.sweep(dtype)
    x = x[~np.isnan(x)]
    s, t = fastnl.sigmoid(x), fastnl.tanh(x)
    assert not within_tolerance("sigmoid", {}, x, (s * (dtype(1) - s)).astype(dtype), True)
    assert not within_tolerance("tanh", {}, x, (dtype(1) - t * t).astype(dtype), True)
