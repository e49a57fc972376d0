"""Chapter 4's encoder-decoder without attention (labutils.lab.seq2seq_plain): its backward
agrees with central differences (inputs and every parameter), the decoder really starts from
the encoder's last state, and greedy decoding feeds each token back."""
import numpy as np

from labutils.gradcheck import check_module
from labutils.lab.seq2seq_plain import PlainEncoderDecoder


def _onehot(rng, n, length, V):
    return np.eye(V)[rng.integers(0, V, (n, length))]


def test_backward_agrees_with_central_differences():
    rng = np.random.default_rng(0)
    model = PlainEncoderDecoder(5, 3, 4, rng=rng)
    report = check_module(model, _onehot(rng, 2, 4, 5), _onehot(rng, 2, 3, 5))
    assert report.ok, report


def test_the_source_reaches_the_decoder_only_through_the_last_state():
    rng = np.random.default_rng(1)
    model = PlainEncoderDecoder(5, 3, 4, rng=rng)
    src, tgt_in = _onehot(rng, 2, 4, 5), _onehot(rng, 2, 3, 5)
    logits, weights = model(src, tgt_in)
    assert logits.shape == (2, 3, 5) and weights is None
    other = src.copy()
    other[:, 0] = np.roll(other[:, 0], 1, axis=-1)       # change the first source symbol
    assert not np.allclose(model(other, tgt_in)[0], logits)
    h = model.encode(src)
    q, _ = model.decoder(model.dec_embed(tgt_in), h)
    np.testing.assert_allclose(model.out(q), logits)


def test_greedy_decode_feeds_each_token_back():
    rng = np.random.default_rng(2)
    model = PlainEncoderDecoder(6, 3, 4, rng=rng)
    src = _onehot(rng, 3, 4, 6)
    tokens, none = model.greedy_decode(src, 5, 4)
    assert tokens.shape == (3, 4) and none is None
    tgt_in = np.eye(6)[np.concatenate([np.full((3, 1), 5), tokens[:, :-1]], axis=1)]
    np.testing.assert_array_equal(model(src, tgt_in)[0].argmax(-1), tokens)
