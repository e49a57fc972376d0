"""Chapter 6's capstone: chapter 5's toy model (the sort task, ``lab.toy_transformer``) run with
attention functions given from outside, so that FAVOR+ written in the notebook replaces its
softmax attention without retraining; and greedy generation token by token with the recurrent
form of causal FAVOR+ (a state of fixed size per head, updated once per generated token).

The attention functions take per-head arrays: ``bidirectional(q, k, v)`` with q (N, H, T, d),
k and v (N, H, S, d); ``causal(q, k, v)`` the same with S = T; ``step(S, z, q, k, v)`` with
S (N, H, m, d), z (N, H, m), q, k, v (N, H, d) -> (out (N, H, d), S, z).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..nn.heads import merge_heads, split_heads
from ..nn.masks import causal_mask
from ..nn.multihead_attention import MultiheadAttention
from ..nn.transformer import TransformerDecoderLayer
from .toy_transformer import Seq2SeqTransformer

__all__ = [
    "exact_attention",
    "greedy_parallel",
    "greedy_recurrent",
    "sort_accuracy",
    "toy_logits",
]

Attend = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def exact_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False
                    ) -> np.ndarray:
    """Softmax attention over the last two axes, scores scaled by 1/√d (the model's own)."""
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(causal_mask(q.shape[-2], k.shape[-2]), -np.inf, s)
    a = np.exp(s - s.max(-1, keepdims=True))
    return (a / a.sum(-1, keepdims=True)) @ v


def _project(mha: MultiheadAttention, x: np.ndarray, part: int) -> np.ndarray:
    E = mha.embed_dim
    w = mha.params["in_proj_weight"][part * E:(part + 1) * E]
    b = mha.params["in_proj_bias"][part * E:(part + 1) * E]
    return split_heads(x @ w.T + b, mha.num_heads)


def _attend(mha: MultiheadAttention, xq: np.ndarray, xkv: np.ndarray, attend: Attend
            ) -> np.ndarray:
    q, k, v = _project(mha, xq, 0), _project(mha, xkv, 1), _project(mha, xkv, 2)
    return mha.out_proj(merge_heads(attend(q, k, v)))


def _encode(model: Seq2SeqTransformer, src: np.ndarray, bidirectional: Attend) -> np.ndarray:
    x = model.src_embed(src) + model.pe[:src.shape[1]]
    for layer in model.encoder.layers:
        h = layer.norm1(x + _attend(layer.self_attn, x, x, bidirectional))
        x = layer.norm2(h + layer._ff_branch(h))
    return x


def _decoder_rest(layer: TransformerDecoderLayer, h1: np.ndarray, memory: np.ndarray, bidirectional: Attend
                  ) -> np.ndarray:
    h2 = layer.norm2(h1 + _attend(layer.multihead_attn, h1, memory, bidirectional))
    return layer.norm3(h2 + layer._ff_branch(h2))


def toy_logits(model: Seq2SeqTransformer, src: np.ndarray, tgt_in: np.ndarray,
               bidirectional: Attend, causal: Attend) -> np.ndarray:
    """The model's forward (teacher forcing) with the attentions given: (N, T, vocab)."""
    memory = _encode(model, src, bidirectional)
    x = model.tgt_embed(tgt_in) + model.pe[:tgt_in.shape[1]]
    for layer in model.decoder.layers:
        h1 = layer.norm1(x + _attend(layer.self_attn, x, x, causal))
        x = _decoder_rest(layer, h1, memory, bidirectional)
    return model.generator(x)


def greedy_parallel(model: Seq2SeqTransformer, src: np.ndarray, bos: int,
                    bidirectional: Attend, causal: Attend) -> tuple[np.ndarray, np.ndarray]:
    """Greedy decoding that reruns the whole prefix at every step (the parallel causal form):
    (tokens (N, S), logits (N, S, vocab) of the last full pass)."""
    n, length = src.shape
    seqs = np.full((n, 1), bos, dtype=np.int64)
    for _ in range(length):
        logits = toy_logits(model, src, seqs, bidirectional, causal)
        seqs = np.concatenate([seqs, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return seqs[:, 1:], logits


def greedy_recurrent(model: Seq2SeqTransformer, src: np.ndarray, bos: int,
                     bidirectional: Attend, step: Callable, m: int
                     ) -> tuple[np.ndarray, np.ndarray, set]:
    """Greedy decoding one token at a time: the decoder's self-attention is ``step`` on a state
    (S, z) per layer and head, of shape (N, H, m, d) and (N, H, m) whatever the prefix.
    Returns (tokens (N, S), logits (N, S, vocab), the set of state shapes seen)."""
    n, length = src.shape
    memory = _encode(model, src, bidirectional)
    states = [(np.zeros((n, layer.self_attn.num_heads, m, layer.self_attn.head_dim)),
               np.zeros((n, layer.self_attn.num_heads, m))) for layer in model.decoder.layers]
    tok, out, logits, shapes = np.full(n, bos, dtype=np.int64), [], [], set()
    for t in range(length):
        x = model.tgt_embed(tok[:, None]) + model.pe[t:t + 1]
        for i, layer in enumerate(model.decoder.layers):
            mha = layer.self_attn
            q, k, v = (_project(mha, x, p)[:, :, 0] for p in range(3))
            o, S, z = step(*states[i], q, k, v)
            states[i] = (np.asarray(S), np.asarray(z))
            shapes.add((states[i][0].shape, states[i][1].shape))
            h1 = layer.norm1(x + mha.out_proj(merge_heads(np.asarray(o)[:, :, None])))
            x = _decoder_rest(layer, h1, memory, bidirectional)
        logits.append(model.generator(x)[:, 0])
        tok = logits[-1].argmax(-1)
        out.append(tok)
    return np.stack(out, 1), np.stack(logits, 1), shapes


def sort_accuracy(tokens: np.ndarray, tgt: np.ndarray) -> tuple[float, float]:
    """(token accuracy, fraction of rows entirely right)."""
    right = tokens == tgt
    return float(right.mean()), float(right.all(1).mean())
