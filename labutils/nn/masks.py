"""Masks for attention: which (query, key) pairs may meet, turned into an additive bias.

A mask becomes a bias b added to the scores before the softmax:

    b_ij = 0 where query i may attend to key j,   b_ij = −inf where it may not

so that exp(s_ij + b_ij) = 0 removes the pair. A float mask is such a bias already (a learned
relative-position bias, for instance) and is added as it is.

Mask conventions, as in torch (and they are opposite, so read twice):

* the MODULES (``*Attention``, ``MultiheadAttention``) follow ``torch.nn.MultiheadAttention``:
  a boolean ``attn_mask`` / ``key_padding_mask`` entry True means "masked out, ignore";
* the FUNCTION ``scaled_dot_product_attention`` and the sparse patterns below follow
  ``torch.nn.functional.scaled_dot_product_attention``: True means "may attend there".

``mask_to_bias`` is the one conversion; ``attention_bias`` adds the two masks a module takes
(a key padding mask (N, Tk) and an attention mask) into the bias of its scores.

The sparse patterns return a boolean (T, T) array ALLOWED[i, j] = True where query i may
attend to key j; pass ``~allowed`` as attn_mask to the modules.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from .. import validate

__all__ = ["causal_mask", "mask_to_bias", "attention_bias_terms", "attention_bias",
           "full_pattern", "strided_pattern", "fixed_pattern", "sliding_window_pattern", "add_global_tokens", "bigbird_pattern"]


def causal_mask(tq: int, tk: int | None = None, align: str = "end") -> np.ndarray:
    """Boolean (tq, tk) mask, True = masked out (a key in the future of the query).

    align="end"   query i sits at absolute position i + (tk − tq): the last query sees every
                  key. This is what cached decoding needs (tq new tokens after tk − tq cached
                  ones) and what torch's ``causal_lower_right`` does.
    align="start" query i sits at position i (torch's ``is_causal=True`` and
                  ``causal_upper_left``); the same as "end" when tq == tk.
    """
    tk = tq if tk is None else tk
    validate.positive_int(tq, "causal_mask", "tq", minimum=0)
    validate.positive_int(tk, "causal_mask", "tk", minimum=0)
    if align not in ("end", "start"):
        raise ValueError(f"causal_mask: align must be 'end' or 'start', got {align!r}")
    offset = tk - tq if align == "end" else 0
    i = np.arange(tq)[:, None]
    j = np.arange(tk)[None, :]
    return j > i + offset


def mask_to_bias(mask: np.ndarray | None, owner: str, arg: str, dtype: np.dtype | type,
                 masked_value: bool = True) -> np.ndarray | None:
    """An additive float mask from a boolean one (``masked_value`` marks entries to drop)
    or a float one (returned as is, cast to ``dtype``). None stays None."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{owner}: {arg} must be a NumPy array (bool or float), "
                        f"got {type(mask).__name__}")
    if mask.dtype == bool:
        drop = mask if masked_value else ~mask
        return np.where(drop, -np.inf, 0.0).astype(dtype)
    if mask.dtype.kind != "f":
        raise TypeError(f"{owner}: {arg} must be bool or float, got {mask.dtype}")
    if np.isnan(mask).any():
        raise ValueError(f"{owner}: {arg} contains NaN")
    return mask.astype(dtype, copy=False)


def attention_bias_terms(owner: str, shape: tuple[int, int, int], dtype: np.dtype | type,
                         key_padding_mask: np.ndarray | None = None,
                         attn_mask: np.ndarray | None = None,
                         num_heads: int | None = None) -> tuple[np.ndarray, ...]:
    """The masks a module takes (modules' convention: bool True = masked out), each as an
    additive bias that broadcasts against the scores (N, Tq, Tk), or (N, num_heads, Tq, Tk)
    when num_heads is given: the padding as (N, [1,] 1, Tk), the attention mask as
    (1, [1,] Tq, Tk) or per sequence (N, [num_heads,] Tq, Tk). Nothing is broadcast to the
    scores' size, so a module can add them one block of query rows at a time.

    key_padding_mask: (N, Tk). attn_mask: (Tq, Tk), or per sequence (N, Tq, Tk) without
    heads, (N·num_heads, Tq, Tk) with them (torch's layout).
    """
    if not isinstance(shape, tuple) or len(shape) != 3:
        raise TypeError(f"{owner}: shape must be the scores' (N, Tq, Tk), got {shape!r}")
    for i, n in enumerate(shape):
        validate.positive_int(n, owner, f"shape[{i}]", minimum=0)
    if num_heads is not None:
        validate.positive_int(num_heads, owner, "num_heads")
    return _bias_terms(owner, shape, dtype, key_padding_mask, attn_mask, num_heads)


