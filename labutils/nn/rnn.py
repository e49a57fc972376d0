"""Recurrent layers: RNN (tanh, relu), GRU, LSTM and their one-step cells, as in torch.nn.

Shapes (L = sequence length, N = batch, D = 2 if bidirectional else 1, H = hidden_size):

    input (L, N, H_in), or (N, L, H_in) with batch_first, or (L, H_in) unbatched
    h_0, c_0 (num_layers * D, N, H), or (num_layers * D, H) unbatched; zeros when not given
    output (L, N, D * H): the top layer's h_t, forward and reverse halves side by side
    h_n, c_n (num_layers * D, N, H): the last state of every layer and direction
        (index layer * D + direction; the reverse direction's "last" state is the one at t = 0)

Parameters, with torch's names and layouts (``_reverse`` for the reverse direction):

    weight_ih_l{k}: (G H, H_in) for layer 0, (G H, D H) above     weight_hh_l{k}: (G H, H)
    bias_ih_l{k}, bias_hh_l{k}: (G H,)       G = 1 (RNN), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o)

One step, with gi = W_ih x_t + b_ih and gh = W_hh h_{t-1} + b_hh (row vectors in the code):

    RNN   h_t = act(gi + gh)                                   act = tanh or relu
    LSTM  i, f, g, o = σ, σ, tanh, σ of the four blocks of gi + gh
          c_t = f ⊙ c_{t-1} + i ⊙ g         h_t = o ⊙ tanh(c_t)
    GRU   r = σ(gi_r + gh_r)   z = σ(gi_z + gh_z)   n = tanh(gi_n + r ⊙ gh_n)
          h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}   (the reset gate multiplies W_hn h + b_hn; z keeps the OLD state)

Backward is backpropagation through time. Going from t = L down to 1, the gradient reaching
h_t is what the output at t sends plus what step t+1 sends back (and dL/dc_t for the LSTM);
each step turns it into d(gi) and d(gh), then

    dL/dh_{t-1} = d(gh) W_hh  (+ the direct path: 0 for RNN, dh ⊙ z for GRU; dc ⊙ f for the LSTM cell)
    dW_hh += d(gh)ᵀ h_{t-1}    db_hh += Σ_batch d(gh)     (parameter gradients are sums over time)
    dW_ih += Σ_t d(gi_t)ᵀ x_t  db_ih += Σ d(gi_t)         dx_t = d(gi_t) W_ih

A stacked network feeds each layer's output sequence to the next; the gradient of a layer's
input is the output gradient of the layer below (summed over the two directions).
"""
import math

import numpy as np
from scipy.special import expit

from .. import init
from .. import validate
from ..module import Module

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "RNN", "GRU", "LSTM", "AttentionEncoderDecoder"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}


# -- one step and its backward (shared by the cells and the sequence modules) --------------

def _step(mode, gi, h, c, w_hh, b_hh):
    """One time step. gi: (N, G H) = x W_ihᵀ + b_ih; h, c: (N, H). Returns h', c', cache."""
    gh = h @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    if mode in ("RNN_TANH", "RNN_RELU"):
        a = gi + gh
        h_new = np.tanh(a) if mode == "RNN_TANH" else np.maximum(a, 0)
        return h_new, None, (h_new, a)
    H = h.shape[-1]
    if mode == "LSTM":
        s = gi + gh
        i, f, o = expit(s[:, :H]), expit(s[:, H:2 * H]), expit(s[:, 3 * H:])
        g = np.tanh(s[:, 2 * H:3 * H])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        return o * tc, c_new, (i, f, g, o, c, tc)
    # GRU
    r = expit(gi[:, :H] + gh[:, :H])
    z = expit(gi[:, H:2 * H] + gh[:, H:2 * H])
    ghn = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * ghn)
    return (1 - z) * n + z * h, None, (r, z, n, ghn, h)


