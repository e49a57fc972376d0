"""Transformer layers (torch.nn.TransformerEncoderLayer / TransformerDecoderLayer twins) and
their stacks.

Encoder layer, post-norm (torch's default, norm_first=False):
    h = LN1(x + SA(x))            y = LN2(h + FF(h))
pre-norm (norm_first=True):
    h = x + SA(LN1(x))            y = h + FF(LN2(h))
Decoder layer adds cross-attention CA to the encoder's output ("memory") between the two:
    post-norm: h1 = LN1(x + SA(x));  h2 = LN2(h1 + CA(h1, m));  y = LN3(h2 + FF(h2))
    pre-norm:  h1 = x + SA(LN1(x));  h2 = h1 + CA(LN2(h1), m);  y = h2 + FF(LN3(h2))
SA/CA are MultiheadAttention, FF = linear2(dropout(act(linear1(·)))) (feedforward.FeedForward),
each branch followed by its dropout (dropout1, dropout2, dropout3) before the addition.

backward follows the same graph in reverse; a residual connection adds its two gradients,
and self-attention (query = key = value = x) sums its three input gradients. The two layers
share that self-attention branch and the feed-forward branch (``_TransformerLayer``).
The toy encoder-decoder of chapter 5 is in ``labutils.lab.toy_transformer``.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import validate
from ..module import Module, ModuleList
from .dropout import Dropout
from .feedforward import FeedForward
from .multihead_attention import MultiheadAttention
from .norm import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder"]


def check_layer(owner: str, d_model: object, nhead: object, dim_feedforward: object,
                dropout: object, activation: object, layer_norm_eps: object, rng: object) -> None:
    """A layer's arguments, checked in the layer's own name before any child is built."""
    d_model, nhead = (validate.positive_int(v, owner, n)
                      for n, v in (("d_model", d_model), ("nhead", nhead)))
    validate.positive_int(dim_feedforward, owner, "dim_feedforward")
    if d_model % nhead:
        raise ValueError(f"{owner}: d_model must be divisible by nhead, got d_model {d_model} "
                         f"and nhead {nhead}")
    validate.probability(dropout, owner, "dropout")
    validate.number(layer_norm_eps, owner, "layer_norm_eps", low=0, open_low=True)
    validate.generator(rng, owner)
    if activation not in ("relu", "gelu"):
        raise ValueError(f"{owner}: activation must be 'relu' or 'gelu', got {activation!r}")


def check_stack(owner: str, layer: object, kind: type, num_layers: object,
                norm: object) -> int:
    """A stack's layer (of ``kind``), number of copies (>= 0, as torch) and final norm."""
    if not isinstance(layer, kind):
        raise TypeError(f"{owner}: the layer to copy must be a {kind.__name__}, got "
                        f"{type(layer).__name__}")
    if norm is not None and not isinstance(norm, Module):
        raise TypeError(f"{owner}: norm must be a Module (a LayerNorm) or None, got "
                        f"{type(norm).__name__}")
    return validate.positive_int(num_layers, owner, "num_layers", minimum=0)


def check_batch(owner: str, tgt: np.ndarray, memory: np.ndarray, batch_first: bool) -> None:
    """tgt and memory must have the same batch size N (axis 0 with batch_first, else 1)."""
    b = 0 if batch_first else 1
    if tgt.shape[b] != memory.shape[b]:
        raise ValueError(f"{owner}: memory must have tgt's batch size {tgt.shape[b]} on axis "
                         f"{b}, got memory of shape {memory.shape} (tgt {tgt.shape})")


