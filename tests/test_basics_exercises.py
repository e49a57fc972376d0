"""Chapter 1's exercises added for the chapter standard (cross-entropy backward, dropout, the
initialisation scale, the highway backward, the capstone): each check passes the answer, fails
every wrong answer of its catalogue with the right words, survives what student code does; the
hidden-test variants; the library pairs the reveal cells compare with; the notebook declares
every exercise's answer and leaks none; the capstone fails alone, naming what to finish."""
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labutils.grading import basics as g
from labutils.grading import basics_blocks as gb
from labutils.grading import capstone

from .graderlib import assert_right_answers_pass, assert_survives, fails, passes

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_basics.ipynb"


def ref_ce_backward(logits, t):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(t)), t] -= 1
    return p / len(t)


def ref_cross_entropy(logits, t):
    m = logits.max(axis=1, keepdims=True)
    return np.mean(m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)) - logits[np.arange(len(t)), t])


def ref_dropout_forward(x, p, keep, training=True):
    mask = keep / (1 - p) if training else np.ones_like(x)
    return x * mask, mask


def ref_dropout_backward(dy, mask):
    return dy * mask


def ref_init_std(fan_in, negative_slope=0.0):
    return float(np.sqrt(2 / ((1 + negative_slope ** 2) * fan_in)))


def ref_highway_backward(dy, x, W_H, b_H, W_T, b_T):
    a_h, a_t = x @ W_H.T + b_H, x @ W_T.T + b_T
    h, t = np.maximum(a_h, 0), 1 / (1 + np.exp(-a_t))
    d_ah, d_at = dy * t * (a_h > 0), dy * (h - x) * t * (1 - t)
    return dy * (1 - t) + d_ah @ W_H + d_at @ W_T, d_ah.T @ x, d_ah.sum(0), d_at.T @ x, d_at.sum(0)


def dropout_check(forward, backward=ref_dropout_backward):
    """check_dropout takes two functions: wrap it so the graderlib helpers pass one."""
    def check(fn, **kwargs):
        return gb.check_dropout(fn, backward, **kwargs)
    return check


CHECKS = [(g.check_cross_entropy_backward, ref_ce_backward),
          (gb.check_highway_backward, ref_highway_backward)]


@pytest.mark.parametrize("check,answer", CHECKS)
def test_right_answers_pass_also_noisy_and_float32_fails(check, answer):
    assert_right_answers_pass(check, answer)


@pytest.mark.parametrize("check,answer", CHECKS)
def test_graders_survive_what_student_code_does(check, answer):
    assert_survives(check, answer)


@pytest.mark.parametrize("check,answer", CHECKS + [
    (gb.check_init_std, ref_init_std), (g.check_linear_forward, g._linear_forward),
    (g.check_relu_backward, g._relu_backward), (g.check_softmax_backward, g._softmax_backward),
    (g.check_cross_entropy, ref_cross_entropy)])
def test_hidden_tests_pass_the_answer_and_are_titled(check, answer):
    assert "Hidden tests of" in passes(check, answer, hidden=True)


def test_hidden_cases_come_from_the_class_seed(monkeypatch):
    """With a class seed the hidden cases differ from the public ones (and still pass)."""
    public = passes(gb.check_init_std, ref_init_std)
    monkeypatch.setenv("COURSE_HIDDEN_SEED", "a class passphrase")
    hidden = passes(gb.check_init_std, ref_init_std, hidden=True)
    assert public.splitlines()[2] != hidden.splitlines()[2]


def test_hidden_tests_fail_a_wrong_answer():
    fails(g.check_cross_entropy_backward, lambda lg, t: -ref_ce_backward(lg, t), "[FAIL]", hidden=True)


# -- cross-entropy backward --------------------------------------------------------------------

def _naive_ce_backward(lg, t):
    p = np.exp(lg) / np.exp(lg).sum(axis=1, keepdims=True)
    return (p - np.eye(lg.shape[1])[t]) / len(t)


