"""Random features for the softmax kernel and FAVOR+ attention (Choromanski et al., ICLR 2021).

The softmax kernel SM(x, y) = exp(x·y) (raw vectors, no 1/√d inside) is an expectation over
ω ~ N(0, I_d), and each identity gives a feature map φ with E[φ(x)·φ(y)] = SM(x, y):

    positive    exp(x·y) = E[exp(ωᵀx - |x|²/2) exp(ωᵀy - |y|²/2)]        (Gaussian MGF)
                φ⁺(x)  = exp(-|x|²/2) / √m  [exp(ω_iᵀx)]_i                 (..., m)
    hyperbolic  the same with ω and -ω averaged
                φʰʸᵖ(x) = exp(-|x|²/2) / √(2m) [exp(ω_iᵀx), exp(-ω_iᵀx)]_i  (..., 2m)
    trig        exp(x·y) = exp(|x|²/2) exp(|y|²/2) exp(-|x-y|²/2) and
                exp(-|z|²/2) = E[cos(ωᵀz)]                                  (Gaussian kernel)
                φᵗʳⁱᵍ(x) = exp(+|x|²/2) / √m [cos(ω_iᵀx), sin(ω_iᵀx)]_i   (..., 2m)

Mean squared errors with m iid features (Lemma 2), s = x + y, r = x - y:

    trig        (1/2m) exp(|s|²) SM⁻² (1 - exp(-|r|²))²
    positive    (1/m)  exp(|s|²) SM²  (1 - exp(-|s|²))        relative: (exp(|s|²) - 1)/m
    hyperbolic  (1/2m) exp(|s|²) SM²  (1 - exp(-|s|²))²

FAVOR+ approximates softmax(QKᵀ/√d) V by scaling Q and K by d^(-1/4) and computing
φ(Q) (φ(K)ᵀ V) / φ(Q) (φ(K)ᵀ 1): O(L m d) time, no L×L matrix.
"""
import math

import numpy as np

from . import validate

__all__ = ["iid_gaussian_matrix", "orthogonal_gaussian_matrix", "trig_features",
           "positive_features", "hyperbolic_features", "softmax_kernel",
           "softmax_kernel_mse", "favor_attention", "favor_attention_backward",
           "exact_attention", "sample_matrices", "kernel_estimates", "torch_twin", "KINDS",
           "cost_table"]

KINDS = ("positive", "trig", "hyperbolic")
FEATURES_PER_DRAW = {"positive": 1, "trig": 2, "hyperbolic": 2}


