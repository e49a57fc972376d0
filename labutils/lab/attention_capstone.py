"""Chapter 5's capstone: a one-block transformer assembled from the reader's own functions and
trained in NumPy on a toy task, reversing a sequence of digits.

    tokens (N, T) -> embedding + sinusoidal(T, E)                      x0
    pre-LN block:  h = x0 + mha_forward(LN1(x0))                      (the reader's attention)
                   y = h + W2 relu(W1 LN2(h))                         (feed-forward sublayer)
    logits = y W_outᵀ + b_out (N, T, V),  loss = sequence_cross_entropy(logits, targets, weights)

The parts are passed in (``parts``: an object with the attributes ``sinusoidal``,
``mha_forward``, ``mha_backward`` and ``sequence_cross_entropy``; the notebook gives its
``capstone.Counter`` of the reader's functions), so the model is the reader's; layer norm, the
linear maps and ReLU are the library's pairs (chapters 1 and 2). Reversal needs attention: the
token at position t must come from position T − 1 − t, which only the attention can fetch, and
the trained maps show it as an anti-diagonal.
"""
from __future__ import annotations

import numpy as np

from ..module import Module
from ..nn.activation import relu_backward, relu_forward
from ..nn.linear import linear_backward, linear_forward
from ..nn.norm import layer_norm_backward, layer_norm_forward
from ..nn.primer import squared_relu_backward, squared_relu_forward
from ..optim import Adam

__all__ = ["ReverseTransformer", "reverse_batch", "train_reverser", "reversal_accuracy"]


def reverse_batch(rng: np.random.Generator, n: int, length: int, vocab: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """n random digit sequences (n, length) of 0 .. vocab − 1 and their reversals."""
    x = rng.integers(0, vocab, (n, length))
    return x, x[:, ::-1].copy()


class ReverseTransformer(Module):
    """One pre-LN transformer block between an embedding and a readout, from ``parts``."""

    def __init__(self, parts: object, vocab: int, length: int, d_model: int, num_heads: int,
                 d_ff: int, rng: np.random.Generator, activation: str = "relu") -> None:
        super().__init__()
        self.parts, self.num_heads = parts, num_heads
        self.act = {"relu": (relu_forward, relu_backward),          # Primer: squared ReLU
                    "squared_relu": (squared_relu_forward, squared_relu_backward)}[activation]
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

    def _weights(self) -> tuple[np.ndarray, ...]:
        return tuple(self.params[n] for n in ("w_q", "w_k", "w_v", "w_o"))

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (N, T) -> logits (N, T, V)."""
        p = self.params
        x0 = p["embed"][tokens] + self.pe
        a, ln1 = layer_norm_forward(x0, p["ln1_w"], p["ln1_b"], 1, 1e-5)
        h = x0 + self.parts.mha_forward(a, *self._weights(), self.num_heads, self.mask)
        b, ln2 = layer_norm_forward(h, p["ln2_w"], p["ln2_b"], 1, 1e-5)
        z, f1 = linear_forward(b, p["ff1"], p["ff1_b"])
        r, act = self.act[0](z)
        f, f2 = linear_forward(r, p["ff2"], p["ff2_b"])
        logits, out = linear_forward(h + f, p["out"], p["out_b"])
        self._cache = (tokens, a, ln1, ln2, f1, act, f2, out)
        return logits

    def backward(self, dlogits: np.ndarray) -> None:
        tokens, a, ln1, ln2, f1, act, f2, out = self._cache
        g = self.grads
        dy = self._collect(linear_backward(dlogits, out), "out")
        dr = self._collect(linear_backward(dy, f2), "ff2")
        db = self._collect(linear_backward(self.act[1](dr, act), f1), "ff1")
        dh = dy + self._collect(layer_norm_backward(db, ln2), "ln2")
        dout = self.parts.mha_backward(dh, a, *self._weights(), self.num_heads, self.mask)
        for name, grad in zip(("w_q", "w_k", "w_v", "w_o"), dout[1:]):
            g[name] += grad
        dx0 = dh + self._collect(layer_norm_backward(dout[0], ln1), "ln1")
        np.add.at(g["embed"], tokens, dx0)

    def _collect(self, grads: dict[str, np.ndarray], name: str) -> np.ndarray:
        """Add a pair's parameter gradients to ``grads[name...]``; return its input gradient."""
        g = self.grads
        g[name if name in ("out", "ff1", "ff2") else name + "_w"] += grads["weight"]
        g[name + "_b"] += grads["bias"]
        return grads["x"]

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
                   lr: float = 0.02, seed: int = 0, activation: str = "relu"
                   ) -> tuple[ReverseTransformer, list[float]]:
    """Train a ReverseTransformer built from ``parts`` with Adam; every position is trained
    (weights 1). ``activation``: "relu" or Primer's "squared_relu" in the feed-forward block.
    Returns the model and the loss of each step."""
    rng = np.random.default_rng(seed)
    model = ReverseTransformer(parts, vocab, length, d_model, num_heads, d_ff, rng, activation)
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
