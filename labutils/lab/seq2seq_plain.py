"""Chapter 4's encoder-decoder WITHOUT attention, to compare with ``seq2seq``'s: the decoder sees
the source only through the encoder's last state (the bottleneck attention removes).

    E = enc_embed(src)                        (N, S, E)
    _, h_S = encoder(E)                       (1, N, H)   the whole source in one state
    Q, _ = decoder(dec_embed(tgt_in), h_S)    (N, T, H)   teacher forcing, as in seq2seq
    logits = out(Q)                           (N, T, V)

Same interface as ``AttentionEncoderDecoder`` (forward -> (logits, None), backward(dlogits),
greedy_decode), so the notebook trains both with one loop.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..module import Module
from ..nn import GRU, Linear

__all__ = ["PlainEncoderDecoder"]


class PlainEncoderDecoder(Module):
    """A GRU encoder whose final state starts a GRU decoder; a linear read-out. src (N, S, V)
    and tgt_in (N, T, V) one-hot rows, as for AttentionEncoderDecoder."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.enc_embed = Linear(vocab_size, embed_dim, bias=False, rng=rng, dtype=dtype)
        self.dec_embed = Linear(vocab_size, embed_dim, bias=False, rng=rng, dtype=dtype)
        self.encoder = GRU(embed_dim, hidden_size, batch_first=True, rng=rng, dtype=dtype)
        self.decoder = GRU(embed_dim, hidden_size, batch_first=True, rng=rng, dtype=dtype)
        self.out = Linear(hidden_size, vocab_size, rng=rng, dtype=dtype)

    def encode(self, src: np.ndarray) -> np.ndarray:
        """src (N, S, V) -> the encoder's final state (1, N, H)."""
        validate.array(src, "PlainEncoderDecoder", "src", ndim=3, shape=(self.vocab_size,))
        return self.encoder(self.enc_embed(src))[1]

    def forward(self, src: np.ndarray, tgt_in: np.ndarray) -> tuple[np.ndarray, None]:
        validate.array(tgt_in, "PlainEncoderDecoder", "tgt_in", ndim=3, shape=(self.vocab_size,))
        q, _ = self.decoder(self.dec_embed(tgt_in), self.encode(src))
        return self.out(q), None

    def backward(self, dlogits: np.ndarray,
                 dweights: None = None) -> tuple[np.ndarray, np.ndarray]:
        demb_t, dh_S = self.decoder.backward(self.out.backward(dlogits), None)
        demb_s, _ = self.encoder.backward(None, dh_S)
        return self.enc_embed.backward(demb_s), self.dec_embed.backward(demb_t)

    def greedy_decode(self, src: np.ndarray, start: int, steps: int) -> tuple[np.ndarray, None]:
        """Generate ``steps`` tokens, each fed back as the next input
        -> (tokens (N, steps), None)."""
        h = self.encode(src)
        N, V = src.shape[0], self.vocab_size
        token, tokens = np.full(N, start), []
        for _ in range(steps):
            q, h = self.decoder(self.dec_embed(np.eye(V, dtype=src.dtype)[token][:, None, :]), h)
            token = self.out(q)[:, 0].argmax(axis=-1)
            tokens.append(token)
        return np.stack(tokens, axis=1), None
