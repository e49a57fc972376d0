"""Transformer layers (torch.nn.TransformerEncoderLayer / TransformerDecoderLayer twins), their
stacks, and a small encoder-decoder model for the chapter's toy task.

Encoder layer, post-norm (torch's default, norm_first=False):
    h = LN1(x + SA(x))            y = LN2(h + FF(h))
pre-norm (norm_first=True):
    h = x + SA(LN1(x))            y = h + FF(LN2(h))
Decoder layer adds cross-attention CA to the encoder's output ("memory") between the two:
    post-norm: h1 = LN1(x + SA(x));  h2 = LN2(h1 + CA(h1, m));  y = LN3(h2 + FF(h2))
    pre-norm:  h1 = x + SA(LN1(x));  h2 = h1 + CA(LN2(h1), m);  y = h2 + FF(LN3(h2))
SA/CA are MultiheadAttention, FF = linear2(dropout(act(linear1(·)))) (residual.FeedForward),
each branch followed by its dropout (dropout1, dropout2, dropout3) before the addition.

backward follows the same graph in reverse; a residual connection adds its two gradients,
and self-attention (query = key = value = x) sums its three input gradients.
"""
import copy

import numpy as np

from .. import validate
from ..module import Module, ModuleList
from .attention import MultiheadAttention, causal_mask
from .dropout import Dropout
from .linear import Linear
from .norm import LayerNorm
from .positional import Embedding, sinusoidal_encoding
from .residual import FeedForward

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "Seq2SeqTransformer", "make_toy_batch", "load_toy_transformer"]


def _feed_forward(layer, d_model, dim_feedforward, dropout, activation, rng, dtype):
    """Reuse residual.FeedForward, registering its parts under torch's names (linear1,
    dropout, linear2) directly on the layer, as torch does."""
    ff = FeedForward(d_model, dim_feedforward, dropout, activation, rng=rng, dtype=dtype)
    layer.linear1, layer.dropout, layer.linear2 = ff.linear1, ff.dropout, ff.linear2
    object.__setattr__(layer, "_ff", ff)      # not a child: its parameters are already above


class TransformerEncoderLayer(Module):
    """torch.nn.TransformerEncoderLayer.   src: (N, T, d_model) with batch_first=True
    (else (T, N, d_model)) -> same shape.   backward(dy) -> dsrc.

    params: self_attn.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias},
            linear1.{weight, bias} (dim_feedforward, d_model), linear2.{weight, bias},
            norm1.{weight, bias}, norm2.{weight, bias}
    src_mask: (T, T) or (N·nhead, T, T), src_key_padding_mask: (N, T); bool True = masked out.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, rng, dtype)
        _feed_forward(self, d_model, dim_feedforward, dropout, activation, rng, dtype)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1, self.dropout2 = Dropout(dropout, rng), Dropout(dropout, rng)
        self._done = False

    def _sa(self, x, mask, kpm, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False,
                                attn_mask=mask, is_causal=is_causal and mask is None)
        return self.dropout1(out)

    def _sa_backward(self, d):
        return sum(self.self_attn.backward(self.dropout1.backward(d)))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        validate.array(src, "TransformerEncoderLayer", "src", ndim=3, shape=(self.d_model,))
        x = src
        if self.norm_first:
            h = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            y = h + self.dropout2(self._ff(self.norm2(h)))
        else:
            h = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            y = self.norm2(h + self.dropout2(self._ff(h)))
        self._done = src.shape
        return y

    def backward(self, dy):
        shape = validate.forward_called("TransformerEncoderLayer", self._done or None)
        validate.grad(dy, shape, "TransformerEncoderLayer")
        if self.norm_first:
            dh = dy + self.norm2.backward(self._ff.backward(self.dropout2.backward(dy)))
            return dh + self.norm1.backward(self._sa_backward(dh))
        d = self.norm2.backward(dy)
        dh = d + self._ff.backward(self.dropout2.backward(d))
        d = self.norm1.backward(dh)
        return d + self._sa_backward(d)


class TransformerDecoderLayer(Module):
    """torch.nn.TransformerDecoderLayer.   tgt: (N, T, d_model), memory: (N, S, d_model)
    (batch_first=True) -> (N, T, d_model).   backward(dy) -> (dtgt, dmemory).

    params: self_attn.*, multihead_attn.* (cross-attention), linear1.*, linear2.*,
            norm1.*, norm2.*, norm3.*
    tgt_mask (T, T), memory_mask (T, S), *_key_padding_mask (N, T) / (N, S): True = masked out.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, rng, dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, rng,
                                                 dtype)
        _feed_forward(self, d_model, dim_feedforward, dropout, activation, rng, dtype)
        self.norm1, self.norm2, self.norm3 = (LayerNorm(d_model, layer_norm_eps, bias=bias,
                                                        dtype=dtype) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (Dropout(dropout, rng) for _ in range(3))
        self._done = False

    def _sa(self, x, mask, kpm, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False,
                                attn_mask=mask, is_causal=is_causal and mask is None)
        return self.dropout1(out)

    def _ca(self, x, memory, mask, kpm):
        out, _ = self.multihead_attn(x, memory, memory, key_padding_mask=kpm, need_weights=False,
                                     attn_mask=mask)
        return self.dropout2(out)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        validate.array(tgt, "TransformerDecoderLayer", "tgt", ndim=3, shape=(self.d_model,))
        validate.array(memory, "TransformerDecoderLayer", "memory", ndim=3, shape=(self.d_model,))
        x = tgt
        if self.norm_first:
            h1 = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            h2 = h1 + self._ca(self.norm2(h1), memory, memory_mask, memory_key_padding_mask)
            y = h2 + self.dropout3(self._ff(self.norm3(h2)))
        else:
            h1 = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            h2 = self.norm2(h1 + self._ca(h1, memory, memory_mask, memory_key_padding_mask))
            y = self.norm3(h2 + self.dropout3(self._ff(h2)))
        self._done = tgt.shape
        return y

    def backward(self, dy):
        shape = validate.forward_called("TransformerDecoderLayer", self._done or None)
        validate.grad(dy, shape, "TransformerDecoderLayer")
        if self.norm_first:
            dh2 = dy + self.norm3.backward(self._ff.backward(self.dropout3.backward(dy)))
            dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(dh2))
            dh1 = dh2 + self.norm2.backward(dq)
            dx = dh1 + self.norm1.backward(sum(self.self_attn.backward(
                self.dropout1.backward(dh1))))
            return dx, dk + dv
        d = self.norm3.backward(dy)
        dh2 = d + self._ff.backward(self.dropout3.backward(d))
        d = self.norm2.backward(dh2)
        dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(d))
        dh1 = d + dq
        d = self.norm1.backward(dh1)
        return d + sum(self.self_attn.backward(self.dropout1.backward(d))), dk + dv


