"""labutils.nn.favor (and labutils.lab.performer_experiments): random matrices, feature maps,
Lemma 2, ORF, FAVOR+ and its backward.

Statistical tests are seeded Monte Carlo with bounds in standard errors, and each is paired
with a check that a wrong claim of the same size would be rejected (so the test can fail).
"""
import math

import numpy as np
import pytest
import torch

from labutils.lab import performer_experiments as PX
from labutils.nn import favor as F
from labutils.torchcheck import parity_report

Z_PASS = 4.5      # |z| below this: consistent (false alarm ~1e-5 per seeded test)
Z_REJECT = 6.0    # |z| above this: a wrong claim is clearly detected


def vec(rng, d, norm):
    x = rng.standard_normal(d)
    return x * norm / np.linalg.norm(x)


def z_score(samples, target):
    return (samples.mean() - target) / (samples.std(ddof=1) / math.sqrt(len(samples)))


# -- random matrices --------------------------------------------------------------------
@pytest.mark.parametrize("m,d", [(3, 5), (5, 5), (12, 5), (1, 1)])
def test_orthogonal_matrix_shapes_and_blocks(m, d):
    W = F.orthogonal_gaussian_matrix(m, d, np.random.default_rng(0))
    assert W.shape == (m, d)
    for a in range(0, m, d):
        B = W[a:a + d]
        G = B @ B.T
        np.testing.assert_allclose(G - np.diag(np.diag(G)), 0, atol=1e-12)


def test_orthogonal_rows_are_marginally_standard_gaussian():
    """Each row ~ N(0, I): mean 0, covariance I, and |row|² ~ chi²(d) (mean d, var 2d)."""
    d, n = 4, 20000
    Ws = PX.sample_matrices(n, d, d, np.random.default_rng(1), orthogonal=True)
    rows = Ws.reshape(-1, d)
    se = 1 / math.sqrt(len(rows))
    assert np.abs(rows.mean(0)).max() < Z_PASS * se * 1.0
    cov = rows.T @ rows / len(rows)
    assert np.abs(cov - np.eye(d)).max() < Z_PASS * math.sqrt(2) * se
    r2 = (rows ** 2).sum(1)
    assert abs(z_score(r2, d)) < Z_PASS
    # same matrices from the one-at-a-time constructor agree in distribution (norms)
    W1 = np.stack([F.orthogonal_gaussian_matrix(d, d, np.random.default_rng(s)) for s in range(500)])
    assert abs(z_score((W1.reshape(-1, d) ** 2).sum(1), d)) < Z_PASS


def test_qr_without_sign_fix_is_not_haar_and_with_it_is():
    """Haar directions have E[Q] = 0; LAPACK's QR without the sign fix gives E[Q_jj] ≈ ∓0.4."""
    d, n = 4, 4000
    rng = np.random.default_rng(2)
    for fix, expect_biased in [(True, False), (False, True)]:
        Ws = PX.sample_matrices(n, d, d, rng, orthogonal=True, sign_fix=fix)
        U = Ws / np.linalg.norm(Ws, axis=-1, keepdims=True)        # directions
        z = np.abs(U.mean(0)) / (U.std(0) / math.sqrt(n))
        assert (z.max() > Z_REJECT) == expect_biased, z


def test_sample_matrices_match_the_constructors():
    rng = np.random.default_rng(0)
    a = PX.sample_matrices(1, 7, 3, np.random.default_rng(5), orthogonal=True)[0]
    assert a.shape == (7, 3)
    b = PX.sample_matrices(2, 7, 3, rng)
    assert b.shape == (2, 7, 3)


# -- feature maps: unbiased, Lemma 2 -------------------------------------------------------
@pytest.mark.parametrize("kind", F.KINDS)
def test_feature_maps_agree_with_kernel_estimates(kind):
    rng = np.random.default_rng(3)
    x, y, W = rng.standard_normal(6) * .4, rng.standard_normal(6) * .4, rng.standard_normal((9, 6))
    phi = F.FEATURES[kind]
    assert phi(x, W).shape == (9 * F.FEATURES_PER_DRAW[kind],)
    assert np.isclose(phi(x, W) @ phi(y, W), PX.kernel_estimates(x, y, W[None], kind)[0])
    X = rng.standard_normal((2, 3, 6))
    assert phi(X, W).shape == (2, 3, 9 * F.FEATURES_PER_DRAW[kind])


