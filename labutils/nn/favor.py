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

The rows ω_i of W (m, d) may be iid or orthogonal blocks (each row still marginally N(0, I_d)):
fewer redundant directions, a smaller error (Theorem 2).

FAVOR+ approximates softmax(QKᵀ/√d) V by scaling Q and K by d^(-1/4), Φ_Q = φ(Q'), Φ_K = φ(K'):

    forward     N = Φ_Q (Φ_Kᵀ V),  D = Φ_Q (Φ_Kᵀ 1),  out = N / D         O(L m d), no L×L
    backward    dN = dout / D,  dD = -Σ_c dout⊙out / D,
                dΦ_Q = dN KVᵀ + dD zᵀ,  dΦ_K = V dKVᵀ + 1 dzᵀ  (KV = Φ_KᵀV, z = Φ_Kᵀ1,
                dKV = Φ_Qᵀ dN, dz = Φ_Qᵀ dD),  dV = Φ_K dKV,
                then through φ and the d^(-1/4) scaling.

Causally every sum over keys j becomes j <= i (prefix sums, carried chunk by chunk) and, in
backward, every sum over queries i becomes i >= j (suffix sums). Each φ is computed times a
positive factor that cancels in the ratio N / D (one per query row, one per key set), so
exp never overflows; the factor is a constant shift of the exponent, not differentiated.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import init, validate
from .favor_checks import KINDS, check_draw, check_favor, check_grad, check_kind, check_xw

__all__ = ["KINDS", "FEATURES", "FEATURES_PER_DRAW", "iid_gaussian_matrix", "orthogonal_block",
           "orthogonal_gaussian_matrix", "positive_features", "hyperbolic_features",
           "trig_features", "softmax_kernel", "softmax_kernel_mse", "FeatureCache",
           "features_forward", "features_backward", "FavorCache", "favor_forward",
           "favor_backward", "CausalFavorCache", "causal_favor_forward",
           "causal_favor_backward", "favor_attention", "favor_attention_backward"]

FEATURES_PER_DRAW = {"positive": 1, "trig": 2, "hyperbolic": 2}


