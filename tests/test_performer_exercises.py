"""Chapter 6's later graders (grading/performer_favor.py and the tightened checks): Lemma 2 for
positive features, the FAVOR+ backward, one step of the recurrent form, the causal check's work
count, the orthogonal block's per-row lengths and Haar directions. Right answers pass (noisy
too; float32 fails); each wrong answer the engine knows fails with its diagnosis."""
import numpy as np
import pytest
import torch

from labutils.grading import performer as g
from labutils.grading.performer_favor import _backward_variant, _step
from labutils.nn import favor as P

from . import graderlib
from .graderlib import assert_right_answers_pass, fails, passes
from .test_performer_grading import favor_causal, orthogonal_block

DELEGATION = "this exercise asks for your own code"


def phi(x, W):
    return np.exp(x @ W.T - 0.5 * np.sum(x * x, axis=-1, keepdims=True)) / np.sqrt(W.shape[0])


def s2(x, y):
    return np.sum((x + y) ** 2, axis=-1)


def positive_mse(x, y, m):
    return np.exp(s2(x, y) + 2 * np.sum(x * y, axis=-1)) * -np.expm1(-s2(x, y)) / m


def favor_backward(dout, q, k, v, W):
    s = q.shape[-1] ** -0.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    kv, z = np.swapaxes(pk, -1, -2) @ v, pk.sum(-2)
    D = pq @ z[..., None]
    out = (pq @ kv) / D
    dN, dD = dout / D, -np.sum(dout * out, -1, keepdims=True) / D
    dpq = dN @ np.swapaxes(kv, -1, -2) + dD * z[..., None, :]
    dkv, dz = np.swapaxes(pq, -1, -2) @ dN, np.swapaxes(pq, -1, -2) @ dD
    dpk = v @ np.swapaxes(dkv, -1, -2) + np.swapaxes(dz, -1, -2)

    def through(dphi, p, x):
        gg = dphi * p
        return (gg @ W - x * gg.sum(-1, keepdims=True)) * s
    return through(dpq, pq, q * s), through(dpk, pk, k * s), pk @ dkv


def favor_step(S, z, q, k, v, W):
    s = q.shape[-1] ** -0.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    S = S + pk[..., :, None] * v[..., None, :]
    z = z + pk
    return (pq[..., None, :] @ S)[..., 0, :] / np.sum(pq * z, -1, keepdims=True), S, z


def causal_chunked(q, k, v, W, c=4):
    """Chunk by chunk: running sums between chunks, a masked product inside one."""
    s = q.shape[-1] ** -.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    S = np.zeros(q.shape[:-2] + (W.shape[0], v.shape[-1]))
    z = np.zeros(q.shape[:-2] + (W.shape[0],))
    outs = []
    for a in range(0, q.shape[-2], c):
        Q, K, V = pq[..., a:a + c, :], pk[..., a:a + c, :], v[..., a:a + c, :]
        A = np.tril(Q @ np.swapaxes(K, -1, -2))
        outs.append((Q @ S + A @ V) / (Q @ z[..., None] + A.sum(-1, keepdims=True)))
        S, z = S + np.swapaxes(K, -1, -2) @ V, z + K.sum(-2)
    return np.concatenate(outs, -2)


def causal_row_loop(q, k, v, W):
    """Right values, linear memory, one Python step per position, but each step re-reads the
    whole prefix: O(L²) work."""
    s = q.shape[-1] ** -.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    out = np.empty(q.shape[:-1] + (v.shape[-1],))
    for i in range(q.shape[-2]):
        a = pq[..., i:i + 1, :] @ np.swapaxes(pk[..., :i + 1, :], -1, -2)
        out[..., i, :] = ((a @ v[..., :i + 1, :]) / a.sum(-1, keepdims=True))[..., 0, :]
    return out


NEW = {g.check_positive_mse: positive_mse, g.check_favor_backward: favor_backward,
       g.check_favor_step: favor_step}


@pytest.mark.parametrize("check", list(NEW), ids=lambda c: c.__name__)
def test_right_answers_pass_noisy_and_hidden(check):
    assert_right_answers_pass(check, NEW[check])
    assert "Hidden tests of" in passes(check, NEW[check], hidden=True)


def test_old_checks_have_hidden_cases():
    from .test_performer_grading import unbiasedness_z
    assert "Hidden tests of" in passes(g.check_unbiasedness_z, unbiasedness_z, hidden=True)
    assert "Hidden tests of" in passes(g.check_orthogonal_block, orthogonal_block, hidden=True)


def test_causal_by_chunks_passes_and_a_prefix_loop_fails():
    assert "work grows like L" in passes(g.check_causal_favor, causal_chunked)
    assert "work grows like L" in passes(g.check_causal_favor, favor_causal)
    fails(g.check_causal_favor, causal_row_loop, "[pass] L = 6", "like L^1.9",
          "the whole prefix again")


def shared_length(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sign(np.diag(r))).T * np.linalg.norm(rng.standard_normal(d))


def signed_permutation(d, rng):
    perm = np.eye(d)[rng.permutation(d)] * rng.choice([-1.0, 1.0], d)[:, None]
    return perm * np.linalg.norm(rng.standard_normal((d, d)), axis=1)[:, None]


def test_orthogonal_block_needs_own_lengths_and_haar_directions():
    fails(g.check_orthogonal_block, shared_length, "within each block every row has the same length")
    fails(g.check_orthogonal_block, signed_permutation, "not uniform on the sphere", "3/(d(d+2))")