def _row_loop(lg, t):
    return np.stack([ref_ce_backward(lg[i:i + 1], t[i:i + 1])[0] for i in range(len(t))]) / len(t)


@pytest.mark.parametrize("fn,phrases", [
    (lambda lg, t: ref_ce_backward(lg, t) * len(t), ["divided by the batch size"]),
    (lambda lg, t: -ref_ce_backward(lg, t), ["sign is flipped", "central differences: wrong"]),
    (lambda lg, t: g._softmax(lg) / len(t), ["subtract 1 at the target"]),
    (_naive_ce_backward, ["huge logits", "subtract each row's maximum"]),
    (_row_loop, ["python loop per row"]),
    (lambda lg, t: g.library_cross_entropy_backward(lg, t), ["called cross_entropy_forward", "your own code"]),
])
def test_cross_entropy_backward_mistakes(fn, phrases):
    fails(g.check_cross_entropy_backward, fn, *phrases)


# -- dropout ------------------------------------------------------------------------------------

def test_dropout_passes_and_survives():
    passes(gb.check_dropout, ref_dropout_forward, ref_dropout_backward)
    check = dropout_check(ref_dropout_forward)
    fails(check, lambda *a, **k: None, "cannot unpack")
    fails(check, lambda x, p, keep, training=True: (_ for _ in ()).throw(NotImplementedError()),
          "not filled in yet")
    fails(gb.check_dropout, ref_dropout_forward, "not filled in yet",
          dropout_backward=lambda dy, m: (_ for _ in ()).throw(NotImplementedError()))
    fails(check, lambda x, p, keep, training=True: ref_dropout_forward(x.astype(np.float32), p, keep, training),
          "float32")


def _in_place(x, p, keep, training=True):
    y, mask = ref_dropout_forward(x, p, keep, training)
    x *= mask
    return y, mask


@pytest.mark.parametrize("forward,backward,phrases", [
    (lambda x, p, k, tr=True: (x * k, k) if tr else (x, np.ones_like(x)), ref_dropout_backward,
     ["scaled by 1/(1-p)"]),
    (lambda x, p, k, tr=True: (x * k / p, k / p) if tr else (x, np.ones_like(x)), ref_dropout_backward,
     ["not 1/p"]),
    (lambda x, p, k, tr=True: ref_dropout_forward(x, p, k, True), ref_dropout_backward,
     ["training is ignored"]),
    (lambda x, p, k, tr=True: ref_dropout_forward(x, p, k, tr), lambda dy, m: dy, ["no gradient"]),
    (lambda x, p, k, tr=True: (ref_dropout_forward(x, p, k, tr)[0], k if tr else np.ones_like(x)),
     ref_dropout_backward, ["same scaled mask"]),
    (_in_place, ref_dropout_backward, ["changed its argument 0 in place"]),
    (lambda x, p, k, tr=True: __import__("labutils.nn", fromlist=["x"]).dropout_forward(x, p, k if tr else None),
     lambda dy, c: dy * c.mask, ["called", "(labutils.nn)", "your own code"]),
])
def test_dropout_mistakes(forward, backward, phrases):
    fails(gb.check_dropout, forward, *phrases, dropout_backward=backward)


# -- the initialisation scale -----------------------------------------------------------------------

def test_init_std_passes_and_survives():
    out = passes(gb.check_init_std, ref_init_std)
    assert "measured: E[z²] through 20 ReLU layers" in out
    passes(gb.check_init_std, lambda n, negative_slope=0.0: np.sqrt(2 / ((1 + negative_slope ** 2) * n)))
    fails(gb.check_init_std, lambda n, negative_slope=0.0: None, "returned None")
    fails(gb.check_init_std, lambda n, negative_slope=0.0: int("x"), "raised ValueError")