@pytest.mark.parametrize("kind", F.KINDS)
def test_estimators_are_unbiased_and_a_biased_one_is_caught(kind):
    rng = np.random.default_rng(4)
    d, m, n = 6, 4, 40000
    x, y = vec(rng, d, 0.6), vec(rng, d, 0.5)
    est = PX.kernel_estimates(x, y, PX.sample_matrices(n, m, d, rng), kind)
    sm = math.exp(x @ y)
    assert abs(z_score(est, sm)) < Z_PASS
    assert abs(z_score(est, 1.03 * sm)) > Z_REJECT     # a 3 % bias would be seen


@pytest.mark.parametrize("kind,xn,yn,cos", [("trig", .6, .5, .3), ("trig", .4, .4, -.8),
                                            ("positive", .5, .4, .5), ("positive", .4, .4, -.9),
                                            ("hyperbolic", .6, .5, .3), ("hyperbolic", .5, .5, .8)])
def test_lemma2_mse_matches_monte_carlo(kind, xn, yn, cos):
    """MC estimate of the MSE from n independent estimators, with the standard error of that
    estimate from the same samples. Inputs are small (|x+y| <= 1) so that the squared errors
    have a few finite moments and the standard error is itself reliable."""
    rng = np.random.default_rng(5)
    d, m, n = 8, 16, 30000
    x = vec(rng, d, xn)
    u = vec(rng, d, 1.0)
    u -= (u @ x) / (x @ x) * x
    y = yn * (cos * x / xn + math.sqrt(1 - cos ** 2) * u / np.linalg.norm(u))
    assert np.isclose(x @ y, xn * yn * cos)
    sq = (PX.kernel_estimates(x, y, PX.sample_matrices(n, m, d, rng), kind) - math.exp(x @ y)) ** 2
    lemma = float(F.softmax_kernel_mse(x, y, m, kind))
    assert abs(z_score(sq, lemma)) < Z_PASS
    assert abs(z_score(sq, 1.2 * lemma)) > Z_REJECT and abs(z_score(sq, lemma / 1.2)) > Z_REJECT


def test_positive_mse_standard_error_from_exact_moments():
    """For positive features every moment is closed form, E[Z^k] = c^k exp(k²|s|²/2): the
    exact standard error of the MC estimate of the MSE agrees with the empirical one."""
    rng = np.random.default_rng(6)
    d, m, n = 8, 8, 40000
    x, y = vec(rng, d, .5), vec(rng, d, .5)
    a = float((x + y) @ (x + y))
    c = math.exp(-(x @ x + y @ y) / 2)
    mom = [c ** k * math.exp(k * k * a / 2) for k in range(5)]
    mu = mom[1]
    sigma2 = mom[2] - mu ** 2
    mu4 = mom[4] - 4 * mom[3] * mu + 6 * mom[2] * mu ** 2 - 3 * mu ** 4
    mu4_mean = mu4 / m ** 3 + 3 * (m - 1) * sigma2 ** 2 / m ** 3      # of the m-average
    se_exact = math.sqrt((mu4_mean - (sigma2 / m) ** 2) / n)
    sq = (PX.kernel_estimates(x, y, PX.sample_matrices(n, m, d, rng), "positive") - mu) ** 2
    assert np.isclose(sigma2 / m, F.softmax_kernel_mse(x, y, m, "positive"))
    assert abs(sq.mean() - sigma2 / m) < Z_PASS * se_exact
    assert 0.8 < sq.std(ddof=1) / math.sqrt(n) / se_exact < 1.25


def test_relative_mse_positive_bounded_trig_explodes_as_sm_vanishes():
    """|x + y| fixed, x·y -> -inf: relative MSE of positive features stays (e^{|s|²} - 1)/m."""
    d, m = 4, 10
    s = np.array([0.5, 0, 0, 0])
    for t in [1.0, 2.0, 4.0]:
        r = np.array([0, t, 0, 0])
        x, y = (s + r) / 2, (s - r) / 2
        sm2 = math.exp(x @ y) ** 2
        assert np.isclose(F.softmax_kernel_mse(x, y, m, "positive") / sm2, math.expm1(.25) / m)
    rel_trig = [F.softmax_kernel_mse((s + r) / 2, (s - r) / 2, m, "trig") / math.exp(
        (s + r) @ (s - r) / 4) ** 2 for r in [np.array([0, t, 0, 0]) for t in (1., 2., 4.)]]
    assert rel_trig[0] < rel_trig[1] < rel_trig[2] and rel_trig[2] > 1e3


