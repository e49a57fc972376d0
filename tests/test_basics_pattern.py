"""The chapter standard's shared pattern, set by chapter 1: the answer-leak lint, the reveal
cell's helper (never raises) and the capstone's helpers (one error naming unfinished exercises;
calls counted)."""
import io
import contextlib
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labutils import nn
from labutils.grading import capstone
from labutils.grading.reveal import AGREES, DIFFERS, UNFINISHED, reveal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbtool  # noqa: E402


def printed(fn, *args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args, **kwargs)
    return out.getvalue()


# -- the leak test ---------------------------------------------------------------------------

def _cells(*sources, answer=("dy @ W",), reveals=("nn.linear_backward",)):
    cells = [nbformat.v4.new_markdown_cell(s) if s.startswith("md:") else nbformat.v4.new_code_cell(s)
             for s in sources]
    for c in cells:
        c.source = c.source.removeprefix("md:")
    ex = nbformat.v4.new_code_cell("def linear_backward(dy, x, W):\n    ### BEGIN SOLUTION\n"
                                   "    return dy @ W\n    ### END SOLUTION")
    ex.metadata["course"] = {"answer": list(answer), "reveals": list(reveals)}
    return cells + [ex, nbformat.v4.new_code_cell("print(inspect.getsource(nn.linear_backward))")]


@pytest.mark.parametrize("cells,where", [
    (_cells("md:so $dx$ is `dy@W`"), "cell 0: shows 'dy @ W'"),
    (_cells("x = 1", "dx = dy  @  W"), "cell 1: shows"),
    (_cells("print(inspect.getsource(nn.linear_backward))"), "cell 0: uses 'nn.linear_backward'"),
])
def test_lint_finds_an_answer_shown_before_its_exercise(cells, where):
    problems = nbtool.answer_leaks(cells)
    assert any(where in p for p in problems), problems


def test_lint_finds_an_answer_in_an_output():
    cells = _cells("print(1)")
    cells[0].outputs = [nbformat.v4.new_output("stream", text="dx = dy @ W\n")]
    assert nbtool.answer_leaks(cells)


def test_lint_accepts_answers_after_the_exercise_and_inside_earlier_solutions():
    earlier = "def f():\n    ### BEGIN SOLUTION\n    return dy @ W\n    ### END SOLUTION"
    assert nbtool.answer_leaks(_cells("md:Write `linear_backward(dy, x, W)`", earlier)) == []


# -- the reveal cell -----------------------------------------------------------------------------

def _unfinished(dy, x, W):
    raise NotImplementedError()


@pytest.mark.parametrize("student,verdict", [
    (lambda dy, x, W: (dy @ W, dy.T @ x), AGREES),
    (lambda dy, x, W: (dy @ W.T, dy.T @ x), DIFFERS),
    (lambda dy, x, W: 1 / 0, DIFFERS + ": <lambda> raised ZeroDivisionError"),
    (_unfinished, UNFINISHED),
    (None, DIFFERS),
])
def test_reveal_prints_the_library_and_a_verdict_without_raising(student, verdict):
    r = np.random.default_rng(0)
    dy, x, W = r.standard_normal((3, 2)), r.standard_normal((3, 4)), r.standard_normal((2, 4))
    def library(dy, x, W):       # the library's pair, with the exercise's signature
        return tuple(nn.linear_backward(dy, nn.linear_forward(x, W, None)[1]).values())
    out = printed(reveal, student, library, dy, x, W, show=[nn.linear_forward, nn.linear_backward])
    assert "def linear_backward" in out and "def linear_forward" in out
    assert out.strip().splitlines()[-1].startswith(verdict), out
    if verdict == AGREES:
        assert DIFFERS not in out


def test_reveal_verdict_only_is_agreement_when_it_agrees():
    from labutils.grading.reveal import verdict
    assert verdict(lambda a: a * 2, lambda a: a * 2, np.ones(3)) == AGREES
    assert verdict(lambda a: (a * 2).astype(np.float32), lambda a: a * 2, np.ones(3)).startswith(DIFFERS)


# -- the capstone --------------------------------------------------------------------------------

def test_require_names_every_unfinished_exercise_in_one_error():
    def relu_backward(dy, x):
        raise NotImplementedError()

    def linear_forward(x, W, b):
        raise NotImplementedError()
    with pytest.raises(capstone.Unfinished) as e:
        capstone.require(linear_forward=(linear_forward, np.ones((1, 2)), np.ones((3, 2)), np.ones(3)),
                         relu_backward=(relu_backward, np.ones(2), np.ones(2)),
                         ok=(lambda a: a, np.ones(2)))
    msg = str(e.value)
    assert "`linear_forward`" in msg and "`relu_backward`" in msg and "ok" not in msg
    assert isinstance(e.value, AssertionError)          # nbgrader scores it like a failed check
    assert e.value._render_traceback_() == [f"Capstone not run: {msg}"]


def test_require_reports_a_broken_function_and_passes_finished_ones():
    with pytest.raises(capstone.Unfinished, match="f fails: f raised ValueError"):
        capstone.require(f=(lambda a: int("x"), 1))
    capstone.require(f=(lambda a: a, np.ones(2)))


def test_counter_counts_and_used_all_names_the_unused():
    used = capstone.Counter(f=lambda a: a + 1, g=lambda a: a)
    assert used.f(1) == 2 and used.f(2) == 3
    assert used.calls == {"f": 2, "g": 0}
    with pytest.raises(AssertionError, match="did not use your g"):
        capstone.used_all(used)
    used.g(0)
    assert "f (2 calls)" in printed(capstone.used_all, used)


def test_achieved_prints_a_verdict_and_fails_below_the_criterion():
    assert "[pass] accuracy >= 0.9: measured 0.97" in printed(capstone.achieved, True, "accuracy >= 0.9", "0.97")
    with pytest.raises(AssertionError, match="criterion not met"):
        capstone.achieved(False, "accuracy >= 0.9", "0.41")
