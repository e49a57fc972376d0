"""The training objectives of the three transformer families, as (inputs, targets, weights) for
a loss per position: the weight says which positions receive a gradient.

- decoder-only (GPT): predict the next token; every position is trained.
- encoder-only (BERT): masked-token prediction; 15 % of the positions are chosen, and of those
  80 % are replaced by [MASK], 10 % by a random token and 10 % left unchanged; only the chosen
  positions are trained (the rest get weight 0). BERT adds a segment embedding (sentence A or
  B) to each token: ``segment_ids`` marks them.
- encoder-decoder (T5, the original transformer): the encoder reads the source, the decoder
  predicts the target shifted by one (teacher forcing); every target position is trained.
"""
from __future__ import annotations

import numpy as np

__all__ = ["gpt_example", "bert_example", "segment_ids", "seq2seq_example"]


def gpt_example(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tokens (N, T) -> inputs (N, T − 1), targets (N, T − 1) = the next tokens, weights 1."""
    return tokens[:, :-1], tokens[:, 1:], np.ones(tokens[:, 1:].shape)


def bert_example(tokens: np.ndarray, rng: np.random.Generator, vocab: int, mask_id: int,
                 rate: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tokens (N, T) -> corrupted inputs (N, T), targets = tokens, weights (1 at the chosen
    positions, 0 elsewhere). Of the chosen: 80 % [MASK], 10 % a random token, 10 % unchanged."""
    chosen = rng.random(tokens.shape) < rate
    action = rng.random(tokens.shape)
    inputs = tokens.copy()
    inputs[chosen & (action < 0.8)] = mask_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inputs[swap] = rng.integers(0, vocab, int(swap.sum()))
    return inputs, tokens.copy(), chosen.astype(np.float64)


def segment_ids(len_a: int, len_b: int) -> np.ndarray:
    """BERT's segment ids for [CLS] A [SEP] B [SEP]: 0 for [CLS], A and its [SEP], 1 for B and
    its [SEP]. -> (len_a + len_b + 3,)"""
    return np.concatenate([np.zeros(len_a + 2, int), np.ones(len_b + 1, int)])


def seq2seq_example(source: np.ndarray, target: np.ndarray, bos: int
                    ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """-> ((source, decoder input = [bos, target[:-1]]), targets = target, weights 1)."""
    start = np.full((len(target), 1), bos)
    return (source, np.hstack([start, target[:, :-1]])), target, np.ones(target.shape)