# -- orthogonal random features --------------------------------------------------------------
def test_orf_reduces_mse_below_theorem2_bound_and_sign_bug_biases():
    rng = np.random.default_rng(7)
    d = m = 16
    n = 20000
    x, y = vec(rng, d, .6), vec(rng, d, .6)
    sm = math.exp(x @ y)
    sq = {name: (PX.kernel_estimates(x, y, PX.sample_matrices(n, m, d, rng, o, f), "positive")
                 - sm) ** 2 for name, o, f in [("iid", False, True), ("ort", True, True)]}
    lemma = F.softmax_kernel_mse(x, y, m, "positive")
    bound = lemma - 2 * (m - 1) / (m * (d + 2)) * (sm - math.exp(-(x @ x + y @ y) / 2)) ** 2
    se = {k: v.std(ddof=1) / math.sqrt(n) for k, v in sq.items()}
    assert abs(sq["iid"].mean() - lemma) < Z_PASS * se["iid"]
    assert sq["ort"].mean() < bound + Z_PASS * se["ort"]
    diff = sq["iid"].mean() - sq["ort"].mean()
    assert diff > Z_REJECT * math.hypot(se["iid"], se["ort"])
    # Without the QR sign fix, positive features are biased (here low, for x+y along e_0).
    x = y = np.eye(d)[0] * 0.6
    for fix, biased in [(True, False), (False, True)]:
        est = PX.kernel_estimates(x, y, PX.sample_matrices(n, m, d, rng, True, fix), "positive")
        assert (abs(z_score(est, math.exp(x @ y))) > Z_REJECT) == biased


# -- FAVOR+ ----------------------------------------------------------------------------------
def quadratic_favor(q, k, v, W, kind, causal):
    """The same estimator through the explicit L×L matrix of features (the masked form)."""
    s = q.shape[-1] ** -0.25
    phi = F.FEATURES[kind]
    A = phi(q * s, W) @ np.swapaxes(phi(k * s, W), -1, -2)
    if causal:
        A = np.tril(A)
    return (A @ v) / A.sum(-1, keepdims=True)