@pytest.mark.parametrize("fn,phrases", [
    (lambda n, negative_slope=0.0: ref_init_std(n, negative_slope) ** 2, ["this is the variance"]),
    (lambda n, negative_slope=0.0: ref_init_std(n), ["negative_slope is ignored"]),
    (lambda n, negative_slope=0.0: float(np.sqrt(1 / n)), ["factor 1/2", "measured", "ratio"]),
    (lambda n, negative_slope=0.0: float(np.sqrt(1 / ((0.5 - 1 / (2 * np.pi)) * n))), ["not its variance"]),
    (lambda n, negative_slope=0.0: np.float32(ref_init_std(n, negative_slope)), ["float32"]),
    (lambda n, negative_slope=0.0: __import__("labutils.init", fromlist=["x"]).calculate_gain(
        "leaky_relu", negative_slope) / np.sqrt(n), ["called calculate_gain"]),
])
def test_init_std_mistakes(fn, phrases):
    fails(gb.check_init_std, fn, *phrases)


def test_measured_scale_tells_the_right_scale_from_wrong_ones():
    assert 0.5 < gb.measured_scale(ref_init_std(256)) < 2
    assert gb.measured_scale(np.sqrt(1 / 256)) < 1e-3 and gb.measured_scale(np.sqrt(4 / 256)) > 1e3
    assert 0.5 < gb.measured_scale(ref_init_std(256, 1.0), negative_slope=1.0) < 2


# -- the highway backward ------------------------------------------------------------------------------

@pytest.mark.parametrize("route,phrases", [
    ("carry", ["carry route"]), ("gate", ["dy times (h - x)"]), ("sign", ["not x - h"]),
    ("sigmoid", ["derivative t (1 - t)"]), ("relu", ["only where its input"]),
])
def test_highway_backward_mistakes(route, phrases):
    fails(gb.check_highway_backward, gb._highway_mistake(route), *phrases, "central differences: wrong")


def test_highway_backward_delegation_and_transposed_gradient():
    fails(gb.check_highway_backward, gb.library_highway_backward, "called", "your own code")
    fails(gb.check_highway_backward,
          lambda *a: (lambda r: (r[0], r[1].T, r[2], r[3].T, r[4]))(ref_highway_backward(*a)), "dW_H")


# -- the library pairs of the reveal cells ----------------------------------------------------------------