class TransformerEncoder(Module):
    """torch.nn.TransformerEncoder: ``num_layers`` copies of ``encoder_layer`` (children
    layers.0, layers.1, ...) and an optional final ``norm``. Compare it with torch's in
    training mode or with enable_nested_tensor=False: torch's eval-mode fast path zeroes the
    outputs at padded positions."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        for layer in self.layers:
            src = layer(src, mask, src_key_padding_mask, is_causal)
        return src if self.norm is None else self.norm(src)

    def backward(self, dy):
        if self.norm is not None:
            dy = self.norm.backward(dy)
        for layer in reversed(list(self.layers)):
            dy = layer.backward(dy)
        return dy


class TransformerDecoder(Module):
    """torch.nn.TransformerDecoder: copies of ``decoder_layer`` (layers.0, ...) and an
    optional ``norm``.  backward(dy) -> (dtgt, dmemory), dmemory summed over the layers."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        for layer in self.layers:
            tgt = layer(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                        memory_key_padding_mask, tgt_is_causal)
        return tgt if self.norm is None else self.norm(tgt)

    def backward(self, dy):
        if self.norm is not None:
            dy = self.norm.backward(dy)
        dmemory = 0
        for layer in reversed(list(self.layers)):
            dy, dm = layer.backward(dy)
            dmemory = dmemory + dm
        return dy, dmemory