@pytest.mark.parametrize("kind", F.KINDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("L,chunk", [(1, 64), (37, 8), (64, 64), (50, 1)])
def test_favor_equals_quadratic_form(kind, causal, L, chunk):
    rng = np.random.default_rng(L)
    q, k = rng.standard_normal((2, 3, L, 8)) * .5, rng.standard_normal((2, 3, L, 8)) * .5
    v, W = rng.standard_normal((2, 3, L, 5)), rng.standard_normal((12, 8))
    got = F.favor_attention(q, k, v, W, kind, causal, chunk=chunk)
    want = quadratic_favor(q, k, v, W, kind, causal)
    tol = 1e-8 if kind == "trig" else 1e-12      # trig normalisers can come near 0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_causal_first_row_and_cross_lengths():
    rng = np.random.default_rng(8)
    q, k, v = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    W = rng.standard_normal((8, 4))
    out = F.favor_attention(q, k, v, W, causal=True)
    np.testing.assert_allclose(out[0], v[0], rtol=1e-12)     # attends only to itself
    out2 = F.favor_attention(q[:2], k, v, W)                  # L != S bidirectional is fine
    assert out2.shape == (2, 3)


def test_favor_converges_to_softmax_attention_with_many_features():
    rng = np.random.default_rng(9)
    L, d = 32, 8
    q, k, v = (rng.standard_normal((L, d)) * .4 for _ in range(3))
    exact = PX.exact_attention(q, k, v)
    uniform = np.broadcast_to(v.mean(0), v.shape)
    errs = [np.linalg.norm(F.favor_attention(q, k, v, F.orthogonal_gaussian_matrix(m, d, rng))
                           - exact) for m in (16, 4096)]
    assert errs[1] < errs[0] / 5
    assert errs[1] < 0.1 * np.linalg.norm(uniform - exact)


def test_stabilisers_keep_large_inputs_finite():
    rng = np.random.default_rng(10)
    q, k, v = rng.standard_normal((40, 8)) * 12, rng.standard_normal((40, 8)) * 12, rng.standard_normal((40, 2))
    W = rng.standard_normal((16, 8))
    for causal in (False, True):
        out = F.favor_attention(q, k, v, W, "positive", causal)
        assert np.isfinite(out).all()
        assert (out <= v.max(0) + 1e-9).all() and (out >= v.min(0) - 1e-9).all()  # convex
    assert F.favor_attention.__defaults__[2] == 0.0                                   # eps


def torch_favor(q, k, v, W, kind, causal):
    d = q.shape[-1]
    q, k = q * d ** -0.25, k * d ** -0.25

    def phi(x):
        u, h, m = x @ W.T, (x * x).sum(-1, keepdim=True) / 2, W.shape[0]
        if kind == "positive":
            return torch.exp(u - h) / math.sqrt(m)
        if kind == "hyperbolic":
            return torch.cat([torch.exp(u - h), torch.exp(-u - h)], -1) / math.sqrt(2 * m)
        return torch.cat([torch.cos(u), torch.sin(u)], -1) * torch.exp(h) / math.sqrt(m)
    A = phi(q) @ phi(k).transpose(-1, -2)
    A = torch.tril(A) if causal else A
    return (A @ v) / A.sum(-1, keepdim=True)


@pytest.mark.parametrize("kind", F.KINDS)
@pytest.mark.parametrize("causal", [False, True])
def test_favor_backward_matches_torch_autograd(kind, causal):
    rng = np.random.default_rng(11)
    q, k = rng.standard_normal((2, 70, 8)) * .7, rng.standard_normal((2, 70, 8)) * .7
    v, W = rng.standard_normal((2, 70, 5)), rng.standard_normal((16, 8))
    dout = rng.standard_normal((2, 70, 5))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    (torch_favor(tq, tk, tv, torch.tensor(W), kind, causal) * torch.tensor(dout)).sum().backward()
    got = F.favor_attention_backward(q, k, v, W, dout, kind, causal)
    r = parity_report(grads={f"grad {n}": (g, t.grad) for n, g, t in zip("qkv", got, (tq, tk, tv))})
    assert r.ok, r


# -- bad input --------------------------------------------------------------------------------
def test_bad_input_gets_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="iid_gaussian_matrix: m must be a positive int, got 0"):
        F.iid_gaussian_matrix(0, 4, rng)
    with pytest.raises(ValueError, match="orthogonal_gaussian_matrix: m must be a positive int"):
        F.orthogonal_gaussian_matrix(0, 4, rng)
    with pytest.raises(TypeError, match="d must be a positive int, got 2.5"):
        F.orthogonal_gaussian_matrix(3, 2.5, rng)
    x = rng.standard_normal((5, 4))
    with pytest.raises(ValueError, match="at least one row"):
        F.positive_features(x, np.zeros((0, 4)))
    for f in F.FEATURES.values():
        with pytest.raises(ValueError, match=r"W must be \(m, d\) with d = x.shape\[-1\] = 4, got W of shape \(8, 3\)"):
            f(x, rng.standard_normal((8, 3)))
    with pytest.raises(ValueError, match=r"favor_attention: W must be \(m, d\) with d = q.shape\[-1\] = 4"):
        F.favor_attention(x, x, x, rng.standard_normal((8, 3)))
    with pytest.raises(ValueError, match="favor_attention: W must have at least one row"):
        F.favor_attention(x, x, x, np.zeros((0, 4)))
    with pytest.raises(ValueError, match="kind must be one of"):
        F.favor_attention(x, x, x, rng.standard_normal((8, 4)), kind="relu")
    with pytest.raises(ValueError, match="causal attention needs as many queries as keys"):
        F.favor_attention(x[:3], x, x, rng.standard_normal((8, 4)), causal=True)
    with pytest.raises(ValueError, match="k and v must share"):
        F.favor_attention(x, x, x[:3], rng.standard_normal((8, 4)))
    with pytest.raises(ValueError, match="softmax_kernel_mse: m must be a positive int, got 0"):
        F.softmax_kernel_mse(x[0], x[1], 0, "trig")
    with pytest.raises(ValueError, match="contains NaN"):
        F.trig_features(np.full((2, 4), np.nan), rng.standard_normal((3, 4)))


@pytest.mark.parametrize("causal", [False, True])
def test_exact_attention_matches_torch(causal):
    rng = np.random.default_rng(12)
    q, k, v = rng.standard_normal((2, 300, 8)), rng.standard_normal((2, 300, 8)), rng.standard_normal((2, 300, 5))
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), is_causal=causal)
    r = parity_report({"output": (PX.exact_attention(q, k, v, causal), want)})
    assert r.ok, r