class _TransformerLayer(Module):
    """What both layers share: self_attn (and multihead_attn with ``cross_attention``), the
    feed-forward parts under torch's names (linear1, dropout, linear2), one norm and one dropout
    per sub-layer (norm1.., dropout1..: two, or three with cross-attention);
    the self-attention branch (SA then dropout1) and the feed-forward branch (FF then the
    last dropout), each with its backward."""

    def __init__(self, cross_attention: bool, d_model: int, nhead: int, dim_feedforward: int,
                 dropout: float, activation: str, layer_norm_eps: float, batch_first: bool,
                 norm_first: bool, bias: bool, rng: np.random.Generator | None,
                 dtype: type) -> None:
        super().__init__()
        check_layer(type(self).__name__, d_model, nhead, dim_feedforward, dropout, activation,
                    layer_norm_eps, rng)
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, rng, dtype)
        if cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first,
                                                     rng, dtype)
        num_blocks = 3 if cross_attention else 2
        ff = FeedForward(d_model, dim_feedforward, dropout, activation, rng=rng, dtype=dtype)
        self.linear1, self.dropout, self.linear2 = ff.linear1, ff.dropout, ff.linear2
        object.__setattr__(self, "_ff", ff)      # not a child: its parameters are already above
        for i in range(1, num_blocks + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype))
        for i in range(1, num_blocks + 1):
            setattr(self, f"dropout{i}", Dropout(dropout, rng))
        object.__setattr__(self, "_ff_dropout", getattr(self, f"dropout{num_blocks}"))
        self._done = False

    def _sa(self, x: np.ndarray, mask: np.ndarray | None, kpm: np.ndarray | None,
            is_causal: bool) -> np.ndarray:
        out, _ = self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False,
                                attn_mask=mask, is_causal=is_causal and mask is None)
        return self.dropout1(out)

    def _sa_backward(self, d: np.ndarray) -> np.ndarray:
        return sum(self.self_attn.backward(self.dropout1.backward(d)))

    def _ff_branch(self, x: np.ndarray) -> np.ndarray:
        return self._ff_dropout(self._ff(x))

    def _ff_branch_backward(self, d: np.ndarray) -> np.ndarray:
        return self._ff.backward(self._ff_dropout.backward(d))


class TransformerEncoderLayer(_TransformerLayer):
    """torch.nn.TransformerEncoderLayer.   src: (N, T, d_model) with batch_first=True
    (else (T, N, d_model)) -> same shape.   backward(dy) -> dsrc.

    params: self_attn.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias},
            linear1.{weight, bias} (dim_feedforward, d_model), linear2.{weight, bias},
            norm1.{weight, bias}, norm2.{weight, bias}
    src_mask: (T, T) or (N·nhead, T, T), src_key_padding_mask: (N, T); bool True = masked out.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__(False, d_model, nhead, dim_feedforward, dropout, activation,
                         layer_norm_eps, batch_first, norm_first, bias, rng, dtype)

    def forward(self, src: np.ndarray, src_mask: np.ndarray | None = None,
                src_key_padding_mask: np.ndarray | None = None,
                is_causal: bool = False) -> np.ndarray:
        validate.array(src, "TransformerEncoderLayer", "src", ndim=3, shape=(self.d_model,))
        x = src
        if self.norm_first:
            h = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            y = h + self._ff_branch(self.norm2(h))
        else:
            h = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            y = self.norm2(h + self._ff_branch(h))
        self._done = src.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        shape = validate.forward_called("TransformerEncoderLayer", self._done or None)
        validate.grad(dy, shape, "TransformerEncoderLayer")
        if self.norm_first:
            dh = dy + self.norm2.backward(self._ff_branch_backward(dy))
            return dh + self.norm1.backward(self._sa_backward(dh))
        d = self.norm2.backward(dy)
        dh = d + self._ff_branch_backward(d)
        d = self.norm1.backward(dh)
        return d + self._sa_backward(d)


class TransformerDecoderLayer(_TransformerLayer):
    """torch.nn.TransformerDecoderLayer.   tgt: (N, T, d_model), memory: (N, S, d_model)
    (batch_first=True) -> (N, T, d_model).   backward(dy) -> (dtgt, dmemory).

    params: self_attn.*, multihead_attn.* (cross-attention), linear1.*, linear2.*,
            norm1.*, norm2.*, norm3.*
    tgt_mask (T, T), memory_mask (T, S), *_key_padding_mask (N, T) / (N, S): True = masked out.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__(True, d_model, nhead, dim_feedforward, dropout, activation,
                         layer_norm_eps, batch_first, norm_first, bias, rng, dtype)

    def _ca(self, x: np.ndarray, memory: np.ndarray, mask: np.ndarray | None,
            kpm: np.ndarray | None) -> np.ndarray:
        out, _ = self.multihead_attn(x, memory, memory, key_padding_mask=kpm, need_weights=False,
                                     attn_mask=mask)
        return self.dropout2(out)

    def _ca_backward(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> (dx, dmemory): memory is both key and value."""
        dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(d))
        return dq, dk + dv

    def forward(self, tgt: np.ndarray, memory: np.ndarray, tgt_mask: np.ndarray | None = None,
                memory_mask: np.ndarray | None = None,
                tgt_key_padding_mask: np.ndarray | None = None,
                memory_key_padding_mask: np.ndarray | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> np.ndarray:
        validate.array(tgt, "TransformerDecoderLayer", "tgt", ndim=3, shape=(self.d_model,))
        validate.array(memory, "TransformerDecoderLayer", "memory", ndim=3, shape=(self.d_model,))
        check_batch("TransformerDecoderLayer", tgt, memory, self.self_attn.batch_first)
        x, m, mkpm = tgt, memory, memory_key_padding_mask
        if self.norm_first:
            h1 = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            h2 = h1 + self._ca(self.norm2(h1), m, memory_mask, mkpm)
            y = h2 + self._ff_branch(self.norm3(h2))
        else:
            h1 = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            h2 = self.norm2(h1 + self._ca(h1, m, memory_mask, mkpm))
            y = self.norm3(h2 + self._ff_branch(h2))
        self._done = tgt.shape
        return y

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = validate.forward_called("TransformerDecoderLayer", self._done or None)
        validate.grad(dy, shape, "TransformerDecoderLayer")
        if self.norm_first:
            dh2 = dy + self.norm3.backward(self._ff_branch_backward(dy))
            dq, dmemory = self._ca_backward(dh2)
            dh1 = dh2 + self.norm2.backward(dq)
            return dh1 + self.norm1.backward(self._sa_backward(dh1)), dmemory
        d = self.norm3.backward(dy)
        dh2 = d + self._ff_branch_backward(d)
        d = self.norm2.backward(dh2)
        dq, dmemory = self._ca_backward(d)
        d = self.norm1.backward(d + dq)
        return d + self._sa_backward(d), dmemory


class TransformerEncoder(Module):
    """torch.nn.TransformerEncoder: ``num_layers`` copies of ``encoder_layer`` (children
    layers.0, layers.1, ...) and an optional final ``norm``. Compare it with torch's in
    training mode or with enable_nested_tensor=False: torch's eval-mode fast path zeroes the
    outputs at padded positions."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        num_layers = check_stack("TransformerEncoder", encoder_layer, TransformerEncoderLayer,
                                 num_layers, norm)
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.norm, self.d_model, self._shape = norm, encoder_layer.d_model, None

    def forward(self, src: np.ndarray, mask: np.ndarray | None = None,
                src_key_padding_mask: np.ndarray | None = None,
                is_causal: bool = False) -> np.ndarray:
        validate.array(src, "TransformerEncoder", "src", ndim=3, shape=(self.d_model,))
        shape = src.shape
        for layer in self.layers:
            src = layer(src, mask, src_key_padding_mask, is_causal)
        self._shape = shape
        return src if self.norm is None else self.norm(src)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        validate.grad(dy, validate.forward_called("TransformerEncoder", self._shape),
                      "TransformerEncoder")
        if self.norm is not None:
            dy = self.norm.backward(dy)
        for layer in reversed(list(self.layers)):
            dy = layer.backward(dy)
        return dy


