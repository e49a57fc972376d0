"""Chapter 6 graders: right answers in every form pass (with a print and a warning too); a
catalogue of wrong answers, at least one from each class of mistake the engine knows, fails
with the right diagnosis (values, range, precision, delegation, complexity, required arguments,
mutation, return type, what any code may do), in a short report without grader source."""

import numpy as np
import pytest
import torch

from labutils import performer as P
from labutils.grading import performer as g

from . import graderlib
from .graderlib import assert_short, fails, noisy, passes


# -- right answers, as a student would write them (the notebook's solutions first) ---------------
def positive_features(x, W):
    sq = 0.5 * np.sum(x * x, axis=-1, keepdims=True)
    return np.exp(x @ W.T - sq) / np.sqrt(W.shape[0])


def unbiasedness_z(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W)
                    for W in (rng.standard_normal((m, len(x))) for _ in range(n_draws))])
    return (est.mean() - np.exp(x @ y)) / (est.std(ddof=1) / np.sqrt(n_draws))


def orthogonal_block(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    lengths = np.linalg.norm(rng.standard_normal((d, d)), axis=1)
    return q.T * lengths[:, None]


def favor_bidirectional(q, k, v, W):
    """The notebook's solution: on the course's feature map (allowed)."""
    s = q.shape[-1] ** -0.25
    pq, pk = P.positive_features(q * s, W), P.positive_features(k * s, W)
    kv = np.swapaxes(pk, -1, -2) @ v
    den = pq @ pk.sum(axis=-2)[..., None]
    return (pq @ kv) / den


def favor_causal(q, k, v, W):
    """The notebook's solution: a running sum, one Python step per position."""
    s = q.shape[-1] ** -0.25
    pq, pk = P.positive_features(q * s, W), P.positive_features(k * s, W)
    S = np.zeros(q.shape[:-2] + (W.shape[0], v.shape[-1]))
    z = np.zeros(q.shape[:-2] + (W.shape[0],))
    out = np.empty(q.shape[:-1] + (v.shape[-1],))
    for i in range(q.shape[-2]):
        S = S + pk[..., i, :, None] * v[..., i, None, :]
        z = z + pk[..., i, :]
        num = np.einsum("...m,...md->...d", pq[..., i, :], S)
        out[..., i, :] = num / np.einsum("...m,...m->...", pq[..., i, :], z)[..., None]
    return out


def favor_own_features(q, k, v, W):
    d = q.shape[-1]
    pq, pk = positive_features(q / d ** .25, W), positive_features(k / d ** .25, W)
    return (pq @ (np.swapaxes(pk, -1, -2) @ v)) / (pq @ pk.sum(axis=-2)[..., None])


def causal_cumsum(q, k, v, W):
    """Vectorised prefix sums: (L, m, dv) memory, linear in L."""
    d = q.shape[-1]
    pq, pk = positive_features(q / d ** .25, W), positive_features(k / d ** .25, W)
    S = np.cumsum(pk[..., :, :, None] * v[..., :, None, :], axis=-3)
    z = np.cumsum(pk, axis=-2)
    return np.einsum("...lm,...lmd->...ld", pq, S) / np.einsum("...lm,...lm->...l", pq, z)[..., None]


def unbiasedness_z_stacked(features, x, y, m, n_draws, rng):
    """All W drawn at once, population standard deviation, a NumPy scalar: also right."""
    est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((n_draws, m, len(x)))])
    return (est.mean() - np.exp(x @ y)) / (est.std() / np.sqrt(n_draws))


def orthogonal_block_columns(d, rng):
    """Q's columns as the rows, lengths drawn first: also correct."""
    lengths = np.sqrt(rng.chisquare(d, size=d))
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sign(np.diag(r))).T * lengths[:, None]


REFERENCES = {g.check_positive_features: positive_features, g.check_unbiasedness_z: unbiasedness_z,
              g.check_orthogonal_block: orthogonal_block, g.check_favor_attention: favor_bidirectional,
              g.check_causal_favor: favor_causal}




