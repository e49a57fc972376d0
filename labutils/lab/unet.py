"""A tiny U-Net (Ronneberger et al., 2015) from labutils modules, and the segmentation task it
learns in chapter 3: find the pixels of the bar in a noisy oriented-bars image.

    TinyUNet(c=8):  x (N, 1, H, W), H and W even
      down:   conv3 (1 -> c), ReLU, conv3 (c -> c), ReLU            -> skip  (N, c, H, W)
      bottom: maxpool 2, conv3 (c -> 2c), ReLU                       ->       (N, 2c, H/2, W/2)
      up:     ConvTranspose2d(2c -> c, 2, stride 2)                  ->       (N, c, H, W)
              concat with skip, conv3 (2c -> c), ReLU, conv1 (c -> 2) -> logits (N, H, W, 2)
    The logits put the class axis last, so ``lab.training.train`` scores every pixel with
    CrossEntropyLoss. backward: the concatenation's gradient splits in two; the skip's part is
    added to what comes back up the contracting path.
"""
from __future__ import annotations

import numpy as np

from ..module import Module, Sequential
from ..nn.activation import ReLU
from ..nn.conv import Conv2d, ConvTranspose2d
from ..nn.pool import MaxPool2d
from .cnn_capstone import oriented_bars


def bar_masks(n: int, rng: np.random.Generator, size: int = 12, noise: float = 0.3
              ) -> tuple[np.ndarray, np.ndarray]:
    """Noisy bar images and their masks: x (n, 1, size, size), mask (n, size, size) in {0, 1}."""
    clean, _ = oriented_bars(n, rng, size, noise=0.0)
    return clean + noise * rng.standard_normal(clean.shape), clean[:, 0].astype(int)


class TinyUNet(Module):
    """Children: down, bottom, up, head (see the module doc)."""

    def __init__(self, channels: int = 8, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        c, kw = channels, dict(rng=rng)
        self.down = Sequential(Conv2d(1, c, 3, padding=1, **kw), ReLU(),
                               Conv2d(c, c, 3, padding=1, **kw), ReLU())
        self.bottom = Sequential(MaxPool2d(2), Conv2d(c, 2 * c, 3, padding=1, **kw), ReLU())
        self.up = ConvTranspose2d(2 * c, c, 2, stride=2, **kw)
        self.head = Sequential(Conv2d(2 * c, c, 3, padding=1, **kw), ReLU(), Conv2d(c, 2, 1, **kw))
        self.channels = c

    def forward(self, x: np.ndarray) -> np.ndarray:
        skip = self.down(x)
        up = self.up(self.bottom(skip))
        return self.head(np.concatenate([skip, up], axis=1)).transpose(0, 2, 3, 1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d_cat = self.head.backward(dy.transpose(0, 3, 1, 2))
        d_skip, d_up = d_cat[:, :self.channels], d_cat[:, self.channels:]
        d_skip = d_skip + self.bottom.backward(self.up.backward(d_up))
        return self.down.backward(d_skip)


def shapes(model: TinyUNet, x: np.ndarray) -> list[tuple[str, tuple[int, ...]]]:
    """The feature maps' shapes at every level of one forward pass, for the notebook."""
    skip = model.down(x)
    bottom = model.bottom(skip)
    up = model.up(bottom)
    cat = np.concatenate([skip, up], axis=1)
    return [("input", x.shape), ("contracting (skip)", skip.shape), ("bottom (pooled)", bottom.shape),
            ("expanding (transposed conv)", up.shape), ("concatenated", cat.shape),
            ("logits (class last)", model.head(cat).transpose(0, 2, 3, 1).shape)]


def iou(model: TinyUNet, x: np.ndarray, mask: np.ndarray) -> float:
    """Intersection over union of the predicted bar pixels with the true ones."""
    pred = model(x).argmax(axis=-1) == 1
    truth = mask == 1
    return float((pred & truth).sum() / max((pred | truth).sum(), 1))