def _bias_terms(owner: str, shape: tuple[int, int, int], dtype: np.dtype | type,
                key_padding_mask: np.ndarray | None, attn_mask: np.ndarray | None,
                num_heads: int | None) -> tuple[np.ndarray, ...]:
    """``attention_bias_terms`` for a module, whose shape and heads are its own (unchecked)."""
    N, tq, tk = shape
    heads = () if num_heads is None else (num_heads,)
    ones = (1,) * len(heads)
    terms = []
    if key_padding_mask is not None:
        kpm = mask_to_bias(key_padding_mask, owner, "key_padding_mask", dtype)
        if kpm.shape != (N, tk):
            raise ValueError(f"{owner}: key_padding_mask must have shape (N, Tk) = {(N, tk)}, "
                             f"got {kpm.shape}")
        terms.append(kpm.reshape((N,) + ones + (1, tk)))
    if attn_mask is not None:
        am = mask_to_bias(attn_mask, owner, "attn_mask", dtype)
        per_sequence = (N * num_heads if heads else N, tq, tk)
        if am.shape == (tq, tk):
            terms.append(am.reshape((1,) + ones + (tq, tk)))
        elif am.shape == per_sequence:
            terms.append(am.reshape((N,) + heads + (tq, tk)))
        else:
            rows = "(N*num_heads, Tq, Tk)" if heads else "(N, Tq, Tk)"
            raise ValueError(f"{owner}: attn_mask must have shape (Tq, Tk) = {(tq, tk)} or "
                             f"{rows} = {per_sequence}, got {am.shape}")
    return tuple(terms)


def attention_bias(owner: str, shape: tuple[int, int, int], dtype: np.dtype | type,
                   key_padding_mask: np.ndarray | None = None,
                   attn_mask: np.ndarray | None = None,
                   num_heads: int | None = None) -> np.ndarray:
    """The bias of a module's scores: the sum of ``attention_bias_terms`` (same arguments)
    -> (N, Tq, Tk), or (N, num_heads, Tq, Tk) when num_heads is given."""
    N, tq, tk = shape
    heads = () if num_heads is None else (num_heads,)
    bias = np.zeros((N,) + heads + (tq, tk), dtype=dtype)
    for term in attention_bias_terms(owner, shape, dtype, key_padding_mask, attn_mask, num_heads):
        bias = bias + term
    return bias


# -- sparse attention patterns (True = may attend) ----------------------------------------------
def full_pattern(T: int, causal: bool = False) -> np.ndarray:
    """Dense attention: T² pairs, or T(T+1)/2 with a causal mask."""
    validate.positive_int(T, "full_pattern", "T", minimum=0)
    return ~causal_mask(T) if causal else np.ones((T, T), bool)


def _grid(T: int, owner: str, **sizes: int) -> tuple[np.ndarray, np.ndarray]:
    """The (query, key) index grid of a T×T pattern, after checking T >= 0 and the sizes >= 1."""
    validate.positive_int(T, owner, "T", minimum=0)
    for arg, size in sizes.items():
        validate.positive_int(size, owner, arg)
    return np.arange(T, dtype=np.int32)[:, None], np.arange(T, dtype=np.int32)[None, :]


def strided_pattern(T: int, stride: int) -> np.ndarray:
    """Sparse Transformer, strided (Child et al., 2019), causal: the previous ``stride``
    positions (a local band) and every ``stride``-th position before (i − j divisible by
    stride: diagonals every stride steps).
    About T(stride + T/stride) pairs, O(T√T) with stride ≈ √T."""
    i, j = _grid(T, "strided_pattern", stride=stride)
    return (j <= i) & ((i - j < stride) | ((i - j) % stride == 0))


