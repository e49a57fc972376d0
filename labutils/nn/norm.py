"""Normalization layers. All share one backward: with x̂ = (x − μ)/σ over a set of n
entries (the reduction axes) and g = dL/dx̂,

    dx = (1/σ) (g − mean(g) − x̂ · mean(g ⊙ x̂))        means over the reduction axes

which is the compact form (γ / (nσ)) (n dy − Σ dy − x̂ Σ dy x̂) when g = γ dy.
"""
import numpy as np

from ..checks import check_array, check_forward_called, check_grad
from ..module import Module

__all__ = ["LayerNorm", "normalize", "normalize_backward"]


def normalize(x, axes, eps):
    """x̂ and 1/σ over ``axes`` (biased variance, eps inside the square root)."""
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mu) * inv_std, inv_std


def normalize_backward(g, x_hat, inv_std, axes):
    """dL/dx from g = dL/dx̂ (the compact form above)."""
    return inv_std * (g - g.mean(axis=axes, keepdims=True)
                      - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes of each sample.

    x: (*, *normalized_shape) -> y: same;  weight, bias: normalized_shape
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=np.float64):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.has_bias = bias and elementwise_affine
        if elementwise_affine:
            self.add_param("weight", np.ones(shape, dtype))
            if bias:
                self.add_param("bias", np.zeros(shape, dtype))
        self._cache = None

    def forward(self, x):
        check_array(x, "LayerNorm", "input", min_ndim=len(self.normalized_shape),
                    shape=self.normalized_shape)
        axes = tuple(range(x.ndim - len(self.normalized_shape), x.ndim))
        x_hat, inv_std = normalize(x, axes, self.eps)
        self._cache = (x_hat, inv_std, axes)
        if not self.elementwise_affine:
            return x_hat
        y = x_hat * self.params["weight"]
        return y + self.params["bias"] if self.has_bias else y

    def backward(self, dy):
        x_hat, inv_std, axes = check_forward_called("LayerNorm", self._cache)
        check_grad(dy, x_hat.shape, "LayerNorm")
        lead = tuple(range(x_hat.ndim - len(axes)))
        if self.elementwise_affine:
            self.grads["weight"] += (dy * x_hat).sum(axis=lead)
            if self.has_bias:
                self.grads["bias"] += dy.sum(axis=lead)
            dy = dy * self.params["weight"]
        return normalize_backward(dy, x_hat, inv_std, axes)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
