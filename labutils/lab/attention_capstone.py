"""Chapter 5's capstone: a one-block transformer assembled from the reader's own functions and
trained in NumPy on a toy task, reversing a sequence of digits.

    tokens (N, T) -> embedding + sinusoidal(T, E)                      x0
    pre-LN block:  h = x0 + mha_forward(LN1(x0))                      (the reader's attention)
                   y = h + W2 relu(W1 LN2(h))                         (feed-forward sublayer)
    logits = y W_outᵀ + b_out (N, T, V),  loss = sequence_cross_entropy(logits, targets, weights)

The parts are passed in (``parts``: an object with the attributes ``sinusoidal``,
``mha_forward``, ``block_backward`` and ``sequence_cross_entropy``; the notebook gives its
``capstone.Counter`` of the reader's functions), so the model is the reader's: the block's
forward calls the reader's multi-head attention and its backward is the reader's
``block_backward(dy, x, p, num_heads, mask) -> (dx, grads)``, which goes back through the
reader's ``mha_backward``. Layer norm, the linear maps and ReLU are the library's pairs
(chapters 1 and 2). Reversal needs attention: the token at position t must come from position
T − 1 − t, which only the attention can fetch, and the trained maps show it as an anti-diagonal.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..module import Module
from ..nn.activation import relu_forward
from ..nn.linear import linear_backward, linear_forward
from ..nn.norm import layer_norm_forward
from ..optim import Adam

__all__ = [
    "BLOCK_PARAMS",
    "ReverseTransformer",
    "pre_ln_block_forward",
    "reversal_accuracy",
    "reverse_batch",
    "train_reverser",
]

BLOCK_PARAMS = ("ln1_w", "ln1_b", "w_q", "w_k", "w_v", "w_o", "ln2_w", "ln2_b",
                "ff1", "ff1_b", "ff2", "ff2_b")


def pre_ln_block_forward(x: np.ndarray, p: dict, num_heads: int, mask: np.ndarray,
                         mha_forward: Callable[..., np.ndarray]) -> tuple[np.ndarray, dict]:
    """The pre-LN block (torch's TransformerEncoderLayer(norm_first=True) without attention
    biases and dropout). x: (N, T, E); p: BLOCK_PARAMS -> (y (N, T, E), cache: the
    intermediates and the parts' caches, {"a", "ln1", "ln2", "ff1", "act", "ff2"});
    ``mha_forward(a, w_q, w_k, w_v, w_o, num_heads, mask)`` is the attention it uses."""
    a, ln1 = layer_norm_forward(x, p["ln1_w"], p["ln1_b"], 1, 1e-5)
    h = x + mha_forward(a, p["w_q"], p["w_k"], p["w_v"], p["w_o"], num_heads, mask)
    b, ln2 = layer_norm_forward(h, p["ln2_w"], p["ln2_b"], 1, 1e-5)
    z, ff1 = linear_forward(b, p["ff1"], p["ff1_b"])
    r, act = relu_forward(z)
    f, ff2 = linear_forward(r, p["ff2"], p["ff2_b"])
    return h + f, {"a": a, "ln1": ln1, "ln2": ln2, "ff1": ff1, "act": act, "ff2": ff2}


def reverse_batch(rng: np.random.Generator, n: int, length: int, vocab: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """n random digit sequences (n, length) of 0 .. vocab − 1 and their reversals."""
    x = rng.integers(0, vocab, (n, length))
    return x, x[:, ::-1].copy()


class ReverseTransformer(Module):
    """One pre-LN transformer block between an embedding and a readout, from ``parts``."""

    def __init__(self, parts: object, vocab: int, length: int, d_model: int, num_heads: int,
                 d_ff: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.parts, self.num_heads = parts, num_heads
        self.pe = np.asarray(parts.sinusoidal(length, d_model), dtype=np.float64)
        self.mask = np.zeros((length, length), bool)            # the encoder sees everything
        shapes = {"embed": (vocab, d_model), "w_q": (d_model, d_model), "w_k": (d_model, d_model),
                  "w_v": (d_model, d_model), "w_o": (d_model, d_model), "ff1": (d_ff, d_model),
                  "ff2": (d_model, d_ff), "out": (vocab, d_model)}
        for name, shape in shapes.items():
            self.add_param(name, rng.standard_normal(shape) / np.sqrt(shape[-1]))
        for name, size in (("ff1_b", d_ff), ("ff2_b", d_model), ("out_b", vocab)):
            self.add_param(name, np.zeros(size))
        for name in ("ln1", "ln2"):
            self.add_param(name + "_w", np.ones(d_model))
            self.add_param(name + "_b", np.zeros(d_model))
        self._cache = None

    def block_params(self) -> dict[str, np.ndarray]:
        """The block's parameters, by the names of BLOCK_PARAMS."""
        return {name: self.params[name] for name in BLOCK_PARAMS}

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (N, T) -> logits (N, T, V)."""
        x0 = self.params["embed"][tokens] + self.pe
        y, _ = pre_ln_block_forward(x0, self.block_params(), self.num_heads, self.mask,
                                    self.parts.mha_forward)
        logits, out = linear_forward(y, self.params["out"], self.params["out_b"])
        self._cache = (tokens, x0, out)
        return logits

    def backward(self, dlogits: np.ndarray) -> None:
        tokens, x0, out = self._cache
        grads = linear_backward(dlogits, out)
        self.grads["out"] += grads["weight"]
        self.grads["out_b"] += grads["bias"]
        dx0, block = self.parts.block_backward(grads["x"], x0, self.block_params(),
                                               self.num_heads, self.mask)
        for name in BLOCK_PARAMS:
            self.grads[name] += block[name]
        np.add.at(self.grads["embed"], tokens, dx0)

    def attention_weights(self, tokens: np.ndarray, attention: object) -> np.ndarray:
        """The block's attention weights (N, H, T, T) for ``tokens``, computed with
        ``attention(q, k, v, mask)`` (the reader's) on the trained projections."""
        p = self.params
        a, _ = layer_norm_forward(p["embed"][tokens] + self.pe, p["ln1_w"], p["ln1_b"], 1, 1e-5)
        n, t, e = a.shape
        q, k, v = ((a @ p[w].T).reshape(n, t, self.num_heads, -1).transpose(0, 2, 1, 3)
                   for w in ("w_q", "w_k", "w_v"))
        return attention(q, k, v, self.mask)[1]


def train_reverser(parts: object, steps: int = 150, batch: int = 64, length: int = 8,
                   vocab: int = 10, d_model: int = 16, num_heads: int = 2, d_ff: int = 32,
                   lr: float = 0.02, seed: int = 0) -> tuple[ReverseTransformer, list[float]]:
    """Train a ReverseTransformer built from ``parts`` with Adam; every position is trained
    (weights 1). Returns the model and the loss of each step."""
    rng = np.random.default_rng(seed)
    model = ReverseTransformer(parts, vocab, length, d_model, num_heads, d_ff, rng)
    optimizer = Adam(model, lr=lr)
    losses = []
    for _ in range(steps):
        x, y = reverse_batch(rng, batch, length, vocab)
        loss, dlogits = parts.sequence_cross_entropy(model(x), y, np.ones(y.shape))
        losses.append(float(loss))
        optimizer.zero_grad()
        model.backward(np.asarray(dlogits, dtype=np.float64))
        optimizer.step()
    return model, losses


def reversal_accuracy(model: ReverseTransformer, n: int = 500, seed: int = 1) -> float:
    """Fraction of the digits of n new sequences that the model puts in reversed order."""
    vocab, length = model.params["embed"].shape[0], model.pe.shape[0]
    x, y = reverse_batch(np.random.default_rng(seed), n, length, vocab)
    return float((model(x).argmax(-1) == y).mean())