@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_right_answers_pass_also_with_a_print_and_a_warning(check):
    passes(check, REFERENCES[check])
    out = passes(check, noisy(REFERENCES[check]))
    assert "a debug print" in out and "a warning from the student's code" in out


def test_right_answers_in_other_forms_pass():
    passes(g.check_favor_attention, favor_own_features)
    out = passes(g.check_causal_favor, causal_cumsum)
    assert "memory at L = 1500 and 3000" in out
    passes(g.check_unbiasedness_z, unbiasedness_z_stacked)
    passes(g.check_unbiasedness_z, lambda *a: float(unbiasedness_z(*a)))
    passes(g.check_unbiasedness_z, lambda *a: np.array(unbiasedness_z(*a)))      # 0-d array
    passes(g.check_orthogonal_block, orthogonal_block_columns)
    passes(g.check_positive_features, lambda x, W: positive_features(x, W).tolist())


def test_hidden_seeds_pass_too():
    for check in (g.check_positive_features, g.check_favor_attention, g.check_causal_favor):
        passes(check, REFERENCES[check], seed=606)
        assert "Hidden tests of" in passes(check, REFERENCES[check], hidden=True)
    fails(g.check_causal_favor, lambda q, k, v, W: P.favor_attention(q, k, v, W, causal=True),
          "Hidden tests of", DELEGATION, hidden=True)


# -- the catalogue -------------------------------------------------------------------------------
DELEGATION = "this exercise asks for your own code"


def sq(x):
    return np.sum(x * x, axis=-1, keepdims=True)


def positive_features32(x, W):
    """Computed in float32 throughout (the 1/√m as a float32 too)."""
    x, W = x.astype(np.float32), W.astype(np.float32)
    return np.exp(x @ W.T - np.float32(0.5) * sq(x)) / np.sqrt(np.float32(W.shape[0]))


def favor32(q, k, v, W):
    d = q.shape[-1]
    pq, pk = (positive_features32(a / d ** .25, W) for a in (q, k))
    v = v.astype(np.float32)
    return (pq @ (np.swapaxes(pk, -1, -2) @ v)) / (pq @ pk.sum(axis=-2)[..., None])


def causal32(q, k, v, W):
    d = q.shape[-1]
    pq, pk = (positive_features32(a / d ** .25, W) for a in (q, k))
    S = np.cumsum(pk[..., :, :, None] * v.astype(np.float32)[..., :, None, :], axis=-3)
    return np.einsum("...lm,...lmd->...ld", pq, S) / np.einsum("...lm,...lm->...l", pq, np.cumsum(pk, -2))[..., None]


def favor_torch(q, k, v, W):
    q, k, v, W = (torch.tensor(a) for a in (q, k, v, W))
    d = q.shape[-1]
    pq, pk = (torch.exp(a @ W.T - (a * a).sum(-1, keepdim=True) / 2) for a in (q / d ** .25, k / d ** .25))
    return ((pq @ (pk.transpose(-1, -2) @ v)) / (pq @ pk.sum(-2)[..., None])).numpy()


