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
