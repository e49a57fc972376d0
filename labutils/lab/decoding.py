"""Decoding an autoregressive model: greedy and beam search.

Both take ``step_fn(prefixes) -> log_probs``: prefixes is an (B, t) int array of token
sequences (each starting with ``bos``), log_probs an (B, V) array of log p(next token | prefix).
The score of a sequence y_1..y_T is  log p(y) = Σ_t log p(y_t | y_<t).

greedy   at each step keep only the most probable token: T model calls of batch B, but the
         best next token need not lie on the best whole sequence.
beam     keep the ``beam_size`` best prefixes; extend each by every token; keep the best
         ``beam_size`` of the extensions. beam_size = 1 is greedy; a beam as wide as all
         V^T sequences is exhaustive search. A hypothesis that emits ``eos`` is finished.
         With ``length_penalty`` α, finished hypotheses are ranked by log p / T^α (α = 0:
         raw log-probability, which favours short outputs when lengths can differ).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import validate

__all__ = ["greedy_decode", "beam_search", "log_softmax", "cached_greedy_decode"]


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax along ``axis``, computed stably (the maximum subtracted first)."""
    validate.array(logits, "log_softmax", "logits", min_ndim=1)
    if isinstance(axis, bool) or not isinstance(axis, int) or not -logits.ndim <= axis < logits.ndim:
        raise ValueError(f"log_softmax: axis must be an int in [{-logits.ndim}, {logits.ndim}) "
                         f"for logits of shape {logits.shape}, got {axis!r}")
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _check_step(out: np.ndarray, rows: int, name: str) -> np.ndarray:
    out = np.asarray(out)
    if out.dtype.kind not in "iuf":
        raise TypeError(f"{name}: step_fn must return an array of log-probabilities, "
                        f"got {out.dtype}")
    if out.ndim != 2 or out.shape[0] != rows:
        raise ValueError(f"{name}: step_fn must return ({rows}, vocab_size) log-probabilities, "
                         f"got shape {out.shape}")
    if np.isnan(out).any():
        raise ValueError(f"{name}: step_fn returned NaN")
    return out


def _check_decode(owner: str, step_fn: object, bos: object, max_len: object,
                  eos: object) -> None:
    validate.function(step_fn, owner, "step_fn")
    validate.positive_int(bos, owner, "bos", minimum=0)
    validate.positive_int(max_len, owner, "max_len")
    if eos is not None:
        validate.positive_int(eos, owner, "eos", minimum=0)


