"""Chapter 5's public forward/backward pairs against torch autograd in float64: attend, the
three score functions, scaled dot-product attention, the input projection and heads, the
embedding lookup and the relative-position bias; the masks' one bias builder."""
import numpy as np
import pytest
import torch

from labutils.nn import attention as A
from labutils.nn import embedding as emb
from labutils.nn import heads
from labutils.nn import positional as pos
from labutils.nn.masks import attention_bias, causal_mask

RNG = np.random.default_rng(0)


def t(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def grads_of(out, dout, *leaves):
    return [g.numpy() for g in torch.autograd.grad(out, leaves, torch.tensor(dout))]


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_attention_pair_matches_torch_with_a_bias_and_a_masked_row():
    q, k, v = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 5, 4)), RNG.standard_normal((2, 5, 3))
    bias = np.where(causal_mask(3, 5), -np.inf, RNG.standard_normal((3, 5)))
    bias[1] = -np.inf                                           # query 1 sees no key
    out, cache = A.attention_forward(q, k, v, bias)
    assert isinstance(cache, A.AttentionCache) and cache.attend.weights.shape == (2, 3, 5)
    tq, tk, tv = t(q), t(k), t(v)
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(bias))
    ref = torch.nan_to_num(ref)
    close(out, ref.detach().numpy())
    dout = RNG.standard_normal(out.shape)
    dout[:, 1] = 0                                              # torch's NaN row has no gradient
    for mine, theirs in zip(A.attention_backward(dout, cache), grads_of(ref, dout, tq, tk, tv)):
        close(mine, np.nan_to_num(theirs))
    assert np.all(out[:, 1] == 0)


def test_attend_backward_adds_a_gradient_given_on_the_weights():
    s, v = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 4, 2))
    ts, tv = t(s), t(v)
    w = torch.softmax(ts, -1)
    dctx, dw = RNG.standard_normal((2, 3, 2)), RNG.standard_normal((2, 3, 4))
    loss = ((w @ tv) * torch.tensor(dctx)).sum() + (w * torch.tensor(dw)).sum()
    ds_ref, dv_ref = torch.autograd.grad(loss, (ts, tv))
    ctx, cache = A.attend_forward(s, v)
    close(ctx, (w @ tv).detach().numpy())
    ds, dv = A.attend_backward(dctx, cache, dw)
    close(ds, ds_ref.numpy())
    close(dv, dv_ref.numpy())


def test_bilinear_score_pair_matches_torch():
    q, k, W = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 5, 6)), RNG.standard_normal((4, 6))
    s, cache = A.bilinear_score_forward(q, k, W)
    tq, tk, tW = t(q), t(k), t(W)
    ref = (tq @ tW) @ tk.transpose(1, 2)
    close(s, ref.detach().numpy())
    ds = RNG.standard_normal(s.shape)
    for mine, theirs in zip(A.bilinear_score_backward(ds, cache), grads_of(ref, ds, tq, tk, tW)):
        close(mine, theirs)


def test_additive_score_pair_matches_torch():
    q, k = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 5, 6))
    Wq, Wk, bk, ws = (RNG.standard_normal(s) for s in ((7, 4), (7, 6), (7,), (1, 7)))
    s, cache = A.additive_score_forward(q, k, Wq, Wk, bk, ws)
    leaves = [t(x) for x in (q, k, Wq, Wk, bk, ws)]
    tq, tk, tWq, tWk, tbk, tws = leaves
    ref = (torch.tanh((tq @ tWq.T)[:, :, None] + (tk @ tWk.T + tbk)[:, None]) @ tws.T)[..., 0]
    close(s, ref.detach().numpy())
    ds = RNG.standard_normal(s.shape)
    for mine, theirs in zip(A.additive_score_backward(ds, cache), grads_of(ref, ds, *leaves)):
        close(mine, theirs)


def test_dot_score_pair_matches_torch():
    q, k = RNG.standard_normal((3, 4)), RNG.standard_normal((5, 4))
    s, cache = A.dot_score_forward(q, k, 0.3)
    tq, tk = t(q), t(k)
    ref = tq @ tk.T * 0.3
    ds = RNG.standard_normal(s.shape)
    close(s, ref.detach().numpy())
    for mine, theirs in zip(A.dot_score_backward(ds, cache), grads_of(ref, ds, tq, tk)):
        close(mine, theirs)


