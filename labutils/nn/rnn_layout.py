"""The one adapter of the recurrent modules: torch's layouts <-> the batched rows that the step
pairs compute on, with the validation of inputs, states and upstream gradients.

The caller may give an unbatched input ((H_in,) to a cell, (L, H_in) to a sequence module), a
batch_first sequence (N, L, H_in), and the LSTM's state as the pair (h, c). The pairs in
``rnn.py`` and ``rnn_layers.py`` always see rows: x (N, H_in) for a step, (L, N, H_in) for a
sequence, states (N, H), or (num_layers * D, N, H) stacked, and h or (h, c).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import validate

__all__ = ["Layout", "State", "validate_state"]

State = np.ndarray | tuple[np.ndarray, np.ndarray]      # h, or (h, c) for the LSTM


class Layout(NamedTuple):
    """How a module's caller lays out its arrays, and the way to and from the batched rows that
    the step pairs compute on. A cell's rows are (N, .), a sequence's (L, N, .) and its stacked
    states (num_layers * D, N, H): the batch axis is ``batch_axis`` (0 for a cell, 1 for a
    sequence). Unbatched arrays get a batch of one; batch_first swaps (N, L) for sequences."""
    owner: str
    batched: bool
    batch_axis: int
    batch_first: bool = False

    @classmethod
    def of_input(cls, owner: str, input: np.ndarray, input_size: int, sequence: bool,
                 batch_first: bool = False) -> tuple[np.ndarray, Layout]:
        """Validate ``input`` and return it as rows, with its layout."""
        ndim = (2, 3) if sequence else (1, 2)
        validate.array(input, owner, "input", ndim=ndim, shape=(input_size,))
        layout = cls(owner, input.ndim == ndim[1], 1 if sequence else 0, batch_first and sequence)
        return layout.to_rows(input, sequence=True), layout

    def to_rows(self, a: np.ndarray, sequence: bool = False) -> np.ndarray:
        if not self.batched:
            return np.expand_dims(a, self.batch_axis)
        return a.swapaxes(0, 1) if sequence and self.batch_first else a

    def from_rows(self, a: np.ndarray, sequence: bool = False) -> np.ndarray:
        if not self.batched:
            return np.squeeze(a, self.batch_axis)
        return a.swapaxes(0, 1) if sequence and self.batch_first else a

    def outer_shape(self, shape: tuple, sequence: bool = False) -> tuple:
        """The caller's shape of an array whose rows have ``shape``."""
        shape = list(shape)
        if not self.batched:
            del shape[self.batch_axis]
        elif sequence and self.batch_first:
            shape[0], shape[1] = shape[1], shape[0]
        return tuple(shape)

    def read_state(self, hx: State | None, pair: bool, shape: tuple, names: tuple[str, str],
                   single: str, dtype: type) -> State:
        """hx as the caller gives it (h, or (h, c) when ``pair``; None means zeros) -> rows of
        ``shape``. ``names``: the pair's argument names, ``single``: h's name when alone."""
        if hx is None:
            h = np.zeros(shape, dtype)
            return (h, h) if pair else h
        if pair and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{self.owner}: hx must be a tuple ({names[0]}, {names[1]}), "
                            f"got {type(hx).__name__}")
        axes = (("num_layers * num_directions",) if self.batch_axis else ()) + (
            ("batch", "hidden_size") if self.batched else ("hidden_size",))
        parts = zip(hx, names) if pair else [(hx, single)]
        want = self.outer_shape(shape)
        rows = tuple(self.to_rows(validate_state(s, self.owner, arg, want, axes))
                     for s, arg in parts)
        return rows if pair else rows[0]

    def read_state_grad(self, dstate: State | None, pair: bool, shape: tuple,
                        names: tuple[str, str], dtype: type) -> State:
        """dL/d(the last state) as the caller gives it (like h, or a pair (dh, dc) for the LSTM;
        None, or None in the pair, where it does not reach the loss) -> rows, zeros for None."""
        parts = (dstate if dstate is not None else (None, None)) if pair else (dstate,)
        rows = tuple(np.zeros(shape, dtype) if g is None
                     else self.read_grad(g, shape, f"grad of {n}") for g, n in zip(parts, names))
        return rows if pair else rows[0]

    def read_grad(self, g: np.ndarray | None, shape: tuple, arg: str,
                  sequence: bool = False) -> np.ndarray | None:
        """An upstream gradient as the caller gives it (None: nothing reaches the loss) -> rows."""
        if g is None:
            return None
        validate.grad(g, self.outer_shape(shape, sequence), self.owner, arg)
        return self.to_rows(g, sequence)


