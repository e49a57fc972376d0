"""Chapter 5's measurement of Primer's two changes (labutils.nn.primer) on a causal toy task
where local context helps: a language model of "lagged copy" sequences.

The data: random tokens in which each token, with probability ``p_copy``, repeats the token
``lag`` positions before it (else it is a fresh random token). The best possible next-token
accuracy is p_copy + (1 − p_copy)/vocab, reached by looking ``lag − 1`` tokens back from the
current one; only the positions from ``lag − 1`` on are trained and scored.

The model: a one-block causal pre-LN transformer (embedding + sinusoidal positions; causal
multi-head self-attention; feed-forward; a linear readout), optionally with Primer's causal
depthwise convolution (kernel 3) after each of the Q, K, V projections and with squared ReLU
in the feed-forward block. The convolutions start as the identity and draw nothing from the
random generator, so the runs with and without them share their initial weights and batches.

    tokens (N, T) -> x = embed + PE;  a = LN1(x)
    q, k, v = [dconv](a W_qᵀ), [dconv](a W_kᵀ), [dconv](a W_vᵀ);  causal attention per head
    h = x + merge(heads) W_oᵀ;  y = h + FF2(act(FF1(LN2(h))));  logits = y W_outᵀ + b
"""
from __future__ import annotations

import numpy as np

from ..module import Module
from ..nn.activation import ReLU
from ..nn.attention import attention_backward, attention_forward
from ..nn.embedding import Embedding
from ..nn.heads import merge_heads, split_heads
from ..nn.linear import Linear
from ..nn.loss import cross_entropy_backward, cross_entropy_forward
from ..nn.masks import causal_mask
from ..nn.norm import LayerNorm
from ..nn.positional import sinusoidal_encoding
from ..nn.primer import CausalDepthwiseConv, SquaredReLU
from ..optim import Adam

__all__ = ["CausalToyLM", "lagged_copy_batch", "train_causal_toy"]


def lagged_copy_batch(rng: np.random.Generator, n: int, length: int, vocab: int, lag: int = 3,
                      p_copy: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """n sequences of length + 1 tokens (token t repeats token t − lag with probability p_copy);
    -> inputs (n, length), next-token targets (n, length)."""
    x = rng.integers(0, vocab, (n, length + 1))
    keep = rng.random((n, length + 1)) < p_copy
    for t in range(lag, length + 1):
        x[:, t] = np.where(keep[:, t], x[:, t - lag], x[:, t])
    return x[:, :-1], x[:, 1:]


class CausalToyLM(Module):
    """The one-block causal transformer above; ``dconv``: Primer's convolutions after the
    Q, K, V projections; ``activation``: "relu" or Primer's "squared_relu"."""

    def __init__(self, vocab: int, length: int, d_model: int, num_heads: int, d_ff: int,
                 rng: np.random.Generator, dconv: bool = False, activation: str = "relu") -> None:
        super().__init__()
        self.num_heads, self.dconv = num_heads, dconv
        self.embed = Embedding(vocab, d_model, rng=rng)
        self.pe = sinusoidal_encoding(length, d_model)
        self.ln1, self.ln2 = LayerNorm(d_model), LayerNorm(d_model)
        self.w_q, self.w_k, self.w_v, self.w_o = (Linear(d_model, d_model, bias=False, rng=rng)
                                                  for _ in range(4))
        if dconv:
            self.conv_q, self.conv_k, self.conv_v = (CausalDepthwiseConv(d_model, 3)
                                                     for _ in range(3))
        self.ff1, self.ff2 = Linear(d_model, d_ff, rng=rng), Linear(d_ff, d_model, rng=rng)
        self.act = {"relu": ReLU, "squared_relu": SquaredReLU}[activation]()
        self.out = Linear(d_model, vocab, rng=rng)
        self.bias = np.where(causal_mask(length), -np.inf, 0.0)
        self._cache = None

    def _projections(self) -> tuple:
        return (self.w_q, self.w_k, self.w_v)

    def _convs(self) -> tuple:
        return (self.conv_q, self.conv_k, self.conv_v)

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """tokens (N, T) -> next-token logits (N, T, vocab)."""
        x = self.embed(tokens) + self.pe
        a = self.ln1(x)
        qkv = [w(a) for w in self._projections()]
        if self.dconv:
            qkv = [conv(p) for conv, p in zip(self._convs(), qkv)]
        context, self._cache = attention_forward(*(split_heads(p, self.num_heads) for p in qkv),
                                                 self.bias)
        h = x + self.w_o(merge_heads(context))
        return self.out(h + self.ff2(self.act(self.ff1(self.ln2(h)))))

    def backward(self, dlogits: np.ndarray) -> None:
        dy = self.out.backward(dlogits)
        dh = dy + self.ln2.backward(self.ff1.backward(self.act.backward(self.ff2.backward(dy))))
        dcontext = split_heads(self.w_o.backward(dh), self.num_heads)
        dqkv = [merge_heads(g) for g in attention_backward(dcontext, self._cache)]
        if self.dconv:
            dqkv = [conv.backward(g) for conv, g in zip(self._convs(), dqkv)]
        da = sum(w.backward(g) for w, g in zip(self._projections(), dqkv))
        self.embed.backward(dh + self.ln1.backward(da))


def train_causal_toy(dconv: bool, activation: str = "relu", seed: int = 0, steps: int = 60,
                     batch: int = 32, length: int = 16, vocab: int = 8, lag: int = 3,
                     d_model: int = 16, lr: float = 0.01) -> tuple[list[float], float]:
    """Train a CausalToyLM on lagged-copy batches with Adam; -> (loss of each step, next-token
    accuracy on 500 new sequences, scored from position lag − 1 on)."""
    rng = np.random.default_rng(seed)
    model = CausalToyLM(vocab, length, d_model, 2, 2 * d_model, rng, dconv, activation)
    optimizer, losses, start = Adam(model, lr=lr), [], lag - 1
    for _ in range(steps):
        x, y = lagged_copy_batch(rng, batch, length, vocab, lag)
        logits = model(x)
        loss, cache = cross_entropy_forward(logits[:, start:].reshape(-1, vocab),
                                            y[:, start:].reshape(-1))
        dlogits = np.zeros_like(logits)
        dlogits[:, start:] = cross_entropy_backward(1.0, cache).reshape(batch, -1, vocab)
        losses.append(float(loss))
        optimizer.zero_grad()
        model.backward(dlogits)
        optimizer.step()
    x, y = lagged_copy_batch(np.random.default_rng(1000 + seed), 500, length, vocab, lag)
    return losses, float((model(x).argmax(-1) == y)[:, start:].mean())
