"""Chapter 2 pictures: which entries of an (N, C, H, W) block share one mean and variance
under batch, layer, instance and group norm (with an explorer), the noise of batch
statistics against batch size, and training curves.

All drawing functions are pure: ``draw_*(fig, **values)`` draws into ``fig`` and returns
what it drew (for tests)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike

from .explorer import FrameExplorer
from .style import OKABE_ITO, finish

__all__ = ["METHODS", "EXPLORER_CHOICES", "statistic_sets", "draw_norm_groups", "norm_explorer",
           "draw_batch_noise", "draw_training_curves"]

METHODS = ("batch", "layer", "instance", "group")


def statistic_sets(method: str, shape: tuple[int, ...] = (4, 6, 3, 3), groups: int = 2,
                   ) -> np.ndarray:
    """An int array of ``shape`` (N, C, H, W): entries with the same number share one mean
    and one variance under ``method`` ("batch", "layer", "instance" or "group")."""
    n, c = shape[:2]
    idx_n = np.arange(n).reshape((n, 1) + (1,) * (len(shape) - 2))
    idx_c = np.arange(c).reshape((1, c) + (1,) * (len(shape) - 2))
    if method == "batch":
        ids = 0 * idx_n + idx_c
    elif method == "layer":
        ids = idx_n + 0 * idx_c
    elif method == "instance":
        ids = idx_n * c + idx_c
    elif method == "group":
        if groups < 1 or c % groups:
            raise ValueError(f"statistic_sets: {c} channels cannot form {groups} equal groups")
        ids = idx_n * groups + idx_c // (c // groups)
    else:
        raise ValueError(f"statistic_sets: method must be one of {METHODS}, got {method!r}")
    return np.broadcast_to(ids, shape).copy()


_DESCRIBE = {     # second title line: short enough for a panel of a 2 x 2 figure at body-size text
    "batch": "one per channel, over batch and positions",
    "layer": "one per sample, over channels and positions",
    "instance": "one per (sample, channel), over positions",
    "group": "one per (sample, group of {per} channels)",
}


def draw_norm_groups(fig: Figure, method: str = "batch", groups: int = 2,
                     shape: tuple[int, int, int, int] = (4, 6, 3, 3)) -> np.ndarray:
    """The (N, C, H, W) block as a grid: a row of tiles per sample, a column per channel,
    each tile the H x W positions. Each set of entries that shares one mean and variance
    is a rectangle of tiles, outlined in black and filled with one colour.
    Returns the image array (set ids, NaN in the gaps between tiles)."""
    n, c, h, w = shape
    ids = statistic_sets(method, shape, groups)
    img = np.full((n * (h + 1) - 1, c * (w + 1) - 1), np.nan)
    for i in range(n):
        for j in range(c):
            img[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = ids[i, j]
    n_sets = int(ids.max()) + 1
    colours = [OKABE_ITO[k % 7] for k in range(n_sets)]   # black (the 8th) is for outlines
    ax = fig.add_subplot(1, 1, 1)
    cmap = ListedColormap(colours).with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(img), cmap=cmap, vmin=-0.5, vmax=n_sets - 0.5,
              interpolation="nearest")
    for k in range(n_sets):          # every set is a rectangle of tiles: outline it
        rows, cols = np.nonzero(ids[:, :, 0, 0] == k)
        i0, i1, j0, j1 = rows.min(), rows.max(), cols.min(), cols.max()
        ax.add_patch(Rectangle((j0 * (w + 1) - 0.8, i0 * (h + 1) - 0.8),
                               (j1 - j0) * (w + 1) + w + 0.6, (i1 - i0) * (h + 1) + h + 0.6,
                               fill=False, edgecolor="black", linewidth=1.5))
    ax.set_xlim(-1, img.shape[1])
    ax.set_ylim(img.shape[0], -1)
    ax.set_xticks([j * (w + 1) + (w - 1) / 2 for j in range(c)], [f"c{j}" for j in range(c)])
    ax.set_yticks([i * (h + 1) + (h - 1) / 2 for i in range(n)], [f"n{i}" for i in range(n)])
    ax.grid(False)
    size = int((ids == 0).sum())
    label = f"{method} norm" + (f", G = {groups}" if method == "group" else "")
    desc = _DESCRIBE[method].format(per=c // groups if method == "group" else 0)
    finish(ax, f"{label}: {n_sets} sets, {size} values each\n{desc}", f"channels (each tile: {h} x {w} positions)",
           "samples in the batch")
    return img


EXPLORER_CHOICES = ("batch", "layer", "instance", "group, G = 1", "group, G = 2", "group, G = 3",
                    "group, G = 6")


def _parse_choice(choice: str) -> tuple[str, int]:
    """"group, G = 3" -> ("group", 3); "batch" -> ("batch", 1)."""
    if choice.startswith("group"):
        return "group", int(choice.split("=")[1])
    return choice, 1


def norm_explorer(shape: tuple[int, int, int, int] = (4, 6, 3, 3),
                  choices: Sequence[str] = EXPLORER_CHOICES) -> FrameExplorer:
    """FrameExplorer with one control: the method, group norm with each group count as its own
    option (7 pre-drawn frames; a separate group-count control would multiply the frames)."""
    def draw(fig: Figure, method: str) -> np.ndarray:
        name, groups = _parse_choice(method)
        return draw_norm_groups(fig, name, groups, shape)
    return FrameExplorer(
        draw, {"method": list(choices)}, labels={"method": "method"},
        alt=f"A grid of {shape[0]} samples by {shape[1]} channels, each tile {shape[2]} by "
            f"{shape[3]} positions, coloured by which entries share one mean and variance "
            f"under the chosen normalization; each such set is outlined.",
        figsize=(6.4, 4.2))


def _label_2_and_5(v: float, _pos: int | None) -> str:
    """Minor log-axis tick label: only at 2 and 5 times a power of ten (0.02, 0.05, 0.2, ...)."""
    lead = v / 10 ** np.floor(np.log10(v)) if v > 0 else 0
    return f"{v:g}" if np.isclose(lead, 2) or np.isclose(lead, 5) else ""


def draw_batch_noise(fig: Figure, batch_sizes: ArrayLike, mean_spread: ArrayLike,
                     std_spread: ArrayLike, true_std: float = 1.0) -> Axes:
    """Log-log plot of the spread (standard deviation over many batches) of the batch mean
    and of the batch standard deviation against batch size, with the large-batch laws
    σ/√B and σ/√(2B). Returns the axis."""
    ax = fig.add_subplot(1, 1, 1)
    b = np.asarray(batch_sizes, dtype=float)
    ax.loglog(b, mean_spread, "o-", label=r"batch mean $\mu_B$ (measured)")
    ax.loglog(b, std_spread, "s-", label=r"batch std $\sigma_B$ (measured)")
    ax.loglog(b, true_std / np.sqrt(b), "--", color="grey", label=r"$\sigma / \sqrt{B}$")
    ax.loglog(b, true_std / np.sqrt(2 * b), ":", color="grey", label=r"$\sigma / \sqrt{2B}$")
    ax.set_xticks(b, [str(int(v)) for v in b])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))     # 0.1, not 10^-1
    ax.yaxis.set_minor_formatter(FuncFormatter(_label_2_and_5))
    finish(ax, r"Noise of batch statistics (one feature, $\sigma = 1$)", "batch size B",
           "spread over batches (std)", legend=True)
    return ax


def draw_training_curves(fig: Figure, curves: Mapping[str, ArrayLike],
                         title: str = "Training loss") -> Axes:
    """curves: {label: sequence of losses}. Non-finite losses (divergence) are cut off and
    marked with an x at the last finite step. Returns the axis."""
    ax = fig.add_subplot(1, 1, 1)
    for k, (label, losses) in enumerate(curves.items()):
        losses = np.asarray(losses, dtype=float)
        ok = np.isfinite(losses)
        last = len(losses) if ok.all() else int(np.argmin(ok))
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        ax.plot(np.arange(last), losses[:last], color=colour, label=label)
        if last < len(losses) and last > 0:
            ax.plot(last - 1, losses[last - 1], "x", color=colour, markersize=10)
    ax.set_yscale("log")
    finish(ax, title, "step", "training loss (log scale)", legend=True)
    return ax
