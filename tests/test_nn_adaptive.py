"""AdaptiveLogSoftmaxWithLoss against torch.nn.AdaptiveLogSoftmaxWithLoss,
with torch's weights loaded through state_dict."""

import numpy as np
import pytest

from fastnl import nn


def make_pair(torch, in_features=16, n_classes=60, cutoffs=(8, 20, 40), div_value=2.0,
              head_bias=True, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, list(cutoffs),
                                                 div_value=div_value, head_bias=head_bias)
    ours = nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=div_value,
                                         head_bias=head_bias)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


# float32 throughout (torch's default): matrix products of 16 terms and a
# log-softmax, each within a few float32 ulp; 1e-5 relative + 1e-6 absolute.
RTOL, ATOL = 1e-5, 1e-6


@pytest.mark.parametrize("head_bias", [False, True])
def test_forward_log_prob_predict_and_backward_match_torch(torch, head_bias, rng):
    ours, theirs = make_pair(torch, head_bias=head_bias)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    target = rng.integers(0, 60, 32)
    target[:4] = [0, 7, 8, 59]  # both edges of the shortlist and the last class
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    out_t, loss_t = theirs(xt, torch.from_numpy(target))
    loss_t.backward()
    output, loss = ours(x, target)
    np.testing.assert_allclose(output, out_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL)
    assert output.dtype == np.float32 and np.ndim(loss) == 0
    grad_x = ours.backward()
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    for name, param in theirs.named_parameters():
        layer, kind = name.rsplit(".", 1)
        ours_layer = ours.head if layer == "head" else ours.tail[int(layer.split(".")[1])][int(layer.split(".")[2])]
        np.testing.assert_allclose(getattr(ours_layer, f"{kind}_grad"), param.grad.numpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=name)
    with torch.no_grad():
        np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(xt).numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(ours.predict(x), theirs.predict(xt).numpy())


def test_grad_of_output_and_accumulation(torch, rng):
    ours, theirs = make_pair(torch)
    x = rng.standard_normal((10, 16)).astype(np.float32)
    target = rng.integers(0, 60, 10)
    g = rng.standard_normal(10).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    for _ in range(2):  # two backward passes accumulate into the weight gradients
        out_t, _ = theirs(xt, torch.from_numpy(target))
        out_t.backward(torch.from_numpy(g))
        ours(x, target)
        grad_x = ours.backward(g)
    np.testing.assert_allclose(grad_x, xt.grad.numpy() / 2, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.head.weight_grad, theirs.head.weight.grad.numpy(),
                               rtol=1e-4, atol=1e-6)
    ours.zero_grad()
    assert ours.head.weight_grad is None


def test_unbatched_input(torch, rng):
    ours, theirs = make_pair(torch)
    x = rng.standard_normal(16).astype(np.float32)
    output, loss = ours(x, np.array(25))
    out_t, loss_t = theirs(torch.from_numpy(x), torch.tensor(25))
    np.testing.assert_allclose(output, out_t.item(), rtol=RTOL)
    assert ours.backward().shape == (16,)
    assert ours.log_prob(x).shape == (60,) and np.ndim(ours.predict(x)) == 0


def test_gradient_finite_differences_float64():
    asm = nn.AdaptiveLogSoftmaxWithLoss(6, 20, [4, 10], div_value=2.0, head_bias=True,
                                        rng=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 6))
    target = np.array([0, 3, 4, 12, 19])
    asm(x, target)
    grad = asm.backward()
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = 1e-6
        fd[idx] = (asm(x + e, target).loss - asm(x - e, target).loss) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_initialisation_scheme_and_keys(torch):
    asm = nn.AdaptiveLogSoftmaxWithLoss(64, 1000, [100, 500], div_value=4.0, rng=0)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(64, 1000, [100, 500], div_value=4.0)
    ours_state = asm.state_dict()
    assert {k: v.shape for k, v in ours_state.items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    # torch.nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    assert np.abs(asm.head.weight).max() <= 1 / 8 and np.abs(asm.head.weight).max() > 0.12
    assert asm.tail[0][1].weight.shape == (400, 16)
    assert all(v.dtype == np.float32 for v in ours_state.values())


@pytest.mark.parametrize("cutoffs", [[10, 5], [5, 5], [0, 5], [5, 100], [5, 200], [], [2.5]])
def test_invalid_cutoffs(cutoffs):
    with pytest.raises(ValueError, match="cutoffs"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 100, cutoffs)


def test_bad_targets_and_shapes():
    asm = nn.AdaptiveLogSoftmaxWithLoss(8, 30, [10], rng=0)
    x = np.zeros((3, 8), np.float32)
    with pytest.raises(IndexError, match="30"):
        asm(x, np.array([0, 30, 1]))
    with pytest.raises(IndexError):
        asm(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="shape"):
        asm(np.zeros((3, 7)), np.array([0, 1, 2]))
    with pytest.raises(TypeError):
        asm(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(KeyError):
        asm.load_state_dict({"head.weight": asm.head.weight})
    with pytest.raises(RuntimeError, match="before forward"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 30, [10]).backward()
