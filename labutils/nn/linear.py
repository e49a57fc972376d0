"""Linear (affine) layer.

forward   y  = x Wᵀ + b                    x: (*, in_features) -> y: (*, out_features)
backward  dx = dy W                         dx: (*, in_features)
          dW += dyᵀ x   (summed over every leading position)    dW: (out_features, in_features)
          db += Σ dy    (likewise)                               db: (out_features,)
"""
import numpy as np

from .. import init
from .. import validate
from ..module import Module


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features, self.out_features, self.has_bias = in_features, out_features, bias
        w, b = init.torch_default((out_features, in_features), rng, dtype, bias)
        self.add_param("weight", w)
        if bias:
            self.add_param("bias", b)
        self._x = None

    def forward(self, x):
        validate.array(x, "Linear", "input", min_ndim=1, shape=(self.in_features,))
        self._x = x
        y = x @ self.params["weight"].T
        return y + self.params["bias"] if self.has_bias else y

    def backward(self, dy):
        x = validate.forward_called("Linear", self._x)
        validate.grad(dy, x.shape[:-1] + (self.out_features,), "Linear")
        x2, dy2 = x.reshape(-1, self.in_features), dy.reshape(-1, self.out_features)
        self.grads["weight"] += dy2.T @ x2
        if self.has_bias:
            self.grads["bias"] += dy2.sum(axis=0)
        return dy @ self.params["weight"]

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}"


class Identity(Module):
    """y = x (torch.nn.Identity)."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy
