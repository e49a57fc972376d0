"""Chapter 5's demo: a small encoder-decoder transformer, its toy task (sort, reverse or copy
a row of digits) and its shipped weights (labutils/data/toy_transformer.npz, written by
tools/train_toy_transformer.py, which builds the same model in torch), and the attention maps
of one decoded example.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import validate
from ..module import Module
from ..nn.embedding import Embedding
from ..nn.linear import Linear
from ..nn.masks import causal_mask
from ..nn.positional import sinusoidal_encoding
from ..nn.transformer import (TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                              TransformerEncoderLayer)
from .decoding import greedy_decode, log_softmax

__all__ = ["Seq2SeqTransformer", "TOY_WEIGHTS", "make_toy_batch", "load_toy_transformer",
           "toy_attention_maps"]

# in labutils/data/, written by tools/train_toy_transformer.py
TOY_WEIGHTS = "toy_transformer.npz"


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

    def __init__(self, vocab_size: int, d_model: int = 32, nhead: int = 2,
                 num_encoder_layers: int = 1, num_decoder_layers: int = 1,
                 dim_feedforward: int = 64, max_len: int = 64,
                 rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
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

    def encode(self, src: np.ndarray) -> np.ndarray:
        """src (N, S) int -> memory (N, S, d_model)."""
        self._check_tokens(src, "src")
        return self.encoder(self.src_embed(src) + self.pe[:src.shape[1]])

    def decode(self, tgt_in: np.ndarray, memory: np.ndarray) -> np.ndarray:
        """tgt_in (N, T) int, memory (N, S, d_model) -> logits (N, T, vocab_size)."""
        self._check_tokens(tgt_in, "tgt_in")
        T = tgt_in.shape[1]
        y = self.decoder(self.tgt_embed(tgt_in) + self.pe[:T], memory, tgt_mask=causal_mask(T))
        return self.generator(y)

    def _check_tokens(self, tokens: np.ndarray, arg: str) -> None:
        """(N, length) int tokens in [0, vocab_size), length <= max_len (the positions' table)."""
        validate.array(tokens, "Seq2SeqTransformer", arg, ndim=2, dtype="int")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"Seq2SeqTransformer: {arg} must be at most max_len = {self.max_len} "
                             f"tokens long (the positional table), got shape {tokens.shape}; "
                             f"build the model with a larger max_len")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"Seq2SeqTransformer: {arg} must hold tokens in "
                             f"[0, {self.vocab_size}), got values from {tokens.min()} to "
                             f"{tokens.max()}")

    def forward(self, src: np.ndarray, tgt_in: np.ndarray) -> np.ndarray:
        logits = self.decode(tgt_in, self.encode(src))
        self._cache = True
        return logits

    def backward(self, dlogits: np.ndarray) -> None:
        validate.forward_called("Seq2SeqTransformer", self._cache)
        dy, dmemory = self.decoder.backward(self.generator.backward(dlogits))
        self.tgt_embed.backward(dy)
        self.src_embed.backward(self.encoder.backward(dmemory))
        return None

    def attention_maps(self) -> dict[str, np.ndarray]:
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


def make_toy_batch(rng: np.random.Generator, n: int, length: int, task: str = "sort",
                   num_digits: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def load_toy_transformer(path: str | Path | None = None,
                         early: bool = False) -> tuple[Seq2SeqTransformer, dict]:
    """(model, config) from the weights file that tools/train_toy_transformer.py writes.
    config: dict with task, length, num_digits, bos, vocab_size, d_model, nhead, ...
    early=True: the snapshot taken early in training (a half-trained model)."""
    path = Path(path) if path else Path(__file__).resolve().parents[1] / "data" / TOY_WEIGHTS
    with np.load(path, allow_pickle=False) as data:
        config = json.loads(str(data["config"]))
        prefix = "early." if early else ""
        state = {k[len(prefix):]: data[k] for k in data.files
                 if k != "config" and k.startswith(prefix)
                 and (early or not k.startswith("early."))}
    model = Seq2SeqTransformer(config["vocab_size"], config["d_model"], config["nhead"],
                               config["num_encoder_layers"], config["num_decoder_layers"],
                               config["dim_feedforward"], config["max_len"])
    model.load_state_dict(state)
    return model.eval(), config


def toy_attention_maps(model: Seq2SeqTransformer, src: np.ndarray, bos: int
                       ) -> tuple[dict[str, np.ndarray], list[str], list[str], np.ndarray]:
    """Run the toy model on one example, feeding back its own greedy output; returns
    (maps {name: (H, Tq, Tk)}, src labels, decoder-input labels, output tokens)."""
    src = np.asarray(src).reshape(1, -1)
    memory = model.encode(src)
    out, _ = greedy_decode(lambda p: log_softmax(model.decode(p, memory)[:, -1]), bos,
                           src.shape[1])
    tgt_in = np.concatenate([[[bos]], out[:, :-1]], axis=1)
    model(src, tgt_in)
    maps = {k: v[0] for k, v in model.attention_maps().items()}
    src_labels = [str(t) for t in src[0]]
    tgt_labels = ["BOS"] + [str(t) for t in out[0, :-1]]
    return maps, src_labels, tgt_labels, out[0]
