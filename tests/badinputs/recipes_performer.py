"""Bad-input recipes: chapter 6's FAVOR+ functions and PerformerAttention (labutils/nn/favor.py,
performer_attention.py). The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, expect_named_error, randn, rng

N, L, S, D, DV, M = 2, 5, 6, 4, 3, 8
_QKV_FIXED = {0: (0, -1), 1: (0, 1, -1), 2: (0, 1), 3: (1,)}
_QKV_RANKS = {0: (3,), 1: (3,), 2: (3,), 3: (2,)}


def _qkvw(causal: bool = False) -> tuple:
    s = L if causal else S
    return randn(N, L, D) * 0.5, randn(N, s, D) * 0.5, randn(N, s, DV), randn(M, D)


def _generators(fn: Any, *sizes: int) -> Any:
    """An int seed or None where a Generator is needed: a named error that says how to make one."""
    def check() -> None:
        for bad in (0, None, np.random.RandomState(0)):
            expect_named_error(lambda: fn(*sizes, bad), fn.__name__, "rng")
    return check


def _favor(fn: Any, causal: bool = False, **kwargs: Any) -> Recipe:
    return Recipe(fn, args=lambda: _qkvw(causal), names=("q", "k", "v", "W"), kwargs=kwargs,
                  rates=("eps",), fixed={0: (0, -1), 1: (0, 1, -1), 2: (0, 1), 3: (1,)} if not
                  causal else {0: (0, -2, -1), 1: (0, 1, -1), 2: (0, 1), 3: (1,)},
                  ranks=_QKV_RANKS, batch={0: 0, 1: 0, 2: 0},
                  extra=(_empty_keys(fn, kwargs),) if not causal else ())


def _empty_keys(fn: Any, kwargs: dict) -> Any:
    """S = 0 (no keys): zeros, as torch's attention."""
    def check() -> None:
        q, _, _, W = _qkvw()
        out = fn(q, np.zeros((N, 0, D)), np.zeros((N, 0, DV)), W, **kwargs)
        out = out[0] if isinstance(out, tuple) else out
        assert out.shape == (N, L, DV) and not out.any(), out
    return check


def _chunks() -> None:
    """chunk <= 0 is refused by name, causal or not (the issue's case)."""
    q, k, v, W = _qkvw(causal=True)
    for causal in (False, True):
        for bad in (0, -1, 2.5):
            expect_named_error(lambda: nn.favor_attention(q, k, v, W, causal=causal, chunk=bad),
                               "favor_attention", "chunk")
    expect_named_error(lambda: nn.causal_favor_forward(q, k, v, W, chunk=0),
                       "causal_favor_forward", "chunk")
    expect_named_error(lambda: nn.favor_attention(q, k, v, W, kind="soft"), "favor_attention",
                       "kind")


def _cache(fn: Any, causal: bool = False) -> Any:
    return fn(*_qkvw(causal))[1]


def _back(fn: Any, forward: Any, causal: bool = False) -> Recipe:
    return Recipe(fn, args=lambda: (randn(N, L, DV), _cache(forward, causal)),
                  names=("dout", None), fixed={0: ALL})


def _features(fn: Any) -> Recipe:
    return Recipe(fn, args=lambda: (randn(N, L, D) * 0.5, randn(M, D)), names=("x", "W"),
                  fixed={0: (-1,), 1: (1,)}, ranks={1: (2,)}, batch={0: 0})


def _performer_twin(m: Any, args: tuple) -> Any:
    t = torch.nn.MultiheadAttention(D, 2, batch_first=True, dtype=torch.float64)
    return t(*(torch.from_numpy(a) for a in args), need_weights=False)[0]


def _performer_extra() -> None:
    for bad in (dict(embed_dim=5), dict(num_heads=0), dict(kind="soft"), dict(rng=0),
                dict(nb_features=0)):
        arg = next(iter(bad))
        expect_named_error(lambda: nn.PerformerAttention(**{**dict(embed_dim=D, num_heads=2),
                                                            **bad}),
                           "PerformerAttention", "num_heads" if arg == "embed_dim" else arg)
    m = nn.PerformerAttention(D, 2, rng=rng())
    expect_named_error(lambda: m.redraw_features(3), "PerformerAttention", "rng", state=m)
    q = randn(N, L, D)
    empty = np.zeros((N, 0, D))
    out = m(q, empty, empty)[0]
    assert out.shape == q.shape and np.isfinite(out).all()


RECIPES = {
    "nn.iid_gaussian_matrix": Recipe(nn.iid_gaussian_matrix, kwargs=dict(m=M, d=D, rng=rng()),
                                     sizes=("m", "d"),
                                     extra=(_generators(nn.iid_gaussian_matrix, M, D),)),
    "nn.orthogonal_gaussian_matrix": Recipe(
        nn.orthogonal_gaussian_matrix, kwargs=dict(m=M, d=D, rng=rng()), sizes=("m", "d"),
        extra=(_generators(nn.orthogonal_gaussian_matrix, M, D),)),
    "nn.orthogonal_block": Recipe(nn.orthogonal_block, kwargs=dict(d=D, rng=rng()),
                                  sizes=("d",), extra=(_generators(nn.orthogonal_block, D),)),
    "nn.positive_features": _features(nn.positive_features),
    "nn.hyperbolic_features": _features(nn.hyperbolic_features),
    "nn.trig_features": _features(nn.trig_features),
    "nn.softmax_kernel": Recipe(nn.softmax_kernel, args=lambda: (randn(N, D), randn(N, D)),
                                names=("x", "y"), fixed={0: (-1,), 1: (-1,)}),
    "nn.softmax_kernel_mse": Recipe(nn.softmax_kernel_mse,
                                    args=lambda: (randn(N, D) * 0.3, randn(N, D) * 0.3, M,
                                                  "positive"),
                                    names=("x", "y", "m", "kind"), fixed={0: (-1,), 1: (-1,)}),
    "nn.features_forward": Recipe(nn.features_forward,
                                  args=lambda: (randn(N, L, D) * 0.5, randn(M, D), "positive",
                                                True),
                                  names=("x", "W", "kind", None), fixed={0: (-1,), 1: (1,)},
                                  ranks={1: (2,)}, batch={0: 0}),
    "nn.features_backward": Recipe(
        nn.features_backward,
        args=lambda: (randn(N, L, M), nn.features_forward(randn(N, L, D), randn(M, D),
                                                          "positive", False)[1]),
        names=("dphi", None), fixed={0: ALL}),
    "nn.favor_forward": _favor(nn.favor_forward),
    "nn.causal_favor_forward": _favor(nn.causal_favor_forward, causal=True),
    "nn.favor_attention": Recipe(nn.favor_attention, args=_qkvw, names=("q", "k", "v", "W"),
                                 rates=("eps",), fixed=_QKV_FIXED, ranks=_QKV_RANKS,
                                 batch={0: 0, 1: 0, 2: 0},
                                 extra=(_chunks, _empty_keys(nn.favor_attention, {}))),
    "nn.favor_backward": _back(nn.favor_backward, nn.favor_forward),
    "nn.causal_favor_backward": _back(nn.causal_favor_backward, nn.causal_favor_forward, True),
    "nn.favor_attention_backward": Recipe(
        nn.favor_attention_backward, args=lambda: _qkvw() + (randn(N, L, DV),),
        names=("q", "k", "v", "W", "dout"), rates=("eps",),
        fixed={**_QKV_FIXED, 4: ALL}, ranks={**_QKV_RANKS, 4: (3,)}),
    "nn.PerformerAttention": Recipe(nn.PerformerAttention,
                                    kwargs=dict(embed_dim=D, num_heads=2, rng=rng()),
                                    args=lambda: (randn(N, L, D), randn(N, S, D), randn(N, S, D)),
                                    names=("query", "key", "value"),
                                    sizes=("embed_dim", "num_heads"),
                                    fixed={0: (0, -1), 1: (0, 1, -1), 2: (0, 1, -1)},
                                    ranks={0: (3,), 1: (3,), 2: (3,)}, batch={0: 0, 1: 0, 2: 0},
                                    twin=_performer_twin, extra=(_performer_extra,)),
}

EXEMPT: dict[str, str] = {}
