"""Chapter 5: the stored toy-transformer weights (re-checked: labutils = torch on them, and
the model still sorts), the toy model's backward, greedy and beam search."""
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

import labutils.nn as nn
from labutils.lab import toy_transformer as toy_lab
from labutils.lab.decoding import beam_search, greedy_decode, log_softmax
from labutils.gradcheck import check_module
from labutils.tolerances import FLOAT32_RTOL

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("train_toy", ROOT / "tools" / "train_toy_transformer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def toy():
    return toy_lab.load_toy_transformer()


def test_weights_file_is_small_and_has_the_script_config(toy):
    path = ROOT / "labutils" / "data" / toy_lab.TOY_WEIGHTS
    assert path.stat().st_size < 300_000
    model, config = toy
    assert config == load_script().CONFIG


def test_labutils_model_equals_torch_twin_on_stored_weights(toy):
    model, config = toy
    script = load_script()
    tm = script.TorchSeq2Seq(**config).double()
    tm.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()}, strict=True)
    src, tgt_in, _ = toy_lab.make_toy_batch(np.random.default_rng(7), 16, config["length"])
    ours = model(src, tgt_in)
    theirs = tm(torch.tensor(src), torch.tensor(tgt_in)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_stored_model_sorts(toy):
    model, config = toy
    src, _, tgt = toy_lab.make_toy_batch(np.random.default_rng(123), 200, config["length"])
    memory = model.encode(src)
    out, _ = greedy_decode(lambda p: log_softmax(model.decode(p, memory)[:, -1]), config["bos"],
                           config["length"], batch_size=len(src))
    assert (out == tgt).all(axis=1).mean() >= 0.98
    early, _ = toy_lab.load_toy_transformer(early=True)
    memory = early.encode(src)
    out, _ = greedy_decode(lambda p: log_softmax(early.decode(p, memory)[:, -1]), config["bos"],
                           config["length"], batch_size=len(src))
    assert 0.1 <= (out == tgt).all(axis=1).mean() <= 0.8     # half-trained, as documented


def test_float32_load_agrees(toy):
    model, config = toy
    m32 = toy_lab.Seq2SeqTransformer(config["vocab_size"], config["d_model"], config["nhead"],
                                dim_feedforward=config["dim_feedforward"],
                                max_len=config["max_len"], dtype=np.float32)
    m32.load_state_dict(model.state_dict())
    src, tgt_in, _ = toy_lab.make_toy_batch(np.random.default_rng(0), 4, config["length"])
    a, b = m32(src, tgt_in), model(src, tgt_in)
    assert a.dtype == np.float32
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < FLOAT32_RTOL


def test_seq2seq_backward_gradcheck_and_attention_maps():
    rng = np.random.default_rng(0)
    m = toy_lab.Seq2SeqTransformer(5, d_model=4, nhead=2, dim_feedforward=6, max_len=8, rng=rng)
    for lin in (m.encoder.layers[0].linear1, m.decoder.layers[0].linear1):
        lin.params["bias"][...] += 0.5
    src, tgt_in, _ = toy_lab.make_toy_batch(rng, 2, 3, num_digits=4)
    rep = check_module(m, src, tgt_in, max_entries=30, n_directions=2)
    assert rep.ok, rep
    maps = m.attention_maps()
    assert maps["decoder cross-attention, layer 0"].shape == (2, 2, 3, 3)
    causal = maps["decoder self-attention, layer 0"]
    assert (np.triu(causal[0, 0], 1) == 0).all()


# -- decoding ------------------------------------------------------------------------------------
def markov_step(table):
    """A model whose next-token log-probs depend only on the last token."""
    return lambda prefixes: table[prefixes[:, -1]]


def brute_force(table, bos, length):
    best = max(itertools.product(range(table.shape[1]), repeat=length),
               key=lambda seq: sum(table[a, b] for a, b in zip((bos,) + seq[:-1], seq)))
    return np.array(best)


def test_beam_of_one_is_greedy_and_wide_beam_is_exact():
    rng = np.random.default_rng(0)
    for trial in range(5):
        table = log_softmax(2 * rng.standard_normal((4, 4)))
        g, gs = greedy_decode(markov_step(table), 0, 4)
        b1 = beam_search(markov_step(table), 0, 4, beam_size=1)
        np.testing.assert_array_equal(b1[0][0], g[0])
        assert b1[0][1] == pytest.approx(gs[0])
        wide = beam_search(markov_step(table), 0, 4, beam_size=4 ** 3)
        np.testing.assert_array_equal(wide[0][0], brute_force(table, 0, 4))
        assert wide[0][1] >= gs[0] - 1e-12


def test_beam_beats_greedy_on_a_trap():
    # from BOS (0): token 1 is likelier (0.6) but leads to a flat next step; token 2 (0.4)
    # leads to a sure next token. Greedy: 0.6 * 0.5 = 0.3; best: 0.4 * 1.0 = 0.4.
    p = np.array([[0.0, 0.6, 0.4, 0.0], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 1.0],
                  [0.25, 0.25, 0.25, 0.25]])
    with np.errstate(divide="ignore"):
        table = np.log(p)
    g, gs = greedy_decode(markov_step(table), 0, 2)
    hyps = beam_search(markov_step(table), 0, 2, beam_size=2)
    assert g[0].tolist() == [1, 2] and np.exp(gs[0]) == pytest.approx(0.3)
    assert hyps[0][0].tolist() == [2, 3] and np.exp(hyps[0][1]) == pytest.approx(0.4)


