"""Autograder check for chapter 4's encoder-decoder (section 8): one output step of the attention
decoder, the additive score, its softmax over the source, the context and the read-out of
[q, context]. Same engine and conventions as ``grading.rnn`` (calls to ``labutils`` and torch are
forbidden; ``hidden=True`` draws other cases, from the class's seed under autograde).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from .adapted import hidden_title, quiet
from .core import check_function
from .rnn import _limit, _seed

__all__ = ["check_attention_decoder_step"]


def _attention_decoder_step(q: np.ndarray, keys: np.ndarray, W_q: np.ndarray, W_k: np.ndarray,
                            b_k: np.ndarray, v: np.ndarray, W_out: np.ndarray,
                            b_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The library's step, as AttentionEncoderDecoder computes it: nn.AdditiveAttention with these
    weights on one query, then the read-out of [q, context]."""
    attention = nn.AdditiveAttention(q.shape[1], keys.shape[2], W_q.shape[0])
    attention.load_state_dict({"query_proj.weight": W_q, "key_proj.weight": W_k,
                               "key_proj.bias": b_k, "score_proj.weight": v[None]})
    context, weights = attention(q[:, None], keys, keys)
    return np.concatenate([q, context[:, 0]], axis=1) @ W_out.T + b_out, weights[:, 0]


def _step_variant(tanh: bool = True, bias: bool = True, softmax_axis: int | None = 1,
                  stable: bool = True, query_first: bool = True,
                  use_context: bool = True) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The step with one of the typical mistakes built in (NumPy only)."""
    def step(q: np.ndarray, keys: np.ndarray, W_q: np.ndarray, W_k: np.ndarray, b_k: np.ndarray,
             v: np.ndarray, W_out: np.ndarray, b_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pre = (q @ W_q.T)[:, None, :] + keys @ W_k.T + (b_k if bias else 0)
        e = (np.tanh(pre) if tanh else pre) @ v                          # (N, S)
        if softmax_axis is None:
            alpha = e
        else:
            z = np.exp(e - (e.max(axis=softmax_axis, keepdims=True) if stable else 0))
            alpha = z / z.sum(axis=softmax_axis, keepdims=True)
        context = np.einsum("ns,nsk->nk", alpha, keys)
        parts = [q, context] if query_first else [context, q]
        read = np.concatenate(parts, axis=1) if use_context else np.concatenate(
            [q, np.zeros_like(context)], axis=1)
        return read @ W_out.T + b_out, alpha
    return step


def _step_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    r = np.random.default_rng(seed)
    cases = []
    for label, (n, s, h, k, a, v, scale) in [
            ("batch of 3, 5 source positions, state 4, keys 6", (3, 5, 4, 6, 5, 7, 1.0)),
            ("batch of 1", (1, 4, 3, 4, 3, 5, 1.0)),
            ("one source position (its weight is 1)", (2, 1, 3, 4, 2, 3, 1.0)),
            ("large scores (v of size 1000): the softmax must not overflow",
             (3, 6, 4, 6, 5, 4, 1000.0))]:
        cases.append((label, (r.standard_normal((n, h)), r.standard_normal((n, s, k)),
                              r.standard_normal((a, h)) / np.sqrt(h),
                              r.standard_normal((a, k)) / np.sqrt(k), 0.5 * r.standard_normal(a),
                              scale * r.standard_normal(a), r.standard_normal((v, h + k)),
                              0.1 * r.standard_normal(v))))
    return cases


def check_attention_decoder_step(attention_decoder_step: Callable[..., Any], seed: int = 10,
                                 time_limit_s: float | None = None, hidden: bool = False) -> None:
    """attention_decoder_step(q (N, H), keys (N, S, K), W_q (A, H), W_k (A, K), b_k (A,), v (A,),
    W_out (V, H + K), b_out (V,)) -> (logits (N, V), alpha (N, S)):
    e_j = v · tanh(W_q q + W_k k_j + b_k), alpha = softmax over the source positions j,
    context = Σ_j alpha_j k_j, logits = [q, context] W_outᵀ + b_out."""
    check_function(attention_decoder_step, _attention_decoder_step, _step_cases(_seed(seed, hidden)),
                   names=["logits", "alpha"], time_limit_s=_limit(time_limit_s),
                   title=hidden_title(attention_decoder_step, hidden), mistakes=quiet({
        "the softmax runs over the source positions (axis 1 of the scores (N, S)), one "
        "distribution per sequence": _step_variant(softmax_axis=0),
        "the weights are the softmax of the scores, not the scores themselves":
            _step_variant(softmax_axis=None),
        "the score passes W_q q + W_k k_j + b_k through tanh before the dot product with v":
            _step_variant(tanh=False),
        "the key projection has a bias, b_k": _step_variant(bias=False),
        "subtract each row's largest score before exp: exp(1000) overflows":
            _step_variant(stable=False),
        "the read-out takes [q, context] in that order: the decoder state first":
            _step_variant(query_first=False),
        "the context enters the read-out next to q": _step_variant(use_context=False),
    }))
