"""Figures of the gallery, drawn by matplotlib's plot directive at build time.

Every curve comes from fastnl itself: the function from ``fastnl.<name>`` and
the derivative from ``fastnl.<name>_backward`` with a gradient of ones.
"""

import inspect

import matplotlib.pyplot as plt
import numpy as np

import fastnl

_FUNCTION_COLOR, _DERIVATIVE_COLOR = "C0", "C3"


def _break_jumps(x, y, tol):
    """Copies of x and y with a NaN between neighbours more than `tol` apart in y,
    so that a step is drawn as a step, not as a steep line."""
    jumps = np.flatnonzero(np.abs(np.diff(y)) > tol) + 1
    return np.insert(x, jumps, np.nan), np.insert(y, jumps, np.nan)


def _short(value):
    """A parameter as a figure title shows it: 0.333333 rather than 0.3333333333333333."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (np.ndarray, tuple, list)):  # prelu's weight
        return "[" + ", ".join(f"{v:g}" for v in np.asarray(value).tolist()) + "]"
    return repr(value)


def plot_activation(name, xlim=(-5.0, 5.0), ylim=None, n=2001, **params):
    """Two panels: ``fastnl.<name>(x, **params)`` and its derivative; for rrelu
    also the band of slopes that training draws from."""
    x = np.linspace(*xlim, n)
    y = getattr(fastnl, name)(x, **params)
    dy = getattr(fastnl, f"{name}_backward")(np.ones_like(x), x, **params)
    if name == "prelu":  # returns (grad_x, grad_weight)
        dy = dy[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.6), layout="constrained")
    shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
    call = f"{name}(x{', ' + shown if shown else ''})"
    for ax, values, color, title in ((left, y, _FUNCTION_COLOR, call),
                                     (right, dy, _DERIVATIVE_COLOR, f"derivative: {name}_backward")):
        span = float(np.nanmax(values) - np.nanmin(values)) or 1.0
        ax.plot(*_break_jumps(x, values, 0.05 * span), color=color, lw=2)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlim(*xlim)
        ax.set_title(title, fontsize=10, family="monospace")
        ax.grid(True, alpha=0.3)
    if name == "rrelu":  # the curve is the evaluation form (the mean slope)
        defaults = inspect.signature(fastnl.rrelu).parameters
        _rrelu_band(left, right, x, params.get("lower", defaults["lower"].default),
                    params.get("upper", defaults["upper"].default))
    if ylim is not None:
        left.set_ylim(*ylim)
    return fig


def _rrelu_band(left, right, x, lower, upper):
    """The slopes rrelu draws from in training, around the evaluation curve."""
    neg = x[x <= 0]
    left.fill_between(neg, lower * neg, upper * neg, color=_FUNCTION_COLOR, alpha=0.2,
                      label="training: slope ~ U(lower, upper)")
    left.legend(fontsize=8, loc="upper left")
    right.fill_between(neg, lower, upper, color=_DERIVATIVE_COLOR, alpha=0.2)


def plot_softmax_temperatures(logits=(2.0, 1.0, 0.5, 0.0, -1.0),
                              temperatures=(0.25, 1.0, 4.0, 16.0)):
    """Bars of ``fastnl.softmax(logits, temperature=t)`` for a few t, and the
    entropy of the result against t."""
    logits = np.asarray(logits)
    fig, axes = plt.subplots(1, len(temperatures) + 1, figsize=(9.0, 2.4),
                             layout="constrained")
    positions = np.arange(logits.size)
    for ax, t in zip(axes, temperatures):
        p = fastnl.softmax(logits, temperature=t)
        ax.bar(positions, p, color="C0")
        ax.set_ylim(0, 1)
        ax.set_xticks(positions)
        ax.set_title(f"temperature={t:g}", fontsize=9)
    axes[0].set_ylabel("probability")
    ts = np.geomspace(0.05, 100, 200)
    entropy = []
    for t in ts:
        p = fastnl.softmax(logits, temperature=t)
        entropy.append(-np.sum(p * np.log(np.where(p > 0, p, 1))))
    ax = axes[-1]
    ax.semilogx(ts, entropy, color="C3", lw=2)
    ax.axhline(np.log(logits.size), color="0.6", lw=0.8, ls="--")
    ax.set_title("entropy vs temperature", fontsize=9)
    ax.set_xlabel("temperature")
    return fig
