"""Skip connections and gates: residual, highway, gMLP's spatial gating unit, and a
sparsely-gated mixture of experts. torch has none of these; the tests compare each with the
same formula written in torch and differentiated by autograd.
"""
import numpy as np

from .. import validate
from ..module import Module, ModuleList
from .activation import ReLU, Sigmoid
from .linear import Linear
from .norm import LayerNorm


class Residual(Module):
    """y = x + f(x)                 dx = dy + f.backward(dy)       x, y: same shape"""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        y = self.module(x)
        if y.shape != x.shape:
            raise ValueError(f"Residual: the wrapped module must keep the shape {x.shape}, "
                             f"it returned {y.shape}")
        return x + y

    def backward(self, dy):
        return dy + self.module.backward(dy)


class Highway(Module):
    """y = t ⊙ h + (1 − t) ⊙ x,  h = relu(W_H x + b_H),  t = σ(W_T x + b_T)

    x, y: (*, features). The gate bias starts at ``gate_bias`` (negative): t ≈ σ(−2) ≈ 0.12,
    so the layer starts close to the identity and gradients pass through the carry path.
    backward: dh = dy ⊙ t,  dt = dy ⊙ (h − x),  dx = dy ⊙ (1 − t) + (paths through h and t)
    """

    def __init__(self, features, gate_bias=-2.0, rng=None, dtype=np.float64):
        super().__init__()
        self.transform, self.act = Linear(features, features, rng=rng, dtype=dtype), ReLU()
        self.gate, self.sigmoid = Linear(features, features, rng=rng, dtype=dtype), Sigmoid()
        self.gate.params["bias"][...] = gate_bias

    def forward(self, x):
        validate.array(x, "Highway", "input", min_ndim=1, shape=(self.gate.in_features,))
        h = self.act(self.transform(x))
        t = self.sigmoid(self.gate(x))
        self._cache = (x, h, t)
        return t * h + (1 - t) * x

    def backward(self, dy):
        x, h, t = validate.forward_called("Highway", getattr(self, "_cache", None))
        validate.grad(dy, x.shape, "Highway")
        dx_h = self.transform.backward(self.act.backward(dy * t))
        dx_t = self.gate.backward(self.sigmoid.backward(dy * (h - x)))
        return dy * (1 - t) + dx_h + dx_t


