"""Chapter 6's simulations and measurements, over the FAVOR+ building blocks of
``labutils.nn.favor``: many draws of W at once, the estimator of exp(x·y) per draw, the honest
quadratic reference, the attention errors against m and the input scale, and the cost table.

Every function is seeded (``seed``, or an ``rng`` given) and returns numbers; the pictures of
them are in ``labutils.viz.performer``.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from .. import init, validate
from ..nn.favor import (FEATURES, KINDS, favor_attention, orthogonal_gaussian_matrix,
                        softmax_kernel_mse)

__all__ = ["pair", "sample_matrices", "kernel_estimates", "estimator_summary",
           "relative_mse_curves", "exact_attention", "attention_errors", "mean_and_sem",
           "scale_regime", "cost_table", "cost_rows"]


# -- the estimator of exp(x·y), many draws at once ---------------------------------------------
def pair(x_norm: float, y_norm: float, angle_deg: float, d: int = 8
         ) -> tuple[np.ndarray, np.ndarray]:
    """x = |x| e_0 and y at ``angle_deg`` from x in the (e_0, e_1) plane, in R^d."""
    t = math.radians(angle_deg)
    x, y = np.zeros(d), np.zeros(d)
    x[0] = x_norm
    y[0], y[1] = y_norm * math.cos(t), y_norm * math.sin(t)
    return x, y


def sample_matrices(n: int, m: int, d: int, rng: np.random.Generator, orthogonal: bool = False,
                    sign_fix: bool = True) -> np.ndarray:
    """(n, m, d): n independent draws of W, vectorised (stacked QR) for simulations.
    Row by row the same construction as iid_/orthogonal_gaussian_matrix."""
    n, m, d = (validate.positive_int(v, "sample_matrices", a)
               for a, v in (("n", n), ("m", m), ("d", d)))
    validate.generator(rng, "sample_matrices", allow_none=False)
    if not orthogonal:
        return rng.standard_normal((n, m, d))
    nb = -(-m // d)
    q = init.haar_orthogonal(d, rng, batch=(n * nb,), sign_fix=sign_fix)
    lengths = np.linalg.norm(rng.standard_normal((n * nb, d, d)), axis=-1)   # chi(d) draws
    w = np.swapaxes(q, -1, -2) * lengths[..., None]
    return w.reshape(n, nb * d, d)[:, :m]


def kernel_estimates(x: np.ndarray, y: np.ndarray, Ws: np.ndarray, kind: str) -> np.ndarray:
    """φ(x)·φ(y) for each of the n matrices Ws (n, m, d): x, y (d,) -> (n,) estimates of
    exp(x·y). The same feature maps as ``labutils.nn.favor``, written for a stack of W's."""
    if kind not in KINDS:
        raise ValueError(f"kernel_estimates: kind must be one of {KINDS}, got {kind!r}")
    validate.array(Ws, "kernel_estimates", "Ws", ndim=3)
    for name, a in (("x", x), ("y", y)):
        validate.array(a, "kernel_estimates", name, ndim=1)
        if a.shape != Ws.shape[2:]:
            raise ValueError(f"kernel_estimates: {name} must have shape {Ws.shape[2:]} to match "
                             f"Ws {Ws.shape} (n, m, d), got {a.shape}")
    ux, uy = Ws @ x, Ws @ y                                   # (n, m)
    hx, hy = 0.5 * x @ x, 0.5 * y @ y
    if kind == "positive":
        return np.exp(ux + uy - hx - hy).mean(-1)
    if kind == "hyperbolic":
        return np.cosh(ux + uy).mean(-1) * np.exp(-hx - hy)
    return np.cos(ux - uy).mean(-1) * np.exp(hx + hy)     # cos a cos b + sin a sin b


def estimator_summary(x_norm: float = 0.5, y_norm: float = 0.5, angle: float = 0, m: int = 4,
                      kind: str = "positive", n_draws: int = 4000, seed: int = 0, d: int = 8
                      ) -> dict:
    """Samples of φ(x)·φ(y) over ``n_draws`` iid W (m, d), the true exp(x·y), Lemma 2's MSE
    and the sample MSE."""
    x, y = pair(x_norm, y_norm, angle, d)
    rng = np.random.default_rng(seed)
    est = kernel_estimates(x, y, sample_matrices(n_draws, m, d, rng), kind)
    true = math.exp(x @ y)
    return {"samples": est, "true": true, "lemma_mse": float(softmax_kernel_mse(x, y, m, kind)),
            "sample_mse": float(np.mean((est - true) ** 2))}


