"""Chapter 6 graders: pass the reference (and other correct answers), fail each typical
mistake with the right hint, and survive None, exceptions, NaN, in-place changes, loops."""
import math

import numpy as np
import pytest

from labutils import performer as P
from labutils.grading import performer as g

from .graderlib import fails, passes


# -- correct answers as a student would write them ------------------------------------------
def positive_features(x, W):
    return np.exp(x @ W.T - 0.5 * np.sum(x ** 2, axis=-1, keepdims=True)) / np.sqrt(W.shape[0])


def favor(q, k, v, W):
    d = q.shape[-1]
    pq, pk = positive_features(q / d ** .25, W), positive_features(k / d ** .25, W)
    num = pq @ (np.swapaxes(pk, -1, -2) @ v)
    den = pq @ pk.sum(axis=-2)[..., None]
    return num / den


def causal_loop(q, k, v, W):
    """Prefix sums with a Python loop over positions (any leading dimensions)."""
    d = q.shape[-1]
    pq, pk = positive_features(q / d ** .25, W), positive_features(k / d ** .25, W)
    S = np.zeros(q.shape[:-2] + (W.shape[0], v.shape[-1]))
    z = np.zeros(q.shape[:-2] + (W.shape[0],))
    out = np.empty(q.shape[:-1] + (v.shape[-1],))
    for i in range(q.shape[-2]):
        S = S + pk[..., i, :, None] * v[..., i, None, :]
        z = z + pk[..., i, :]
        out[..., i, :] = (np.einsum("...m,...md->...d", pq[..., i, :], S)
                          / np.einsum("...m,...m->...", pq[..., i, :], z)[..., None])
    return out


def orthogonal_block(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.norm(rng.standard_normal((d, d)), axis=1)[:, None]


def orthogonal_block_columns(d, rng):
    """Q's columns as the rows, lengths drawn first: also correct."""
    lengths = np.sqrt(rng.chisquare(d, size=d))
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sign(np.diag(r))).T * lengths[:, None]


def unbiasedness_z(features, x, y, m, n_draws, rng):
    est = np.array([features(x, W) @ features(y, W)
                    for W in rng.standard_normal((n_draws, m, len(x)))])
    return (est.mean() - np.exp(x @ y)) / (est.std() / np.sqrt(n_draws))


def test_references_pass():
    passes(g.check_positive_features, P.positive_features)
    passes(g.check_positive_features, positive_features)
    passes(g.check_favor_attention, favor)
    passes(g.check_favor_attention, lambda q, k, v, W: P.favor_attention(q, k, v, W))
    out = passes(g.check_causal_favor, causal_loop)
    assert "peak memory below" in out
    passes(g.check_causal_favor, lambda q, k, v, W: P.favor_attention(q, k, v, W, causal=True))
    passes(g.check_unbiasedness_z, g.reference_unbiasedness_z)
    passes(g.check_unbiasedness_z, unbiasedness_z)
    passes(g.check_orthogonal_block, orthogonal_block)
    passes(g.check_orthogonal_block, lambda d, rng: P.orthogonal_gaussian_matrix(d, d, rng))
    passes(g.check_orthogonal_block, orthogonal_block_columns)


# -- typical mistakes --------------------------------------------------------------------------
def sq(x):
    return np.sum(x * x, axis=-1, keepdims=True)


@pytest.mark.parametrize("fn,phrases", [
    (lambda x, W: np.exp(x @ W.T - sq(x) / 2), ["divide by √m"]),
    (lambda x, W: np.exp(x @ W.T) / np.sqrt(len(W)), ["exp(-|x|²/2) is missing"]),
    (lambda x, W: np.exp(x @ W.T + sq(x) / 2) / np.sqrt(len(W)), ["the sign of |x|²/2"]),
    (lambda x, W: positive_features(x / x.shape[-1] ** .25, W), ["no 1/√d inside"]),
    (lambda x, W: np.exp(x @ W - sq(x) / 2) / np.sqrt(len(W)), ["x @ W.T"]),
    (lambda x, W: np.exp(x @ W.T - np.sum(x * x) / 2) / np.sqrt(len(W)),
     ["leading dimensions", "[pass] a single vector"]),
])
def test_positive_features_mistakes(fn, phrases):
    fails(g.check_positive_features, fn, *phrases)


@pytest.mark.parametrize("fn,phrases", [
    (lambda q, k, v, W: g._unnormalised(q, k, v, W), ["normalise"]),
    (lambda q, k, v, W: g._favor_scaled(q, k, v, W, 1, 1), ["d^(-1/4) each"]),
    (lambda q, k, v, W: g._favor_scaled(q, k, v, W, q.shape[-1] ** -.5, q.shape[-1] ** -.5),
     ["not 1/√d on each"]),
    (lambda q, k, v, W: g._favor_scaled(q, k, v, W, q.shape[-1] ** -.5, 1), ["1/√d on q alone"]),
    (lambda q, k, v, W: P.favor_attention(q, k, v, W, "trig"), ["trigonometric"]),
    (lambda q, k, v, W: favor(q, k, v, W).T, ["expected shape"]),
])
def test_favor_mistakes(fn, phrases):
    fails(g.check_favor_attention, fn, *phrases)