def test_in_projection_and_heads_match_torch():
    E, H = 6, 3
    xq, xkv = RNG.standard_normal((2, 3, E)), RNG.standard_normal((2, 4, E))
    W, b = RNG.standard_normal((3 * E, E)), RNG.standard_normal(3 * E)
    (q, k, v), cache = heads.in_projection(xq, xkv, xkv, W, b)
    tq, tkv, tW, tb = t(xq), t(xkv), t(W), t(b)
    refs = torch.nn.functional._in_projection_packed(tq, tkv, tkv, tW, tb)
    for mine, ref in zip((q, k, v), refs):
        close(mine, ref.detach().numpy())
    douts = [RNG.standard_normal(x.shape) for x in (q, k, v)]
    loss = sum((r * torch.tensor(d)).sum() for r, d in zip(refs, douts))
    dq_ref, dkv_ref, dW_ref, db_ref = torch.autograd.grad(loss, (tq, tkv, tW, tb))
    (dq, dk, dv), dW, db = heads.in_projection_backward(douts, cache)
    close(dq, dq_ref.numpy())
    close(dk + dv, dkv_ref.numpy())
    close(dW, dW_ref.numpy())
    close(db, db_ref.numpy())
    split = heads.split_heads(q, H)
    close(split, torch.tensor(q).view(2, 3, H, E // H).transpose(1, 2).numpy())
    np.testing.assert_array_equal(heads.merge_heads(split), q)
    (_, _, _), _, no_bias = heads.in_projection_backward(douts, heads.in_projection(xq, xkv, xkv, W)[1])
    assert no_bias is None


def test_embedding_pair_scatter_adds_repeated_indices_and_skips_padding():
    W = RNG.standard_normal((5, 3))
    idx = np.array([[1, 4, 4], [0, 1, 2]])
    y, cache = emb.embedding_forward(idx, W, padding_idx=2)
    tW = t(W)
    ref = torch.nn.functional.embedding(torch.tensor(idx), tW, padding_idx=2)
    close(y, ref.detach().numpy())
    dy = RNG.standard_normal(y.shape)
    close(emb.embedding_backward(dy, cache), grads_of(ref, dy, tW)[0])


def test_relative_position_bias_pair_gradient_by_hand():
    D, H = 2, 3
    W = RNG.standard_normal((2 * D + 1, H))
    bias, cache = pos.relative_position_bias_forward(W, 3, 5, D)
    assert bias.shape == (H, 3, 5)
    assert bias[1, 0, 4] == W[2 + D, 1]                     # query 0 sits at 2; key 4: j - i = 2
    assert bias[0, 2, 0] == W[0, 0]                          # distance -4 clipped to -2
    tW = t(W)
    ref = tW[torch.tensor(cache.buckets)].permute(2, 0, 1)
    dbias = RNG.standard_normal(bias.shape)
    close(pos.relative_position_bias_backward(dbias, cache), grads_of(ref, dbias, tW)[0])


def test_attention_bias_adds_padding_and_mask_with_and_without_heads():
    kpm = np.array([[False, True, False], [False, False, False]])
    am = causal_mask(2, 3)
    b = attention_bias("X", (2, 2, 3), np.float64, kpm, am)
    assert b.shape == (2, 2, 3)
    assert np.isneginf(b[0, :, 1]).all() and np.isneginf(b[1, 0, 2]) and b[1, 1, 2] == 0
    bh = attention_bias("X", (2, 2, 3), np.float64, kpm, am, num_heads=4)
    assert bh.shape == (2, 4, 2, 3)
    np.testing.assert_array_equal(bh, np.broadcast_to(b[:, None], bh.shape))
    with pytest.raises(ValueError, match=r"X: attn_mask must have shape \(Tq, Tk\)"):
        attention_bias("X", (2, 2, 3), np.float64, None, np.zeros((3, 3), bool), num_heads=4)
    with pytest.raises(TypeError, match="X: key_padding_mask must be bool or float"):
        attention_bias("X", (2, 2, 3), np.float64, np.zeros((2, 3), int))


def test_bias_terms_add_up_to_attention_bias_without_a_scores_sized_array():
    from labutils.nn.masks import attention_bias_terms
    rng = np.random.default_rng(4)
    kpm, am = rng.random((2, 5)) < 0.3, rng.standard_normal((2 * 3, 4, 5))
    terms = attention_bias_terms("M", (2, 4, 5), np.float64, kpm, am, num_heads=3)
    assert [t.shape for t in terms] == [(2, 1, 1, 5), (2, 3, 4, 5)]
    total = np.zeros((2, 3, 4, 5))
    for t in terms:
        total = total + t
    np.testing.assert_array_equal(total, attention_bias("M", (2, 4, 5), np.float64, kpm, am, 3))
    only_causal = attention_bias_terms("M", (2, 4, 5), np.float64, None, causal_mask(4, 5), 3)
    assert [t.shape for t in only_causal] == [(1, 1, 4, 5)]      # not broadcast to (N, H, ...)
    with pytest.raises(ValueError, match=r"M: shape\[0\] must be an int >= 0, got -1"):
        attention_bias_terms("M", (-1, 4, 5), np.float64)


def test_in_projection_of_one_array_is_the_same_as_of_three():
    rng = np.random.default_rng(5)
    x, W, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((12, 4)), rng.standard_normal(12)
    (q1, k1, v1), _ = heads.in_projection(x, x, x, W, b)               # one product
    (q3, k3, v3), _ = heads.in_projection(x, x.copy(), x.copy(), W, b)  # three products
    for a, c in ((q1, q3), (k1, k3), (v1, v3)):
        np.testing.assert_allclose(a, c, rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match=r"in_projection: weight must have shape \(\.\.\., 12, 4"):
        heads.in_projection(x, x, x, W[:9], b)
    with pytest.raises(ValueError, match="split_heads: x's last axis must be divisible by "
                                         "num_heads"):
        heads.split_heads(x, 3)