def relative_mse_curves(s_norm: float = 1.0, m: int = 16, d: int = 8, n_draws: int = 4000,
                        seed: int = 0) -> tuple[list[float], dict]:
    """Relative MSE (MSE / SM²) of positive and trig features as x·y decreases with |x + y| =
    ``s_norm`` held fixed: x, y = (s ± r)/2 with |r| = t for 13 values t in [0, 3].
    Returns (SM values (13,), {kind: (Lemma 2 (13,), Monte Carlo over n_draws W's (13,))})."""
    rng = np.random.default_rng(seed)
    ts = np.linspace(0, 3, 13)
    s = np.zeros(d)
    s[0] = s_norm
    curves = {}
    for kind in ("positive", "trig"):
        lem, mc = [], []
        for t in ts:
            r = np.zeros(d)
            r[1] = t
            x, y = (s + r) / 2, (s - r) / 2
            sm = math.exp(x @ y)
            lem.append(float(softmax_kernel_mse(x, y, m, kind)) / sm ** 2)
            est = kernel_estimates(x, y, sample_matrices(n_draws, m, d, rng), kind)
            mc.append(float(np.mean((est - sm) ** 2)) / sm ** 2)
        curves[kind] = (lem, mc)
    return [math.exp((s_norm ** 2 - t ** 2) / 4) for t in ts], curves


# -- attention: the reference and the errors ----------------------------------------------------
def _check_qkv(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
    owner = "exact_attention"
    validate.array(q, owner, "q", min_ndim=2)
    validate.array(k, owner, "k", ndim=q.ndim)
    validate.array(v, owner, "v", ndim=q.ndim)
    if k.shape[:-2] != q.shape[:-2] or k.shape[-1] != q.shape[-1]:
        raise ValueError(f"exact_attention: k must have shape {q.shape[:-2] + ('S', q.shape[-1])} "
                         f"to match q {q.shape} (..., L, d), got {k.shape}")
    if v.shape[:-1] != k.shape[:-1]:
        raise ValueError(f"exact_attention: v must have shape {k.shape[:-1] + ('d_v',)} to "
                         f"match k {k.shape} (..., S, d), got {v.shape}")


def exact_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False
                    ) -> np.ndarray:
    """softmax(q kᵀ/√d) v for (..., L, d) inputs: the honest quadratic reference, holding one
    (..., L, S) score array (softmax in place; the causal mask written in place, row block by
    row block) and nothing else of that size. No keys (S = 0): zeros, as torch."""
    _check_qkv(q, k, v)
    if k.shape[-2] == 0:
        return np.zeros(q.shape[:-1] + v.shape[-1:], dtype=np.result_type(q, v))
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


def attention_errors(L: int = 64, d: int = 16, ms: tuple[int, ...] = (8, 16, 32, 64, 128, 256),
                     scale: float = 0.5, n_seeds: int = 10, seed: int = 0) -> dict:
    """Relative errors (Frobenius) of FAVOR's attention matrix and output against exact
    softmax attention, for iid/orthogonal x positive/trig features, one row per seed.
    Seed ``seed + i`` draws q, k (entries N(0, scale²)), v (N(0, 1)) and every W of row i, so
    the four feature types of one row see the same inputs.
    Returns {(kind, matrix): (matrix errors, output errors)}, each (n_seeds, len(ms))."""
    res = {(kind, mat): (np.zeros((n_seeds, len(ms))), np.zeros((n_seeds, len(ms))))
           for kind in ("positive", "trig") for mat in ("iid", "orthogonal")}
    for i in range(n_seeds):
        rng = np.random.default_rng(seed + i)
        q, k, v = (rng.standard_normal((L, d)) * sc for sc in (scale, scale, 1.0))
        S = q @ k.T / math.sqrt(d)
        A = np.exp(S - S.max(1, keepdims=True))
        A /= A.sum(1, keepdims=True)
        out = A @ v
        for (kind, mat), (ea, eo) in res.items():
            for j, m in enumerate(ms):
                W = sample_matrices(1, m, d, rng, orthogonal=mat == "orthogonal")[0]
                f = FEATURES[kind]
                B = f(q * d ** -.25, W) @ f(k * d ** -.25, W).T
                B /= B.sum(1, keepdims=True)
                ea[i, j] = np.linalg.norm(B - A) / np.linalg.norm(A)
                eo[i, j] = np.linalg.norm(B @ v - out) / np.linalg.norm(out)
    return res