def test_library_pairs_agree_with_the_references():
    r = np.random.default_rng(0)
    x, W, dy = r.standard_normal((4, 3)), r.standard_normal((2, 3)), r.standard_normal((4, 2))
    for a, b in zip(g.library_linear_backward(dy, x, W), g._linear_backward(dy, x, W)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    z, d = r.standard_normal((3, 5)), r.standard_normal((3, 5))
    np.testing.assert_allclose(g.library_relu_backward(d, z), g._relu_backward(d, z))
    np.testing.assert_allclose(g.library_softmax_backward(d, g._softmax(z)), g._softmax_backward(d, g._softmax(z)))
    t = np.array([0, 4, 2])
    np.testing.assert_allclose(g.library_cross_entropy(z, t), g._cross_entropy(z, t))
    np.testing.assert_allclose(g.library_cross_entropy_backward(z, t), ref_ce_backward(z, t), atol=1e-16)
    keep = r.random((3, 5)) > 0.3
    for training in (True, False):
        for a, b in zip(gb.library_dropout(z, 0.3, keep, training, d), gb._dropout_pair(z, 0.3, keep, training, d)):
            np.testing.assert_allclose(a, b)
    assert gb.library_init_std(100, 0.2) == pytest.approx(ref_init_std(100, 0.2), rel=1e-14)
    h = [r.standard_normal(s) for s in [(3, 4), (3, 4), (4, 4), (4,), (4, 4), (4,)]]
    for a, b in zip(gb.library_highway_backward(*h), ref_highway_backward(*h)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


# -- the notebook: answers declared, none leaked; the capstone fails alone ---------------------------------

sys.path.insert(0, str(ROOT / "tools"))
import nbtool  # noqa: E402


@pytest.mark.parametrize("folder", ["notebooks", "student"])
def test_every_exercise_declares_its_answer_and_none_leaks(folder):
    path = ROOT / folder / "01_basics.ipynb"
    if not path.exists():
        pytest.skip(f"{folder}/01_basics.ipynb not generated")
    cells = nbformat.read(path, as_version=4).cells
    if folder == "student":   # the release drops the declarations: take them from the source
        source = nbformat.read(ROOT / "notebooks" / "01_basics.ipynb", as_version=4).cells
        declared = {c.metadata["nbgrader"]["grade_id"]: c.metadata["course"] for c in source
                    if "answer" in c.metadata.get("course", {}) and "nbgrader" in c.metadata}
        assert not any("answer" in c.metadata.get("course", {}) for c in cells), \
            "the student version must not carry the declared answers"
        for c in cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if gid in declared:
                c.metadata["course"] = declared[gid]
        assert len([c for c in cells if "answer" in c.metadata.get("course", {})]) == len(declared)
    assert nbtool.answer_leaks(cells) == []
    if folder == "notebooks":
        solutions = [c for c in cells if "### BEGIN SOLUTION" in c.source]
        assert len(solutions) >= 8
        undeclared = [c.source.splitlines()[0] for c in solutions if not c.metadata.get("course", {}).get("answer")]
        assert not undeclared, f"exercises without a declared answer: {undeclared}"


def test_the_lint_would_catch_the_old_chapter_s_leak():
    """The chapter used to print the linear pair before exercise 2: put it back, the lint finds it."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    i = next(k for k, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ex_linear_backward")
    cells.insert(3, nbformat.v4.new_code_cell("print(inspect.getsource(nn.linear_backward))"))
    cells.insert(3, nbformat.v4.new_markdown_cell(r"that is $\;dX = G W,\; dW = G^\top X$"))
    problems = nbtool.answer_leaks(cells)
    assert any("nn.linear_backward" in p and f"cell {i + 2}" in p for p in problems), problems
    assert any("dX = G W" in p for p in problems), problems


def _capstone_source():
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    return next(c.source for c in cells if c.source.startswith("capstone_result = None"))


def _answers():
    from labutils.lab.datasets import two_spirals
    return {"np": np, "two_spirals": two_spirals, "capstone": capstone,
            "linear_forward": g._linear_forward, "linear_backward": g._linear_backward,
            "relu_backward": g._relu_backward, "cross_entropy": ref_cross_entropy,
            "cross_entropy_backward": ref_ce_backward,
            "numerical_gradient": g.reference_numerical_gradient}


def _stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("unfinished", [["relu_backward"], ["cross_entropy_backward", "numerical_gradient"]])
def test_capstone_fails_alone_naming_the_unfinished_exercises(unfinished):
    ns = _answers() | {name: _stub for name in unfinished}
    with pytest.raises(capstone.Unfinished) as e:
        exec(_capstone_source(), ns)
    msg = str(e.value)
    for name in unfinished:
        assert f"`{name}`" in msg
    assert "linear_forward" not in msg and ns["capstone_result"] is None
    fails(gb.check_capstone, None, "did not run")


def test_capstone_check_reads_the_result():
    good = {"accuracy": 0.99, "gradient_check": 1e-10, "calls": {"linear_forward": 3}}
    passes(gb.check_capstone, good)
    fails(gb.check_capstone, good | {"accuracy": 0.6}, "training accuracy at least 0.90")
    fails(gb.check_capstone, good | {"gradient_check": 1e-2}, "gradient check: wrong")
    fails(gb.check_capstone, good | {"calls": {"relu_backward": 0}}, "not used: relu_backward")


def test_dropout_check_survives_an_endless_loop_an_error_and_nan():
    from .graderlib import raises, spins
    back = {"dropout_backward": ref_dropout_backward}
    fails(gb.check_dropout, spins, "did not finish within 0.2 s", "endless loop", time_limit_s=0.2, **back)
    fails(gb.check_dropout, raises, "raised IndexError", **back)
    fails(gb.check_dropout, lambda x, p, k, tr=True: (np.full_like(x, np.nan), np.ones_like(x)), "contains NaN", **back)
    fails(gb.check_dropout, 42, "expected a function", **back)
    fails(gb.check_dropout, ref_dropout_forward, "expected a function", dropout_backward=None)
