"""Chapter 5: the safe softmax, the score-function attention modules and the functional
scaled dot-product attention, against torch (float64) and central differences."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.nn.attention import (causal_mask, masked_softmax, safe_softmax,
                                   safe_softmax_backward, scaled_dot_product_attention,
                                   scaled_dot_product_attention_backward)
from labutils.torchcheck import compare_with_torch, parity_report


# -- torch twins for the score functions torch lacks ------------------------------------------
def torch_safe_softmax(s, drop):
    """Independent safe softmax in torch: masked entries and fully masked rows give 0."""
    s = s.masked_fill(drop, 0.0)
    m = s.amax(-1, keepdim=True).detach()
    e = torch.exp(s - m).masked_fill(drop, 0.0)
    return e / e.sum(-1, keepdim=True).clamp_min(1e-300)


class TorchScored(torch.nn.Module):
    def __init__(self, kind, qd, kd, hd=None):
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.query_proj = torch.nn.Linear(qd, hd, bias=False)
            self.key_proj = torch.nn.Linear(kd, hd)
            self.score_proj = torch.nn.Linear(hd, 1, bias=False)
        elif kind == "bilinear":
            self.weight = torch.nn.Parameter(torch.randn(qd, kd) / math.sqrt(kd))

    def forward(self, q, k, v, kpm=None):
        if self.kind == "additive":
            s = self.score_proj(torch.tanh(self.query_proj(q)[:, :, None] +
                                           self.key_proj(k)[:, None])).squeeze(-1)
        elif self.kind == "bilinear":
            s = q @ self.weight @ k.transpose(1, 2)
        else:
            s = q @ k.transpose(1, 2) * (1 / math.sqrt(q.shape[-1]) if self.kind == "scaled" else 1)
        drop = torch.zeros_like(s, dtype=torch.bool)
        if kpm is not None:
            drop = drop | kpm[:, None, :]
        w = torch_safe_softmax(s, drop)
        return w @ v, w


def make(kind, qd, kd, hd, rng):
    if kind == "additive":
        return nn.AdditiveAttention(qd, kd, hd, rng=rng)
    if kind == "bilinear":
        return nn.BilinearAttention(qd, kd, rng=rng)
    return nn.DotProductAttention() if kind == "dot" else nn.ScaledDotProductAttention()


def padding_mask(rng, n, tk, fully_masked_row=False, keep=1):
    """Random padding; every other row keeps its first ``keep`` keys. A row with one key has
    constant weights, so the score gradients are zero in exact arithmetic: exactly 0 in
    labutils, possibly rounding noise in torch, which the parity metric's floor accepts.
    Central differences of that zero are noise of ~1e-10 though: gradient checks keep two."""
    kpm = rng.random((n, tk)) < 0.3
    kpm[:, :keep] = False
    if fully_masked_row:
        kpm[0] = True
    return kpm


KINDS = ["additive", "bilinear", "dot", "scaled"]


@pytest.mark.parametrize("kind", KINDS)
@given(n=st.integers(1, 3), tq=st.integers(1, 4), tk=st.integers(1, 5), d=st.integers(1, 4),
       dv=st.integers(1, 3), masked=st.sampled_from(["none", "padding", "full row"]),
       seed=st.integers(0, 2**31))
def test_score_attention_matches_torch(kind, n, tq, tk, d, dv, masked, seed):
    rng = np.random.default_rng(seed)
    qd = d
    kd = d if kind in ("dot", "scaled") else d + 1
    q, k, v = (rng.standard_normal(s) for s in ((n, tq, qd), (n, tk, kd), (n, tk, dv)))
    kpm = None if masked == "none" else padding_mask(rng, n, tk, masked == "full row")
    lab = make(kind, qd, kd, 5, rng)
    tmod = TorchScored(kind, qd, kd, 5)
    t_kpm = None if kpm is None else torch.from_numpy(kpm)
    r = compare_with_torch(lab, tmod, q, k, v,
                           lab_call=lambda m, *xs: m(*xs, key_padding_mask=kpm),
                           torch_call=lambda m, *xs: m(*xs, t_kpm), load_state=kind in (
                               "additive", "bilinear"))
    assert r.ok, r


@pytest.mark.parametrize("kind", KINDS)
def test_score_attention_gradcheck(kind):
    rng = np.random.default_rng(1)
    qd, kd = (3, 3) if kind in ("dot", "scaled") else (3, 2)
    q, k, v = rng.standard_normal((2, 3, qd)), rng.standard_normal((2, 4, kd)), \
        rng.standard_normal((2, 4, 2))
    kpm = padding_mask(rng, 2, 4, fully_masked_row=True, keep=2)
    rep = check_module(make(kind, qd, kd, 4, rng), q, k, v, kpm)
    assert rep.ok, rep


def test_additive_attention_interface():
    """The contract the RNN chapter relies on: names, shapes, weights sum to 1 over keys."""
    rng = np.random.default_rng(0)
    att = nn.AdditiveAttention(query_dim=3, key_dim=5, hidden_dim=4, rng=rng)
    assert {k: v.shape for k, v in att.params.items()} == {
        "query_proj.weight": (4, 3), "key_proj.weight": (4, 5), "key_proj.bias": (4,),
        "score_proj.weight": (1, 4)}
    q, k, v = rng.standard_normal((2, 1, 3)), rng.standard_normal((2, 6, 5)), \
        rng.standard_normal((2, 6, 7))
    kpm = np.zeros((2, 6), bool)
    kpm[1, 4:] = True
    ctx, w = att(q, k, v, key_padding_mask=kpm)
    assert ctx.shape == (2, 1, 7) and w.shape == (2, 1, 6)
    np.testing.assert_allclose(w.sum(-1), 1.0)
    assert (w[1, :, 4:] == 0).all()
    dq, dk, dv = att.backward(rng.standard_normal(ctx.shape))
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape
    assert (dk[1, 4:] == 0).all() and (dv[1, 4:] == 0).all()
    att.backward(rng.standard_normal(ctx.shape), rng.standard_normal(w.shape))  # with dweights


def test_float32_works():
    rng = np.random.default_rng(0)
    att = nn.AdditiveAttention(3, 3, 4, rng=rng, dtype=np.float32)
    x = rng.standard_normal((2, 3, 3)).astype(np.float32)
    ctx, w = att(x, x, x)
    assert ctx.dtype == np.float32 and w.dtype == np.float32
    ref = nn.AdditiveAttention(3, 3, 4).load_state_dict(att.state_dict())
    for k in ref.params:
        ref.params[k] = ref.params[k].astype(np.float64)
    ctx64, _ = ref(x.astype(np.float64), x.astype(np.float64), x.astype(np.float64))
    np.testing.assert_allclose(ctx, ctx64, rtol=1e-4, atol=1e-5)


# -- the safe softmax ---------------------------------------------------------------------------
def test_safe_softmax_fully_masked_row_gives_zeros_and_zero_gradient():
    s = np.array([[1.0, 2.0, -np.inf], [-np.inf, -np.inf, -np.inf]])
    w = safe_softmax(s)
    assert np.isfinite(w).all()
    np.testing.assert_allclose(w[0], torch.softmax(torch.tensor([1.0, 2.0]), 0).tolist() + [0])
    assert (w[1] == 0).all()
    ds = safe_softmax_backward(w, np.ones_like(w) * 3.0 + np.arange(3))
    assert (ds[1] == 0).all() and ds[0, 2] == 0
    # a naive softmax gives NaN there: the reason for the safe one
    with np.errstate(invalid="ignore"):
        naive = np.exp(s - s.max(1, keepdims=True))
    assert np.isnan(naive[1]).all()


def test_masked_softmax_matches_torch_and_large_scores():
    rng = np.random.default_rng(0)
    s = 1e3 * rng.standard_normal((3, 5))
    m = rng.random((3, 5)) < 0.4
    m[:, 2] = False
    ref = torch.softmax(torch.tensor(s).masked_fill(torch.tensor(m), -math.inf), -1).numpy()
    np.testing.assert_allclose(masked_softmax(s, m), ref, rtol=1e-12, atol=1e-300)


# -- causal masks ------------------------------------------------------------------------------
def test_causal_mask_alignment():
    assert (causal_mask(3) == np.triu(np.ones((3, 3), bool), 1)).all()
    end, start = causal_mask(2, 5), causal_mask(2, 5, align="start")
    assert not end[-1].any() and end[0].tolist() == [False] * 4 + [True]
    assert start[0].tolist() == [False] + [True] * 4
    from torch.nn.attention.bias import causal_lower_right, causal_upper_left
    assert (~end == causal_lower_right(2, 5)._materialize().numpy()).all()
    assert (~start == causal_upper_left(2, 5)._materialize().numpy()).all()
    with pytest.raises(ValueError, match="align"):
        causal_mask(2, 3, align="middle")


# -- the functional form -----------------------------------------------------------------------
class _Fn(torch.nn.Module):
    pass


@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2), tq=st.integers(1, 5),
       tk=st.integers(1, 5), e=st.integers(1, 4), ev=st.integers(1, 3),
       mask=st.sampled_from(["none", "bool", "float", "causal", "bool full row"]),
       seed=st.integers(0, 2**31))
def test_functional_sdpa_matches_torch(lead, tq, tk, e, ev, mask, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((*lead, t, d)) for t, d in ((tq, e), (tk, e), (tk, ev)))
    kw = {}
    if mask.startswith("bool"):
        m = rng.random((tq, tk)) < 0.6
        m[:, -1] = True
        if mask.endswith("row"):
            m[0] = False
        kw["attn_mask"] = m
    elif mask == "float":
        kw["attn_mask"] = rng.standard_normal((*lead, tq, tk))
    elif mask == "causal":
        kw["is_causal"] = True
    t_kw = {k2: (torch.from_numpy(v2) if isinstance(v2, np.ndarray) else v2)
            for k2, v2 in kw.items()}
    out = scaled_dot_product_attention(q, k, v, **kw)
    tq_, tk_, tv_ = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    t_out = F.scaled_dot_product_attention(tq_, tk_, tv_, **t_kw)
    dout = rng.standard_normal(out.shape)
    (t_out * torch.from_numpy(dout)).sum().backward()
    grads = scaled_dot_product_attention_backward(dout, q, k, v, **kw)
    r = parity_report({"output": (out, t_out)},
                      {f"grad {n}": (g, t.grad) for n, g, t in zip("qkv", grads, (tq_, tk_, tv_))})
    assert r.ok, r


def test_functional_sdpa_broadcasts_batch_and_sums_gradients():
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 3, 4, 5))
    k, v = rng.standard_normal((1, 3, 6, 5)), rng.standard_normal((1, 3, 6, 2))
    out = scaled_dot_product_attention(q, k, v, scale=0.3)
    tq_, tk_, tv_ = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    t_out = F.scaled_dot_product_attention(tq_, tk_, tv_, scale=0.3)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12)
    t_out.sum().backward()
    dq, dk, dv = scaled_dot_product_attention_backward(np.ones(out.shape), q, k, v, scale=0.3)
    np.testing.assert_allclose(dk, tk_.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dv, tv_.grad.numpy(), rtol=1e-10)


def test_module_and_function_agree_on_opposite_mask_conventions():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
        rng.standard_normal((2, 5, 2))
    drop = causal_mask(3, 5)
    ctx, _ = nn.ScaledDotProductAttention()(q, k, v, attn_mask=drop)
    np.testing.assert_allclose(ctx, scaled_dot_product_attention(q, k, v, attn_mask=~drop))


# -- bad input ---------------------------------------------------------------------------------
def test_bad_input_messages():
    rng = np.random.default_rng(0)
    att = nn.AdditiveAttention(3, 4, 5, rng=rng)
    q, k, v = rng.standard_normal((2, 1, 3)), rng.standard_normal((2, 6, 4)), \
        rng.standard_normal((2, 6, 7))
    with pytest.raises(ValueError, match="AdditiveAttention: query must have 3 dimensions"):
        att(q[0], k, v)
    with pytest.raises(ValueError, match=r"AdditiveAttention: key must have shape \(\.\.\., 4\)"):
        att(q, v, v)
    with pytest.raises(ValueError, match="AdditiveAttention: key and value"):
        att(q, k, v[:, :5])
    with pytest.raises(ValueError, match="AdditiveAttention: query and key must have the same"):
        att(q[:1], k, v)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, Tk\)"):
        att(q, k, v, key_padding_mask=np.zeros((2, 5), bool))
    with pytest.raises(TypeError, match="key_padding_mask must be bool or float"):
        att(q, k, v, key_padding_mask=np.zeros((2, 6), int))
    with pytest.raises(ValueError, match="AdditiveAttention: query contains NaN"):
        att(np.full_like(q, np.nan), k, v)
    with pytest.raises(TypeError, match="torch tensor"):
        att(torch.tensor(q), k, v)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.AdditiveAttention(3, 4, 5).backward(np.zeros((2, 1, 7)))
    ctx, w = att(q, k, v)
    with pytest.raises(ValueError, match="dcontext must have the output's shape"):
        att.backward(np.zeros((2, 1, 6)))
    with pytest.raises(ValueError, match=r"DotProductAttention: key must have shape \(\.\.\., 3\)"):
        nn.DotProductAttention()(q, k, k)
    with pytest.raises(ValueError, match="attn_mask of shape"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((1, 1), bool), is_causal=True)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: key must have shape"):
        scaled_dot_product_attention(q, k, v)


# -- empty key axis and named errors (issue 20) --------------------------------------------------
def test_empty_key_axis_gives_no_weight_as_torch():
    assert safe_softmax(np.zeros((2, 3, 0))).shape == (2, 3, 0)
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 4)), np.zeros((2, 0, 4)), np.zeros((2, 0, 5))
    out = scaled_dot_product_attention(q, k, v)
    t_out = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)))
    np.testing.assert_array_equal(out, t_out.numpy())
    dq, dk, dv = scaled_dot_product_attention_backward(np.ones(out.shape), q, k, v)
    assert not dq.any() and dk.shape == k.shape and dv.shape == v.shape


def test_masked_softmax_takes_a_bool_mask_only():
    s = np.zeros((2, 3))
    with pytest.raises(TypeError, match="masked_softmax: mask must be a bool array"):
        masked_softmax(s, np.full((2, 3), 0.5))          # not "half masked"
    with pytest.raises(ValueError, match=r"masked_softmax: mask must broadcast to the scores' "
                                         r"shape \(2, 3\)"):
        masked_softmax(s, np.zeros((2,), bool))
    with pytest.raises(ValueError, match="safe_softmax: axis must be in"):
        safe_softmax(s, axis=2)
    with pytest.raises(ValueError, match="safe_softmax: scores contains NaN"):
        safe_softmax(np.array([1.0, np.nan]))


def test_pairs_name_their_arguments():
    from labutils.nn import attention as A
    rng = np.random.default_rng(2)
    q, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    with pytest.raises(ValueError, match=r"dot_score_forward: key must have shape \(\.\.\., 4\)"):
        A.dot_score_forward(q, k[..., :3])
    with pytest.raises(ValueError, match="dot_score_forward: scale must be a finite number"):
        A.dot_score_forward(q, k, float("inf"))
    s, cache = A.dot_score_forward(q, k)
    with pytest.raises(ValueError, match="dot_score_backward: dscores must have the output's"):
        A.dot_score_backward(s[:, :2], cache)
    with pytest.raises(TypeError, match="attend_backward: cache must be the AttendCache"):
        A.attend_backward(q, cache)
    with pytest.raises(ValueError, match=r"attend_forward: value must have shape \(\.\.\., 5, "):
        A.attend_forward(s, q)
    with pytest.raises(ValueError, match="attention_forward: bias must broadcast"):
        A.attention_forward(q, k, k, bias=np.zeros((4, 5)))
    with pytest.raises(ValueError, match="additive_score_forward: w_key .Dh from w_query."):
        A.additive_score_forward(q, k, np.ones((6, 4)), np.ones((5, 4)), np.ones(6),
                                 np.ones((1, 6)))
    with pytest.raises(ValueError, match="scaled_dot_product_attention: dropout_p must be 0"):
        scaled_dot_product_attention(q, k, k, dropout_p=0.1)
    with pytest.raises(ValueError, match="scaled_dot_product_attention_backward: dout"):
        scaled_dot_product_attention_backward(np.ones((2, 3, 5)), q, k, k)