def _step_backward(mode, dh, dc, cache):
    """dL/dh_t (and dL/dc_t) -> d(gi), d(gh), the direct part of dL/dh_{t-1}, dL/dc_{t-1}."""
    if mode in ("RNN_TANH", "RNN_RELU"):
        h_new, a = cache
        da = dh * (1 - h_new * h_new) if mode == "RNN_TANH" else dh * (a > 0)
        return da, da, None, None
    if mode == "LSTM":
        i, f, g, o, c_prev, tc = cache
        dc = dc + dh * o * (1 - tc * tc)
        ds = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=1)
        return ds, ds, None, dc * f
    r, z, n, ghn, h_prev = cache
    dn = dh * (1 - z) * (1 - n * n)
    dr = dn * ghn * r * (1 - r)
    dz = dh * (h_prev - n) * z * (1 - z)
    dgi = np.concatenate([dr, dz, dn], axis=1)
    dgh = np.concatenate([dr, dz, dn * r], axis=1)
    return dgi, dgh, dh * z, None


def _sequence_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """One layer, one direction over x: (L, N, H_in). Returns out (L, N, H), h_n, c_n, cache."""
    L = x.shape[0]
    gi_all = x @ w_ih.T
    if b_ih is not None:
        gi_all = gi_all + b_ih
    order = list(range(L - 1, -1, -1)) if reverse else list(range(L))
    out = np.empty(x.shape[:2] + (h0.shape[-1],), dtype=np.result_type(x, w_hh))
    h, c, hs, caches = h0, c0, [], []
    for t in order:
        hs.append(h)
        h, c, cache = _step(mode, gi_all[t], h, c, w_hh, b_hh)
        caches.append(cache)
        out[t] = h
    return out, h, c, (x, order, hs, caches)


def _sequence_backward(mode, dout, dh_n, dc_n, cache, w_ih, w_hh, grads, names, record=None):
    """BPTT over one layer and direction. dout: (L, N, H) or None. Adds the parameter
    gradients into ``grads[names[...]]``; returns dx (L, N, H_in), dh_0, dc_0.
    ``record``: a list that receives dL/dh_k (and dL/dc_k) for k = L, L-1, ..., 0."""
    x, order, hs, caches = cache
    dh, dc = dh_n.copy(), (None if dc_n is None else dc_n.copy())
    dgi_all = np.zeros(x.shape[:2] + (w_ih.shape[0],), dtype=np.result_type(x, w_ih))
    n_ih, n_hh, nb_ih, nb_hh = names
    for k in range(len(order) - 1, -1, -1):
        t = order[k]
        if dout is not None:
            dh = dh + dout[t]
        if record is not None:
            record.append((dh, dc))
        dgi, dgh, direct, dc = _step_backward(mode, dh, dc, caches[k])
        dgi_all[t] = dgi
        grads[n_hh] += dgh.T @ hs[k]
        if nb_hh is not None:
            grads[nb_hh] += dgh.sum(axis=0)
        dh = dgh @ w_hh if direct is None else direct + dgh @ w_hh
    if record is not None:
        record.append((dh, dc))
    grads[n_ih] += np.einsum("tng,tni->gi", dgi_all, x)
    if nb_ih is not None:
        grads[nb_ih] += dgi_all.sum(axis=(0, 1))
    return dgi_all @ w_ih, dh, dc


# -- validation ---------------------------------------------------------------------------

def _check_state(s, owner, arg, expected, axes):
    """A state array of shape ``expected`` whose axes are called ``axes``; the message names
    the axis that contradicts the input or the module."""
    validate.array(s, owner, arg)
    if s.shape == tuple(expected):
        return s
    layout = "(" + ", ".join(axes) + (",)" if len(axes) == 1 else ")")
    if s.ndim != len(expected):
        raise ValueError(f"{owner}: {arg} must have shape {layout} = {tuple(expected)}, "
                         f"got {s.shape}")
    for axis, (got, want) in enumerate(zip(s.shape, expected)):
        if got != want:
            source = "the input's" if axes[axis] == "batch" else "the module's"
            raise ValueError(f"{owner}: {arg} must have shape {layout} = {tuple(expected)}, "
                             f"got {s.shape}: its {axes[axis]} is {got} but {source} "
                             f"{axes[axis]} is {want}")