def strict_causal(q, k, v, W):
    d = q.shape[-1]
    A = np.tril(positive_features(q / d ** .25, W) @ np.swapaxes(positive_features(k / d ** .25, W), -1, -2), -1)
    return (A @ v) / A.sum(-1, keepdims=True)


def quadratic_causal(q, k, v, W):
    d = q.shape[-1]
    A = np.tril(positive_features(q / d ** .25, W) @ np.swapaxes(positive_features(k / d ** .25, W), -1, -2))
    return (A @ v) / A.sum(-1, keepdims=True)


@pytest.mark.parametrize("fn,phrases", [
    (favor, ["not all keys"]),
    (strict_causal, ["include the diagonal"]),
    (lambda q, k, v, W: (np.tril(positive_features(q / 2 ** .5, W) @ positive_features(k / 2 ** .5, W).swapaxes(-1, -2)) @ v)
     / (positive_features(q / 2 ** .5, W) @ positive_features(k / 2 ** .5, W).swapaxes(-1, -2)).sum(-1, keepdims=True),
     ["same prefix"]),
    (quadratic_causal, ["[pass] l = 6", "an l×l matrix was built"]),
])
def test_causal_mistakes(fn, phrases):
    with np.errstate(all="ignore"):
        fails(g.check_causal_favor, fn, *phrases)


def test_unbiasedness_mistakes():
    def std_not_se(features, x, y, m, n_draws, rng):
        est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((n_draws, m, len(x)))])
        return (est.mean() - np.exp(x @ y)) / est.std()
    fails(g.check_unbiasedness_z, std_not_se, "divide by the standard error")

    def one_w(features, x, y, m, n_draws, rng):
        W = rng.standard_normal((m, len(x)))
        est = np.array([features(x, W) @ features(y, W) for _ in range(n_draws)])
        with np.errstate(all="ignore"):
            return (est.mean() - np.exp(x @ y)) / (est.std() / np.sqrt(n_draws))
    fails(g.check_unbiasedness_z, one_w, "draw a new w")

    def reversed_sign(*a):
        return -g.reference_unbiasedness_z(*a)
    fails(g.check_unbiasedness_z, reversed_sign, "wrong sign")

    def scaled_kernel(features, x, y, m, n_draws, rng):
        est = np.array([features(x, W) @ features(y, W) for W in rng.standard_normal((n_draws, m, len(x)))])
        return (est.mean() - np.exp(x @ y / 2)) / (est.std() / np.sqrt(n_draws))
    fails(g.check_unbiasedness_z, scaled_kernel, "|z| >= 4 for an unbiased estimator")
    fails(g.check_unbiasedness_z, lambda *a: "z", "expected a number")


def test_orthogonal_block_mistakes():
    def no_sign_fix(d, rng):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        return q * np.linalg.norm(rng.standard_normal((d, d)), axis=1)[:, None]
    fails(g.check_orthogonal_block, no_sign_fix, "np.sign(np.diag(r))")

    def unit_rows(d, rng):
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        return q * np.sign(np.diag(r))
    fails(g.check_orthogonal_block, unit_rows, "every row has length 1", "chi(d)")
    fails(g.check_orthogonal_block, lambda d, rng: unit_rows(d, rng) * np.sqrt(d), "same length")
    fails(g.check_orthogonal_block, lambda d, rng: rng.standard_normal((d, d)), "not orthogonal")

    def chi_squared_lengths(d, rng):
        return unit_rows(d, rng) * (np.linalg.norm(rng.standard_normal((d, d)), axis=1) ** 2)[:, None]
    fails(g.check_orthogonal_block, chi_squared_lengths, "chi(d)² has mean")
    fails(g.check_orthogonal_block, lambda d, rng: np.eye(d + 1), "expected shape (1, 1)")


# -- what any student code may do ----------------------------------------------------------------
def test_none_raise_nan_and_in_place():
    fails(g.check_positive_features, lambda x, W: None, "returned None")
    fails(g.check_favor_attention, lambda q, k, v, W: q[99], "raised IndexError")
    fails(g.check_causal_favor, lambda q, k, v, W: v * np.nan, "contains nan")
    fails(g.check_orthogonal_block, lambda d, rng: None, "returned None")
    fails(g.check_unbiasedness_z, lambda *a: None, "returned None")

    def in_place(q, k, v, W):
        q *= q.shape[-1] ** -0.25
        k *= k.shape[-1] ** -0.25
        return favor(q * q.shape[-1] ** .25, k * k.shape[-1] ** .25, v, W)
    fails(g.check_favor_attention, in_place, "changed its argument 0 in place")

    def unfilled(x, W):
        raise NotImplementedError()
    fails(g.check_positive_features, unfilled, "not filled in yet")


@pytest.mark.parametrize("check,nargs", [(g.check_positive_features, 2), (g.check_causal_favor, 4),
                                         (g.check_unbiasedness_z, 6), (g.check_orthogonal_block, 2)])
def test_endless_loops_are_interrupted(check, nargs):
    def spins(*args):
        while True:
            pass
    fails(check, spins, "did not finish within 0.2 s", time_limit_s=0.2)
    assert math.isfinite(sum(range(10)))