def mse_of(x, y, m, one_minus):
    return np.exp(s2(x, y)) * np.exp(np.sum(x * y, -1)) ** 2 * one_minus(s2(x, y)) / m


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, y, m: mse_of(x, y, 1, lambda a: -np.expm1(-a)), ["variance of one draw divided by m"]),
    (lambda x, y, m: np.exp(s2(x, y)) * np.exp(np.sum(x * y, -1)) ** 2 / m, ["second moment"]),
    (lambda x, y, m: -np.expm1(-s2(x, y)) * np.exp(s2(x, y)) / m, ["relative mse"]),
    (lambda x, y, m: np.exp(s2(x, -y) + 2 * np.sum(x * y, -1)) * -np.expm1(-s2(x, -y)) / m, ["not |x - y|²"]),
    (lambda x, y, m: mse_of(x, y, m, lambda a: 1 - np.exp(-a)), ["[pass] one pair", "np.expm1"]),
    (lambda x, y, m: positive_mse(x, y, m).astype(np.float32), ["float32, not float64"]),
    (lambda x, y, m: P.softmax_kernel_mse(x, y, m, "positive"), ["called softmax_kernel_mse", DELEGATION]),
    (lambda x, y, m: torch.tensor(positive_mse(x, y, m)).numpy(), ["(torch)", DELEGATION]),
    (lambda x, y, m: positive_mse(x, y, 8), ["[fail] a batch of 5 pairs, m = 1"]),          # m ignored
])
def test_positive_mse_catalogue(fn, phrases):
    fails(g.check_positive_mse, fn, *phrases)


def backward_in_place(dout, q, k, v, W):
    dout /= 1.0 + 0 * dout.sum()
    q *= 1.0
    dout[...] = dout * 1.0
    dout += 0.0
    dout[..., 0] += 1e-3
    return favor_backward(dout, q, k, v, W)


def backward_with_matrix(dout, q, k, v, W):
    s = q.shape[-1] ** -.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    A = pq @ np.swapaxes(pk, -1, -2)          # L × S, only to be looked at
    A.sum()
    return favor_backward(dout, q, k, v, W)


def backward_per_query(dout, q, k, v, W):
    """Right values, then the rows of dq copied one Python step at a time."""
    dq, dk, dv = favor_backward(dout, q, k, v, W)
    out = np.empty_like(dq)
    for i in range(q.shape[-2]):
        out[..., i, :] = dq[..., i, :]
    return out, dk, dv


@pytest.mark.parametrize("fn,phrases", [
    (lambda *a: _backward_variant(*a, no_den=True), ["normaliser d = φ(q)·z"]),
    (lambda *a: _backward_variant(*a, no_norm=True), ["-|x|²/2 gives a term"]),
    (lambda *a: _backward_variant(*a, no_scale=True), ["multiplies dq and dk by d^(-1/4)"]),
    (backward_with_matrix, ["[pass] l = 5", "an l × s matrix"]),
    (backward_per_query, ["[pass] l = 5", "a python loop per row"]),
    (lambda d, q, k, v, W: tuple(a.astype(np.float32) for a in favor_backward(d, q, k, v, W)),
     ["float32, not float64"]),
    (lambda d, q, k, v, W: P.favor_attention_backward(q, k, v, W, d), ["called favor_attention_backward", DELEGATION]),
    (lambda d, q, k, v, W: favor_backward(d, q, k, v, W)[:2], ["[fail]"]),
    (backward_in_place, ["changed its argument 0 in place"]),
])
def test_favor_backward_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        fails(g.check_favor_backward, fn, *phrases)


def step_in_place(S, z, q, k, v, W):
    s = q.shape[-1] ** -0.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    S += pk[..., :, None] * v[..., None, :]
    z += pk
    return (pq[..., None, :] @ S)[..., 0, :] / np.sum(pq * z, -1, keepdims=True), S, z


def step_growing(S, z, q, k, v, W):
    """Keeps every key: a state that grows with the prefix."""
    out, S2, z2 = favor_step(S, z, q, k, v, W)
    return out, np.concatenate([S, S2 - S], -2), z2


@pytest.mark.parametrize("fn,phrases", [
    (lambda *a: _step(*a[:5], a[5], include=False), ["before reading it"]),
    (lambda *a: _step(*a[:5], a[5], update_z=False), ["z + φ(k)"]),
    (lambda *a: _step(*a[:5], a[5], scale=False), ["d^(-1/4)"]),
    (step_in_place, ["changed its argument 0 in place"]),
    (step_growing, ["S: expected shape"]),
    (lambda *a: tuple(np.asarray(o, np.float32) for o in favor_step(*a)), ["float32, not float64"]),
    (lambda S, z, q, k, v, W: g.reference_favor_step(S, z, q, k, v, W), [DELEGATION]),
    (lambda S, z, q, k, v, W: favor_step(S, z, q, k, v, W)[0], ["[fail]"]),
])
def test_favor_step_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        fails(g.check_favor_step, fn, *phrases)


@pytest.mark.parametrize("check", list(NEW), ids=lambda c: c.__name__)
def test_survives_anything(check):
    graderlib.assert_survives(check, NEW[check], array_args=check is not g.check_favor_step)


def favor_by_query_blocks(q, k, v, W, block=16):
    """Linear memory, few Python steps, but every query block against every key: O(L·S) work."""
    s = q.shape[-1] ** -.25
    pq, pk = phi(q * s, W), phi(k * s, W)
    outs = []
    for a in range(0, q.shape[-2], block):
        A = pq[..., a:a + block, :] @ np.swapaxes(pk, -1, -2)
        outs.append((A @ v) / A.sum(-1, keepdims=True))
    return np.concatenate(outs, -2)


def test_bidirectional_in_blocks_of_queries_fails_by_its_work():
    fails(g.check_favor_attention, favor_by_query_blocks, "[pass] memory grows like L",
          "[pass] no python loop per query", "all l × s products")
