"""Chapter 4's capstone task (labutils.lab.rnn_memory): the adding problem is what it says, and
the training loop, given the library's cells in the exercises' signatures, learns a short delay
and records the gradient norms across time."""
import numpy as np

from labutils.grading import rnn as g
from labutils.grading import rnn_backward as gb
from labutils.lab import rnn_memory as mem


def test_adding_problem_marks_one_step_in_each_half_and_sums_them():
    x, y = mem.adding_problem(np.random.default_rng(0), 50, 10)
    assert x.shape == (10, 50, 2) and y.shape == (50,)
    marks = x[:, :, 1]
    assert np.all(marks.sum(0) == 2)
    assert np.all(marks[:5].sum(0) == 1) and np.all(marks[5:].sum(0) == 1)
    np.testing.assert_allclose(y, (x[:, :, 0] * marks).sum(0))
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))


def _rnn_forward(x, h, *w):
    return g._rnn_cell_forward(x, h, *w)


def test_lstm_learns_a_short_delay_and_records_gradient_norms():
    out = mem.train_memory(g._lstm_cell_forward, gb._lstm_cell_backward, True, 4, steps=150)
    assert out["mse"] < 0.3 * mem.BASELINE_MSE
    assert len(out["losses"]) == 150 and out["losses"][-1] < out["losses"][0]
    assert sorted(out["norms"]) == ["step 150", "step 20"]
    for norms in out["norms"].values():
        assert norms.shape == (5,) and norms[-1] == 1.0 and np.all(norms > 0)


def test_rnn_norms_come_from_bptt_of_the_steps_after_k():
    out = mem.train_memory(_rnn_forward, g._rnn_bptt, False, 6, steps=20)
    norms = out["norms"]["step 20"]
    assert norms.shape == (7,) and norms[-1] == 1.0 and np.all(np.isfinite(norms))
    assert not np.allclose(norms[:-1], 1.0)


# -- the notebook's capstone cells: they fail alone, naming the unfinished exercise ---------------
def _capstone_cells():
    import nbformat
    from pathlib import Path
    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "04_rnn.ipynb", 4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    run = next(s for s in code if "capstone.require" in s)
    figure = next(s for s in code if "memory[cell, 40]" in s)
    check = next(s for s in code if "capstone.achieved" in s)
    return run, figure, check


def test_capstone_fails_alone_when_an_exercise_is_unfinished():
    import pytest

    from labutils.grading import capstone
    from labutils.grading.report import CheckFailed
    from labutils.viz import new_figure
    from labutils.viz import rnn as rnnviz

    from .graderlib import not_filled, notebook

    run, figure, check = _capstone_cells()
    ns = notebook("", rnn_cell_forward=_rnn_forward, rnn_bptt=g._rnn_bptt,
                  lstm_cell_forward=g._lstm_cell_forward, lstm_cell_backward=not_filled,
                  new_figure=new_figure, rnnviz=rnnviz, plt=None)
    with pytest.raises(capstone.Unfinished, match="finish the exercise `lstm_cell_backward` first"):
        exec(run, ns)
    exec(figure, ns)                                   # prints why, draws nothing, raises nothing
    with pytest.raises(CheckFailed, match="the capstone did not run"):
        exec(check, ns)
