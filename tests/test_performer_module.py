"""PerformerAttention: torch MHA's parameters and layout, FAVOR+ in place of the softmax.

Parity: the same formula written in torch (a subclass of torch.nn.MultiheadAttention, so the
state dicts are the same) and differentiated by autograd; gradient checks by central
differences; the limit m -> infinity approaches torch's exact MHA.
"""
import math

import numpy as np
import pytest
import torch

from labutils import nn
from labutils.gradcheck import check_module
from labutils.torchcheck import compare_with_torch


class TorchFavorMHA(torch.nn.MultiheadAttention):
    """torch's MHA parameters with FAVOR+ (fixed W) in place of softmax attention."""

    def __init__(self, E, H, W, kind="positive", causal=False):
        super().__init__(E, H, batch_first=True)
        self.W, self.kind, self.causal = torch.tensor(W), kind, causal

    def forward(self, query, key, value):
        E, H = self.embed_dim, self.num_heads
        h = E // H
        W = self.W.to(query.dtype)

        def proj(x, i):
            y = x @ self.in_proj_weight[i * E:(i + 1) * E].T + self.in_proj_bias[i * E:(i + 1) * E]
            return y.reshape(x.shape[0], x.shape[1], H, h).transpose(1, 2)
        q, k, v = proj(query, 0) * h ** -0.25, proj(key, 1) * h ** -0.25, proj(value, 2)

        def phi(x):
            u, sq, m = x @ W.T, (x * x).sum(-1, keepdim=True) / 2, W.shape[0]
            if self.kind == "positive":
                return torch.exp(u - sq) / math.sqrt(m)
            if self.kind == "hyperbolic":
                return torch.cat([torch.exp(u - sq), torch.exp(-u - sq)], -1) / math.sqrt(2 * m)
            return torch.cat([torch.cos(u), torch.sin(u)], -1) * torch.exp(sq) / math.sqrt(m)
        A = phi(q) @ phi(k).transpose(-1, -2)
        A = torch.tril(A) if self.causal else A
        o = (A @ v) / A.sum(-1, keepdim=True)
        o = o.transpose(1, 2).reshape(query.shape[0], query.shape[1], E)
        return self.out_proj(o), None


@pytest.mark.parametrize("kind", ["positive", "hyperbolic", "trig"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_same_formula_in_torch(kind, causal, seed):
    rng = np.random.default_rng(seed)
    N, L, S, E, H = 2, 7, (7 if causal else 5), 8, 2
    lab = nn.PerformerAttention(E, H, nb_features=6, kind=kind, causal=causal, rng=rng)
    tm = TorchFavorMHA(E, H, lab.feature_matrix, kind, causal)
    x = [rng.standard_normal(s) * .5 for s in ((N, L, E), (N, S, E), (N, S, E))]
    r = compare_with_torch(lab, tm, *x)
    assert sorted(lab.state_dict()) == sorted(torch.nn.MultiheadAttention(E, H).state_dict())
    assert r.ok, r


@pytest.mark.parametrize("kind,causal,orth", [("positive", False, True), ("positive", True, False),
                                              ("hyperbolic", True, True), ("trig", False, True)])
def test_gradcheck(kind, causal, orth):
    rng = np.random.default_rng(3)
    m = nn.PerformerAttention(6, 2, nb_features=5, kind=kind, causal=causal, orthogonal=orth,
                              rng=rng)
    x = [rng.standard_normal((2, 4, 6)) * .5 for _ in range(3)]
    report = check_module(m, *x)
    assert report.ok, report


def test_loads_mha_state_dict_and_approaches_exact_attention_as_m_grows():
    torch.manual_seed(0)
    E, H, N, L = 16, 2, 2, 12
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.mul_(0.5)                   # keep q·k/√h small: the working regime
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N, L, E))
    want = mha(*(torch.tensor(x),) * 3, need_weights=False)[0].detach().numpy()
    errs = []
    for m in (8, 2048):
        lab = nn.PerformerAttention(E, H, nb_features=m, rng=rng).load_state_dict(mha.state_dict())
        errs.append(np.linalg.norm(lab(x, x, x)[0] - want) / np.linalg.norm(want))
    assert errs[1] < errs[0] / 4 and errs[1] < 0.05, errs


def test_redraw_features_and_defaults():
    m = nn.PerformerAttention(16, 4, rng=np.random.default_rng(0))
    assert m.feature_matrix.shape == (m.nb_features, 4) and m.nb_features == max(4, round(4 * math.log(4)))
    old = m.feature_matrix.copy()
    m.redraw_features(np.random.default_rng(1))
    assert not np.allclose(old, m.feature_matrix)
    a = nn.PerformerAttention(8, 2, rng=np.random.default_rng(5)).feature_matrix
    b = nn.PerformerAttention(8, 2, rng=np.random.default_rng(5)).feature_matrix
    np.testing.assert_array_equal(a, b)
    assert "feature_matrix" not in m.state_dict()


def test_float32():
    m = nn.PerformerAttention(8, 2, rng=np.random.default_rng(0), dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((1, 5, 8)).astype(np.float32)
    y, w = m(x, x, x)
    assert y.dtype == np.float32 and w is None
    m64 = nn.PerformerAttention(8, 2, rng=np.random.default_rng(0))
    m64.load_state_dict(m.state_dict())
    m64.feature_matrix = m.feature_matrix.astype(np.float64)
    assert np.abs(m64(*(x.astype(np.float64),) * 3)[0] - y).max() < 1e-4
    dx = m.backward(np.ones_like(y))
    assert all(np.isfinite(d).all() for d in dx)


def test_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.PerformerAttention(10, 3)
    with pytest.raises(ValueError, match="nb_features must be a positive int"):
        nn.PerformerAttention(8, 2, nb_features=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        nn.PerformerAttention(8, 2, kind="softmax")
    m = nn.PerformerAttention(8, 2, causal=True, rng=rng)
    x = rng.standard_normal((2, 5, 8))
    with pytest.raises(ValueError, match=r"PerformerAttention: query must have shape \(\.\.\., 8\)"):
        m(rng.standard_normal((2, 5, 6)), x, x)
    with pytest.raises(ValueError, match="causal attention needs L == S"):
        m(x, x[:, :3], x[:, :3])
    with pytest.raises(ValueError, match="PerformerAttention: key must have 3 dimensions"):
        m(x, x[0], x)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        m.backward(x)
    m.feature_matrix = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"W must be \(m, d\) with d = q.shape\[-1\] = 4, got W of shape \(4, 3\)"):
        m(x, x, x)


@pytest.mark.parametrize("kind,causal", [("positive", False), ("hyperbolic", True), ("trig", True)])
def test_library_torch_twin_matches_the_independent_one(kind, causal):
    from labutils.torchcheck import favor_mha_twin as torch_twin
    rng = np.random.default_rng(7)
    lab = nn.PerformerAttention(8, 2, nb_features=5, kind=kind, causal=causal, rng=rng)
    twin, ref = torch_twin(lab).double(), TorchFavorMHA(8, 2, lab.feature_matrix, kind, causal).double()
    ref.load_state_dict(twin.state_dict())
    x = torch.tensor(rng.standard_normal((2, 6, 8)) * .5)
    torch.testing.assert_close(twin(x, x, x)[0], ref(x, x, x)[0], rtol=1e-12, atol=1e-12)
    r = compare_with_torch(lab, twin, *(x.numpy(),) * 3)
    assert r.ok, r