def pf_in_place(x, W):
    x *= 1.0                          # harmless ...
    x -= x.mean() * 0 + 1e-3          # ... then not
    return positive_features(x + 1e-3, W)


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, W: np.exp(x @ W.T - sq(x) / 2), ["divide by √m"]),
    (lambda x, W: np.exp(x @ W.T - sq(x) / 2) / np.sqrt(W.shape[1]), ["the rows of W), not of d"]),
    (lambda x, W: np.exp(x @ W.T) / np.sqrt(len(W)), ["exp(-|x|²/2) is missing"]),
    (lambda x, W: np.exp(x @ W.T + sq(x) / 2) / np.sqrt(len(W)), ["the sign of |x|²/2"]),
    (lambda x, W: positive_features(x / x.shape[-1] ** .25, W), ["no 1/√d inside"]),
    (lambda x, W: np.exp(x @ W - sq(x) / 2) / np.sqrt(len(W)), ["one ROW of W"]),
    (lambda x, W: np.exp(x @ W.T - np.sum(x * x) / 2) / np.sqrt(len(W)),
     ["[pass] a single vector", "not a sum over the whole batch"]),
    (lambda x, W: np.exp(x @ W.T) * np.exp(-sq(x) / 2) / np.sqrt(len(W)),
     ["[FAIL] a very long vector", "contains inf", "two separate exponentials"]),
    (lambda x, W: np.exp(x @ W.T) / np.exp(sq(x) / 2) / np.sqrt(len(W)),
     ["[FAIL] a very long vector", "contains inf"]),
    (positive_features32, ["float32, not float64"]),
    (lambda x, W: positive_features32(x, W).astype(np.float64),
     ["[FAIL] long vectors |x| = 10", "computed in float32"]),
    (lambda x, W: P.positive_features(x, W), ["called positive_features (labutils.nn.favor)", DELEGATION]),
    (lambda x, W: torch.exp(torch.tensor(x @ W.T - sq(x) / 2)).numpy() / np.sqrt(len(W)), ["(torch)", DELEGATION]),
    (lambda x, W: torch.exp(torch.tensor(x) @ torch.tensor(W).T - torch.tensor(sq(x)) / 2).numpy() / np.sqrt(len(W)),
     ["(torch)", DELEGATION]),
    (pf_in_place, ["changed its argument 0 in place"]),
])
def test_positive_features_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_positive_features, fn, *phrases))


def favor_quadratic(q, k, v, W):
    """Right values, but through the L x S matrix the exercise forbids."""
    d = q.shape[-1]
    A = positive_features(q / d ** .25, W) @ np.swapaxes(positive_features(k / d ** .25, W), -1, -2)
    return (A @ v) / A.sum(-1, keepdims=True)


def favor_per_query(q, k, v, W):
    """Right values and memory, but a Python loop over the queries."""
    d = q.shape[-1]
    pq, pk = positive_features(q / d ** .25, W), positive_features(k / d ** .25, W)
    kv, ks = np.swapaxes(pk, -1, -2) @ v, pk.sum(axis=-2)
    out = np.empty(q.shape[:-1] + (v.shape[-1],))
    for i in range(q.shape[-2]):
        out[..., i, :] = (pq[..., i, :, None] * kv).sum(-2) / (pq[..., i, :] * ks).sum(-1)[..., None]
    return out


def favor_in_place(q, k, v, W):
    q *= q.shape[-1] ** -0.25
    k *= k.shape[-1] ** -0.25
    return favor_own_features(q * q.shape[-1] ** .25, k * k.shape[-1] ** .25, v, W)


@pytest.mark.parametrize("fn,phrases", [
    (g._unnormalised, ["normalise"]),
    (lambda q, k, v, W: g._favor_scaled(q, k, v, W, 1, 1), ["d^(-1/4) each"]),
    (lambda q, k, v, W: g._favor_scaled(q, k, v, W, q.shape[-1] ** -.5, q.shape[-1] ** -.5),
     ["not 1/√d on each"]),
    (lambda q, k, v, W: g._favor_scaled(q, k, v, W, q.shape[-1] ** -.5, 1), ["1/√d on q alone"]),
    (favor_quadratic, ["[pass] l = 6", "peak memory grows like n^2", "an L × S matrix"]),
    (favor_per_query, ["[pass] l = 6", "[pass] memory grows like L", "a Python loop per row"]),
    (favor32, ["float32, not float64"]),
    (lambda q, k, v, W: P.favor_attention(q, k, v, W), ["called favor_attention (labutils.nn.favor)", DELEGATION]),
    (lambda q, k, v, W: P.favor_attention(q, k, v, W, "trig"), ["called favor_attention", DELEGATION]),
    (favor_torch, ["(torch)", DELEGATION]),
    (favor_in_place, ["changed its argument 0 in place"]),
    (lambda q, k, v, W: favor_own_features(q, k, v, W).T, ["expected shape"]),
])
def test_favor_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_favor_attention, fn, *phrases))


