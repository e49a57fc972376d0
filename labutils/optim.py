"""SGD (with momentum, Nesterov, weight decay) and Adam, with torch.optim's update rules.

SGD:   g <- g + wd p;   v <- mu v + g (v = g at the first step);   p <- p - lr (g + mu v if
       nesterov else v)
Adam:  g <- g + wd p;   m <- b1 m + (1 - b1) g;   s <- b2 s + (1 - b2) g^2;
       p <- p - lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
"""
from __future__ import annotations

import numpy as np

from . import validate
from .module import Module


class Optimizer:
    """Updates every parameter of ``module`` in place from its accumulated gradient."""

    def __init__(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: module must be a labutils Module (the "
                            f"optimiser updates its params), got {type(module).__name__}")
        self.module = module
        self.state = {}

    def zero_grad(self) -> None:
        self.module.zero_grad()

    def step(self) -> None:
        for name, p in self.module.params.items():
            self._update(name, p, self.module.grads[name])

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__}._update is not written")


class SGD(Optimizer):
    def __init__(self, module: Module, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(module)
        lr = validate.nonneg_float(lr, "SGD", "lr")
        momentum = validate.nonneg_float(momentum, "SGD", "momentum")
        weight_decay = validate.nonneg_float(weight_decay, "SGD", "weight_decay")
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: nesterov needs momentum > 0, got momentum={momentum}")
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        g = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            v = self.state.get(name)
            v = g.copy() if v is None else self.momentum * v + g
            self.state[name] = v
            g = g + self.momentum * v if self.nesterov else v
        p -= self.lr * g


class Adam(Optimizer):
    def __init__(self, module: Module, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(module)
        lr = validate.nonneg_float(lr, "Adam", "lr")
        eps = validate.nonneg_float(eps, "Adam", "eps")
        weight_decay = validate.nonneg_float(weight_decay, "Adam", "weight_decay")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        betas = tuple(validate.number(b, "Adam", f"betas[{i}]", 0, 1, open_high=True)
                      for i, b in enumerate(betas))
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0

    def step(self) -> None:
        self.t += 1
        super().step()

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        b1, b2 = self.betas
        g = g + self.weight_decay * p if self.weight_decay else g
        m, s = self.state.get(name, (np.zeros_like(p), np.zeros_like(p)))
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        self.state[name] = (m, s)
        p -= (self.lr / (1 - b1 ** self.t)) * m / (np.sqrt(s / (1 - b2 ** self.t)) + self.eps)