# -- random matrices ------------------------------------------------------------------------
def _check_md(m, d, owner):
    for name, v in (("m", m), ("d", d)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{owner}: {name} must be an int, got {type(v).__name__}")
        if v < 1:
            raise ValueError(f"{owner}: {name} must be at least 1, got {v}")


def iid_gaussian_matrix(m, d, rng):
    """(m, d) matrix whose rows ω_i are independent N(0, I_d)."""
    _check_md(m, d, "iid_gaussian_matrix")
    return rng.standard_normal((m, d))


def orthogonal_block(d, rng, sign_fix=True):
    """(d, d): exactly orthogonal rows, Haar-distributed directions, chi(d) lengths.

    QR of a Gaussian matrix G = QR gives a Haar Q only once the signs are fixed so that
    diag(R) > 0 (Q ← Q diag(sign(diag R))). LAPACK's Householder QR makes R_00 = -sign(G_00)|g_0|,
    so without the fix Q's first column always has Q_00 <= 0: not Haar. ``sign_fix=False``
    reproduces that (for the chapter's measurements only).
    """
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    if sign_fix:
        s = np.sign(np.diag(r))
        s[s == 0] = 1.0
        q = q * s                      # scales column j by sign(R_jj)
    lengths = np.linalg.norm(rng.standard_normal((d, d)), axis=1)   # chi(d) draws
    return q.T * lengths[:, None]      # rows = Q's columns, each with its own length


def orthogonal_gaussian_matrix(m, d, rng, sign_fix=True):
    """(m, d): ceil(m/d) independent blocks of d orthogonal rows (the last block cut to size);
    every row is marginally N(0, I_d), rows within a block are exactly orthogonal."""
    _check_md(m, d, "orthogonal_gaussian_matrix")
    blocks = [orthogonal_block(d, rng, sign_fix) for _ in range(-(-m // d))]
    return np.concatenate(blocks, axis=0)[:m]


def sample_matrices(n, m, d, rng, orthogonal=False, sign_fix=True):
    """(n, m, d): n independent draws of W, vectorised (stacked QR) for simulations.
    Row by row the same construction as iid_/orthogonal_gaussian_matrix."""
    _check_md(m, d, "sample_matrices")
    if not orthogonal:
        return rng.standard_normal((n, m, d))
    nb = -(-m // d)
    q, r = np.linalg.qr(rng.standard_normal((n * nb, d, d)))
    if sign_fix:
        s = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
        s[s == 0] = 1.0
        q = q * s[:, None, :]
    lengths = np.linalg.norm(rng.standard_normal((n * nb, d, d)), axis=-1)
    w = np.swapaxes(q, -1, -2) * lengths[..., None]
    return w.reshape(n, nb * d, d)[:, :m]


def kernel_estimates(x, y, Ws, kind):
    """φ(x)·φ(y) for each of the n matrices Ws (n, m, d): x, y (d,) -> (n,) estimates of
    exp(x·y). The same feature maps as below, written for a stack of W's."""
    if kind not in KINDS:
        raise ValueError(f"kernel_estimates: kind must be one of {KINDS}, got {kind!r}")
    x, y = np.asarray(x, float), np.asarray(y, float)
    m = Ws.shape[-2]
    ux, uy = Ws @ x, Ws @ y                                   # (n, m)
    hx, hy = 0.5 * x @ x, 0.5 * y @ y
    if kind == "positive":
        return np.exp(ux + uy - hx - hy).mean(-1)
    if kind == "hyperbolic":
        return np.cosh(ux + uy).mean(-1) * np.exp(-hx - hy)
    return np.cos(ux - uy).mean(-1) * np.exp(hx + hy)     # cos a cos b + sin a sin b


# -- feature maps ---------------------------------------------------------------------------
def _check_xw(x, W, owner):
    validate.array(W, owner, "W", ndim=2)
    if W.shape[0] < 1:
        raise ValueError(f"{owner}: W must have at least one row (m >= 1 random features), "
                         f"got shape {W.shape}")
    validate.array(x, owner, "x", min_ndim=1)
    if x.shape[-1] != W.shape[1]:
        raise ValueError(f"{owner}: x has last dimension {x.shape[-1]} but W has shape "
                         f"{W.shape}: W must be (m, d) with d = x.shape[-1]")


def positive_features(x, W):
    """φ⁺(x) = exp(Wx - |x|²/2)/√m:  x (..., d), W (m, d) -> (..., m), all entries > 0."""
    _check_xw(x, W, "positive_features")
    u = x @ W.T - 0.5 * np.sum(x * x, axis=-1, keepdims=True)
    return np.exp(u) / math.sqrt(W.shape[0])


def hyperbolic_features(x, W):
    """exp(-|x|²/2)/√(2m) [exp(Wx), exp(-Wx)]:  x (..., d), W (m, d) -> (..., 2m)."""
    _check_xw(x, W, "hyperbolic_features")
    u = x @ W.T
    h = -0.5 * np.sum(x * x, axis=-1, keepdims=True)
    return np.concatenate([np.exp(u + h), np.exp(-u + h)], axis=-1) / math.sqrt(2 * W.shape[0])


def trig_features(x, W):
    """exp(+|x|²/2)/√m [cos(Wx), sin(Wx)]:  x (..., d), W (m, d) -> (..., 2m)."""
    _check_xw(x, W, "trig_features")
    u = x @ W.T
    h = np.exp(0.5 * np.sum(x * x, axis=-1, keepdims=True)) / math.sqrt(W.shape[0])
    return np.concatenate([np.cos(u), np.sin(u)], axis=-1) * h


FEATURES = {"positive": positive_features, "trig": trig_features,
            "hyperbolic": hyperbolic_features}


def softmax_kernel(x, y):
    """SM(x, y) = exp(x·y) over the last axis (broadcasting)."""
    return np.exp(np.sum(np.asarray(x) * np.asarray(y), axis=-1))


def softmax_kernel_mse(x, y, m, kind):
    """Lemma 2: MSE of φ(x)·φ(y) as an estimate of exp(x·y) with m iid ω's (closed form).
    x, y: (..., d) (broadcast) -> (...)."""
    if kind not in KINDS:
        raise ValueError(f"softmax_kernel_mse: kind must be one of {KINDS}, got {kind!r}")
    if m < 1:
        raise ValueError(f"softmax_kernel_mse: m must be at least 1, got {m}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    s2 = np.sum((x + y) ** 2, axis=-1)
    sm = softmax_kernel(x, y)
    if kind == "trig":
        r2 = np.sum((x - y) ** 2, axis=-1)
        return np.exp(s2) / sm ** 2 * (1 - np.exp(-r2)) ** 2 / (2 * m)
    if kind == "positive":
        return np.exp(s2) * sm ** 2 * (-np.expm1(-s2)) / m
    return np.exp(s2) * sm ** 2 * np.expm1(-s2) ** 2 / (2 * m)


# -- FAVOR+ ---------------------------------------------------------------------------------
def exact_attention(q, k, v, causal=False):
    """softmax(q kᵀ/√d) v for (..., L, d) inputs: the honest quadratic reference, holding one
    (..., L, S) score array (softmax in place; the causal mask written in place, row block by
    row block) and nothing else of that size."""
    s = (q * (1.0 / math.sqrt(q.shape[-1]))) @ np.swapaxes(k, -1, -2)
    if causal:
        cols = np.arange(s.shape[-1])
        for a in range(0, s.shape[-2], 256):
            rows = np.arange(a, min(a + 256, s.shape[-2]))
            np.copyto(s[..., rows[0]:rows[-1] + 1, :], -np.inf, where=cols > rows[:, None])
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s @ v


def _stable_features(x, W, kind, query):
    """φ(x) times a positive factor that cancels in FAVOR's ratio (exactly, up to rounding):
    one per query row for queries, one constant over all keys (per leading index) for keys.
    Returns (phi, u, scale): u = x Wᵀ and, for trig features, the row factor
    scale = exp(|x|²/2 - c)/√m (kept for backward)."""
    m = W.shape[0]
    u = x @ W.T
    h = 0.5 * np.sum(x * x, axis=-1, keepdims=True)
    if kind == "trig":
        c = h if query else h.max(axis=-2, keepdims=True)
        scale = np.exp(h - c) / math.sqrt(m)
        return np.concatenate([np.cos(u), np.sin(u)], axis=-1) * scale, u, scale
    if kind == "positive":
        a = u                                # in place from here on: one (..., L, m) array
        a -= h
    else:
        a = np.concatenate([u - h, -u - h], axis=-1)
    a -= a.max(axis=(-1,) if query else (-2, -1), keepdims=True)
    np.exp(a, out=a)
    a *= 1.0 / math.sqrt(FEATURES_PER_DRAW[kind] * m)
    return a, None, None


def _feature_vjp(x, W, kind, phi, u, scale, dphi):
    """dL/dx given dL/dφ for the stabilised features. The stabiliser is a constant shift of
    the exponent whose effect cancels in the ratio, so it is not differentiated."""
    m = W.shape[0]
    g = dphi * phi
    if kind == "positive":                     # φ_j ∝ exp(w_j·x - |x|²/2)
        return g @ W - x * g.sum(-1, keepdims=True)
    if kind == "hyperbolic":                   # ∝ [exp(u - |x|²/2), exp(-u - |x|²/2)]
        return (g[..., :m] - g[..., m:]) @ W - x * g.sum(-1, keepdims=True)
    du = (-dphi[..., :m] * np.sin(u) + dphi[..., m:] * np.cos(u)) * scale   # trig
    return du @ W + x * g.sum(-1, keepdims=True)


def _check_favor(q, k, v, W, kind, causal, owner="favor_attention"):
    if kind not in KINDS:
        raise ValueError(f"{owner}: kind must be one of {KINDS}, got {kind!r}")
    validate.array(q, owner, "q", min_ndim=2)
    validate.array(k, owner, "k", min_ndim=2, shape=(q.shape[-1],))
    validate.array(v, owner, "v", min_ndim=2)
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"{owner}: k and v must share (..., S), got {k.shape} and {v.shape}")
    if q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"{owner}: q and k must share their leading dimensions, got "
                         f"{q.shape} and {k.shape}")
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"{owner}: causal attention needs as many queries as keys, got "
                         f"{q.shape[-2]} and {k.shape[-2]}")
    _check_xw(q, W, owner)


def _causal_sums(phi_q, phi_k, v, chunk):
    """num_i = Σ_{j<=i} (φq_i·φk_j) v_j and den_i = Σ_{j<=i} φq_i·φk_j, chunk by chunk.

    The prefix sums S = Σ_j φk_j v_jᵀ (m, dv) and z = Σ_j φk_j (m,) over all earlier chunks
    are carried from chunk to chunk; inside a chunk of c positions the remaining terms
    (j in the chunk, j <= i) are the masked c×c product. chunk = 1 is the plain running sum.
    The largest arrays are (..., c, c) and (..., c, m): never (L, L) and never (L, m, dv)."""
    L, m, dv = phi_q.shape[-2], phi_q.shape[-1], v.shape[-1]
    lead = phi_q.shape[:-2]
    S = np.zeros(lead + (m, dv), dtype=np.result_type(phi_q, v))
    z = np.zeros(lead + (m,), dtype=phi_q.dtype)
    num = np.empty(lead + (L, dv), dtype=S.dtype)
    den = np.empty(lead + (L,), dtype=phi_q.dtype)
    mask = np.tril(np.ones((chunk, chunk), dtype=bool))
    for a in range(0, L, chunk):
        b = min(L, a + chunk)
        pq, pk, vc = phi_q[..., a:b, :], phi_k[..., a:b, :], v[..., a:b, :]
        A = pq @ np.swapaxes(pk, -1, -2)
        A *= mask[:b - a, :b - a]
        num[..., a:b, :] = pq @ S + A @ vc
        den[..., a:b] = (pq @ z[..., None])[..., 0] + A.sum(axis=-1)
        S = S + np.swapaxes(pk, -1, -2) @ vc
        z = z + pk.sum(axis=-2)
    return num, den


def favor_attention(q, k, v, W, kind="positive", causal=False, eps=0.0, chunk=64):
    """FAVOR+ estimate of softmax(q kᵀ/√d) v.

    q: (..., L, d), k: (..., S, d), v: (..., S, dv), W: (m, d) -> (..., L, dv).
    q and k are scaled by d^(-1/4), so that φ(q')·φ(k') estimates exp(q·k/√d). Bidirectional:
    φ(Q)(φ(K)ᵀV) / φ(Q)(φ(K)ᵀ1). Causal: the same with prefix sums over keys j <= i,
    computed chunk by chunk. ``eps`` is added to the normaliser (default 0: none).
    """
    _check_favor(q, k, v, W, kind, causal)
    s = q.shape[-1] ** -0.25
    phi_k = _stable_features(k * s, W, kind, query=False)[0]
    if causal:
        num, den = _causal_sums(_stable_features(q * s, W, kind, query=True)[0], phi_k, v, chunk)
    else:
        kv = np.swapaxes(phi_k, -1, -2) @ v            # (..., M, dv)
        ksum = phi_k.sum(axis=-2)[..., None]          # (..., M, 1)
        del phi_k                                     # at most one (L, M) array at a time
        phi_q = _stable_features(q * s, W, kind, query=True)[0]
        num, den = phi_q @ kv, (phi_q @ ksum)[..., 0]
    return num / (den + eps)[..., None]


def favor_attention_backward(q, k, v, W, dout, kind="positive", causal=False, eps=0.0):
    """Gradients (dq, dk, dv) of favor_attention for a fixed W, given dout = dL/d(output).

    With N = φq KV, D = φq z (KV = φkᵀV, z = φkᵀ1), out = N / D:
      dN = dout / D,  dD = -Σ_c dout⊙out / D,
      dφq = dN KVᵀ + dD zᵀ,  dφk = V dKVᵀ + 1 dzᵀ  (dKV = φqᵀ dN, dz = φqᵀ dD),
      dV = φk dKV;
    causally every sum over keys j becomes j <= i (prefix sums) and every sum over queries
    i becomes i >= j (suffix sums). Then through the feature map and the d^(-1/4) scaling.
    """
    _check_favor(q, k, v, W, kind, causal, "favor_attention_backward")
    s = q.shape[-1] ** -0.25
    qs, ks = q * s, k * s
    phi_q, uq, sq = _stable_features(qs, W, kind, query=True)
    phi_k, uk, sk = _stable_features(ks, W, kind, query=False)
    if causal:
        num, den = _causal_sums(phi_q, phi_k, v, 64)
    else:
        num = phi_q @ (np.swapaxes(phi_k, -1, -2) @ v)
        den = (phi_q @ phi_k.sum(axis=-2)[..., None])[..., 0]
    den = den + eps
    out = num / den[..., None]
    dN = dout / den[..., None]
    dD = -np.sum(dout * out, axis=-1) / den
    if not causal:
        KV = np.swapaxes(phi_k, -1, -2) @ v
        z = phi_k.sum(axis=-2)
        dphi_q = dN @ np.swapaxes(KV, -1, -2) + dD[..., None] * z[..., None, :]
        dKV = np.swapaxes(phi_q, -1, -2) @ dN
        dz = np.swapaxes(phi_q, -1, -2) @ dD[..., None]
        dphi_k = v @ np.swapaxes(dKV, -1, -2) + np.swapaxes(dz, -1, -2)
        dv = phi_k @ dKV
    else:
        # dφq_i = S_i dN_i + z_i dD_i: the forward prefix sums with (dN, dD) in place of
        # φq's contraction, obtained by the same routine on the transposed roles.
        dphi_q = _prefix_contract(phi_k, v, dN, dD)
        # Suffix sums: G_j = Σ_{i>=j} φq_i dN_iᵀ, g_j = Σ_{i>=j} dD_i φq_i.
        rev = (slice(None),) * (phi_q.ndim - 2) + (slice(None, None, -1),)
        G_v, g = _prefix_apply(phi_q[rev], dN[rev], dD[rev], v[rev], phi_k[rev])
        dphi_k, dv = G_v[rev], g[rev]
    dqs = _feature_vjp(qs, W, kind, phi_q, uq, sq, dphi_q)
    dks = _feature_vjp(ks, W, kind, phi_k, uk, sk, dphi_k)
    return dqs * s, dks * s, dv


def _prefix_contract(phi_k, v, dN, dD, chunk=64):
    """dφq_i = (Σ_{j<=i} φk_j v_jᵀ) dN_i + (Σ_{j<=i} φk_j) dD_i, chunk by chunk."""
    L, m, dv = phi_k.shape[-2], phi_k.shape[-1], v.shape[-1]
    lead = phi_k.shape[:-2]
    S = np.zeros(lead + (m, dv))
    z = np.zeros(lead + (m,))
    out = np.empty(lead + (L, m))
    for a in range(0, L, chunk):
        b = min(L, a + chunk)
        outer = phi_k[..., a:b, :, None] * v[..., a:b, None, :]
        np.cumsum(outer, axis=-3, out=outer)
        outer += S[..., None, :, :]
        zc = np.cumsum(phi_k[..., a:b, :], axis=-2) + z[..., None, :]
        out[..., a:b, :] = (np.einsum("...cmd,...cd->...cm", outer, dN[..., a:b, :])
                            + zc * dD[..., a:b, None])
        S, z = outer[..., -1, :, :].copy(), zc[..., -1, :]
    return out


def _prefix_apply(phi_q, dN, dD, v, phi_k, chunk=64):
    """With the sequence reversed, G_j = Σ_{i<=j} φq_i dN_iᵀ and g_j = Σ_{i<=j} dD_i φq_i:
    returns dφk_j = G_j v_j + g_j and dv_j = G_jᵀ φk_j."""
    L, m, dv = phi_q.shape[-2], phi_q.shape[-1], dN.shape[-1]
    lead = phi_q.shape[:-2]
    G = np.zeros(lead + (m, dv))
    g = np.zeros(lead + (m,))
    dphi_k = np.empty(lead + (L, m))
    dvv = np.empty(lead + (L, dv))
    for a in range(0, L, chunk):
        b = min(L, a + chunk)
        outer = phi_q[..., a:b, :, None] * dN[..., a:b, None, :]
        np.cumsum(outer, axis=-3, out=outer)
        outer += G[..., None, :, :]
        gc = np.cumsum(phi_q[..., a:b, :] * dD[..., a:b, None], axis=-2) + g[..., None, :]
        dphi_k[..., a:b, :] = np.einsum("...cmd,...cd->...cm", outer, v[..., a:b, :]) + gc
        dvv[..., a:b, :] = np.einsum("...cmd,...cm->...cd", outer, phi_k[..., a:b, :])
        G, g = outer[..., -1, :, :].copy(), gc[..., -1, :]
    return dphi_k, dvv


def torch_twin(module):
    """A torch.nn.MultiheadAttention subclass computing the same FAVOR+ formula as the labutils
    ``PerformerAttention`` ``module`` (same feature matrix, kind and causality), differentiated
    by autograd: the torch side of ``labutils.torchcheck.compare_with_torch``. Its state dict
    has MHA's keys, so the comparison loads it into ``module`` in one call."""
    import torch

    class FavorMHA(torch.nn.MultiheadAttention):
        def forward(self, query, key, value):
            E, H = self.embed_dim, self.num_heads
            h = E // H
            W = torch.as_tensor(module.feature_matrix).to(query.dtype)

            def proj(x, i):
                y = x @ self.in_proj_weight[i * E:(i + 1) * E].T
                if self.in_proj_bias is not None:
                    y = y + self.in_proj_bias[i * E:(i + 1) * E]
                return y.reshape(x.shape[0], x.shape[1], H, h).transpose(1, 2)

            def phi(x):
                u, sq, m = x @ W.T, (x * x).sum(-1, keepdim=True) / 2, W.shape[0]
                if module.kind == "positive":
                    return torch.exp(u - sq) / math.sqrt(m)
                if module.kind == "hyperbolic":
                    return torch.cat([torch.exp(u - sq), torch.exp(-u - sq)], -1) / math.sqrt(2 * m)
                return torch.cat([torch.cos(u), torch.sin(u)], -1) * torch.exp(sq) / math.sqrt(m)
            s = h ** -0.25
            A = phi(proj(query, 0) * s) @ phi(proj(key, 1) * s).transpose(-1, -2)
            if module.causal:
                A = torch.tril(A)
            o = (A @ proj(value, 2)) / A.sum(-1, keepdim=True)
            return self.out_proj(o.transpose(1, 2).reshape(query.shape[0], query.shape[1], E)), None

    return FavorMHA(module.embed_dim, module.num_heads, bias=module.has_bias, batch_first=True)


# -- measuring cost (chapter 6's small scaling run; benchmarks/bench_performer.py is the full one)
def cost_table(Ls=(256, 512, 1024, 2048), d=64, m=256, repeats=5, threads=1, seed=0):
    """Time and peak traced memory (``tracemalloc``) of exact attention and bidirectional FAVOR+
    (positive orthogonal features) for each length L, measured in a fresh Python process whose
    BLAS uses ``threads`` threads: several BLAS threads competing with other work for the cores
    make small products erratically slow. Each time is the median of ``repeats`` runs after one
    untimed warm-up run. Returns [{"L", "exact_ms", "favor_ms", "exact_mb", "favor_mb"}, ...]."""
    import json
    import os
    import subprocess
    import sys
    code = ("import json; from labutils.performer import _cost_rows; "
            f"print(json.dumps(_cost_rows({tuple(Ls)!r}, {d}, {m}, {repeats}, {seed})))")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"cost_table: the measuring process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cost_rows(Ls, d, m, repeats, seed):
    import statistics
    import time
    import tracemalloc
    rng = np.random.default_rng(seed)
    W = orthogonal_gaussian_matrix(m, d, rng)
    rows = []
    for L in Ls:
        q, k, v = (rng.standard_normal((L, d)) * 0.3 for _ in range(3))
        row = {"L": L}
        for name, fn in (("exact", lambda: exact_attention(q, k, v)),
                         ("favor", lambda: favor_attention(q, k, v, W))):
            fn()                                             # warm-up, not timed
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            tracemalloc.start()
            fn()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            row[f"{name}_ms"], row[f"{name}_mb"] = 1e3 * statistics.median(times), peak / 2 ** 20
        rows.append(row)
    return rows
