"""Chapter 4's capstone: an RNN and an LSTM, built from given cell functions (the student's),
trained on the adding problem at a short and a long delay.

The adding problem (Hochreiter and Schmidhuber, 1997): at each of T steps the input is a pair
(value, marker) with the value uniform in [0, 1); exactly two steps are marked, one in each half
of the sequence, and the target after the last step is the sum of the two marked values.
Predicting the mean (1) leaves a mean squared error of 1/6 ≈ 0.167, the variance of the target.

``train_memory`` trains a one-layer network with a linear read-out of the last state, by Adam on
the squared error, and records how large the gradient dL/dh_k is at every step k, relative to
dL/dh_T (at training step 20, once the read-out is no longer zero, and at the last step).
The cell is given as functions with the exercises' signatures:

    RNN:   forward(x, h, W_ih, W_hh, b_ih, b_hh) -> h'
           bptt(x, h0, W_ih, W_hh, b_ih, b_hh, dh) -> (dx, dh0, dW_ih, dW_hh, db_ih, db_hh)
    LSTM:  forward(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h', c')
           backward(x, h, c, W_ih, W_hh, b_ih, b_hh, dh', dc') -> (dx, dh, dc, dW_ih, dW_hh,
                                                                    db_ih, db_hh)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["adding_problem", "train_memory", "BASELINE_MSE"]

EARLY = 20                    # the early training step whose gradient norms are recorded
BASELINE_MSE = 1 / 6          # the variance of the target: what predicting its mean achieves
WEIGHTS = ("W_ih", "W_hh", "b_ih", "b_hh")


def adding_problem(rng: np.random.Generator, n: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """n sequences of T steps: x (T, n, 2) (value, marker), y (n,) the sum of the marked values."""
    x = np.zeros((T, n, 2))
    x[:, :, 0] = rng.uniform(0, 1, (T, n))
    rows = np.arange(n)
    first, second = rng.integers(0, max(1, T // 2), n), rng.integers(T // 2, T, n)
    x[first, rows, 1] = 1
    x[second, rows, 1] = 1
    return x, x[first, rows, 0] + x[second, rows, 0]


def _init(gates: int, H: int, rng: np.random.Generator, forget_bias: float) -> dict:
    """torch's initialisation, U(-1/√H, 1/√H), with the LSTM's forget-gate bias raised."""
    k = 1 / np.sqrt(H)
    p = {"W_ih": rng.uniform(-k, k, (gates * H, 2)), "W_hh": rng.uniform(-k, k, (gates * H, H)),
         "b_ih": np.zeros(gates * H), "b_hh": np.zeros(gates * H), "V": np.zeros(H),
         "c": np.ones(1)}
    if gates == 4:
        p["b_ih"][H:2 * H] = forget_bias
    return p


def _run(forward: Callable, lstm: bool, p: dict, x: np.ndarray, H: int) -> tuple:
    """The states h_0 ... h_T (and c_0 ... c_T for the LSTM)."""
    hs = [np.zeros((x.shape[1], H))]
    cs = [np.zeros_like(hs[0])]
    for t in range(len(x)):
        if lstm:
            h, c = forward(x[t], hs[-1], cs[-1], *(p[k] for k in WEIGHTS))
            cs.append(c)
        else:
            h = forward(x[t], hs[-1], *(p[k] for k in WEIGHTS))
        hs.append(h)
    return hs, cs


def _backward(backward: Callable, lstm: bool, p: dict, x: np.ndarray, hs: list, cs: list,
              dh_T: np.ndarray, measure: bool) -> tuple[list, np.ndarray]:
    """The weights' gradients and, if ``measure``, ||dL/dh_k|| for k = 0 ... T (mean over the
    batch; for the RNN that costs T more BPTT runs, so only a few training steps measure)."""
    T, w = len(x), [p[k] for k in WEIGHTS]
    norms = np.zeros(T + 1)
    norms[T] = np.linalg.norm(dh_T, axis=1).mean()
    if lstm:
        dh, dc, total = dh_T, np.zeros_like(dh_T), [0.0] * 4
        for t in range(T - 1, -1, -1):
            _, dh, dc, *g = backward(x[t], hs[t], cs[t], *w, dh, dc)
            total = [a + b for a, b in zip(total, g)]
            norms[t] = np.linalg.norm(dh, axis=1).mean()
        return total, norms
    dh = np.zeros((T,) + dh_T.shape)
    dh[-1] = dh_T
    total = list(backward(x, hs[0], *w, dh)[2:])
    for k in range(T if measure else 0):   # dL/dh_k: BPTT of the steps after k, from h_k
        norms[k] = np.linalg.norm(backward(x[k:], hs[k], *w, dh[k:])[1], axis=1).mean()
    return total, norms


def _adam(p: dict, grads: dict, state: dict, lr: float, t: int) -> None:
    """torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8), in place."""
    for k, g in grads.items():
        m, v = state.get(k, (0.0, 0.0))
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        state[k] = (m, v)
        p[k] -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)


def train_memory(forward: Callable, backward: Callable, lstm: bool, T: int, steps: int = 400,
                 hidden: int = 16, batch: int = 32, lr: float = 0.03, forget_bias: float = 3.0,
                 seed: int = 0) -> dict:
    """Train on the adding problem with T steps. Returns {"mse": the test MSE on 500 new
    sequences, "losses": the training losses, "norms": {"step 20": ||dL/dh_k|| / ||dL/dh_T||
    for k = 0 ... T (mean over the batch), "step <steps>": the same at the end}}."""
    rng = np.random.default_rng(seed)
    p = _init(4 if lstm else 1, hidden, rng, forget_bias)
    state, losses, norms = {}, [], {}
    for step in range(1, steps + 1):
        x, y = adding_problem(rng, batch, T)
        hs, cs = _run(forward, lstm, p, x, hidden)
        err = hs[-1] @ p["V"] + p["c"] - y
        losses.append(float(np.mean(err ** 2)))
        dz = 2 * err / batch
        grads = {"V": hs[-1].T @ dz, "c": np.array([dz.sum()])}
        measure = step in (min(EARLY, steps), steps)
        weight_grads, step_norms = _backward(backward, lstm, p, x, hs, cs, np.outer(dz, p["V"]),
                                             measure)
        grads.update(zip(WEIGHTS, weight_grads))
        if measure:
            norms[f"step {step}"] = step_norms / step_norms[-1]
        _adam(p, grads, state, lr, step)
    x, y = adding_problem(np.random.default_rng(seed + 1000), 500, T)
    hs, _ = _run(forward, lstm, p, x, hidden)
    return {"mse": float(np.mean((hs[-1] @ p["V"] + p["c"] - y) ** 2)), "losses": losses,
            "norms": norms}