_SEQ_AXES = {True: ("num_layers * num_directions", "batch", "hidden_size"),
             False: ("num_layers * num_directions", "hidden_size")}
_CELL_AXES = {True: ("batch", "hidden_size"), False: ("hidden_size",)}


# -- the sequence modules -----------------------------------------------------------------

class _RNNBase(Module):
    mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, rng=None, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        for arg, v in (("input_size", input_size), ("hidden_size", hidden_size),
                       ("num_layers", num_layers)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")
        if dropout:
            raise ValueError(f"{name}: dropout between layers is not implemented in labutils "
                             f"(got dropout={dropout}); use 0")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.record_state_grads = False   # when True, backward keeps dL/dh_k per step
        G, H, bound = _GATES[self.mode], hidden_size, 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else H * self.num_directions
            for d in range(self.num_directions):
                sfx = f"l{layer}" + ("_reverse" if d else "")
                self.add_param(f"weight_ih_{sfx}", init.uniform((G * H, n_in), bound, rng, dtype))
                self.add_param(f"weight_hh_{sfx}", init.uniform((G * H, H), bound, rng, dtype))
                if bias:
                    self.add_param(f"bias_ih_{sfx}", init.uniform((G * H,), bound, rng, dtype))
                    self.add_param(f"bias_hh_{sfx}", init.uniform((G * H,), bound, rng, dtype))
        self._cache = None

    def _names(self, layer, d):
        sfx = f"l{layer}" + ("_reverse" if d else "")
        names = [f"weight_ih_{sfx}", f"weight_hh_{sfx}"]
        names += [f"bias_ih_{sfx}", f"bias_hh_{sfx}"] if self.bias else [None, None]
        return names

    def forward(self, input, hx=None):
        name, H = type(self).__name__, self.hidden_size
        validate.array(input, name, "input", ndim=(2, 3), shape=(self.input_size,))
        batched = input.ndim == 3
        x = input if batched else input[:, None, :]
        if batched and self.batch_first:
            x = x.transpose(1, 0, 2)
        L, N = x.shape[:2]
        if L == 0 or N == 0:
            raise ValueError(f"{name}: input must have at least one time step and one sequence, "
                             f"got shape {input.shape}")
        LD = self.num_layers * self.num_directions
        want = (LD, N, H) if batched else (LD, H)
        is_lstm = self.mode == "LSTM"
        if is_lstm and hx is not None:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = (_check_state(s, name, a, want, _SEQ_AXES[batched])
                      for s, a in zip(hx, ("h_0", "c_0")))
        elif hx is not None:
            h0, c0 = _check_state(hx, name, "h_0", want, _SEQ_AXES[batched]), None
        else:
            h0 = np.zeros(want, dtype=self.params[self._names(0, 0)[0]].dtype)
            c0 = h0 if is_lstm else None
        if not batched:
            h0, c0 = h0[:, None, :], (None if c0 is None else c0[:, None, :])
        h_n, c_n, caches, layer_in = [], [], [], x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                idx = layer * self.num_directions + d
                w_ih, w_hh, b_ih, b_hh = (None if n is None else self.params[n]
                                          for n in self._names(layer, d))
                out, h, c, cache = _sequence_forward(
                    self.mode, layer_in, h0[idx], None if c0 is None else c0[idx],
                    w_ih, w_hh, b_ih, b_hh, reverse=d == 1)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
                caches.append(cache)
            layer_in = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)
        self._cache = (caches, batched, input.shape)
        h_n = np.stack(h_n)
        c_n = np.stack(c_n) if is_lstm else None
        output = layer_in
        if batched and self.batch_first:
            output = output.transpose(1, 0, 2)
        if not batched:
            output, h_n = output[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        return (output, (h_n, c_n)) if is_lstm else (output, h_n)

    def backward(self, doutput=None, dstate=None):
        """doutput: like output, or None. dstate: like h_n (for LSTM a pair (dh_n, dc_n),
        either may be None), or None when the final state does not reach the loss.
        Returns (dinput, dh_0) -- for LSTM (dinput, (dh_0, dc_0))."""
        name, H, D = type(self).__name__, self.hidden_size, self.num_directions
        caches, batched, in_shape = validate.forward_called(name, self._cache)
        L = caches[0][0].shape[0]
        N = caches[0][0].shape[1]
        LD = self.num_layers * D
        out_shape = (((N, L, D * H) if self.batch_first else (L, N, D * H)) if batched
                     else (L, D * H))
        st_shape = (LD, N, H) if batched else (LD, H)
        is_lstm = self.mode == "LSTM"
        dh_n, dc_n = (dstate if dstate is not None else (None, None)) if is_lstm else (dstate, None)
        dtype = self.params[self._names(0, 0)[0]].dtype

        def prepare(g, shape, arg, seq=False):
            if g is None:
                return None if seq else np.zeros((LD, N, H), dtype=dtype)
            validate.grad(g, shape, name, arg)
            if not batched:
                return g[:, None, :]
            return g.transpose(1, 0, 2) if (seq and self.batch_first) else g
        dY = prepare(doutput, out_shape, "grad of output", seq=True)
        dh_n = prepare(dh_n, st_shape, "grad of h_n")
        dc_n = prepare(dc_n, st_shape, "grad of c_n") if is_lstm else None
        dh0, dc0 = np.zeros_like(dh_n), (np.zeros_like(dh_n) if is_lstm else None)
        self.state_grads = {}
        for layer in range(self.num_layers - 1, -1, -1):
            dX = None
            for d in range(D):
                idx = layer * D + d
                names = self._names(layer, d)
                record = [] if self.record_state_grads else None
                dx, dh, dc = _sequence_backward(
                    self.mode, None if dY is None else dY[..., d * H:(d + 1) * H],
                    dh_n[idx], None if dc_n is None else dc_n[idx], caches[idx],
                    self.params[names[0]], self.params[names[1]], self.grads, names, record)
                if record is not None:
                    self.state_grads[idx] = record[::-1]
                dX = dx if dX is None else dX + dx
                dh0[idx] = dh
                if is_lstm:
                    dc0[idx] = dc
            dY = dX
        dinput = dY
        if not batched:
            dinput, dh0 = dinput[:, 0], dh0[:, 0]
            dc0 = None if dc0 is None else dc0[:, 0]
        elif self.batch_first:
            dinput = dinput.transpose(1, 0, 2)
        return (dinput, (dh0, dc0)) if is_lstm else (dinput, dh0)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN, h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), act = tanh or relu
    (torch.nn.RNN). input (L, N, H_in) -> (output (L, N, D H), h_n (num_layers D, N, H));
    see the module docstring for every shape and the backward pass."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, rng=None, dtype=np.float64):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit (torch.nn.GRU), gates r, z, n in that order:
    h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
    input (L, N, H_in) -> (output (L, N, D H), h_n (num_layers D, N, H))."""
    mode = "GRU"


class LSTM(_RNNBase):
    """Long short-term memory (torch.nn.LSTM), gates i, f, g, o in that order:
    c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
    input (L, N, H_in), hx = (h_0, c_0) -> (output (L, N, D H), (h_n, c_n))."""
    mode = "LSTM"


# -- the cells ----------------------------------------------------------------------------

class _CellBase(Module):
    mode = None

    def __init__(self, input_size, hidden_size, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        for arg, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G, bound = _GATES[self.mode], 1 / math.sqrt(hidden_size)
        self.add_param("weight_ih", init.uniform((G * hidden_size, input_size), bound, rng, dtype))
        self.add_param("weight_hh", init.uniform((G * hidden_size, hidden_size), bound, rng, dtype))
        if bias:
            self.add_param("bias_ih", init.uniform((G * hidden_size,), bound, rng, dtype))
            self.add_param("bias_hh", init.uniform((G * hidden_size,), bound, rng, dtype))
        self._cache = None

    def forward(self, input, hx=None):
        name, H = type(self).__name__, self.hidden_size
        validate.array(input, name, "input", ndim=(1, 2), shape=(self.input_size,))
        batched = input.ndim == 2
        x = input if batched else input[None]
        want = (x.shape[0], H) if batched else (H,)
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h = np.zeros((x.shape[0], H), dtype=self.params["weight_hh"].dtype)
            c = h if is_lstm else None
        elif is_lstm:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{name}: hx must be a tuple (h, c), got {type(hx).__name__}")
            h, c = (_check_state(s, name, a, want, _CELL_AXES[batched])
                    for s, a in zip(hx, ("h", "c")))
        else:
            h, c = _check_state(hx, name, "hx", want, _CELL_AXES[batched]), None
        if not batched and hx is not None:
            h, c = h[None], (None if c is None else c[None])
        p = self.params
        gi = x @ p["weight_ih"].T
        if self.bias:
            gi = gi + p["bias_ih"]
        h_new, c_new, cache = _step(self.mode, gi, h, c, p["weight_hh"],
                                    p["bias_hh"] if self.bias else None)
        self._cache = (x, h, cache, batched)
        if not batched:
            h_new, c_new = h_new[0], (None if c_new is None else c_new[0])
        return (h_new, c_new) if is_lstm else h_new

    def backward(self, dh=None, dc=None):
        """dh (and dc for LSTMCell): like the outputs, or None.
        Returns (dinput, dhx); for LSTMCell (dinput, (dh, dc))."""
        name = type(self).__name__
        x, h, cache, batched = validate.forward_called(name, self._cache)
        shape = h.shape if batched else h.shape[1:]

        def prepare(g, arg):
            if g is None:
                return np.zeros_like(h)
            validate.grad(g, shape, name, arg)
            return g if batched else g[None]
        dh = prepare(dh, "grad of h'")
        dc = prepare(dc, "grad of c'") if self.mode == "LSTM" else None
        dgi, dgh, direct, dc_prev = _step_backward(self.mode, dh, dc, cache)
        p, g = self.params, self.grads
        g["weight_ih"] += dgi.T @ x
        g["weight_hh"] += dgh.T @ h
        if self.bias:
            g["bias_ih"] += dgi.sum(axis=0)
            g["bias_hh"] += dgh.sum(axis=0)
        dx = dgi @ p["weight_ih"]
        dh_prev = dgh @ p["weight_hh"] + (0 if direct is None else direct)
        if not batched:
            dx, dh_prev = dx[0], dh_prev[0]
            dc_prev = None if dc_prev is None else dc_prev[0]
        return (dx, (dh_prev, dc_prev)) if self.mode == "LSTM" else (dx, dh_prev)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of the Elman RNN (torch.nn.RNNCell): h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).
    input (N, H_in) or (H_in,), hx (N, H) or (H,) -> h' (N, H) or (H,).
    backward: da = dh' ⊙ act'(a); dx = da W_ih; dh = da W_hh; dW_ih += daᵀx; dW_hh += daᵀh."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", rng=None,
                 dtype=np.float64):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, rng, dtype)


class GRUCell(_CellBase):
    """One GRU step (torch.nn.GRUCell), gates r, z, n; h' = (1 − z) ⊙ n + z ⊙ h.
    input (N, H_in), hx (N, H) -> h' (N, H)."""
    mode = "GRU"