def fixed_pattern(T: int, stride: int, c: int = 1) -> np.ndarray:
    """Sparse Transformer, fixed, causal: the query's own block of ``stride`` positions, plus
    the last ``c`` positions of every block ("summary" cells that carry information on)."""
    i, j = _grid(T, "fixed_pattern", stride=stride)
    validate.positive_int(c, "fixed_pattern", "c", minimum=0)
    if c > stride:
        raise ValueError(f"fixed_pattern: c must be at most stride ({stride}), got {c}")
    return (j <= i) & ((i // stride == j // stride) | (j % stride >= stride - c))


def sliding_window_pattern(T: int, window: int, dilation: int = 1) -> np.ndarray:
    """Longformer's (dilated) sliding window: keys within ``window`` steps of size
    ``dilation`` on each side, |i − j| <= window·dilation and (i − j) divisible by dilation.
    About T(2·window + 1) pairs: linear in T."""
    i, j = _grid(T, "sliding_window_pattern", window=window, dilation=dilation)
    d = np.abs(i - j)
    return (d <= window * dilation) & (d % dilation == 0)


def add_global_tokens(pattern: np.ndarray, tokens: Iterable[int]) -> np.ndarray:
    """Longformer / BigBird global tokens (e.g. [CLS]): they attend to every position and
    every position attends to them (a full row and a full column each)."""
    validate.array(pattern, "add_global_tokens", "pattern", ndim=2, dtype="bool")
    if pattern.shape[0] != pattern.shape[1]:
        raise ValueError(f"add_global_tokens: pattern must be square (T, T), got {pattern.shape}")
    tokens = _positions(tokens, pattern.shape[0], "add_global_tokens", "tokens")
    p = pattern.copy()
    p[list(tokens), :] = True
    p[:, list(tokens)] = True
    return p


def bigbird_pattern(T: int, window: int, global_tokens: Iterable[int] = (0,),
                    num_random: int = 2, rng: np.random.Generator | None = None) -> np.ndarray:
    """BigBird: sliding window + global tokens + ``num_random`` random keys per query."""
    owner = "bigbird_pattern"
    validate.positive_int(T, owner, "T", minimum=0)
    validate.positive_int(window, owner, "window")
    validate.positive_int(num_random, owner, "num_random", minimum=0)
    global_tokens = _positions(global_tokens, T, owner, "global_tokens")
    validate.generator(rng, owner)
    rng = np.random.default_rng(0) if rng is None else rng
    p = sliding_window_pattern(T, window)
    for i in range(T):
        p[i, rng.choice(T, size=min(num_random, T), replace=False)] = True
    return add_global_tokens(p, global_tokens)


def _positions(tokens: object, T: int, owner: str, arg: str) -> list[int]:
    """``tokens`` as a list of positions in [0, T), or a named error."""
    try:
        tokens = list(tokens)
    except TypeError:
        raise TypeError(f"{owner}: {arg} must be an iterable of positions, got "
                        f"{type(tokens).__name__}") from None
    if any(isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < T
           for t in tokens):
        raise ValueError(f"{owner}: {arg} must be positions in [0, {T}), got {tokens}")
    return tokens


# -- checks shared by the front doors of the attention functions (attention.py) -------------
def _check_axis(owner: str, x: np.ndarray, axis: object) -> None:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{owner}: axis must be an int, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{owner}: axis must be in [{-x.ndim}, {x.ndim}) for an array of "
                         f"shape {x.shape}, got {axis}")


def _check_scale(owner: str, scale: object) -> None:
    if scale is not None:
        validate.number(scale, owner, "scale", want="a finite number or None")


def _batch(owner: str, **arrays: np.ndarray) -> tuple[int, ...]:
    """The broadcast of the arrays' batch dimensions (all but the last two)."""
    try:
        return np.broadcast_shapes(*(x.shape[:-2] for x in arrays.values()))
    except ValueError:
        got = ", ".join(f"{arg} {x.shape}" for arg, x in arrays.items())
        raise ValueError(f"{owner}: the batch dimensions (all but the last two) must "
                         f"broadcast, got {got}") from None


def _fits(owner: str, arg: str, x: np.ndarray, target: tuple[int, ...]) -> None:
    """``x`` must broadcast to ``target`` (and not beyond it)."""
    try:
        ok = np.broadcast_shapes(x.shape, target) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{owner}: {arg} must broadcast to the scores' shape {tuple(target)}; "
                         f"got {arg} of shape {x.shape}")


def _cached(owner: str, cache: object, kind: type) -> object:
    if not isinstance(cache, kind):
        raise TypeError(f"{owner}: cache must be the {kind.__name__} its forward returned, "
                        f"got {type(cache).__name__}")
    return cache
