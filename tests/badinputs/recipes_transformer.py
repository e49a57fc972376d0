"""Bad-input recipes: chapter 5's score-function attentions, embeddings, positions (sinusoidal,
learned, relative, rotary) and transformer layers (labutils/nn/attention_layers.py,
embedding.py, positional.py, rotary.py, transformer.py). The harness: tests/badinputs/__init__.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, expect_named_error, randn

N, TQ, TK, D, DV = 2, 3, 4, 6, 5
_T = torch.from_numpy


def _qkv() -> tuple:
    return randn(N, TQ, D), randn(N, TK, D), randn(N, TK, DV), np.zeros((N, TK), bool)


def _sdpa_twin(m: Any, args: tuple) -> Any:
    return torch.nn.functional.scaled_dot_product_attention(*map(_T, args[:3]))


def _attention(cls: type, kwargs: dict, sizes: tuple = (), twin: Any = None) -> Recipe:
    """query, key, value and a key_padding_mask (None is a good mask)."""
    return Recipe(cls, kwargs=kwargs, args=_qkv,
                  names=("query", "key", "value", "key_padding_mask"), optional=(3,),
                  sizes=sizes, fixed={0: (0, -1), 1: (0, 1, -1), 2: (0, 1), 3: ALL},
                  ranks={0: (3,), 1: (3,), 2: (3,)}, batch={0: 0, 1: 0, 2: 0, 3: 0},
                  twin=twin, extra=(_empty_keys(cls, kwargs),))


def _empty_keys(cls: type, kwargs: dict) -> Any:
    """T_k = 0 (nothing to attend to): torch's attention returns zeros; so must we, and the
    backward gives empty key and value gradients."""
    def check() -> None:
        q, k, v = randn(N, TQ, D), np.zeros((N, 0, D)), np.zeros((N, 0, DV))
        want = torch.nn.functional.scaled_dot_product_attention(*map(_T, (q, k, v))).numpy()
        m = cls(**kwargs)
        context, weights = m(q, k, v)
        assert context.shape == want.shape and np.array_equal(context, want), context
        assert weights.shape == (N, TQ, 0)
        dq, dk, dv = m.backward(np.ones_like(context))
        assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape
        assert not dq.any()
    return check


def _embedding_twin(m: Any, args: tuple) -> Any:
    return torch.nn.Embedding(5, 3)(_T(args[0]))


def _embedding_extra() -> None:
    """padding_idx out of range and indices out of range: named errors (torch: assertion and
    IndexError)."""
    for bad in (5, -6, 2.0):
        expect_named_error(lambda: nn.Embedding(5, 3, padding_idx=bad), "Embedding", "padding_idx")
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4
    m = nn.Embedding(5, 3)
    for idx in (np.array([0, 5]), np.array([-1, 2])):
        expect_named_error(lambda: m(idx), "Embedding", "indices", state=m)
        expect_named_error(lambda: nn.embedding_forward(idx, randn(5, 3)), "embedding_forward",
                           "indices")
    expect_named_error(lambda: nn.embedding_forward(np.array([1]), randn(5, 3), padding_idx=7),
                       "embedding_forward", "padding_idx")


def _offset_extra(cls: type, kwargs: dict) -> Any:
    """offset: an int >= 0 that keeps the positions inside max_len."""
    def check() -> None:
        m = cls(**kwargs)
        x = randn(N, 3, 4)
        for offset in (-1, 2.5, None, kwargs.get("max_len", 8)):
            expect_named_error(lambda: m(x, offset=offset), cls.__name__, "offset", state=m)
    return check


def _layer_twin(kind: str) -> Any:
    def twin(m: Any, args: tuple) -> Any:
        t = getattr(torch.nn, kind)(D, 2, 8, dropout=0.0, batch_first=True, dtype=torch.float64)
        return t(*map(_T, args))
    return twin


def _layer(kind: str) -> Recipe:
    decoder = kind.startswith("TransformerDecoder")
    kwargs = dict(d_model=D, nhead=2, dim_feedforward=8, dropout=0.0, batch_first=True)
    return Recipe(getattr(nn, kind), kwargs=kwargs,
                  args=(lambda: (randn(N, TQ, D), randn(N, TK, D))) if decoder else
                  (lambda: (randn(N, TQ, D),)),
                  names=("tgt", "memory") if decoder else ("src",),
                  sizes=("d_model", "nhead", "dim_feedforward"), probs=("dropout",),
                  rates=("layer_norm_eps",), fixed={0: (0, -1) if decoder else (-1,), 1: (0, -1)},
                  ranks={0: (3,), 1: (3,)}, batch={0: 0, 1: 0} if decoder else {0: 0},
                  twin=_layer_twin(kind), grads=lambda out: (np.ones_like(out),),
                  extra=(_divisible(kind), _empty_sequence(kind)))


def _empty_sequence(kind: str) -> Any:
    """No tokens (T = 0), or a decoder's memory with no tokens (S = 0): torch's shapes, finite
    values, and a backward that goes through."""
    def check() -> None:
        decoder = kind.startswith("TransformerDecoder")
        args = (randn(N, TQ, D), np.zeros((N, 0, D))) if decoder else (np.zeros((N, 0, D)),)
        want = _layer_twin(kind)(None, args)
        m = getattr(nn, kind)(D, 2, 8, dropout=0.0, batch_first=True)
        y = m(*args)
        assert y.shape == tuple(want.shape) and np.isfinite(y).all()
        grads = m.backward(np.ones_like(y))
        assert [g.shape for g in (grads if decoder else (grads,))] == [a.shape for a in args]
    return check


def _divisible(kind: str) -> Any:
    def check() -> None:
        expect_named_error(lambda: getattr(nn, kind)(D, 4), kind, "nhead")
        expect_named_error(lambda: getattr(nn, kind)(D, 2, activation="tanh"), kind,
                           "activation")
    return check


def _stack(kind: str) -> Recipe:
    decoder = kind == "TransformerDecoder"
    layer = getattr(nn, kind + "Layer")(D, 2, 8, dropout=0.0, batch_first=True)
    return Recipe(getattr(nn, kind),
                  kwargs={("decoder_layer" if decoder else "encoder_layer"): layer,
                          "num_layers": 2},
                  args=(lambda: (randn(N, TQ, D), randn(N, TK, D))) if decoder else
                  (lambda: (randn(N, TQ, D),)),
                  names=("tgt", "memory") if decoder else ("src",), counts=("num_layers",),
                  fixed={0: (0, -1) if decoder else (-1,), 1: (0, -1)}, ranks={0: (3,), 1: (3,)},
                  batch={0: 0, 1: 0} if decoder else {0: 0},
                  grads=lambda out: (np.ones_like(out),), extra=(_stack_extra(kind),))


def _stack_extra(kind: str) -> Any:
    def check() -> None:
        key = "decoder_layer" if kind == "TransformerDecoder" else "encoder_layer"
        for bad in (None, nn.Linear(D, D)):
            expect_named_error(lambda: getattr(nn, kind)(**{key: bad, "num_layers": 1}), kind,
                               "layer")
    return check


def _buckets() -> None:
    m = nn.RelativePositionBias(2, 3)
    assert m.buckets(2, 4).shape == (2, 4)
    for tq, tk in ((0, 4), (2, -1), (2.5, 4), (None, 3)):
        expect_named_error(lambda: m.buckets(tq, tk), "RelativePositionBias",
                           "tq" if tk in (4, 3) else "tk", state=m)


def _rel_cache() -> Any:
    return nn.relative_position_bias_forward(randn(5, 2), 3, 4, 2)[1]


def _rotary_cache() -> Any:
    return nn.rotary_forward(randn(N, TQ, D), np.arange(TQ))[1]


def _embedding_cache() -> Any:
    return nn.embedding_forward(np.array([[0, 4], [2, 2]]), randn(5, 3))[1]


RECIPES = {
    "nn.AdditiveAttention": _attention(nn.AdditiveAttention,
                                       dict(query_dim=D, key_dim=D, hidden_dim=7),
                                       ("query_dim", "key_dim", "hidden_dim")),
    "nn.BilinearAttention": _attention(nn.BilinearAttention, dict(query_dim=D, key_dim=D),
                                       ("query_dim", "key_dim")),
    "nn.DotProductAttention": _attention(nn.DotProductAttention, dict(scale=0.5)),
    "nn.ScaledDotProductAttention": _attention(nn.ScaledDotProductAttention, {},
                                               twin=_sdpa_twin),
    "nn.Embedding": Recipe(nn.Embedding, kwargs=dict(num_embeddings=5, embedding_dim=3),
                           args=lambda: (np.array([[0, 4, 1], [2, 2, 3]]),), names=("indices",),
                           ints=(0,), sizes=("num_embeddings", "embedding_dim"), batch={0: 0},
                           twin=_embedding_twin, extra=(_embedding_extra,)),
    "nn.embedding_forward": Recipe(nn.embedding_forward,
                                   args=lambda: (np.array([[0, 4], [2, 2]]), randn(5, 3)),
                                   names=("indices", "weight"), ints=(0,), ranks={1: (2,)},
                                   batch={0: 0}),
    "nn.embedding_backward": Recipe(nn.embedding_backward,
                                    args=lambda: (randn(2, 2, 3), _embedding_cache()),
                                    names=("dy", None), fixed={0: (0, 1)}, ranks={0: (3,)}),
    "nn.sinusoidal_encoding": Recipe(nn.sinusoidal_encoding,
                                     kwargs=dict(num_positions=5, d_model=4),
                                     counts=("num_positions",), sizes=("d_model",),
                                     rates=("base",)),
    "nn.rotation_matrix": Recipe(nn.rotation_matrix, kwargs=dict(k=3, d_model=4),
                                 sizes=("d_model",), rates=("base",)),
    "nn.SinusoidalPositionalEncoding": Recipe(
        nn.SinusoidalPositionalEncoding, kwargs=dict(d_model=4, max_len=8),
        args=lambda: (randn(N, 3, 4),), names=("input",), sizes=("d_model", "max_len"),
        rates=("base",), fixed={0: (-1,)}, ranks={0: (3,)}, batch={0: 0},
        extra=(_offset_extra(nn.SinusoidalPositionalEncoding, dict(d_model=4, max_len=8)),)),
    "nn.LearnedPositionalEmbedding": Recipe(
        nn.LearnedPositionalEmbedding, kwargs=dict(max_len=8, d_model=4),
        args=lambda: (randn(N, 3, 4),), names=("input",), sizes=("d_model", "max_len"),
        fixed={0: (-1,)}, ranks={0: (3,)}, batch={0: 0},
        extra=(_offset_extra(nn.LearnedPositionalEmbedding, dict(max_len=8, d_model=4)),)),
    "nn.relative_position_bias_forward": Recipe(
        nn.relative_position_bias_forward, args=lambda: (randn(5, 2), 3, 4, 2),
        names=("weight", "tq", "tk", "max_distance"), fixed={0: (0,)}, ranks={0: (2,)}),
    "nn.relative_position_bias_backward": Recipe(
        nn.relative_position_bias_backward, args=lambda: (randn(2, 3, 4), _rel_cache()),
        names=("dbias", None), fixed={0: (1, 2)}, ranks={0: (3,)}),
    "nn.RelativePositionBias": Recipe(nn.RelativePositionBias,
                                      kwargs=dict(num_heads=2, max_distance=3),
                                      args=lambda: (3, 4), names=("tq", None),
                                      sizes=("num_heads",), counts=("max_distance",),
                                      extra=(_buckets,)),
    "nn.rotary_forward": Recipe(nn.rotary_forward, args=lambda: (randn(N, TQ, D), np.arange(TQ)),
                                names=("x", "positions"), ints=(1,), fixed={0: (-1, -2), 1: ALL},
                                rates=("base",), batch={0: 0}),
    "nn.rotary_backward": Recipe(nn.rotary_backward,
                                 args=lambda: (randn(N, TQ, D), _rotary_cache()),
                                 names=("dy", None), fixed={0: (-1, -2)}, batch={0: 0}),
    "nn.RotaryEmbedding": Recipe(nn.RotaryEmbedding, kwargs=dict(dim=D),
                                 args=lambda: (randn(N, TQ, D),), names=("input",),
                                 sizes=("dim",), rates=("base",), fixed={0: (-1,)},
                                 batch={0: 0}),
    "nn.TransformerEncoderLayer": _layer("TransformerEncoderLayer"),
    "nn.TransformerDecoderLayer": _layer("TransformerDecoderLayer"),
    "nn.TransformerEncoder": _stack("TransformerEncoder"),
    "nn.TransformerDecoder": _stack("TransformerDecoder"),
}

EXEMPT: dict[str, str] = {}