# -- random matrices W (m, d) -----------------------------------------------------------------
def iid_gaussian_matrix(m: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """(m, d) matrix whose rows ω_i are independent N(0, I_d)."""
    m, d = check_draw(m, d, rng, "iid_gaussian_matrix")
    return rng.standard_normal((m, d))


def orthogonal_block(d: int, rng: np.random.Generator, sign_fix: bool = True) -> np.ndarray:
    """(d, d): exactly orthogonal rows, Haar-distributed directions, chi(d) lengths (the rows
    are the columns of ``init.haar_orthogonal``, each with its own length)."""
    d = check_draw(1, d, rng, "orthogonal_block")[1]
    q = init.haar_orthogonal(d, rng, sign_fix=sign_fix)
    lengths = np.linalg.norm(rng.standard_normal((d, d)), axis=1)   # chi(d) draws
    return q.T * lengths[:, None]


def orthogonal_gaussian_matrix(m: int, d: int, rng: np.random.Generator,
                               sign_fix: bool = True) -> np.ndarray:
    """(m, d): ceil(m/d) independent blocks of d orthogonal rows (the last block cut to size);
    every row is marginally N(0, I_d), rows within a block are exactly orthogonal."""
    m, d = check_draw(m, d, rng, "orthogonal_gaussian_matrix")
    blocks = [orthogonal_block(d, rng, sign_fix) for _ in range(-(-m // d))]
    return np.concatenate(blocks, axis=0)[:m]


# -- feature maps, as defined ---------------------------------------------------------------
def positive_features(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """φ⁺(x) = exp(Wx - |x|²/2)/√m:  x (..., d), W (m, d) -> (..., m), all entries > 0."""
    check_xw(x, W, "positive_features")
    u = x @ W.T - 0.5 * np.sum(x * x, axis=-1, keepdims=True)
    return np.exp(u) / math.sqrt(W.shape[0])


def hyperbolic_features(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """exp(-|x|²/2)/√(2m) [exp(Wx), exp(-Wx)]:  x (..., d), W (m, d) -> (..., 2m)."""
    check_xw(x, W, "hyperbolic_features")
    u = x @ W.T
    h = -0.5 * np.sum(x * x, axis=-1, keepdims=True)
    return np.concatenate([np.exp(u + h), np.exp(-u + h)], axis=-1) / math.sqrt(2 * W.shape[0])


def trig_features(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """exp(+|x|²/2)/√m [cos(Wx), sin(Wx)]:  x (..., d), W (m, d) -> (..., 2m)."""
    check_xw(x, W, "trig_features")
    u = x @ W.T
    h = np.exp(0.5 * np.sum(x * x, axis=-1, keepdims=True)) / math.sqrt(W.shape[0])
    return np.concatenate([np.cos(u), np.sin(u)], axis=-1) * h


FEATURES = {"positive": positive_features, "trig": trig_features,
            "hyperbolic": hyperbolic_features}


def softmax_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SM(x, y) = exp(x·y) over the last axis (broadcasting)."""
    _check_pair(x, y, "softmax_kernel")
    return np.exp(np.sum(x * y, axis=-1))


def _check_pair(x: object, y: object, owner: str) -> None:
    """x, y (..., d): float arrays of one feature size whose leading axes broadcast."""
    for a, name in ((x, "x"), (y, "y")):
        validate.array(a, owner, name, min_ndim=1)
    ok = x.shape[-1] == y.shape[-1] and all(a == b or 1 in (a, b) for a, b in
                                           zip(x.shape[-2::-1], y.shape[-2::-1]))
    if not ok:
        raise ValueError(f"{owner}: x and y must be (..., d) with one d and leading axes that "
                         f"broadcast, got x {x.shape} and y {y.shape}")


def softmax_kernel_mse(x: np.ndarray, y: np.ndarray, m: int, kind: str) -> np.ndarray:
    """Lemma 2: MSE of φ(x)·φ(y) as an estimate of exp(x·y) with m iid ω's (closed form).
    x, y: (..., d) (broadcast) -> (...)."""
    check_kind(kind, "softmax_kernel_mse")
    m = validate.positive_int(m, "softmax_kernel_mse", "m")
    _check_pair(x, y, "softmax_kernel_mse")
    s2 = np.sum((x + y) ** 2, axis=-1)
    sm = softmax_kernel(x, y)
    if kind == "trig":
        r2 = np.sum((x - y) ** 2, axis=-1)
        return np.exp(s2) / sm ** 2 * (1 - np.exp(-r2)) ** 2 / (2 * m)
    if kind == "positive":
        return np.exp(s2) * sm ** 2 * (-np.expm1(-s2)) / m
    return np.exp(s2) * sm ** 2 * np.expm1(-s2) ** 2 / (2 * m)


# -- 1. the stabilised feature map: forward and backward --------------------------------------
class FeatureCache(NamedTuple):
    x: np.ndarray                  # (..., L, d) the (scaled) inputs
    W: np.ndarray                  # (m, d)
    kind: str
    phi: np.ndarray                # (..., L, M) the features, M = m or 2m
    u: np.ndarray | None           # (..., L, m) x Wᵀ (trig only)
    scale: np.ndarray | None       # (..., L, 1) trig's row factor exp(|x|²/2 - c)/√m


def features_forward(x: np.ndarray, W: np.ndarray, kind: str, query: bool
                     ) -> tuple[np.ndarray, FeatureCache]:
    """φ(x) times a positive factor that cancels in FAVOR's ratio: one per row for queries
    (``query=True``), one constant over all keys (per leading index) for keys.
    x (..., L, d), W (m, d) -> φ (..., L, M). Positive features are computed in place: one
    (..., L, m) array."""
    check_kind(kind, "features_forward")
    check_xw(x, W, "features_forward")
    return _features(x, W, kind, query)


def _features(x: np.ndarray, W: np.ndarray, kind: str, query: bool
              ) -> tuple[np.ndarray, FeatureCache]:
    m = W.shape[0]
    u = x @ W.T
    h = 0.5 * np.sum(x * x, axis=-1, keepdims=True)
    if kind == "trig":
        c = h if query else h.max(axis=-2, keepdims=True, initial=-np.inf)   # no keys: -inf
        scale = np.exp(h - c) / math.sqrt(m)
        phi = np.concatenate([np.cos(u), np.sin(u)], axis=-1) * scale
        return phi, FeatureCache(x, W, kind, phi, u, scale)
    if kind == "positive":
        a = u                                # in place from here on
        a -= h
    else:
        a = np.concatenate([u - h, -u - h], axis=-1)
    a -= a.max(axis=(-1,) if query else (-2, -1), keepdims=True, initial=-np.inf)
    np.exp(a, out=a)
    a *= 1.0 / math.sqrt(FEATURES_PER_DRAW[kind] * m)
    return a, FeatureCache(x, W, kind, a, None, None)


def features_backward(dphi: np.ndarray, cache: FeatureCache) -> np.ndarray:
    """dφ (..., L, M) -> dx (..., L, d). With g = dφ ⊙ φ:
    positive    dx = g W - x Σg
    hyperbolic  dx = (g₊ - g₋) W - x Σg
    trig        dx = ((-dφ_cos sin u + dφ_sin cos u) · scale) W + x Σg"""
    check_grad(dphi, cache, FeatureCache, "phi", "features_backward", "dphi")
    return _features_back(dphi, cache)


def _features_back(dphi: np.ndarray, cache: FeatureCache) -> np.ndarray:
    x, W, kind, phi, u, scale = cache
    m = W.shape[0]
    g = dphi * phi
    if kind == "positive":                     # φ_j ∝ exp(w_j·x - |x|²/2)
        return g @ W - x * g.sum(-1, keepdims=True)
    if kind == "hyperbolic":                   # ∝ [exp(u - |x|²/2), exp(-u - |x|²/2)]
        return (g[..., :m] - g[..., m:]) @ W - x * g.sum(-1, keepdims=True)
    du = (-dphi[..., :m] * np.sin(u) + dphi[..., m:] * np.cos(u)) * scale
    return du @ W + x * g.sum(-1, keepdims=True)


# -- 2. FAVOR+, bidirectional -------------------------------------------------------------------
class FavorCache(NamedTuple):
    q: np.ndarray                  # (..., L, d)
    k: np.ndarray                  # (..., S, d)
    v: np.ndarray                  # (..., S, dv)
    W: np.ndarray                  # (m, d), fixed (not differentiated)
    kind: str
    kv: np.ndarray                 # (..., M, dv) Φ_Kᵀ V
    z: np.ndarray                  # (..., M)     Φ_Kᵀ 1
    den: np.ndarray                # (..., L)     D + eps
    out: np.ndarray                # (..., L, dv)


def favor_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray,
                  kind: str = "positive", eps: float = 0.0) -> tuple[np.ndarray, FavorCache]:
    """q (..., L, d), k (..., S, d), v (..., S, dv), W (m, d) -> out (..., L, dv), cache:
    Φ_Q (Φ_Kᵀ V) / (Φ_Q (Φ_Kᵀ 1) + eps). At most one (L, M) array at a time: the cache keeps
    the (M, dv) sums, and backward recomputes the features."""
    check_favor(q, k, v, W, kind, False, "favor_forward", eps)
    s = q.shape[-1] ** -0.25
    phi_k = _features(k * s, W, kind, query=False)[0]
    kv = np.swapaxes(phi_k, -1, -2) @ v               # (..., M, dv)
    z = phi_k.sum(axis=-2)                            # (..., M)
    del phi_k
    phi_q = _features(q * s, W, kind, query=True)[0]
    den = (phi_q @ z[..., None])[..., 0] + eps
    if k.shape[-2] == 0:                              # no keys: zeros, as torch's attention
        den = np.ones_like(den)
    out = (phi_q @ kv) / den[..., None]
    return out, FavorCache(q, k, v, W, kind, kv, z, den, out)


def favor_backward(dout: np.ndarray, cache: FavorCache
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (..., L, dv) -> (dq (..., L, d), dk (..., S, d), dv (..., S, dv)) for a fixed W."""
    check_grad(dout, cache, FavorCache, "out", "favor_backward", "dout")
    q, k, v, W, kind, kv, z, den, out = cache
    s = q.shape[-1] ** -0.25                      # dL/dq = dL/dq' · d^(-1/4), q' = q·s
    phi_q, cache_q = _features(q * s, W, kind, query=True)
    phi_k, cache_k = _features(k * s, W, kind, query=False)
    dN = dout / den[..., None]
    dD = -np.sum(dout * out, axis=-1) / den
    dphi_q = dN @ np.swapaxes(kv, -1, -2) + dD[..., None] * z[..., None, :]
    dKV = np.swapaxes(phi_q, -1, -2) @ dN
    dz = np.swapaxes(phi_q, -1, -2) @ dD[..., None]
    dphi_k = v @ np.swapaxes(dKV, -1, -2) + np.swapaxes(dz, -1, -2)
    return (_features_back(dphi_q, cache_q) * s, _features_back(dphi_k, cache_k) * s,
            phi_k @ dKV)


# -- 3. FAVOR+, causal (prefix sums) -------------------------------------------------------------
class CausalFavorCache(NamedTuple):
    q: np.ndarray                  # (..., L, d)
    k: np.ndarray                  # (..., L, d)
    v: np.ndarray                  # (..., L, dv)
    W: np.ndarray                  # (m, d), fixed (not differentiated)
    kind: str
    den: np.ndarray                # (..., L)     D + eps
    out: np.ndarray                # (..., L, dv)
    chunk: int


def causal_favor_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray,
                         kind: str = "positive", eps: float = 0.0, chunk: int = 64
                         ) -> tuple[np.ndarray, CausalFavorCache]:
    """q, k (..., L, d), v (..., L, dv), W (m, d) -> out (..., L, dv), cache. Query i uses keys
    j <= i: out_i = φq_i·S_i / (φq_i·z_i + eps), S_i = Σ_{j<=i} φk_j v_jᵀ, z_i = Σ_{j<=i} φk_j."""
    check_favor(q, k, v, W, kind, True, "causal_favor_forward", eps, chunk)
    s = q.shape[-1] ** -0.25
    phi_k = _features(k * s, W, kind, query=False)[0]
    phi_q = _features(q * s, W, kind, query=True)[0]
    num, den = _causal_sums(phi_q, phi_k, v, chunk)
    den += eps
    out = num / den[..., None]
    return out, CausalFavorCache(q, k, v, W, kind, den, out, chunk)


def causal_favor_backward(dout: np.ndarray, cache: CausalFavorCache
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (..., L, dv) -> (dq, dk (..., L, d), dv (..., L, dv)) for a fixed W:
    dφq_i = S_i dN_i + z_i dD_i (prefix sums over keys j <= i); with G_j = Σ_{i>=j} φq_i dN_iᵀ
    and g_j = Σ_{i>=j} dD_i φq_i (suffix sums over queries), dφk_j = G_j v_j + g_j and
    dv_j = G_jᵀ φk_j."""
    check_grad(dout, cache, CausalFavorCache, "out", "causal_favor_backward", "dout")
    q, k, v, W, kind, den, out, chunk = cache
    s = q.shape[-1] ** -0.25
    phi_q, cache_q = _features(q * s, W, kind, query=True)
    phi_k, cache_k = _features(k * s, W, kind, query=False)
    dN = dout / den[..., None]
    dD = -np.sum(dout * out, axis=-1) / den
    dphi_q = _prefix_contract(phi_k, v, dN, dD, chunk)
    rev = (slice(None),) * (phi_q.ndim - 2) + (slice(None, None, -1),)   # suffix = reversed prefix
    dphi_k, dv = _prefix_apply(phi_q[rev], dN[rev], dD[rev], v[rev], phi_k[rev], chunk)
    return (_features_back(dphi_q, cache_q) * s,
            _features_back(dphi_k[rev], cache_k) * s, dv[rev])


def _causal_sums(phi_q: np.ndarray, phi_k: np.ndarray, v: np.ndarray, chunk: int
                 ) -> tuple[np.ndarray, np.ndarray]:
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


def _prefix_contract(phi_k: np.ndarray, v: np.ndarray, dN: np.ndarray, dD: np.ndarray,
                     chunk: int) -> np.ndarray:
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


def _prefix_apply(phi_q: np.ndarray, dN: np.ndarray, dD: np.ndarray, v: np.ndarray,
                  phi_k: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
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


# -- one call, either direction (what the chapter and the module use) ----------------------------
def favor_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray,
                    kind: str = "positive", causal: bool = False, eps: float = 0.0,
                    chunk: int = 64) -> np.ndarray:
    """FAVOR+ estimate of softmax(q kᵀ/√d) v: ``favor_forward`` or, causal,
    ``causal_favor_forward`` (prefix sums chunk by chunk), without the cache.
    q: (..., L, d), k: (..., S, d), v: (..., S, dv), W: (m, d) -> (..., L, dv).
    ``eps`` is added to the normaliser (default 0: none)."""
    check_favor(q, k, v, W, kind, causal, "favor_attention", eps, chunk)
    if causal:
        return causal_favor_forward(q, k, v, W, kind, eps, chunk)[0]
    return favor_forward(q, k, v, W, kind, eps)[0]


def favor_attention_backward(q: np.ndarray, k: np.ndarray, v: np.ndarray, W: np.ndarray,
                             dout: np.ndarray, kind: str = "positive", causal: bool = False,
                             eps: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (dq, dk, dv) of ``favor_attention`` for a fixed W, given dout = dL/d(output):
    the forward of the chosen direction, then its backward."""
    check_favor(q, k, v, W, kind, causal, "favor_attention_backward", eps)
    validate.grad(dout, q.shape[:-1] + v.shape[-1:], "favor_attention_backward", "dout")
    if causal:
        return causal_favor_backward(dout, causal_favor_forward(q, k, v, W, kind, eps)[1])
    return favor_backward(dout, favor_forward(q, k, v, W, kind, eps)[1])
