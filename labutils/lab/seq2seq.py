"""Chapter 4's demo model: a small encoder-decoder with additive attention (no torch twin),
and its greedy decoding. Built from the building blocks of ``labutils.nn``.
"""
from __future__ import annotations

import numpy as np

from .. import validate
from ..module import Module
from ..nn import GRU, AdditiveAttention, Linear

__all__ = ["AttentionEncoderDecoder"]


class AttentionEncoderDecoder(Module):
    """A toy sequence-to-sequence model: a bidirectional GRU encoder, a GRU decoder, and
    additive (Bahdanau-score) attention from every decoder state to the encoder outputs.

    src (N, S, V) and tgt_in (N, T, V): one-hot rows (V = vocab_size); tgt_in is the target
    shifted right behind a start token (teacher forcing).
        E = enc_embed(src)                          (N, S, E)
        K, _ = encoder(E)                           (N, S, 2H)  keys and values
        Q, _ = decoder(dec_embed(tgt_in), 0)        (N, T, H)   the decoder starts from zeros:
                                                    it sees the source only through attention
        C, A = attention(Q, K, K)                   (N, T, 2H), alignment A (N, T, S)
        logits = out([Q, C])                        (N, T, V)
    forward -> (logits, A); backward(dlogits) -> (dsrc, dtgt_in), every module's gradients added.
    The attention comes after the decoder's recurrence (Luong's placement) with Bahdanau's
    score; Bahdanau's own model feeds the context into the recurrence instead.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, attention_dim: int,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.enc_embed = Linear(vocab_size, embed_dim, bias=False, rng=rng, dtype=dtype)
        self.dec_embed = Linear(vocab_size, embed_dim, bias=False, rng=rng, dtype=dtype)
        self.encoder = GRU(embed_dim, hidden_size, batch_first=True, bidirectional=True,
                           rng=rng, dtype=dtype)
        self.decoder = GRU(embed_dim, hidden_size, batch_first=True, rng=rng, dtype=dtype)
        self.attention = AdditiveAttention(hidden_size, 2 * hidden_size, attention_dim, rng=rng,
                                           dtype=dtype)
        self.out = Linear(3 * hidden_size, vocab_size, rng=rng, dtype=dtype)

    def encode(self, src: np.ndarray) -> np.ndarray:
        """src (N, S, V) -> the encoder's outputs (N, S, 2H), the attention's keys and values."""
        validate.array(src, "AttentionEncoderDecoder", "src", ndim=3, shape=(self.vocab_size,))
        return self.encoder(self.enc_embed(src))[0]

    def forward(self, src: np.ndarray, tgt_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        validate.array(tgt_in, "AttentionEncoderDecoder", "tgt_in", ndim=3,
                       shape=(self.vocab_size,))
        keys = self.encode(src)
        q, _ = self.decoder(self.dec_embed(tgt_in))
        context, weights = self.attention(q, keys, keys)
        return self.out(np.concatenate([q, context], axis=-1)), weights

    def backward(self, dlogits: np.ndarray,
                 dweights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        H = self.hidden_size
        dcat = self.out.backward(dlogits)
        dq, dkeys, dvalues = self.attention.backward(dcat[..., H:], dweights)
        demb_t, _ = self.decoder.backward(dq + dcat[..., :H], None)
        demb_s, _ = self.encoder.backward(dkeys + dvalues, None)
        return self.enc_embed.backward(demb_s), self.dec_embed.backward(demb_t)

    def greedy_decode(self, src: np.ndarray, start: int,
                      steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Generate ``steps`` tokens, each fed back as the next input (no teacher forcing).
        src (N, S, V); start: the start token's index
        -> tokens (N, steps), alignment (N, steps, S)."""
        keys = self.encode(src)
        N, V = src.shape[0], self.vocab_size
        token = np.full(N, start)
        h, tokens, rows = None, [], []
        for _ in range(steps):
            x = np.eye(V, dtype=src.dtype)[token][:, None, :]
            q, h = self.decoder(self.dec_embed(x), h)
            context, w = self.attention(q, keys, keys)
            logits = self.out(np.concatenate([q, context], axis=-1))
            token = logits[:, 0].argmax(axis=-1)
            tokens.append(token)
            rows.append(w[:, 0])
        return np.stack(tokens, axis=1), np.stack(rows, axis=1)