def strict_causal(q, k, v, W):
    d = q.shape[-1]
    A = np.tril(positive_features(q / d ** .25, W) @ np.swapaxes(positive_features(k / d ** .25, W), -1, -2), -1)
    return (A @ v) / A.sum(-1, keepdims=True)


def quadratic_causal(q, k, v, W):
    d = q.shape[-1]
    A = np.tril(positive_features(q / d ** .25, W) @ np.swapaxes(positive_features(k / d ** .25, W), -1, -2))
    return (A @ v) / A.sum(-1, keepdims=True)


def causal_pairs(q, k, v, W):
    """Linear memory, but a Python loop over every pair j <= i."""
    d = q.shape[-1]
    pq, pk = positive_features(q / d ** .25, W), positive_features(k / d ** .25, W)
    out = np.empty(q.shape[:-1] + (v.shape[-1],))
    for i in range(q.shape[-2]):
        num, den = 0.0, 0.0
        for j in range(i + 1):
            a = (pq[..., i, :] * pk[..., j, :]).sum(-1)[..., None]
            num, den = num + a * v[..., j, :], den + a
        out[..., i, :] = num / den
    return out


def full_normaliser(q, k, v, W):
    d = q.shape[-1]
    A = positive_features(q / d ** .25, W) @ np.swapaxes(positive_features(k / d ** .25, W), -1, -2)
    return (np.tril(A) @ v) / A.sum(-1, keepdims=True)


@pytest.mark.parametrize("fn,phrases", [
    (favor_own_features, ["not all keys"]),
    (strict_causal, ["include the diagonal"]),
    (full_normaliser, ["same prefix"]),
    (lambda q, k, v, W: quadratic_causal(q[..., ::-1, :], k[..., ::-1, :], v[..., ::-1, :], W)[..., ::-1, :],
     ["not j >= i"]),
    (quadratic_causal, ["[pass] l = 6", "peak memory grows like n^2", "an L × L matrix"]),
    (causal_pairs, ["[pass] l = 6", "a Python loop over pairs (i, j)"]),
    (lambda q, k, v, W: P.favor_attention(q, k, v, W, causal=True), ["called favor_attention", DELEGATION]),
    (causal32, ["float32, not float64"]),
    (lambda q, k, v, W: v * np.nan, ["contains nan"]),
])
def test_causal_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_causal_favor, fn, *phrases))


def z_of(est, target, n):
    return (est.mean() - target) / (est.std(ddof=1) / np.sqrt(n))


def std_not_se(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((n_draws, m, len(x)))])
    return (est.mean() - np.exp(x @ y)) / est.std()


def one_w(features, x, y, m, n_draws, rng):
    W = rng.standard_normal((m, len(x)))
    est = np.array([features(x, W) @ features(y, W) for _ in range(n_draws)])
    return z_of(est, np.exp(x @ y), n_draws)


def fixed_m(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((n_draws, 16, len(x)))])
    return z_of(est, np.exp(x @ y), n_draws)


def fewer_draws(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((1000, m, len(x)))])
    return z_of(est, np.exp(x @ y), 1000)


def global_generator(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W) for W in np.random.standard_normal((n_draws, m, len(x)))])
    return z_of(est, np.exp(x @ y), n_draws)


def own_seed(features, x, y, m, n_draws, rng):
    return unbiasedness_z(features, x, y, m, n_draws, np.random.default_rng(0))


def scaled_kernel(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((n_draws, m, len(x)))])
    return z_of(est, np.exp(x @ y / 2), n_draws)