# -- the forward/backward pairs, the shared orthogonal construction, the old names -------------
def torch_features(x, W, kind):
    """The plain feature maps in torch (as in torch_favor above)."""
    u, h, m = x @ W.T, (x * x).sum(-1, keepdim=True) / 2, W.shape[0]
    if kind == "positive":
        return torch.exp(u - h) / math.sqrt(m)
    if kind == "hyperbolic":
        return torch.cat([torch.exp(u - h), torch.exp(-u - h)], -1) / math.sqrt(2 * m)
    return torch.cat([torch.cos(u), torch.sin(u)], -1) * torch.exp(h) / math.sqrt(m)


@pytest.mark.parametrize("kind", F.KINDS)
@pytest.mark.parametrize("query", [False, True])
def test_features_pair_matches_torch_autograd(kind, query):
    """features_backward is the gradient of Σ dφ⊙φ for the stabilised features (the stabiliser
    a constant, as it cancels in FAVOR's ratio), and φ is the plain map times that constant."""
    rng = np.random.default_rng(30)
    x, W = rng.standard_normal((2, 5, 4)) * .5, rng.standard_normal((6, 4))
    phi, cache = F.features_forward(x.copy(), W, kind, query)
    ratio = phi / F.FEATURES[kind](x, W)
    const = ratio[..., :1] if query else ratio[..., :1, :1]
    np.testing.assert_allclose(ratio, np.broadcast_to(const, ratio.shape), rtol=1e-12)
    dphi = rng.standard_normal(phi.shape)
    tx = torch.tensor(x, requires_grad=True)
    tphi = torch_features(tx, torch.tensor(W), kind) * torch.tensor(const)
    (tphi * torch.tensor(dphi)).sum().backward()
    r = parity_report(grads={"dx": (F.features_backward(dphi, cache), tx.grad)})
    assert r.ok, r


@pytest.mark.parametrize("causal", [False, True])
def test_pairs_agree_with_favor_attention_and_its_backward(causal):
    rng = np.random.default_rng(31)
    q, k, v = (rng.standard_normal((2, 9, 4)) * .5 for _ in range(3))
    W, dout = F.orthogonal_gaussian_matrix(6, 4, rng), rng.standard_normal((2, 9, 4))
    forward = F.causal_favor_forward if causal else F.favor_forward
    backward = F.causal_favor_backward if causal else F.favor_backward
    out, cache = forward(q, k, v, W)
    assert type(cache).__name__ == ("CausalFavorCache" if causal else "FavorCache")
    np.testing.assert_allclose(out, F.favor_attention(q, k, v, W, causal=causal), rtol=1e-12)
    for got, want in zip(backward(dout, cache),
                         F.favor_attention_backward(q, k, v, W, dout, causal=causal)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="causal_favor_forward: chunk must be a positive int"):
        F.causal_favor_forward(q, k, v, W, chunk=0)


def test_haar_orthogonal_is_orthogonal_and_feeds_the_orthogonal_block():
    from labutils import init
    Q = init.haar_orthogonal(5, np.random.default_rng(0), batch=(3,))
    assert Q.shape == (3, 5, 5)
    np.testing.assert_allclose(np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(5), Q.shape),
                               atol=1e-12)
    rng = np.random.default_rng(4)       # the block's rows are Q's columns, chi(d) lengths
    q = init.haar_orthogonal(5, rng)
    want = q.T * np.linalg.norm(rng.standard_normal((5, 5)), axis=1)[:, None]
    np.testing.assert_array_equal(F.orthogonal_block(5, np.random.default_rng(4)), want)
    for fix in (True, False):             # the stacked draws use the same construction
        a = PX.sample_matrices(1, 5, 5, np.random.default_rng(6), orthogonal=True, sign_fix=fix)
        b = F.orthogonal_block(5, np.random.default_rng(6), sign_fix=fix)
        np.testing.assert_allclose(a[0], b, atol=1e-12)


def test_labutils_performer_keeps_the_chapters_names():
    """Released notebooks and students' saved work do ``import labutils.performer as P``."""
    import labutils.performer as P
    from labutils import torchcheck
    assert P.positive_features is F.positive_features and P.favor_attention is F.favor_attention
    assert P.sample_matrices is PX.sample_matrices and P.exact_attention is PX.exact_attention
    assert P.torch_twin is torchcheck.favor_mha_twin
    for name in P.__all__:
        assert hasattr(P, name), name
