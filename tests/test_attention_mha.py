"""Chapter 5: MultiheadAttention against torch.nn.MultiheadAttention (float64), gradient
checks, fully masked rows, bad input."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import labutils.nn as nn
from labutils.gradcheck import check_module
from labutils.nn.attention import causal_mask
from labutils.torchcheck import compare_with_torch

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")


def torch_mha(e, h, seed, batch_first=True, bias=True):
    torch.manual_seed(seed % 2**31)
    m = torch.nn.MultiheadAttention(e, h, batch_first=batch_first, bias=bias).double()
    with torch.no_grad():      # non-zero biases, so their gradients are tested too
        for p in m.parameters():
            p.normal_(0, 0.5)
    return m


def masks(rng, kind, n, h, tq, tk):
    kpm = am = None
    if "padding" in kind:
        kpm = rng.random((n, tk)) < 0.3
        kpm[:, -1] = False
    if "bool" in kind:
        am = rng.random((tq, tk)) < 0.3
        am[:, -1] = False
    if "float" in kind:
        am = rng.standard_normal((tq, tk))
    if "3d" in kind:
        am = rng.random((n * h, tq, tk)) < 0.3
        am[..., -1] = False
    if "causal" in kind:
        am = causal_mask(tq, tk)
    return kpm, am


@given(n=st.integers(1, 3), heads=st.sampled_from([1, 2, 3]), d=st.integers(1, 3),
       tq=st.integers(1, 4), tk=st.integers(1, 5), need_weights=st.booleans(),
       average=st.booleans(), bias=st.booleans(),
       kind=st.sampled_from(["none", "padding", "bool", "float", "padding+bool", "3d",
                             "padding+float", "causal"]), seed=st.integers(0, 2**31))
def test_mha_matches_torch(n, heads, d, tq, tk, need_weights, average, bias, kind, seed):
    rng = np.random.default_rng(seed)
    e = heads * d
    q, k, v = rng.standard_normal((n, tq, e)), rng.standard_normal((n, tk, e)), \
        rng.standard_normal((n, tk, e))
    kpm, am = masks(rng, kind, n, heads, tq, tk)
    if kind == "causal" and tq > tk:
        need_weights = False     # end-aligned: the first queries see no key; torch gives NaN
    kw = dict(key_padding_mask=kpm, attn_mask=am, need_weights=need_weights,
              average_attn_weights=average)
    t_kw = {a: (torch.from_numpy(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}
    r = compare_with_torch(nn.MultiheadAttention(e, heads, bias=bias, batch_first=True),
                           torch_mha(e, heads, seed, bias=bias), q, k, v,
                           lab_call=lambda m, *xs: m(*xs, **kw),
                           torch_call=lambda m, *xs: m(*xs, **t_kw))
    assert r.ok, r


def test_mha_self_attention_and_sequence_first_layout():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 6))                     # (T, N, E): batch_first=False
    tm = torch_mha(6, 2, 0, batch_first=False)
    r = compare_with_torch(nn.MultiheadAttention(6, 2), tm, x, x, x)
    assert r.ok, r


def test_fully_masked_row_gives_zeros_like_torch_without_weights():
    """torch: NaN with need_weights=True, zeros (then out_proj.bias) with need_weights=False.
    labutils: always the latter."""
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    kpm = np.zeros((2, 5), bool)
    kpm[0] = True                                            # sample 0 has no valid key
    tm = torch_mha(4, 2, 1)
    m = nn.MultiheadAttention(4, 2, batch_first=True).load_state_dict(tm.state_dict())
    out, w = m(q, k, k, key_padding_mask=kpm)
    np.testing.assert_allclose(out[0], np.broadcast_to(m.out_proj.params["bias"], (3, 4)))
    assert (w[0] == 0).all() and np.isfinite(out).all()
    tq_, tk_ = torch.tensor(q), torch.tensor(k)
    t_nan, _ = tm(tq_, tk_, tk_, key_padding_mask=torch.tensor(kpm), need_weights=True)
    assert torch.isnan(t_nan[0]).all()                       # documented torch behaviour
    r = compare_with_torch(m, tm, q, k, k,
                           lab_call=lambda mm, *xs: mm(*xs, key_padding_mask=kpm,
                                                       need_weights=False),
                           torch_call=lambda mm, *xs: mm(*xs, key_padding_mask=torch.tensor(kpm),
                                                         need_weights=False))
    assert r.ok, r
    dq, dk, dv = m.backward(rng.standard_normal(out.shape))
    assert (dk[0] == 0).all() and (dv[0] == 0).all()


def test_mha_gradcheck_with_masks():
    rng = np.random.default_rng(2)
    m = nn.MultiheadAttention(4, 2, batch_first=True, rng=rng)
    m.params["in_proj_bias"][...] = rng.standard_normal(12)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 4)), \
        rng.standard_normal((2, 4, 4))
    kpm = np.array([[False, False, True, False], [True, True, True, True]])
    rep = check_module(m, q, k, v, kpm, True, causal_mask(3, 4), False)
    assert rep.ok, rep


def test_split_and_merge_heads_are_inverse():
    m = nn.MultiheadAttention(6, 3, batch_first=True)
    x = np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6)
    heads = m.split_heads(x)
    assert heads.shape == (2, 3, 4, 2)
    np.testing.assert_array_equal(heads[1, 2, 3], x[1, 3, 4:6])
    np.testing.assert_array_equal(m.merge_heads(heads), x)


def test_is_causal_aligns_to_the_end():
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(4, 2, batch_first=True, rng=rng)
    x = rng.standard_normal((1, 5, 4))
    full, _ = m(x, x, x, attn_mask=causal_mask(5))
    last2, _ = m(x[:, 3:], x, x, is_causal=True)             # cached decoding: 2 new queries
    np.testing.assert_allclose(last2, full[:, 3:], rtol=1e-12)


def test_mha_bad_input():
    m = nn.MultiheadAttention(4, 2, batch_first=True)
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="embed_dim .5. must be divisible by num_heads .2."):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match=r"MultiheadAttention: query must have shape \(\.\.\., 4\)"):
        m(np.zeros((2, 3, 5)), x, x)
    with pytest.raises(ValueError, match="MultiheadAttention: key must have 3 dimensions"):
        m(x, x[0], x)
    with pytest.raises(ValueError, match="must share N"):
        m(x, x[:, :2], x)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, Tk\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        m(x, x, x, attn_mask=np.zeros((2, 3), bool))
    with pytest.raises(TypeError, match="attn_mask must be bool or float"):
        m(x, x, x, attn_mask=np.zeros((3, 3), int))
    with pytest.raises(RuntimeError, match="before forward"):
        m.backward(x)
    m(x, x, x)
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        m.backward(np.zeros((2, 4, 4)))


# -- the blocked softmax (issue 21): the same numbers in any block size, float32 kept, no T×T cache
def test_many_blocks_match_torch(monkeypatch):
    """One query row per block (a tile of one row): parity with torch across block edges."""
    from labutils.nn import multihead_attention as M
    monkeypatch.setattr(M, "TILE_BYTES", 1)
    rng = np.random.default_rng(5)
    n, h, tq, tk = 2, 2, 5, 7
    q, kv = rng.standard_normal((n, tq, 4)), rng.standard_normal((n, tk, 4))
    kpm, am = masks(rng, "padding+float", n, h, tq, tk)
    for need, average in ((True, True), (True, False), (False, True)):
        kw = dict(key_padding_mask=kpm, attn_mask=am, need_weights=need,
                  average_attn_weights=average)
        t_kw = {a: (torch.from_numpy(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}
        r = compare_with_torch(nn.MultiheadAttention(4, h, batch_first=True),
                               torch_mha(4, h, 5), q, kv, kv,
                               lab_call=lambda m, *xs: m(*xs, **kw),
                               torch_call=lambda m, *xs: m(*xs, **t_kw))
        assert r.ok, r


def test_block_size_does_not_change_the_result(monkeypatch):
    from labutils.nn import multihead_attention as M
    rng = np.random.default_rng(6)
    q, kv = rng.standard_normal((2, 9, 6)), rng.standard_normal((2, 4, 6))
    dout = rng.standard_normal((2, 9, 6))
    results = []
    for tile in (M.TILE_BYTES, 600):                      # 600 bytes: blocks of 3 query rows
        monkeypatch.setattr(M, "TILE_BYTES", tile)
        m = nn.MultiheadAttention(6, 3, batch_first=True, rng=np.random.default_rng(0))
        mask = causal_mask(9, 4, align="start") & ~np.eye(9, 4, dtype=bool)
        out, w = m(q, kv, kv, attn_mask=mask)
        results.append((out, w, *m.backward(dout, np.ones_like(w)), m.grads["in_proj_weight"]))
    assert len(M._row_blocks(9, 2 * 3 * 4, 8)) == 3
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_float32_end_to_end():
    rng = np.random.default_rng(7)
    m32 = nn.MultiheadAttention(8, 2, batch_first=True, rng=rng, dtype=np.float32)
    m64 = nn.MultiheadAttention(8, 2, batch_first=True).load_state_dict(
        {k: v.astype(np.float64) for k, v in m32.state_dict().items()})
    assert m64.params["in_proj_weight"].dtype == np.float64
    x = rng.standard_normal((2, 6, 8))
    out32, w32 = m32(x.astype(np.float32), x.astype(np.float32), x.astype(np.float32))
    grads32 = m32.backward(np.ones(out32.shape, np.float32))
    out64, w64 = m64(x, x, x)
    grads64 = m64.backward(np.ones(out64.shape))
    assert out32.dtype == w32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in (*grads32, *m32.grads.values(),
                                               *m32.out_proj.grads.values()))
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    for g32, g64 in zip(grads32, grads64):
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


def test_no_score_sized_array_is_kept_between_forward_and_backward():
    n, h, t = 2, 2, 32
    m = nn.MultiheadAttention(4, h, batch_first=True)
    x = np.random.default_rng(0).standard_normal((n, t, 4))
    out, w = m(x, x, x, need_weights=False, attn_mask=causal_mask(t))
    assert w is None
    sizes = {f: getattr(m._cache, f).size for f in m._cache._fields
             if isinstance(getattr(m._cache, f), np.ndarray)}
    assert max(sizes.values()) < n * h * t * t, sizes     # L is (N, H, T, 1); the mask (T, T)
    m.backward(np.ones_like(out))
    assert m.score_grad is None                            # kept only for a float attn_mask
    out, _ = m(x, x, x, attn_mask=np.zeros((t, t)))
    m.backward(np.ones_like(out))
    assert m.score_grad.shape == (n, h, t, t)


def test_last_attention_is_the_softmax_of_the_scores():
    rng = np.random.default_rng(8)
    m = nn.MultiheadAttention(6, 3, batch_first=True, rng=rng)
    q, kv = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
    kpm = np.array([[False] * 5, [True] * 5])             # sample 1: no key at all
    _, w = m(q, kv, kv, key_padding_mask=kpm)
    W = m.params["in_proj_weight"]
    heads = lambda y: y.reshape(2, -1, 3, 2).transpose(0, 2, 1, 3)  # noqa: E731
    s = heads(q @ W[:6].T) @ heads(kv @ W[6:12].T).swapaxes(-1, -2) / np.sqrt(2)
    want = np.exp(s - s.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    want[1] = 0
    np.testing.assert_allclose(m.last_attention, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w, want.mean(axis=1), rtol=1e-12, atol=1e-15)


def test_attention_dropout_gradcheck_with_a_fixed_mask():
    """Dropout on the weights: the mask is applied in forward and again in backward's
    recomputed tiles (checked by central differences with the mask held fixed)."""
    rng = np.random.default_rng(9)
    m = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True, rng=rng)
    keep = rng.random((2, 2, 3, 4)) >= 0.5
    m._dropout_mask = lambda shape, dtype: (keep / 0.5).astype(dtype)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 4)), \
        rng.standard_normal((2, 4, 4))
    rep = check_module(m, q, k, v)
    assert rep.ok, rep
    m.eval()
    assert m._dropout_mask is not None and nn.MultiheadAttention(4, 2, dropout=0.5).eval() \
        ._dropout_mask((1,), np.float64) is None


def test_empty_key_axis_and_empty_batch_match_torch():
    rng = np.random.default_rng(10)
    tm = torch_mha(4, 2, 3)
    m = nn.MultiheadAttention(4, 2, batch_first=True).load_state_dict(tm.state_dict())
    q = rng.standard_normal((2, 3, 4))
    for qq, kv in ((q, np.zeros((2, 0, 4))), (np.zeros((0, 3, 4)), np.zeros((0, 5, 4)))):
        for need in (True, False):
            t_out, t_w = tm(*(torch.tensor(a) for a in (qq, kv, kv)), need_weights=need)
            out, w = m(qq, kv, kv, need_weights=need)
            np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12, atol=1e-14)
            assert (w is None and t_w is None) or w.shape == tuple(t_w.shape)
        grads = m.backward(np.ones_like(out))
        assert [g.shape for g in grads] == [qq.shape, kv.shape, kv.shape]
        assert not grads[0].any()                           # nothing to attend to: no gradient


def test_mha_named_errors():
    name = "MultiheadAttention"
    for kw, err, arg in ((dict(embed_dim=4, num_heads=0), ValueError, "num_heads"),
                         (dict(embed_dim=0, num_heads=1), ValueError, "embed_dim"),
                         (dict(embed_dim=4, num_heads=2, dropout=1.5), ValueError, "dropout"),
                         (dict(embed_dim=4, num_heads=2, dtype=np.int64), TypeError, "dtype")):
        with pytest.raises(err, match=f"{name}: {arg}"):
            nn.MultiheadAttention(**kw)
    m = nn.MultiheadAttention(4, 2, batch_first=True)
    x = np.zeros((2, 3, 4))
    with pytest.raises(TypeError, match="key must have the query's dtype float64, got float32"):
        m(x, x.astype(np.float32), x)
    with pytest.raises(ValueError, match="query contains NaN"):
        m(np.full_like(x, np.nan), x, x)
    out, _ = m(x, x, x, need_weights=False)
    with pytest.raises(ValueError, match="dweights must be None after a forward with "
                                         "need_weights=False"):
        m.backward(np.ones_like(out), np.ones((2, 3, 3)))
    with pytest.raises(TypeError, match=r"dout \(the gradient of attn_output\) must be a NumPy"):
        m.backward(None)


@pytest.mark.parametrize("arg", [0, 1, 2])
@pytest.mark.parametrize("batch_first", [True, False])
def test_a_nan_input_is_named_and_the_last_forward_kept(arg, batch_first):
    """The common case tests the output once for NaN (issue 20's cost bar) and names the input
    only then: every input is named, and the raising call changes nothing (out_proj's cache
    included), so a backward after it still belongs to the forward before it."""
    rng = np.random.default_rng(arg)
    m = nn.MultiheadAttention(8, 2, batch_first=batch_first, rng=rng)
    q, k, v = (rng.standard_normal((3, 5, 8)) for _ in range(3))
    dout = rng.standard_normal((3, 5, 8))
    m(q, k, v)
    expected = m.backward(dout)
    grads = {n: g.copy() for n, g in m.grads.items()}
    m.zero_grad()
    m(q, k, v)
    bad = [q, k, v]
    bad[arg] = bad[arg].copy()
    bad[arg][1, 2, 3] = np.nan
    name = ("query", "key", "value")[arg]
    with pytest.raises(ValueError, match=f"MultiheadAttention: {name} contains NaN"):
        m(*bad, need_weights=False)
    for got, want in zip(m.backward(dout), expected):
        np.testing.assert_array_equal(got, want)
    for n, g in m.grads.items():
        np.testing.assert_array_equal(g, grads[n])


def test_an_infinite_input_names_the_scores():
    m = nn.MultiheadAttention(4, 2, batch_first=True)
    x = np.ones((1, 3, 4))
    x_inf = x.copy()
    x_inf[0, 0, 0] = np.inf
    with np.errstate(invalid="ignore"), pytest.raises(
            ValueError, match="MultiheadAttention: the scores must be numbers, got NaN"):
        m(x_inf, x_inf, x)
