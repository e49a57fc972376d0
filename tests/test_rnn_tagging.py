"""Chapter 4's bidirectional task (labutils.lab.rnn_tagging): the labels are the neighbours' XOR,
the tagger's backward agrees with central differences. (The training runs once, in the notebook.)"""
import numpy as np
import pytest

from labutils.gradcheck import check_module
from labutils.lab import rnn_tagging


def test_labels_are_the_xor_of_the_neighbours():
    x, y = rnn_tagging.xor_neighbours(50, 7, np.random.default_rng(0))
    bits = (x[..., 0] > 0).astype(int)
    assert x.shape == (50, 7, 1) and set(np.unique(x)) == {-1.0, 1.0}
    assert np.array_equal(y[:, 1:-1], bits[:, :-2] ^ bits[:, 2:])
    assert np.array_equal(y[:, 0], bits[:, 1]) and np.array_equal(y[:, -1], bits[:, -2])


@pytest.mark.parametrize("layers, bidirectional", [(2, False), (1, True), (2, True)])
def test_tagger_backward_agrees_with_central_differences(layers, bidirectional):
    model = rnn_tagging.Tagger(3, layers, bidirectional, np.random.default_rng(1))
    x, _ = rnn_tagging.xor_neighbours(2, 5, np.random.default_rng(2))
    assert model(x).shape == (2, 5, 2)
    assert check_module(model, x).ok


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="xor_neighbours: length must be an int >= 3, got 2"):
        rnn_tagging.xor_neighbours(4, 2, np.random.default_rng(0))