def validate_state(s: np.ndarray, owner: str, arg: str, expected: tuple,
                   axes: tuple) -> np.ndarray:
    """A state array of shape ``expected`` whose axes are called ``axes``; the message names the
    axis that contradicts the input (batch) or the module (the others)."""
    validate.array(s, owner, arg)
    if s.shape == tuple(expected):
        return s
    layout = "(" + ", ".join(axes) + (",)" if len(axes) == 1 else ")")
    message = f"{owner}: {arg} must have shape {layout} = {tuple(expected)}, got {s.shape}"
    if s.ndim != len(expected):
        raise ValueError(message)
    axis = next(k for k, (got, want) in enumerate(zip(s.shape, expected)) if got != want)
    source = "the input's" if axes[axis] == "batch" else "the module's"
    raise ValueError(f"{message}: its {axes[axis]} is {s.shape[axis]} but {source} "
                     f"{axes[axis]} is {expected[axis]}")


def check_step(owner: str, x: object, state: object, weights: object, gates: int | None = None,
               state_names: tuple[str, str] = ("h", "c"), sequence: bool = False) -> None:
    """The door of a step pair's forward (and of a sequence of steps): x (N, H_in), or
    (L, N, H_in) for a sequence; the state h, or the pair (h, c), each (N, H); weights
    (w_ih (G H, H_in), w_hh (G H, H), b_ih and b_hh (G H,) or both None). ``gates``: G, or None
    for any whole number of gate blocks."""
    if not (isinstance(weights, (tuple, list)) and len(weights) == 4):
        raise TypeError(f"{owner}: weights must be (w_ih, w_hh, b_ih, b_hh), got "
                        f"{type(weights).__name__}")
    w_ih, w_hh, b_ih, b_hh = weights
    validate.array(w_hh, owner, "w_hh", ndim=2)
    H = w_hh.shape[1]
    G = gates or (w_hh.shape[0] // H if H else 0)
    if H == 0 or G == 0 or w_hh.shape[0] != G * H:
        raise ValueError(f"{owner}: w_hh must have shape ({gates or 'G'} H, H), "
                         f"{gates or 'G'} gate blocks of H >= 1 rows, got {w_hh.shape}")
    validate.array(w_ih, owner, "w_ih", ndim=2)
    if w_ih.shape[0] != G * H:
        raise ValueError(f"{owner}: w_ih must have shape ({G} H, H_in) with H = w_hh.shape[1] "
                         f"= {H}, got {w_ih.shape}")
    layout = "(L, N, H_in)" if sequence else "(N, H_in)"
    validate.array(x, owner, "x", ndim=3 if sequence else 2)
    if x.shape[-1] != w_ih.shape[1]:
        raise ValueError(f"{owner}: x must have shape {layout} with H_in = w_ih.shape[1] = "
                         f"{w_ih.shape[1]}, got {x.shape}")
    parts = state if isinstance(state, (tuple, list)) else (state,)
    if len(parts) not in (1, 2):
        raise TypeError(f"{owner}: the state must be h or a pair (h, c), got {len(parts)} arrays")
    for s, name in zip(parts, state_names):
        validate.array(s, owner, name, ndim=2)
        if s.shape != (x.shape[-2], H):
            raise ValueError(f"{owner}: {name} must have shape (N, H) = {(x.shape[-2], H)} "
                             f"(N from x, H from w_hh), got {s.shape}")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{owner}: b_ih and b_hh must both be arrays or both None, got b_ih "
                         f"{type(b_ih).__name__} and b_hh {type(b_hh).__name__}")
    for b, name in ((b_ih, "b_ih"), (b_hh, "b_hh")):
        if b is not None:
            validate.array(b, owner, name, ndim=1, shape=(G * H,))


def check_cache(cache: object, kind: type, pair: str) -> object:
    """``cache`` if it is what ``{pair}_forward`` returned, else a TypeError."""
    if not isinstance(cache, kind):
        raise TypeError(f"{pair}_backward: cache must be what {pair}_forward returned "
                        f"({kind.__name__}), got {type(cache).__name__}")
    return cache


def no_grad(owner: str, names: str, *grads: object) -> None:
    """A ValueError when every gradient given to backward is None (nothing reaches the loss)."""
    if all(g is None or isinstance(g, tuple) and all(p is None for p in g) for g in grads):
        raise ValueError(f"{owner}: backward needs a gradient: {names} must not all be None, "
                         f"got None")


def validate_nonlinearity(owner: str, nonlinearity: str) -> str:
    """``nonlinearity`` if it is 'tanh' or 'relu', else a ValueError that names ``owner``."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity
