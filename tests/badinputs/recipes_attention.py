"""Bad-input recipes: chapter 5's attention core (labutils/nn/attention.py: the safe softmax, the
score pairs, scaled dot-product attention and its functional form), the heads
(labutils/nn/heads.py), the masks and sparse patterns (labutils/nn/masks.py) and
MultiheadAttention. The harness: tests/badinputs/__init__.py."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import labutils.nn as nn
from tests.badinputs import ALL, Recipe, expect_named_error, randn

N, H, TQ, TK, D, DV, E = 2, 2, 3, 5, 4, 2, 4
_T = torch.from_numpy


def _bool(*shape: int) -> np.ndarray:
    m = np.random.default_rng(3).random(shape) < 0.3
    m[..., -1] = False
    return m


# -- the safe softmax ---------------------------------------------------------------------------
def _softmax_extra() -> None:
    s = randn(N, TQ, TK)
    for axis in (3, -4):
        expect_named_error(lambda: nn.safe_softmax(s, axis), "safe_softmax", "axis")
    expect_named_error(lambda: nn.safe_softmax(s, 1.0), "safe_softmax", "axis")
    # an empty key axis: torch gives an empty result, so do we (no "zero-size array" error)
    assert nn.safe_softmax(np.zeros((N, TQ, 0))).shape == torch.softmax(
        torch.zeros(N, TQ, 0), -1).shape
    # a float mask is not half a mask: refused by name; a bool mask of the wrong shape too
    expect_named_error(lambda: nn.masked_softmax(s, np.full((TQ, TK), 0.5)), "masked_softmax",
                       "mask")
    expect_named_error(lambda: nn.masked_softmax(s, _bool(TQ, 1, TK)), "masked_softmax", "mask")


def _attend_cache() -> Any:
    return nn.attend_forward(randn(N, TQ, TK), randn(N, TK, DV))[1]


def _sdpa_twin(_m: Any, args: tuple) -> torch.Tensor:
    q, k, v = map(_T, args[:3])
    return F.scaled_dot_product_attention(q, k, v, attn_mask=None if len(args) < 4
                                          else _T(args[3]))


def _attention_cache() -> Any:
    return nn.attention_forward(randn(N, TQ, D), randn(N, TK, D), randn(N, TK, DV))[1]


def _sdpa_extra() -> None:
    q, k, v = randn(N, TQ, D), randn(N, TK, D), randn(N, TK, DV)
    name = "scaled_dot_product_attention"
    for kw, arg in ((dict(dropout_p=0.1), "dropout_p"), (dict(scale=float("nan")), "scale"),
                    (dict(scale="0.5"), "scale"), (dict(attn_mask=_bool(TQ + 1, TK)), "attn_mask"),
                    (dict(attn_mask=np.zeros((TQ, TK), int)), "attn_mask"),
                    (dict(attn_mask=_bool(TQ, TK), is_causal=True), "attn_mask")):
        expect_named_error(lambda: nn.scaled_dot_product_attention(q, k, v, **kw), name, arg)
    # an empty key axis: torch returns zeros, so do we (the softmax of nothing is no weight)
    k0, v0 = np.zeros((N, 0, D)), np.zeros((N, 0, DV))
    want = F.scaled_dot_product_attention(_T(q), _T(k0), _T(v0)).numpy()
    np.testing.assert_array_equal(nn.scaled_dot_product_attention(q, k0, v0), want)
    dq, dk, dv = nn.scaled_dot_product_attention_backward(np.ones((N, TQ, DV)), q, k0, v0)
    assert not dq.any() and dk.shape == k0.shape and dv.shape == v0.shape
    out, w = nn.scaled_dot_product_attention(q, k, v, return_weights=True)
    expect_named_error(lambda: nn.scaled_dot_product_attention_backward(
        np.ones_like(out), q, k, v, dweights=w[:, :1]), name, "dweights")


# -- heads ----------------------------------------------------------------------------------------
def _heads_extra() -> None:
    expect_named_error(lambda: nn.split_heads(randn(N, TQ, E), 3), "split_heads", "num_heads")
    proj = nn.in_projection(randn(N, TQ, E), randn(N, TK, E), randn(N, TK, E), randn(3 * E, E))
    grads = (randn(N, TQ, E), randn(N, TK, E), randn(N, TK + 1, E))
    expect_named_error(lambda: nn.in_projection_backward(grads, proj[1]),
                       "in_projection_backward", "dprojected")
    expect_named_error(lambda: nn.in_projection_backward(grads[:2], proj[1]),
                       "in_projection_backward", "dprojected")


def _projection() -> tuple:
    return randn(N, TQ, E), randn(N, TK, E), randn(N, TK, E), randn(3 * E, E), randn(3 * E)


# -- masks and patterns ---------------------------------------------------------------------------
def _masks_extra() -> None:
    expect_named_error(lambda: nn.causal_mask(2, 3, align="middle"), "causal_mask", "align")
    for tk in (-1, 2.5, "3"):                       # tk=None is good: tk = tq
        expect_named_error(lambda: nn.causal_mask(2, tk), "causal_mask", "tk")
    expect_named_error(lambda: nn.mask_to_bias(np.zeros((2, 2), int), "mask_to_bias", "mask",
                                               np.float64), "mask_to_bias", "mask")
    expect_named_error(lambda: nn.fixed_pattern(8, 2, 3), "fixed_pattern", "c")
    pattern = nn.sliding_window_pattern(6, 1)
    for tokens in ([6], [-1], [1.5], None):
        expect_named_error(lambda: nn.add_global_tokens(pattern, tokens), "add_global_tokens",
                           "tokens")
    expect_named_error(lambda: nn.bigbird_pattern(8, 2, (9,)), "bigbird_pattern", "global_tokens")
    expect_named_error(lambda: nn.bigbird_pattern(8, 2, rng=3), "bigbird_pattern", "rng")
    expect_named_error(lambda: nn.attention_bias_terms("attention_bias_terms", (N, TQ), float),
                       "attention_bias_terms", "shape")


def _bias_args() -> tuple:
    return ("attention_bias", (N, TQ, TK), np.float64, _bool(N, TK), _bool(TQ, TK), H)


# -- MultiheadAttention ----------------------------------------------------------------------------
def _mha_twin(m: Any, args: tuple) -> Any:
    t = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    return t(*map(_T, args))


def _mha_extra() -> None:
    name = "MultiheadAttention"
    q, kv = randn(N, TQ, E), randn(N, TK, E)
    expect_named_error(lambda: nn.MultiheadAttention(5, 2), name, "num_heads")
    expect_named_error(lambda: nn.MultiheadAttention(4, 2, dtype=np.int64), name, "dtype")
    m = nn.MultiheadAttention(E, H, batch_first=True)
    for kw, arg in ((dict(key_padding_mask=_bool(N, TK + 1)), "key_padding_mask"),
                    (dict(key_padding_mask=np.zeros((N, TK), int)), "key_padding_mask"),
                    (dict(attn_mask=_bool(TQ, TK - 1)), "attn_mask"),
                    (dict(attn_mask=[[0.0] * TK] * TQ), "attn_mask")):
        expect_named_error(lambda: m(q, kv, kv, **kw), name, arg, state=m)
    expect_named_error(lambda: m(q, kv.astype(np.float32), kv), name, "key", state=m)
    out, _ = m(q, kv, kv, need_weights=False)
    expect_named_error(lambda: m.backward(np.ones_like(out), np.ones((N, TQ, TK))), name,
                       "dweights", state=m)
    out, w = m(q, kv, kv)
    expect_named_error(lambda: m.backward(np.ones_like(out), np.ones((N, TQ, TK + 1))), name,
                       "dweights", state=m)
    # an empty key axis: torch returns out_proj.bias (zero attention), so do we
    t = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    m.load_state_dict(t.state_dict())
    empty = np.zeros((N, 0, E))
    for need in (True, False):
        want, tw = t(_T(q), _T(empty), _T(empty), need_weights=need)
        got, gw = m(q, empty, empty, need_weights=need)
        np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-12)
        assert (gw is None) == (tw is None) and (gw is None or gw.shape == tuple(tw.shape))
    assert all(g.shape == x.shape for g, x in zip(m.backward(np.ones_like(got)), (q, empty, empty)))


RECIPES = {
    "nn.safe_softmax": Recipe(nn.safe_softmax, args=lambda: (randn(N, TQ, TK),),
                              names=("scores",), batch={0: 0},
                              twin=lambda _m, a: torch.softmax(_T(a[0]), -1),
                              extra=(_softmax_extra,)),
    "nn.safe_softmax_backward": Recipe(nn.safe_softmax_backward,
                                       args=lambda: (nn.safe_softmax(randn(N, TQ, TK)),
                                                     randn(N, TQ, TK)),
                                       names=("weights", "dweights"), fixed={1: ALL}),
    "nn.masked_softmax": Recipe(nn.masked_softmax, args=lambda: (randn(N, TQ, TK), _bool(TQ, TK)),
                                names=("scores", "mask"), optional=(1,), fixed={1: (0, 1)},
                                batch={0: 0}),
    "nn.attend_forward": Recipe(nn.attend_forward,
                                args=lambda: (randn(N, TQ, TK), randn(N, TK, DV)),
                                names=("scores", "value"), fixed={1: (1,)}, batch={0: 0, 1: 0},
                                twin=lambda _m, a: torch.softmax(_T(a[0]), -1) @ _T(a[1])),
    "nn.attend_backward": Recipe(nn.attend_backward,
                                 args=lambda: (randn(N, TQ, DV), _attend_cache(), randn(N, TQ, TK)),
                                 names=("dcontext", None, "dweights"), optional=(2,),
                                 fixed={0: ALL, 2: ALL}),
    "nn.dot_score_forward": Recipe(nn.dot_score_forward, args=lambda: (randn(N, TQ, D),
                                                                       randn(N, TK, D)),
                                   kwargs=dict(scale=0.5), names=("query", "key"),
                                   fixed={1: (-1,)}, batch={0: 0, 1: 0},
                                   twin=lambda _m, a: _T(a[0]) @ _T(a[1]).transpose(1, 2) * 0.5),
    "nn.dot_score_backward": Recipe(nn.dot_score_backward,
                                    args=lambda: (randn(N, TQ, TK), nn.dot_score_forward(
                                        randn(N, TQ, D), randn(N, TK, D))[1]),
                                    names=("dscores", None), fixed={0: ALL}),
    "nn.bilinear_score_forward": Recipe(nn.bilinear_score_forward,
                                        args=lambda: (randn(N, TQ, 3), randn(N, TK, D),
                                                      randn(3, D)),
                                        names=("query", "key", "weight"),
                                        ranks={0: (3,), 1: (3,)}, fixed={1: (0,), 2: ALL},
                                        batch={0: 0, 1: 0}),
    "nn.bilinear_score_backward": Recipe(nn.bilinear_score_backward,
                                         args=lambda: (randn(N, TQ, TK), nn.bilinear_score_forward(
                                             randn(N, TQ, 3), randn(N, TK, D), randn(3, D))[1]),
                                         names=("dscores", None), fixed={0: ALL}),
    "nn.additive_score_forward": Recipe(nn.additive_score_forward,
                                        args=lambda: (randn(N, TQ, 3), randn(N, TK, D),
                                                      randn(5, 3), randn(5, D), randn(5),
                                                      randn(1, 5)),
                                        names=("query", "key", "w_query", "w_key", "b_key",
                                               "w_score"),
                                        ranks={0: (3,), 1: (3,)},
                                        fixed={1: (0,), 2: ALL, 3: ALL, 4: ALL, 5: ALL},
                                        batch={0: 0, 1: 0}),
    "nn.additive_score_backward": Recipe(nn.additive_score_backward,
                                         args=lambda: (randn(N, TQ, TK), nn.additive_score_forward(
                                             randn(N, TQ, 3), randn(N, TK, D), randn(5, 3),
                                             randn(5, D), randn(5), randn(1, 5))[1]),
                                         names=("dscores", None), fixed={0: ALL}),
    "nn.attention_forward": Recipe(nn.attention_forward,
                                   args=lambda: (randn(N, TQ, D), randn(N, TK, D),
                                                 randn(N, TK, DV), randn(TQ, TK)),
                                   names=("query", "key", "value", "bias"), optional=(3,),
                                   fixed={1: (-1,), 2: (-2,), 3: (0, 1)},
                                   batch={0: 0, 1: 0, 2: 0}, twin=_sdpa_twin),
    "nn.attention_backward": Recipe(nn.attention_backward,
                                    args=lambda: (randn(N, TQ, DV), _attention_cache(),
                                                  randn(N, TQ, TK)),
                                    names=("dcontext", None, "dweights"), optional=(2,),
                                    fixed={0: ALL, 2: ALL}),
    "nn.scaled_dot_product_attention": Recipe(
        nn.scaled_dot_product_attention,
        args=lambda: (randn(N, TQ, D), randn(N, TK, D), randn(N, TK, DV)),
        names=("query", "key", "value"), fixed={1: (-1,), 2: (-2,)}, batch={0: 0, 1: 0, 2: 0},
        twin=_sdpa_twin, extra=(_sdpa_extra,)),
    "nn.scaled_dot_product_attention_backward": Recipe(
        nn.scaled_dot_product_attention_backward,
        args=lambda: (randn(N, TQ, DV), randn(N, TQ, D), randn(N, TK, D), randn(N, TK, DV)),
        names=("dout", "query", "key", "value"), fixed={0: ALL, 2: (-1,), 3: (-2,)}),
    "nn.split_heads": Recipe(nn.split_heads, args=lambda: (randn(N, TQ, E), H),
                             names=("x", "num_heads"), sizes=(1,), ints=(0,), ranks={0: (3,)},
                             batch={0: 0}, extra=(_heads_extra,)),
    "nn.merge_heads": Recipe(nn.merge_heads, args=lambda: (randn(N, H, TQ, D),), names=("x",),
                             ints=(0,), ranks={0: (4,)}, batch={0: 0}),
    "nn.in_projection": Recipe(nn.in_projection, args=_projection,
                               names=("query", "key", "value", "weight", "bias"), optional=(4,),
                               ranks={0: (3,), 1: (3,), 2: (3,)},
                               fixed={1: (0,), 2: (0, 1), 3: ALL, 4: ALL},
                               batch={0: 0, 1: 0, 2: 0}),
    "nn.in_projection_backward": Recipe(nn.in_projection_backward,
                                        args=lambda: ((randn(N, TQ, E), randn(N, TK, E),
                                                       randn(N, TK, E)),
                                                      nn.in_projection(*_projection())[1]),
                                        names=("dprojected", None)),
    "nn.causal_mask": Recipe(nn.causal_mask, args=lambda: (TQ, TK), names=("tq", None),
                             counts=(0,), optional=(1,), extra=(_masks_extra,)),
    "nn.mask_to_bias": Recipe(nn.mask_to_bias,
                              args=lambda: (_bool(TQ, TK), "mask_to_bias", "mask", np.float64),
                              names=("mask", None, None, None), optional=(0,)),
    "nn.attention_bias_terms": Recipe(nn.attention_bias_terms,
                                      args=lambda: ("attention_bias_terms",) + _bias_args()[1:],
                                      names=(None, None, None, "key_padding_mask", "attn_mask",
                                             None), optional=(3, 4), fixed={3: ALL, 4: ALL}),
    "nn.attention_bias": Recipe(nn.attention_bias, args=_bias_args,
                                names=(None, None, None, "key_padding_mask", "attn_mask", None),
                                optional=(3, 4), fixed={3: ALL, 4: ALL}),
    "nn.full_pattern": Recipe(nn.full_pattern, args=lambda: (6,), names=("T",), counts=(0,)),
    "nn.strided_pattern": Recipe(nn.strided_pattern, args=lambda: (8, 3), names=("T", "stride"),
                                 counts=(0,), sizes=(1,)),
    "nn.fixed_pattern": Recipe(nn.fixed_pattern, args=lambda: (8, 4, 1),
                               names=("T", "stride", "c"), counts=(0, 2), sizes=(1,)),
    "nn.sliding_window_pattern": Recipe(nn.sliding_window_pattern, args=lambda: (8, 2, 1),
                                        names=("T", "window", "dilation"), counts=(0,),
                                        sizes=(1, 2)),
    "nn.add_global_tokens": Recipe(nn.add_global_tokens,
                                   args=lambda: (nn.sliding_window_pattern(6, 1), [0, 3]),
                                   names=("pattern", "tokens"), fixed={0: ALL}),
    "nn.bigbird_pattern": Recipe(nn.bigbird_pattern, args=lambda: (8, 2),
                                 kwargs=dict(num_random=2), names=("T", "window"),
                                 counts=(0, "num_random"), sizes=(1,)),
    "nn.MultiheadAttention": Recipe(nn.MultiheadAttention,
                                    kwargs=dict(embed_dim=E, num_heads=H, batch_first=True),
                                    args=lambda: (randn(N, TQ, E), randn(N, TK, E),
                                                  randn(N, TK, E)),
                                    names=("query", "key", "value"),
                                    sizes=("embed_dim", "num_heads"), probs=("dropout",),
                                    ranks={0: (3,), 1: (3,), 2: (3,)},
                                    fixed={0: (-1,), 1: (0, -1), 2: (0, 1, -1)},
                                    batch={0: 0, 1: 0, 2: 0}, twin=_mha_twin,
                                    extra=(_mha_extra,)),
}

EXEMPT: dict[str, str] = {}
