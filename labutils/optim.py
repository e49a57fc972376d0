"""SGD (with momentum, Nesterov, weight decay) and Adam, with torch.optim's update rules.

SGD:   g <- g + wd p;   v <- mu v + g (v = g at the first step);   p <- p - lr (g + mu v if
       nesterov else v)
Adam:  g <- g + wd p;   m <- b1 m + (1 - b1) g;   s <- b2 s + (1 - b2) g^2;
       p <- p - lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
"""
import numpy as np


class Optimizer:
    def __init__(self, module):
        self.module = module
        self.state = {}

    def zero_grad(self):
        self.module.zero_grad()

    def step(self):
        for name, p in self.module.params.items():
            self._update(name, p, self.module.grads[name])


class SGD(Optimizer):
    def __init__(self, module, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(module)
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov

    def _update(self, name, p, g):
        g = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            v = self.state.get(name)
            v = g.copy() if v is None else self.momentum * v + g
            self.state[name] = v
            g = g + self.momentum * v if self.nesterov else v
        p -= self.lr * g


class Adam(Optimizer):
    def __init__(self, module, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(module)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0

    def step(self):
        self.t += 1
        super().step()

    def _update(self, name, p, g):
        b1, b2 = self.betas
        g = g + self.weight_decay * p if self.weight_decay else g
        m, s = self.state.get(name, (np.zeros_like(p), np.zeros_like(p)))
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        self.state[name] = (m, s)
        p -= (self.lr / (1 - b1 ** self.t)) * m / (np.sqrt(s / (1 - b2 ** self.t)) + self.eps)
