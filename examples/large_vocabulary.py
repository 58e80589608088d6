"""Train a small next-word model over a large vocabulary with
fastnl.nn.LinearCrossEntropy: the output layer's (batch, vocabulary) logits
are never held.

The text is made here: a vocabulary of a few thousand words, each with a few
likely successors (a word follows its predecessor's successors most of the
time, else any word, frequent ones more often). The model predicts the next
word from the bag of the previous words: their embeddings averaged, then one
linear layer to the whole vocabulary and cross-entropy, the layer and the
loss in one ``fastnl.nn.LinearCrossEntropy``. A plain SGD step with momentum
updates the embeddings, the layer's weight and its bias.

It prints the loss as it goes down (against log(vocabulary), the loss of a
uniform guess) and the memory one training step took beyond its results,
against the logits of a batch that ``cross_entropy`` would need. Run::

    python examples/large_vocabulary.py
    python examples/large_vocabulary.py --vocabulary 20000 --epochs 3
"""

import argparse
import time
import tracemalloc

import numpy as np

import fastnl


def make_text(n_words, vocabulary, successors=4, follow=0.8, seed=0):
    """Word indices of a made-up text: each word is one of its predecessor's
    `successors` likely next words with probability `follow`, else drawn
    from a Zipf-like distribution over the whole vocabulary."""
    rng = np.random.default_rng(seed)
    frequent = 1 / np.arange(1, vocabulary + 1)
    frequent /= frequent.sum()
    table = rng.choice(vocabulary, (vocabulary, successors), p=frequent)
    words = np.empty(n_words, np.int64)
    words[0] = 0
    follows = rng.random(n_words) < follow
    picks = rng.integers(0, successors, n_words)
    anywhere = rng.choice(vocabulary, n_words, p=frequent)
    for i in range(1, n_words):
        words[i] = table[words[i - 1], picks[i]] if follows[i] else anywhere[i]
    return words


def contexts(words, context):
    """(previous `context` words of each position, the word at that position)."""
    previous = np.lib.stride_tricks.sliding_window_view(words[:-1], context)
    return previous, words[context:]


class BagOfWords:
    """Embeddings averaged over the context, then LinearCrossEntropy."""

    def __init__(self, vocabulary, dim, rng):
        self.embedding = (rng.standard_normal((vocabulary, dim)) * 0.1).astype(np.float32)
        self.head = fastnl.nn.LinearCrossEntropy(dim, vocabulary, rng=rng)
        self.velocity = {}

    def loss(self, previous, target):
        """Forward and backward of one batch: the mean loss; the gradients
        are left in self.grads."""
        self._previous = previous
        hidden = self.embedding[previous].mean(axis=1)
        loss = self.head(hidden, target)
        self.head.zero_grad()
        grad_hidden = self.head.backward()
        grad_embedding = np.zeros_like(self.embedding)
        share = grad_hidden / previous.shape[1]
        for j in range(previous.shape[1]):
            np.add.at(grad_embedding, previous[:, j], share)
        self.grads = {"embedding": grad_embedding, "weight": self.head.weight_grad,
                      "bias": self.head.bias_grad}
        return float(loss)

    def step(self, lr, momentum=0.9):
        params = {"embedding": self.embedding, "weight": self.head.weight,
                  "bias": self.head.bias}
        for name, p in params.items():
            v = self.velocity.get(name)
            v = self.grads[name] if v is None else momentum * v + self.grads[name]
            self.velocity[name] = v
            p -= lr * v  # in place: the head's parameters are these arrays


def train(vocabulary=5000, n_words=100_000, dim=64, context=3, batch_size=1024, epochs=3,
          lr=0.5, seed=0, print_=print):
    """Train on a text made from `seed`; returns (model, mean loss per epoch)."""
    rng = np.random.default_rng(seed)
    previous, target = contexts(make_text(n_words, vocabulary, seed=seed), context)
    model = BagOfWords(vocabulary, dim, rng)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(target))
        losses = []
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            losses.append(model.loss(previous[batch], target[batch]))
            model.step(lr)
        history.append(float(np.mean(losses)))
        print_(f"epoch {epoch + 1}: mean loss {history[-1]:.3f} "
               f"(a uniform guess: log({vocabulary}) = {np.log(vocabulary):.3f})")
    return model, history


def step_memory(model, previous, target):
    """Bytes one forward + backward of LinearCrossEntropy held at its peak
    beyond its results (grad_input, weight_grad, bias_grad), and the bytes
    of the batch's float32 logits that cross_entropy on them would hold."""
    head = model.head
    hidden = model.embedding[previous].mean(axis=1)
    tracemalloc.start()
    try:
        head.zero_grad()
        head(hidden, target)
        head.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    results = (hidden.size + head.weight.size + head.bias.size) * 4
    return peak - results, len(target) * head.num_classes * 4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocabulary", type=int, default=5000)
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, history = train(args.vocabulary, args.words, batch_size=args.batch_size,
                           epochs=args.epochs)
    previous, target = contexts(make_text(args.batch_size + 3, args.vocabulary, seed=1), 3)
    extra, logits = step_memory(model, previous, target)
    print(f"one training step held {extra / 2**20:.1f} MiB beyond its results; the "
          f"batch's logits alone are {logits / 2**20:.1f} MiB ({extra / logits:.0%} of them)")
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
