"""Chapter 6 pictures: the random-feature estimator of exp(x·y) against the truth and Lemma 2,
the relative error as SM -> 0, attention error against m, and the input-scale regime.
Each ``draw_*`` is a pure function of its arguments (fixed seeds); the explorer pre-draws
``draw_estimator`` over a small grid. The numbers drawn are computed in
``labutils.lab.performer_experiments`` (re-exported here under their old names:
``pair``, ``estimator_summary``, ``attention_errors``, ``mean_and_sem``, ``scale_regime``,
and the new ``relative_mse_curves``).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..lab.performer_experiments import (attention_errors, estimator_summary, mean_and_sem,
                                         pair, relative_mse_curves, scale_regime)
from ..nn.favor import softmax_kernel_mse
from .explorer import FrameExplorer
from .style import OKABE_ITO, finish

__all__ = ["KIND_COLOURS", "LINE_STYLES", "EXPLORER_GRID", "draw_estimator", "estimator_explorer",
           "estimator_alt", "draw_relative_mse", "draw_attention_errors", "draw_scale_regime",
           "pair", "estimator_summary", "attention_errors", "mean_and_sem", "scale_regime",
           "relative_mse_curves"]

KIND_COLOURS = {"positive": OKABE_ITO[0], "trig": OKABE_ITO[3], "hyperbolic": OKABE_ITO[2]}


def draw_estimator(fig: Figure, x_norm: float = 0.5, y_norm: float = 0.5, angle: float = 0,
                   m: int = 4, kind: str = "positive", n_draws: int = 4000, seed: int = 0) -> Axes:
    """Histogram of the estimates, the true value, and ±√MSE of Lemma 2 around it."""
    s = estimator_summary(x_norm, y_norm, angle, m, kind, n_draws, seed)
    est, true, rmse = s["samples"], s["true"], math.sqrt(s["lemma_mse"])
    half = max(4 * rmse, 1e-3 * true)   # trig features at x = y are exact: MSE = 0
    lo, hi = true - half, true + half
    outside = np.mean((est < lo) | (est > hi))
    fig.set_layout_engine("none")          # fixed margins: much cheaper for 32 pre-drawn frames
    ax = fig.add_axes((0.06, 0.14, 0.56, 0.68))
    ax.hist(np.clip(est, lo, hi), bins=60, range=(lo, hi), density=True,
            color=KIND_COLOURS[kind], alpha=0.6, histtype="stepfilled",
            label=f"{n_draws} estimates")
    ax.axvspan(true - rmse, true + rmse, color="0.6", alpha=0.25, label="true ± √MSE (Lemma 2)")
    ax.axvline(true, color="black", lw=2, label=f"exp(x·y) = {true:.3g}")
    ax.axvline(est.mean(), color=OKABE_ITO[1], lw=1.5, ls="--", label="mean of the estimates")
    ax.locator_params(axis="x", nbins=4)
    ax.set_yticks([])                      # a density's scale says nothing here; its shape does
    # legend and numbers to the right of the histogram, where they cover nothing
    ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1.0), borderaxespad=0)
    ax.text(1.04, 0.0, f"relative RMSE\n  Lemma 2: {rmse / true:.2g}\n  sampled: "
            f"{math.sqrt(s['sample_mse']) / true:.2g}\n{100 * outside:.1f} % of draws off the\n"
            f"plotted range (piled\nat its edges)", transform=ax.transAxes, ha="left",
            va="bottom")
    finish(ax, f"{kind} features, m = {m}\n|x| = {x_norm}, |y| = {y_norm}, angle {angle}°",
           "estimate φ(x)·φ(y)", "density")
    return ax


EXPLORER_GRID = {"x_norm": [0.5, 1.0], "y_norm": [0.5, 1.0], "angle": [0, 180],
                 "m": [4, 32], "kind": ["positive", "trig"]}


def estimator_explorer(grid: dict | None = None) -> FrameExplorer:
    """|x|, |y|, angle, m and feature kind -> the estimator's distribution (pre-drawn frames)."""
    return FrameExplorer(
        draw_estimator, grid or EXPLORER_GRID,
        labels={"x_norm": "|x|", "y_norm": "|y|", "angle": "angle (°)", "m": "m",
                "kind": "features"},
        alt=estimator_alt)