def mean_and_sem(errors: np.ndarray, cap: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and its standard error, each seed's error counted as at most
    ``cap`` (a normaliser near 0 gives errors of any size). Returns (means, yerr (2, n)), the
    lower bar kept above 0 for a log axis."""
    errors = np.minimum(np.asarray(errors), cap)
    mean = errors.mean(0)
    sem = errors.std(0, ddof=1) / math.sqrt(errors.shape[0])
    return mean, np.vstack([np.minimum(sem, 0.95 * mean), sem])


def scale_regime(scales: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5), L: int = 64,
                 d: int = 16, ms: tuple[int, ...] = (64, 256, 1024), n_seeds: int = 10,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative output error of FAVOR+ (positive, orthogonal) for each m, and of uniform
    attention (every key weighted 1/L), against exact softmax attention, for q, k entries
    N(0, scale²). Seed ``seed + i`` draws row i's inputs and feature matrices.
    Returns (scales, favor errors (n_seeds, len(ms), len(scales)),
    uniform errors (n_seeds, len(scales)))."""
    favor, uniform = np.zeros((n_seeds, len(ms), len(scales))), np.zeros((n_seeds, len(scales)))
    for s in range(n_seeds):
        rng = np.random.default_rng(seed + s)
        for j, sc in enumerate(scales):
            q, k = rng.standard_normal((L, d)) * sc, rng.standard_normal((L, d)) * sc
            v = rng.standard_normal((L, d))
            exact = exact_attention(q, k, v)
            norm = np.linalg.norm(exact)
            uniform[s, j] = np.linalg.norm(v.mean(0) - exact) / norm
            for i, m in enumerate(ms):
                W = orthogonal_gaussian_matrix(m, d, rng)
                favor[s, i, j] = np.linalg.norm(favor_attention(q, k, v, W) - exact) / norm
    return np.array(scales), favor, uniform


# -- cost (chapter 6's small scaling run; benchmarks/bench_performer.py is the full one) -------
def cost_table(Ls: tuple[int, ...] = (256, 512, 1024, 2048), d: int = 64, m: int = 256,
               repeats: int = 5, threads: int = 1, seed: int = 0) -> list[dict]:
    """Time and peak traced memory (``tracemalloc``) of exact attention and bidirectional FAVOR+
    (positive orthogonal features) for each length L, measured by ``cost_rows`` in a fresh
    Python process whose BLAS uses ``threads`` threads: several BLAS threads competing with
    other work for the cores make small products erratically slow. Each time is the median
    of ``repeats`` runs after one untimed warm-up run.
    Returns [{"L", "exact_ms", "favor_ms", "exact_mb", "favor_mb"}, ...]."""
    if not isinstance(Ls, (tuple, list)):
        raise TypeError(f"cost_table: Ls must be a tuple of positive ints, got {Ls!r}")
    Ls = tuple(validate.positive_int(L, "cost_table", f"Ls[{i}]") for i, L in enumerate(Ls))
    for arg, value in (("d", d), ("m", m), ("repeats", repeats), ("threads", threads)):
        validate.positive_int(value, "cost_table", arg)
    validate.positive_int(seed, "cost_table", "seed", minimum=0)
    code = ("import json; from labutils.lab.performer_experiments import cost_rows; "
            f"print(json.dumps(cost_rows({tuple(Ls)!r}, {d}, {m}, {repeats}, {seed})))")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"cost_table: the measuring process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cost_rows(Ls: tuple[int, ...], d: int, m: int, repeats: int, seed: int) -> list[dict]:
    """``cost_table``'s measurement, in the current process (its BLAS threads as they are)."""
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