class SpatialGatingUnit(Module):
    """gMLP's gating (Liu et al., 2021): split channels z = [u, v], then

        y = u ⊙ (W · LayerNorm(v) + b)      W: (seq_len, seq_len) mixes positions

    z: (N, seq_len, d_ffn) -> y: (N, seq_len, d_ffn // 2). W starts near 0 and b at 1, so
    the unit starts as y ≈ u (close to a plain feed-forward network).
    """

    def __init__(self, d_ffn, seq_len, init_scale=1e-3, rng=None, dtype=np.float64):
        super().__init__()
        if d_ffn % 2:
            raise ValueError(f"SpatialGatingUnit: d_ffn must be even, got {d_ffn}")
        self.d_ffn, self.seq_len = d_ffn, seq_len
        self.norm = LayerNorm(d_ffn // 2, dtype=dtype)
        self.proj = Linear(seq_len, seq_len, rng=rng, dtype=dtype)
        self.proj.params["weight"][...] *= init_scale * np.sqrt(seq_len)
        self.proj.params["bias"][...] = 1.0

    def forward(self, z):
        validate.array(z, "SpatialGatingUnit", "input", ndim=3, shape=(self.seq_len, self.d_ffn))
        u, v = np.split(z, 2, axis=-1)
        gate = self.proj(self.norm(v).swapaxes(1, 2)).swapaxes(1, 2)   # mix along positions
        self._cache = (u, gate)
        return u * gate

    def backward(self, dy):
        u, gate = validate.forward_called("SpatialGatingUnit", getattr(self, "_cache", None))
        validate.grad(dy, u.shape, "SpatialGatingUnit")
        dv = self.norm.backward(self.proj.backward((dy * u).swapaxes(1, 2)).swapaxes(1, 2))
        return np.concatenate([dy * gate, dv], axis=-1)


class MixtureOfExperts(Module):
    """Sparsely-gated mixture of experts (Shazeer et al., 2017), without the noise term.

        logits = x W_gᵀ;  keep the top k per token;  g = softmax over the kept logits (0 elsewhere)
        y = Σ_e g_e E_e(x)            each expert runs only on the tokens routed to it

    x: (*, in_features) -> y: (*, out_features); experts: Linear(in, out) unless given.
    backward: dE_e gets g_e dy on its tokens; dg_e = <dy, E_e(x)>; the softmax backward runs
    over the kept logits only. The choice of the top k is piecewise constant, so no gradient
    flows through *which* experts were chosen, only through the weights of those kept.
    """

    def __init__(self, in_features, out_features, num_experts, k=2, experts=None, rng=None,
                 dtype=np.float64):
        super().__init__()
        if not 1 <= k <= num_experts:
            raise ValueError(f"MixtureOfExperts: need 1 <= k <= num_experts, got k={k}, "
                             f"num_experts={num_experts}")
        self.in_features, self.out_features, self.k = in_features, out_features, k
        self.gate = Linear(in_features, num_experts, bias=False, rng=rng, dtype=dtype)
        self.experts = ModuleList(experts or [Linear(in_features, out_features, rng=rng, dtype=dtype)
                                              for _ in range(num_experts)])

    def route(self, x2):
        """Gate weights g: (T, E), zero outside each token's top k."""
        logits = self.gate(x2)
        top = np.argpartition(-logits, self.k - 1, axis=1)[:, :self.k]
        kept = np.take_along_axis(logits, top, axis=1)
        w = np.exp(kept - kept.max(axis=1, keepdims=True))
        g = np.zeros_like(logits)
        np.put_along_axis(g, top, w / w.sum(axis=1, keepdims=True), axis=1)
        return g

    def forward(self, x):
        validate.array(x, "MixtureOfExperts", "input", min_ndim=1, shape=(self.in_features,))
        x2 = x.reshape(-1, self.in_features)
        g = self.route(x2)
        y = np.zeros((len(x2), self.out_features), dtype=np.result_type(x2, g))
        outs = {}
        for e, expert in enumerate(self.experts):
            tokens = np.nonzero(g[:, e])[0]
            if len(tokens):
                outs[e] = (tokens, expert(x2[tokens]))
                y[tokens] += g[tokens, e, None] * outs[e][1]
        self._cache = (x.shape, g, outs)
        return y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dy):
        shape, g, outs = validate.forward_called("MixtureOfExperts", getattr(self, "_cache", None))
        validate.grad(dy, shape[:-1] + (self.out_features,), "MixtureOfExperts")
        dy2 = dy.reshape(-1, self.out_features)
        dx = np.zeros((len(dy2), self.in_features), dtype=dy2.dtype)
        dg = np.zeros_like(g)
        for e, (tokens, out) in outs.items():
            dg[tokens, e] = (dy2[tokens] * out).sum(axis=1)
            dx[tokens] += self.experts[e].backward(g[tokens, e, None] * dy2[tokens])
        dlogits = g * (dg - (g * dg).sum(axis=1, keepdims=True))   # softmax over kept entries
        dx += self.gate.backward(dlogits)
        return dx.reshape(shape)


class FeedForward(Module):
    """The transformer's position-wise feed-forward block, with torch's layer names:

        y = linear2(dropout(act(linear1(x))))      x, y: (*, d_model); hidden: (*, dim_feedforward)
    """

    def __init__(self, d_model, dim_feedforward, dropout=0.0, activation="relu", rng=None,
                 dtype=np.float64):
        super().__init__()
        from .activation import GELU
        from .dropout import Dropout
        acts = {"relu": ReLU, "gelu": GELU}
        if activation not in acts:
            raise ValueError(f"FeedForward: activation must be 'relu' or 'gelu', got {activation!r}")
        self.linear1 = Linear(d_model, dim_feedforward, rng=rng, dtype=dtype)
        self.activation = acts[activation]()
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, rng=rng, dtype=dtype)

    def forward(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    def backward(self, dy):
        return self.linear1.backward(self.activation.backward(
            self.dropout.backward(self.linear2.backward(dy))))