class TransformerDecoder(Module):
    """torch.nn.TransformerDecoder: copies of ``decoder_layer`` (layers.0, ...) and an
    optional ``norm``.  backward(dy) -> (dtgt, dmemory), dmemory summed over the layers."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        num_layers = check_stack("TransformerDecoder", decoder_layer, TransformerDecoderLayer,
                                 num_layers, norm)
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.norm, self.d_model, self._shape = norm, decoder_layer.d_model, None

    def forward(self, tgt: np.ndarray, memory: np.ndarray, tgt_mask: np.ndarray | None = None,
                memory_mask: np.ndarray | None = None,
                tgt_key_padding_mask: np.ndarray | None = None,
                memory_key_padding_mask: np.ndarray | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> np.ndarray:
        for name, a in (("tgt", tgt), ("memory", memory)):
            validate.array(a, "TransformerDecoder", name, ndim=3, shape=(self.d_model,))
        shapes = (tgt.shape, memory.shape)
        if self.layers:
            check_batch("TransformerDecoder", tgt, memory, self.layers[0].self_attn.batch_first)
        for layer in self.layers:
            tgt = layer(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                        memory_key_padding_mask, tgt_is_causal)
        self._shape = shapes
        return tgt if self.norm is None else self.norm(tgt)

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tgt_shape, memory_shape = validate.forward_called("TransformerDecoder", self._shape)
        validate.grad(dy, tgt_shape, "TransformerDecoder")
        if self.norm is not None:
            dy = self.norm.backward(dy)
        dmemory = np.zeros(memory_shape, dy.dtype)
        for layer in reversed(list(self.layers)):
            dy, dm = layer.backward(dy)
            dmemory = dmemory + dm
        return dy, dmemory
