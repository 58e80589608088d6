"""AdaptiveLogSoftmaxWithLoss: the softmax approximation of Grave et al.,
"Efficient softmax approximation for GPUs" (ICML 2017), as torch.nn has it."""

from collections import namedtuple

import numpy as np

from fastnl._validate import as_float_array, rng_from
from fastnl.nn._module import Module
from fastnl.nn.linear import linear_parameters

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class _Linear:
    """``y = x @ weight.T (+ bias)`` with torch.nn.Linear's layout and its
    default initialisation, U(-1/sqrt(in_features), 1/sqrt(in_features)) for
    the weight and the bias (kaiming_uniform with a = sqrt(5)). Gradients
    accumulate in ``weight_grad`` / ``bias_grad``."""

    def __init__(self, in_features, out_features, bias, rng, dtype):
        self.weight, self.bias = linear_parameters(in_features, out_features, bias, rng, dtype)
        self.weight_grad = self.bias_grad = None

    def __call__(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def accumulate(self, x, grad_y):
        """Add the gradients of the weights for input x and output gradient grad_y."""
        gw = (grad_y.T @ x).astype(self.weight.dtype)
        self.weight_grad = gw if self.weight_grad is None else self.weight_grad + gw
        if self.bias is not None:
            gb = grad_y.sum(axis=0).astype(self.bias.dtype)
            self.bias_grad = gb if self.bias_grad is None else self.bias_grad + gb


class AdaptiveLogSoftmaxWithLoss(Module):
    """``torch.nn.AdaptiveLogSoftmaxWithLoss``: a softmax over many classes that
    spends most of its work on the frequent ones.

    Classes are sorted by frequency (0 the most frequent). The ``head`` scores
    the ``cutoffs[0]`` most frequent classes plus one entry per tail cluster;
    tail cluster i, classes ``cutoffs[i]`` to ``cutoffs[i+1] - 1``, is scored by
    a two-layer projection of width ``in_features // div_value**(i+1)``. The
    log-probability of a tail class is that of its cluster in the head plus
    its own within the cluster.

    Parameters
    ----------
    in_features : int
        Size of each input row.
    n_classes : int
        Number of classes.
    cutoffs : sequence of int
        Increasing, unique, in [1, n_classes - 1].
    div_value : float
        Ratio by which each tail cluster's projection narrows.
    head_bias : bool
        Whether the head has a bias.
    rng : None, int or numpy.random.Generator
        Source of the initial weights (torch.nn.Linear's scheme).
    dtype : dtype
        Of the weights: float32 by default, as torch's default dtype.

    Attributes
    ----------
    head : object with ``weight`` (head_size, in_features) and ``bias``
    tail : list of [projection, output] pairs, each with ``weight``
        Both as in torch, with ``weight_grad`` / ``bias_grad`` after :meth:`backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnl import nn
    >>> asm = nn.AdaptiveLogSoftmaxWithLoss(16, 100, cutoffs=[10, 50], rng=0)
    >>> x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    >>> target = np.array([0, 5, 12, 40, 60, 99, 3, 55])
    >>> output, loss = asm(x, target)
    >>> output.shape, bool(loss > 0)
    ((8,), True)
    >>> probabilities = np.exp(asm.log_prob(x))
    >>> bool(np.allclose(probabilities.sum(axis=1), 1, atol=1e-5))
    True
    >>> asm.backward().shape                       # gradient of the loss w.r.t. x
    (8, 16)
    >>> sorted(asm.state_dict())
    ['head.weight', 'tail.0.0.weight', 'tail.0.1.weight', 'tail.1.0.weight', 'tail.1.1.weight']
    """

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
                 rng=None, dtype=np.float32):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (any(int(c) != c for c in cutoffs) or cutoffs != sorted(cutoffs)
                or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             f"n_classes-1 = {n_classes - 1}; got {cutoffs}")
        rng = rng_from(rng)
        self.in_features, self.n_classes = int(in_features), int(n_classes)
        self.cutoffs = [int(c) for c in cutoffs] + [self.n_classes]
        self.div_value, self.head_bias = float(div_value), bool(head_bias)
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = _Linear(self.in_features, self.head_size, self.head_bias, rng, dtype)
        self.tail = []
        for i in range(self.n_clusters):
            hidden = int(self.in_features // (self.div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append([_Linear(self.in_features, hidden, False, rng, dtype),
                              _Linear(hidden, size, False, rng, dtype)])

    # -- parameters under torch's keys ------------------------------------------

    def _named_layers(self):
        yield "head", self.head
        for i, (projection, output) in enumerate(self.tail):
            yield f"tail.{i}.0", projection
            yield f"tail.{i}.1", output

    def parameters(self):
        return [p for _, layer in self._named_layers()
                for p in (layer.weight, layer.bias) if p is not None]

    def named_parameters(self):
        """``(name, array, gradient)`` of each weight, under torch's names."""
        for name, layer in self._named_layers():
            yield f"{name}.weight", layer.weight, layer.weight_grad
            if layer.bias is not None:
                yield f"{name}.bias", layer.bias, layer.bias_grad

    def zero_grad(self):
        for _, layer in self._named_layers():
            layer.weight_grad = layer.bias_grad = None

    def state_dict(self):
        """Copies of the weights under torch's keys (``head.weight``,
        ``head.bias`` if any, ``tail.0.0.weight``, ``tail.0.1.weight``, ...)."""
        state = {}
        for name, layer in self._named_layers():
            state[f"{name}.weight"] = layer.weight.copy()
            if layer.bias is not None:
                state[f"{name}.bias"] = layer.bias.copy()
        return state

    def load_state_dict(self, state_dict):
        """Load weights under torch's keys, e.g. from
        ``{k: v.detach().numpy() for k, v in torch_module.state_dict().items()}``."""
        expected = self.state_dict()
        missing, unexpected = set(expected) - set(state_dict), set(state_dict) - set(expected)
        if missing or unexpected:
            raise KeyError(f"state_dict keys do not match: missing {sorted(missing)}, "
                           f"unexpected {sorted(unexpected)}")
        for name, layer in self._named_layers():
            for kind in ("weight", "bias"):
                current = getattr(layer, kind)
                if current is None:
                    continue
                value = np.asarray(state_dict[f"{name}.{kind}"])
                if value.shape != current.shape:
                    raise ValueError(f"{name}.{kind}: shape {value.shape} in state_dict, "
                                     f"{current.shape} in the module")
                setattr(layer, kind, value.astype(current.dtype, copy=True))

    # -- forward ------------------------------------------------------------------

    def _input(self, input):
        x, _ = as_float_array(input)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ValueError(f"input should have shape (N, {self.in_features}) or "
                             f"({self.in_features},), got {x.shape}")
        return x.astype(np.promote_types(x.dtype, self.head.weight.dtype), copy=False)

    def forward(self, input, target):
        """Log-probability of each row's target and the mean loss, as
        ``(output, loss)`` (a named tuple, as torch)."""
        from fastnl.along_axis import log_softmax

        x = self._input(input)
        target = np.asarray(target)
        if target.dtype.kind not in "iu":
            raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
        unbatched = x.ndim == 1
        if unbatched:
            if target.ndim != 0:
                raise ValueError(f"1-d input needs a 0-d target, got shape {target.shape}")
            x, target = x[None], target[None]
        elif target.shape != (x.shape[0],):
            raise ValueError(f"input of shape {x.shape} needs a target of shape "
                             f"({x.shape[0]},), got {target.shape}")
        bad = (target < 0) | (target >= self.n_classes)
        if bad.any():
            raise IndexError(f"Target values should be in [0, {self.n_classes - 1}], but "
                             f"{target[bad][0]} was found")

        head_logprob = log_softmax(self.head(x), axis=1)
        # Each row's entry in the head: its class, or its cluster's slot.
        head_index = target.copy()
        output = np.zeros(x.shape[0], x.dtype)
        clusters = []
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            rows = np.flatnonzero((target >= low) & (target < high))
            if rows.size == 0:
                continue
            projection, out_layer = self.tail[i]
            hidden = projection(x[rows])
            cluster_logprob = log_softmax(out_layer(hidden), axis=1)
            output[rows] = cluster_logprob[np.arange(rows.size), target[rows] - low]
            head_index[rows] = self.shortlist_size + i
            clusters.append((i, rows, hidden, cluster_logprob))
        output += head_logprob[np.arange(x.shape[0]), head_index]
        loss = -output.mean(dtype=np.float64)
        self._save(x=x, target=target, head_logprob=head_logprob, head_index=head_index,
                   clusters=clusters, unbatched=unbatched)
        if unbatched:
            output = output[0]
        return _ASMoutput(output, x.dtype.type(loss))

    def backward(self, grad_output=None):
        """Gradient with respect to the last forward's input; adds the
        gradients of every weight into their ``weight_grad`` / ``bias_grad``.

        `grad_output` is the gradient of the loss (a scalar, 1 by default), or
        an array of the output's shape: the gradient of ``output`` instead.
        """
        s = self._saved_tensors()
        x, head_index = s["x"], s["head_index"]
        n = x.shape[0]
        grad_output = 1.0 if grad_output is None else grad_output
        g = np.asarray(grad_output, dtype=np.float64)
        # d(objective)/d(output_i) for every row: the loss is -mean(output).
        coef = (np.full(n, -float(g) / n) if g.ndim == 0 else g.reshape(n)).astype(x.dtype)
        grad_x = self._log_softmax_pick_backward(self.head, x, s["head_logprob"], head_index, coef)
        for i, rows, hidden, cluster_logprob in s["clusters"]:
            projection, out_layer = self.tail[i]
            relative = s["target"][rows] - self.cutoffs[i]
            grad_hidden = self._log_softmax_pick_backward(out_layer, hidden, cluster_logprob,
                                                          relative, coef[rows])
            projection.accumulate(x[rows], grad_hidden)
            grad_x[rows] += grad_hidden @ projection.weight
        return grad_x[0] if s["unbatched"] else grad_x

    @staticmethod
    def _log_softmax_pick_backward(layer, x, logprob, index, coef):
        """For o_r = log_softmax(layer(x))[r, index_r] with d(objective)/d(o_r)
        = coef_r: accumulate the layer's gradients, return the input's."""
        grad_logits = -np.exp(logprob) * coef[:, None]
        grad_logits[np.arange(len(index)), index] += coef
        layer.accumulate(x, grad_logits)
        return grad_logits @ layer.weight

    # -- prediction -------------------------------------------------------------

    def log_prob(self, input):
        """Log-probabilities of every class, shape (N, n_classes) (or (n_classes,))."""
        from fastnl.along_axis import log_softmax

        x = self._input(input)
        unbatched = x.ndim == 1
        x = x[None] if unbatched else x
        head_logprob = log_softmax(self.head(x), axis=1)
        out = np.empty((x.shape[0], self.n_classes), x.dtype)
        out[:, :self.shortlist_size] = head_logprob[:, :self.shortlist_size]
        for i, (projection, out_layer) in enumerate(self.tail):
            cluster_logprob = log_softmax(out_layer(projection(x)), axis=1)
            out[:, self.cutoffs[i]:self.cutoffs[i + 1]] = (
                cluster_logprob + head_logprob[:, self.shortlist_size + i, None])
        return out[0] if unbatched else out

    def predict(self, input):
        """The most likely class of each row: ``argmax(log_prob(input), axis=1)``,
        skipping the tail for rows whose best head entry is a shortlist class
        (no tail class can beat it: its probability is at most its cluster's)."""
        x = self._input(input)
        unbatched = x.ndim == 1
        x = x[None] if unbatched else x
        prediction = np.argmax(self.head(x), axis=1)
        in_tail = np.flatnonzero(prediction >= self.shortlist_size)
        if in_tail.size:
            prediction[in_tail] = np.argmax(self.log_prob(x[in_tail]), axis=1)
        return prediction[0] if unbatched else prediction

    def extra_repr(self):
        return (f"in_features={self.in_features}, n_classes={self.n_classes}, "
                f"cutoffs={self.cutoffs[:-1]}, div_value={self.div_value}, "
                f"head_bias={self.head_bias}")