class LSTMCell(_CellBase):
    """One LSTM step (torch.nn.LSTMCell), gates i, f, g, o; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
    input (N, H_in), hx = (h, c) -> (h', c')."""
    mode = "LSTM"


# -- a small encoder-decoder with additive attention (no torch twin) -------------------------

class AttentionEncoderDecoder(Module):
    """A toy sequence-to-sequence model: a bidirectional GRU encoder, a GRU decoder, and
    additive (Bahdanau-score) attention from every decoder state to the encoder outputs.

    src (N, S, V) and tgt_in (N, T, V): one-hot rows (V = vocab_size); tgt_in is the target
    shifted right behind a start token (teacher forcing).
        E = enc_embed(src)                          (N, S, E)
        K, _ = encoder(E)                           (N, S, 2H)  keys and values
        Q, _ = decoder(dec_embed(tgt_in), 0)        (N, T, H)   the decoder starts from zeros:
                                                                it sees the source only through attention
        C, A = attention(Q, K, K)                   (N, T, 2H), alignment A (N, T, S)
        logits = out([Q, C])                        (N, T, V)
    forward -> (logits, A); backward(dlogits) -> (dsrc, dtgt_in), every module's gradients added.
    The attention comes after the decoder's recurrence (Luong's placement) with Bahdanau's
    score; Bahdanau's own model feeds the context into the recurrence instead.
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, attention_dim, rng=None,
                 dtype=np.float64):
        super().__init__()
        from .attention import AdditiveAttention
        from .linear import Linear
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.enc_embed = Linear(vocab_size, embed_dim, bias=False, rng=rng, dtype=dtype)
        self.dec_embed = Linear(vocab_size, embed_dim, bias=False, rng=rng, dtype=dtype)
        self.encoder = GRU(embed_dim, hidden_size, batch_first=True, bidirectional=True,
                           rng=rng, dtype=dtype)
        self.decoder = GRU(embed_dim, hidden_size, batch_first=True, rng=rng, dtype=dtype)
        self.attention = AdditiveAttention(hidden_size, 2 * hidden_size, attention_dim, rng=rng,
                                           dtype=dtype)
        self.out = Linear(3 * hidden_size, vocab_size, rng=rng, dtype=dtype)

    def encode(self, src):
        validate.array(src, "AttentionEncoderDecoder", "src", ndim=3, shape=(self.vocab_size,))
        return self.encoder(self.enc_embed(src))[0]

    def forward(self, src, tgt_in):
        validate.array(tgt_in, "AttentionEncoderDecoder", "tgt_in", ndim=3, shape=(self.vocab_size,))
        keys = self.encode(src)
        q, _ = self.decoder(self.dec_embed(tgt_in))
        context, weights = self.attention(q, keys, keys)
        return self.out(np.concatenate([q, context], axis=-1)), weights

    def backward(self, dlogits, dweights=None):
        H = self.hidden_size
        dcat = self.out.backward(dlogits)
        dq, dkeys, dvalues = self.attention.backward(dcat[..., H:], dweights)
        demb_t, _ = self.decoder.backward(dq + dcat[..., :H], None)
        demb_s, _ = self.encoder.backward(dkeys + dvalues, None)
        return self.enc_embed.backward(demb_s), self.dec_embed.backward(demb_t)

    def greedy_decode(self, src, start, steps):
        """Generate ``steps`` tokens, each fed back as the next input (no teacher forcing).
        src (N, S, V); start: the start token's index -> tokens (N, steps), alignment (N, steps, S)."""
        keys = self.encode(src)
        N, V = src.shape[0], self.vocab_size
        token = np.full(N, start)
        h, tokens, rows = None, [], []
        for _ in range(steps):
            x = np.eye(V, dtype=src.dtype)[token][:, None, :]
            q, h = self.decoder(self.dec_embed(x), h)
            context, w = self.attention(q, keys, keys)
            logits = self.out(np.concatenate([q, context], axis=-1))
            token = logits[:, 0].argmax(axis=-1)
            tokens.append(token)
            rows.append(w[:, 0])
        return np.stack(tokens, axis=1), np.stack(rows, axis=1)