@pytest.mark.parametrize("fn,phrases", [
    (std_not_se, ["divide by the standard error"]),
    (one_w, ["1 different W were drawn", "draw a NEW W"]),
    (fixed_m, ["was given W of shape (16, 4)", "use the m given"]),
    (fewer_draws, ["1000 different W were drawn for n_draws = 3000"]),
    (global_generator, ["the same seed gave two different answers", "rng argument"]),
    (own_seed, ["two different seeds gave the same answer", "rng argument"]),
    (lambda *a: -unbiasedness_z(*a), ["wrong sign"]),
    (lambda *a: abs(unbiasedness_z(*a)), ["[FAIL] features 10 % too small", "wrong sign", "z is signed"]),
    (scaled_kernel, ["|z| >= 4 for an unbiased estimator"]),
    (lambda *a: "z", ["expected a number, got str"]),
    (lambda *a: np.array([unbiasedness_z(*a)]), ["expected a number, got ndarray of shape (1,)"]),
    (lambda *a: g.reference_unbiasedness_z(*a), ["reference_unbiasedness_z (labutils.references.performer)", DELEGATION]),
    (lambda f, x, y, m, n, rng: P.kernel_estimates(x, y, P.sample_matrices(n, m, len(x), rng), "positive").mean(),
     ["(labutils.lab.performer_experiments)", DELEGATION]),
])
def test_unbiasedness_catalogue(fn, phrases):
    with np.errstate(all="ignore"):
        assert_short(fails(g.check_unbiasedness_z, fn, *phrases))


def test_unbiasedness_z_hint_only_for_a_non_finite_z():
    """The old hint rule matched any message containing 'z is'; now a student's own exception
    that says so gets no hint about drawing W."""
    def raises_with_z(*a):
        raise ValueError("the size z is wrong")
    report = fails(g.check_unbiasedness_z, raises_with_z, "raised ValueError: the size z is wrong")
    assert "draw a new w" not in report.lower()


def no_sign_fix(d, rng):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.linalg.norm(rng.standard_normal((d, d)), axis=1)[:, None]


def unit_rows(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("fn,phrases", [
    (no_sign_fix, ["not uniformly distributed", "flip the sign of each column"]),
    (unit_rows, ["every row has length 1", "chi(d)"]),
    (lambda d, rng: unit_rows(d, rng) * np.sqrt(d), ["same length"]),
    (lambda d, rng: rng.standard_normal((d, d)), ["not orthogonal"]),
    (lambda d, rng: unit_rows(d, rng) * (np.linalg.norm(rng.standard_normal((d, d)), axis=1) ** 2)[:, None],
     ["chi(d)² has mean"]),
    (lambda d, rng: np.eye(d + 1), ["expected shape (1, 1)"]),
    (lambda d, rng: orthogonal_block(d, np.random.default_rng()), ["same seed gave two different answers"]),
    (lambda d, rng: orthogonal_block(d, np.random.default_rng(1)), ["two different seeds gave the same answer"]),
    (lambda d, rng: orthogonal_block(d, rng).astype(np.float32), ["float32, not float64"]),
    (lambda d, rng: P.orthogonal_block(d, rng), ["called orthogonal_block (labutils.nn.favor)", DELEGATION]),
    (lambda d, rng: P.orthogonal_gaussian_matrix(d, d, rng), ["(labutils.nn.favor)", DELEGATION]),
    (lambda d, rng: torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0].numpy(), ["(torch)", DELEGATION]),
])
def test_orthogonal_block_catalogue(fn, phrases):
    assert_short(fails(g.check_orthogonal_block, fn, *phrases))


# -- what any student function may do -----------------------------------------------------------
@pytest.mark.parametrize("check", [g.check_positive_features, g.check_favor_attention, g.check_causal_favor],
                         ids=lambda c: c.__name__)
def test_survives_anything(check):
    graderlib.assert_survives(check, REFERENCES[check])


@pytest.mark.parametrize("check", [g.check_unbiasedness_z, g.check_orthogonal_block],
                         ids=lambda c: c.__name__)
def test_survives_anything_scalar_and_random(check):
    fails(check, graderlib.returns_none, "returned none")
    fails(check, graderlib.raises, "raised IndexError")
    fails(check, graderlib.not_filled, "not filled in yet")
    out = fails(check, graderlib.spins, "did not finish within 0.2 s", "endless loop", time_limit_s=0.2)
    assert_short(out)
    fails(check, 42, "expected a function")