def estimator_alt(x_norm: float = 0.5, y_norm: float = 0.5, angle: float = 0, m: int = 4,
                  kind: str = "positive", n_draws: int = 4000, d: int = 8) -> str:
    """The alt text of one estimator-explorer frame (what ``draw_estimator`` shows)."""
    x, y = pair(x_norm, y_norm, angle, d)
    true = math.exp(x @ y)
    rel = math.sqrt(softmax_kernel_mse(x, y, m, kind)) / true
    spread = ("; here every estimate is exact (Lemma 2's error is 0)" if rel < 1e-12 else
              f", and Lemma 2's root mean squared error, {rel:.2g} of the true value, as a "
              f"shaded band")
    return (f"Histogram of {n_draws} random-feature estimates of exp(x·y) with {kind} features, "
            f"m = {m}, |x| = {x_norm}, |y| = {y_norm}, angle {angle}°: the true value {true:.3g} "
            f"as a vertical line, the mean of the estimates as a dashed line{spread}.")


def draw_relative_mse(fig: Figure, s_norm: float = 1.0, m: int = 16, d: int = 8,
                      n_draws: int = 4000, seed: int = 0) -> Axes:
    """Relative MSE (MSE / SM²) of trig and positive features as x·y decreases with
    |x + y| held fixed: Lemma 2 (lines) and Monte Carlo (points)."""
    ax = fig.add_subplot()
    sms, curves = relative_mse_curves(s_norm, m, d, n_draws, seed)
    for kind, (lem, mc) in curves.items():
        ax.loglog(sms, lem, color=KIND_COLOURS[kind], lw=2, label=f"{kind}: Lemma 2")
        ax.loglog(sms, mc, "o", color=KIND_COLOURS[kind], ms=4, label=f"{kind}: Monte Carlo")
    ax.invert_xaxis()
    finish(ax, f"Relative MSE as SM(x, y) → 0 with |x + y| = {s_norm} fixed (m = {m})",
           "SM(x, y) = exp(x·y)  (decreasing →)", "MSE / SM²", legend=True)
    return ax


LINE_STYLES = {"iid": "--", "orthogonal": "-"}


def draw_attention_errors(fig: Figure, errors_by_scale: dict,
                          ms: tuple[int, ...] = (8, 16, 32, 64, 128, 256)) -> np.ndarray:
    """One row per input scale: attention-matrix error and output error against m (log-log),
    the mean over seeds with ± one standard error. ``errors_by_scale``: {scale:
    attention_errors(...)}. Errors above 10 count as 10 (see ``mean_and_sem``). One legend under
    the panels names every line (colour = feature kind, dash = iid rows, solid = orthogonal
    rows)."""
    axes = np.atleast_2d(fig.subplots(len(errors_by_scale), 2, sharex=True))
    n_seeds = None
    for r, (scale, errors) in enumerate(errors_by_scale.items()):
        for (kind, mat), per_seed in errors.items():
            n_seeds = per_seed[0].shape[0]
            style = dict(color=KIND_COLOURS[kind], ls=LINE_STYLES[mat], marker="o", ms=4,
                         capsize=3, label=f"{kind} features, {mat} rows")
            for ax, err in zip(axes[r], per_seed):
                mean, bars = mean_and_sem(err)
                ax.errorbar(ms, mean, yerr=bars, **style)
        for ax, what in zip(axes[r], ("Attention matrix", "Attention output")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            finish(ax, f"{what}, q, k ~ N(0, {scale}²)", "m (random features)",
                   "relative error")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2,
               title=f"mean over {n_seeds} seeds, bars ± 1 standard error")
    return axes


def draw_scale_regime(fig: Figure, scales: np.ndarray, favor: np.ndarray, uniform: np.ndarray,
                      ms: tuple[int, ...] = (64, 256, 1024)) -> Axes:
    """FAVOR+'s output error for each m against uniform attention's, over the input scale:
    means over the seeds (axis 0) with ± one standard error."""
    ax = fig.add_subplot()
    for i, m in enumerate(ms):
        mean, bars = mean_and_sem(favor[:, i])
        ax.errorbar(scales, mean, yerr=bars, marker="o", capsize=3, color=OKABE_ITO[i],
                    label=f"FAVOR+ (positive, orthogonal), m = {m}")
    mean, bars = mean_and_sem(uniform)
    ax.errorbar(scales, mean, yerr=bars, marker="s", ls="--", capsize=3, color="0.3",
                label="uniform attention (mean of v)")
    ax.set_yscale("log")
    finish(ax, "Where FAVOR+ beats doing nothing: the input scale", "std of the entries of q and k",
           "relative output error vs exact", legend=True)
    ax.legend_.set_title(f"mean over {favor.shape[0]} seeds, ± 1 standard error")
    return ax