def test_eos_and_length_penalty():
    V, eos = 4, 3
    table = np.log(np.full((V, V), 0.1))
    table[0] = np.log([0.05, 0.44, 0.05, 0.46])    # from BOS: stop now (0.46) or token 1
    table[1] = np.log([0.02, 0.02, 0.9, 0.06])
    table[2] = np.log([0.02, 0.02, 0.02, 0.94])
    short = beam_search(markov_step(table), 0, 5, beam_size=3, eos=eos)
    assert short[0][0].tolist() == [3]                          # raw log p favours stopping
    longer = beam_search(markov_step(table), 0, 5, beam_size=3, eos=eos, length_penalty=1.0)
    assert longer[0][0].tolist() == [1, 2, 3]
    g, _ = greedy_decode(markov_step(table), 0, 4, batch_size=2, eos=eos)
    assert g.tolist() == [[3, 3, 3, 3]] * 2


def test_decoding_bad_input():
    bad = lambda p: np.zeros((len(p) + 1, 3))    # noqa: E731
    with pytest.raises(ValueError, match="step_fn must return"):
        greedy_decode(bad, 0, 3)
    with pytest.raises(ValueError, match="beam_search: beam_size must be a positive int, got 0"):
        beam_search(bad, 0, 3, beam_size=0)
    with pytest.raises(ValueError, match="returned NaN"):
        beam_search(lambda p: np.full((len(p), 3), np.nan), 0, 3)


@pytest.mark.parametrize("early", [False, True])
def test_cached_greedy_decode_gives_the_logits_of_recomputation(toy, early):
    """One new token per step with each layer's key-value cache: the same tokens as greedy
    decoding over recomputed prefixes, the same logits as the decoder run on the whole prefix,
    and 1 + 2 + ... + T query-key pairs in self-attention."""
    from labutils.lab.decoding import cached_greedy_decode
    from labutils.torchcheck import parity_report
    model, cfg = toy_lab.load_toy_transformer(early=early)
    src, _, _ = toy_lab.make_toy_batch(np.random.default_rng(4), 30, cfg["length"])
    memory = model.encode(src)
    tokens, logits, pairs = cached_greedy_decode(model, memory, cfg["bos"], cfg["length"])
    greedy, _ = greedy_decode(lambda p: log_softmax(model.decode(p, memory[:len(p)])[:, -1]),
                              cfg["bos"], cfg["length"], batch_size=30)
    assert (tokens == greedy).all()
    prefix = np.concatenate([np.full((30, 1), cfg["bos"]), tokens[:, :-1]], axis=1)
    assert parity_report({"logits": (logits, model.decode(prefix, memory))}).ok
    assert pairs == cfg["length"] * (cfg["length"] + 1) // 2


def test_cached_greedy_decode_bad_input(toy):
    from labutils.lab.decoding import cached_greedy_decode
    model, cfg = toy
    memory = model.encode(np.zeros((2, cfg["length"]), int))
    with pytest.raises(ValueError, match="cached_greedy_decode: memory must have shape"):
        cached_greedy_decode(model, memory[..., :-1], cfg["bos"], 4)
    with pytest.raises(ValueError, match="cached_greedy_decode: max_len must be at most"):
        cached_greedy_decode(model, memory, cfg["bos"], model.max_len + 1)
    with pytest.raises(ValueError, match="cached_greedy_decode: bos must be"):
        cached_greedy_decode(model, memory, -1, 4)