class Seq2SeqTransformer(Module):
    """A small encoder-decoder for the toy task (batch first, post-norm, no dropout).

    src: (N, S) int tokens, tgt_in: (N, T) int tokens (starting with BOS)
    -> logits (N, T, vocab_size) for the next target token at each position.

        memory = encoder(src_embed(src) + PE)
        logits = generator(decoder(tgt_embed(tgt_in) + PE, memory, causal mask))

    Parameter names: src_embed.weight, tgt_embed.weight, encoder.layers.i.*, decoder.layers.i.*,
    generator.{weight, bias}; tools/train_toy_transformer.py builds the same model in torch.
    backward(dlogits) -> None (the inputs are integers); parameter gradients accumulate.
    """

    def __init__(self, vocab_size, d_model=32, nhead=2, num_encoder_layers=1,
                 num_decoder_layers=1, dim_feedforward=64, max_len=64, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, d_model
        self.src_embed = Embedding(vocab_size, d_model, rng=rng, dtype=dtype)
        self.tgt_embed = Embedding(vocab_size, d_model, rng=rng, dtype=dtype)
        kw = dict(dim_feedforward=dim_feedforward, dropout=0.0, batch_first=True, rng=rng,
                  dtype=dtype)
        self.encoder = TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **kw),
                                          num_encoder_layers)
        self.decoder = TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **kw),
                                          num_decoder_layers)
        self.generator = Linear(d_model, vocab_size, rng=rng, dtype=dtype)
        object.__setattr__(self, "pe", sinusoidal_encoding(max_len, d_model, dtype=dtype))
        self._cache = None

    def encode(self, src):
        validate.array(src, "Seq2SeqTransformer", "src", ndim=2, dtype="int")
        return self.encoder(self.src_embed(src) + self.pe[:src.shape[1]])

    def decode(self, tgt_in, memory):
        validate.array(tgt_in, "Seq2SeqTransformer", "tgt_in", ndim=2, dtype="int")
        T = tgt_in.shape[1]
        y = self.decoder(self.tgt_embed(tgt_in) + self.pe[:T], memory, tgt_mask=causal_mask(T))
        return self.generator(y)

    def forward(self, src, tgt_in):
        logits = self.decode(tgt_in, self.encode(src))
        self._cache = True
        return logits

    def backward(self, dlogits):
        validate.forward_called("Seq2SeqTransformer", self._cache)
        dy, dmemory = self.decoder.backward(self.generator.backward(dlogits))
        self.tgt_embed.backward(dy)
        self.src_embed.backward(self.encoder.backward(dmemory))
        return None

    def attention_maps(self):
        """Per-head weights of the last forward: {"encoder self-attention, layer 0": (N, H, S, S),
        "decoder self-attention, layer 0": (N, H, T, T), "decoder cross-attention, layer 0":
        (N, H, T, S), ...}."""
        maps = {}
        for i, layer in enumerate(self.encoder.layers):
            maps[f"encoder self-attention, layer {i}"] = layer.self_attn.last_attention
        for i, layer in enumerate(self.decoder.layers):
            maps[f"decoder self-attention, layer {i}"] = layer.self_attn.last_attention
            maps[f"decoder cross-attention, layer {i}"] = layer.multihead_attn.last_attention
        return maps


# -- the toy task -----------------------------------------------------------------------------
TOY_WEIGHTS = "toy_transformer.npz"     # in labutils/data/, written by tools/train_toy_transformer.py


def make_toy_batch(rng, n, length, task="sort", num_digits=10):
    """A batch of the toy task: src (n, length) random digits; tgt the sorted (or reversed,
    or copied) digits; tgt_in = [BOS, tgt[:-1]] with BOS = num_digits (teacher forcing).
    Returns src, tgt_in, tgt (int64 arrays)."""
    src = rng.integers(0, num_digits, (n, length))
    if task == "sort":
        tgt = np.sort(src, axis=1)
    elif task == "reverse":
        tgt = src[:, ::-1].copy()
    elif task == "copy":
        tgt = src.copy()
    else:
        raise ValueError(f"make_toy_batch: task must be 'sort', 'reverse' or 'copy', got {task!r}")
    tgt_in = np.concatenate([np.full((n, 1), num_digits), tgt[:, :-1]], axis=1)
    return src.astype(np.int64), tgt_in.astype(np.int64), tgt.astype(np.int64)


def load_toy_transformer(path=None, early=False):
    """(model, config) from the weights file that tools/train_toy_transformer.py writes.
    config: dict with task, length, num_digits, bos, vocab_size, d_model, nhead, ...
    early=True: the snapshot taken early in training (a half-trained model)."""
    import json
    from pathlib import Path
    path = Path(path) if path else Path(__file__).resolve().parents[1] / "data" / TOY_WEIGHTS
    with np.load(path, allow_pickle=False) as data:
        config = json.loads(str(data["config"]))
        prefix = "early." if early else ""
        state = {k[len(prefix):]: data[k] for k in data.files
                 if k != "config" and k.startswith(prefix) and (early or not k.startswith("early."))}
    model = Seq2SeqTransformer(config["vocab_size"], config["d_model"], config["nhead"],
                               config["num_encoder_layers"], config["num_decoder_layers"],
                               config["dim_feedforward"], config["max_len"])
    model.load_state_dict(state)
    return model.eval(), config