def greedy_decode(step_fn: Callable[[np.ndarray], np.ndarray], bos: int, max_len: int,
                  batch_size: int = 1, eos: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (tokens (B, max_len) without bos, log_probs (B,)). After ``eos`` a row is
    padded with ``eos`` and its score stops changing."""
    _check_decode("greedy_decode", step_fn, bos, max_len, eos)
    batch_size = validate.positive_int(batch_size, "greedy_decode", "batch_size")
    seqs = np.full((batch_size, 1), bos, dtype=np.int64)
    score = np.zeros(batch_size)
    done = np.zeros(batch_size, bool)
    for _ in range(max_len):
        logp = _check_step(step_fn(seqs), batch_size, "greedy_decode")
        tok = logp.argmax(axis=1)
        if eos is not None:
            tok = np.where(done, eos, tok)
        score += np.where(done, 0.0, logp[np.arange(batch_size), tok])
        seqs = np.concatenate([seqs, tok[:, None]], axis=1)
        if eos is not None:
            done |= tok == eos
            if done.all():
                break
    out = seqs[:, 1:]
    if out.shape[1] < max_len:
        out = np.concatenate([out, np.full((batch_size, max_len - out.shape[1]), eos)], axis=1)
    return out, score


def beam_search(step_fn: Callable[[np.ndarray], np.ndarray], bos: int, max_len: int,
                beam_size: int = 4, eos: int | None = None,
                length_penalty: float = 0.0) -> list[tuple[np.ndarray, float]]:
    """Beam search for ONE sequence. Returns a list of (tokens without bos, log_prob) of up
    to ``beam_size`` hypotheses, best first (ranked by log_prob / len^length_penalty)."""
    _check_decode("beam_search", step_fn, bos, max_len, eos)
    beam_size = validate.positive_int(beam_size, "beam_search", "beam_size")
    length_penalty = validate.number(length_penalty, "beam_search", "length_penalty")

    def rank(tokens: np.ndarray, s: float) -> float:
        return s / max(len(tokens), 1) ** length_penalty

    live = [(np.array([bos], dtype=np.int64), 0.0)]
    finished = []
    for _ in range(max_len):
        prefixes = np.stack([p for p, _ in live])
        logp = _check_step(step_fn(prefixes), len(live), "beam_search")
        total = np.array([s for _, s in live])[:, None] + logp       # (beams, V)
        flat = np.argsort(-total, axis=None, kind="stable")[:2 * beam_size]
        new_live = []
        for f in flat:
            b, tok = divmod(int(f), total.shape[1])
            seq = np.append(live[b][0], tok)
            if eos is not None and tok == eos:
                finished.append((seq[1:], float(total[b, tok])))
            else:
                new_live.append((seq, float(total[b, tok])))
            if len(new_live) == beam_size:
                break
        live = new_live
        if not live:
            break
        if eos is not None and len(finished) >= beam_size and length_penalty == 0:
            best_done = max(s for _, s in finished)
            if best_done >= max(s for _, s in live):   # live scores can only decrease
                break
    finished += [(seq[1:], s) for seq, s in live]
    finished.sort(key=lambda h: -rank(*h))
    return finished[:beam_size]


# -- greedy decoding with a key-value cache (the toy encoder-decoder of chapter 5) -------------
def _attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, mha: object) -> np.ndarray:
    """q (N, 1, E), k, v (N, t, E) projected -> the attention's output (N, 1, E), per head."""
    from ..nn.attention import scaled_dot_product_attention
    from ..nn.heads import merge_heads, split_heads
    h = mha.num_heads
    out = scaled_dot_product_attention(split_heads(q, h), split_heads(k, h), split_heads(v, h))
    return mha.out_proj(merge_heads(out))


def _projections(x: np.ndarray, mha: object) -> list[np.ndarray]:
    """x (N, t, E) -> its query, key and value projections (torch's packed in_proj)."""
    w, b = mha.params["in_proj_weight"], mha.params["in_proj_bias"]
    return [x @ wi.T + bi for wi, bi in zip(np.split(w, 3), np.split(b, 3))]


def cached_greedy_decode(model: object, memory: np.ndarray, bos: int, max_len: int
                         ) -> tuple[np.ndarray, np.ndarray, int]:
    """Greedy decoding of a post-norm encoder-decoder (``labutils.lab.toy_transformer``'s
    Seq2SeqTransformer, relu feed-forward) that runs the decoder on the ONE new token per step:
    each layer keeps the keys and values of the tokens before (its cache) and of the memory
    (computed once). memory (N, S, E) -> (tokens (N, max_len) without bos, the logits of each
    step (N, max_len, V), the number of query-key pairs scored in self-attention)."""
    owner = "cached_greedy_decode"
    validate.array(memory, owner, "memory", ndim=3, shape=(model.d_model,))
    validate.positive_int(bos, owner, "bos", minimum=0)
    if validate.positive_int(max_len, owner, "max_len") > model.max_len:
        raise ValueError(f"{owner}: max_len must be at most the model's max_len = "
                         f"{model.max_len} (its positional table), got {max_len}")
    n = memory.shape[0]
    layers = list(model.decoder.layers)
    cross = [_projections(memory, layer.multihead_attn)[1:] for layer in layers]
    caches = [(np.zeros((n, 0, memory.shape[2])),) * 2 for _ in layers]
    token, tokens, logits, pairs = np.full((n, 1), bos), [], [], 0
    for t in range(max_len):
        x = model.tgt_embed(token) + model.pe[t:t + 1]
        for i, layer in enumerate(layers):
            q, k, v = _projections(x, layer.self_attn)
            caches[i] = (np.concatenate([caches[i][0], k], 1), np.concatenate([caches[i][1], v], 1))
            pairs += t + 1
            h1 = layer.norm1(x + _attend(q, *caches[i], layer.self_attn))
            q_cross = _projections(h1, layer.multihead_attn)[0]
            h2 = layer.norm2(h1 + _attend(q_cross, *cross[i], layer.multihead_attn))
            x = layer.norm3(h2 + layer.linear2(np.maximum(layer.linear1(h2), 0)))
        if model.decoder.norm is not None:
            x = model.decoder.norm(x)
        logits.append(model.generator(x)[:, 0])
        token = logits[-1].argmax(-1)[:, None]
        tokens.append(token[:, 0])
    return np.stack(tokens, 1), np.stack(logits, 1), pairs
