"""Chapter 4's task that needs both directions and two layers: tag every position of a bit
sequence with the XOR of its two neighbours,

    bits b_1 ... b_L (inputs ±1)        label y_t = b_{t-1} XOR b_{t+1}    (b_0 = b_{L+1} = 0)

A forward-only network cannot know b_{t+1} at step t, however many layers it stacks: on the
interior positions it stays at chance. One bidirectional layer sees both neighbours, but its
linear read-out adds a function of the forward half (the past) to one of the reverse half (the
future), and no such sum computes XOR (at most three of its four cases). A second bidirectional
layer mixes the two halves first. ``Tagger`` = nn.RNN (tanh) + a linear read-out per position.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from .. import validate
from ..module import Module
from ..nn import RNN, CrossEntropyLoss, Linear
from .training import train

__all__ = ["xor_neighbours", "Tagger", "train_tagger", "interior_accuracy"]


def xor_neighbours(n: int, length: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """-> inputs (n, length, 1) of ±1, labels (n, length) in {0, 1}."""
    n = validate.positive_int(n, "xor_neighbours", "n")
    length = validate.positive_int(length, "xor_neighbours", "length", minimum=3)
    bits = rng.integers(0, 2, (n, length))
    padded = np.pad(bits, ((0, 0), (1, 1)))
    return (2.0 * bits - 1)[..., None], padded[:, :-2] ^ padded[:, 2:]


class Tagger(Module):
    """x (N, L, 1) -> logits (N, L, 2): nn.RNN(1, H, num_layers, bidirectional, batch_first)
    then Linear(D H, 2) at every position. backward(dlogits) -> dx (N, L, 1)."""

    def __init__(self, hidden_size: int, num_layers: int, bidirectional: bool,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.rnn = RNN(1, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                       batch_first=True, rng=rng)
        self.out = Linear((2 if bidirectional else 1) * hidden_size, 2, rng=rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.out(self.rnn(x)[0])

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        return self.rnn.backward(self.out.backward(dlogits), None)[0]


def train_tagger(num_layers: int, bidirectional: bool, steps: int = 250, length: int = 10,
                 hidden_size: int = 16, seed: int = 0) -> Tagger:
    """Adam (lr 0.01), batches of 32 fresh sequences, cross-entropy at every position."""
    model = Tagger(hidden_size, num_layers, bidirectional, np.random.default_rng(seed))
    data = np.random.default_rng(100 + seed)
    train(model, CrossEntropyLoss(), optim.Adam(model, lr=0.01),
          lambda step: xor_neighbours(32, length, data), steps)
    return model


def interior_accuracy(model: Tagger, n: int = 1000, length: int = 10, seed: int = 999) -> float:
    """Fraction of labels right on positions 2 ... L-1 (both neighbours are real bits) of ``n``
    new sequences. (At the ends one neighbour is the padding 0, so the label is the other one.)"""
    x, y = xor_neighbours(n, length, np.random.default_rng(seed))
    return float((model(x).argmax(axis=-1) == y)[:, 1:-1].mean())
