"""Chapter 2 meets the chapter standard's countable points: at least eight graded exercises,
each declaring its answer and followed by a hidden-test cell of one call and a reveal; the
derivations' answers are not on the page before them (the lint's leak test, run here on this
notebook); the capstone uses the student's functions and has its graded check."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbtool  # noqa: E402

NB = ROOT / "notebooks" / "02_normalization.ipynb"
EXERCISES = ["batchnorm_train", "batchnorm_eval", "batchnorm_backward", "layer_norm",
             "layer_norm_backward", "group_norm", "weight_norm_backward", "fold_batchnorm"]
DERIVATIONS = ["batchnorm_backward", "layer_norm_backward", "weight_norm_backward"]


@pytest.fixture(scope="module")
def cells():
    return nbformat.read(NB, as_version=4).cells


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _index(cells, grade_id):
    return next(i for i, c in enumerate(cells) if _grade_id(c) == grade_id)


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_declares_its_answer_and_has_check_hidden_and_reveal(cells, name):
    i = _index(cells, f"ex_{name}")
    decl = cells[i].metadata.get("course", {})
    assert decl.get("answer") and decl.get("reveals"), f"ex_{name} declares no answer"
    check, hidden = cells[_index(cells, f"ex_{name}_check")], cells[_index(cells, f"ex_{name}_hidden")]
    assert f"check_{name}({name})" in check.source
    body = [ln for ln in hidden.source.splitlines() if not ln.startswith("###") and ln.strip()]
    assert body == [f"check_{name}({name}, hidden=True)"]
    assert {"remove-cell", "raises-exception"} <= set(hidden.metadata.get("tags", []))
    later = "\n".join(c.source for c in cells[i + 1:i + 10] if c.cell_type == "code")
    assert f"reveal({name}," in later or f"verdict({name}," in later, f"no reveal after ex_{name}"


def test_no_answer_leaks_in_this_notebook(cells):
    assert nbtool.answer_leaks(cells) == []


@pytest.mark.parametrize("name", DERIVATIONS)
def test_a_derivation_has_hints_and_its_declared_result_only_after_it(cells, name):
    i = _index(cells, f"ex_{name}")
    before = "\n".join(c.source for c in cells[max(0, i - 2):i] if c.cell_type == "markdown")
    assert "<details>" in before and "Hint" in before
    answers = cells[i].metadata["course"]["answer"]
    after = "".join("".join(c.source.split()) for c in cells[i + 1:])
    assert any("".join(a.split()) in after for a in answers), f"the result of ex_{name} is never shown"


def test_capstone_uses_the_students_batch_norm_and_is_graded(cells):
    cap = next(c for c in cells if "capstone.require(" in c.source)
    assert "raises-exception" in cap.metadata.get("tags", [])
    for name in ("batchnorm_train", "batchnorm_eval", "batchnorm_backward"):
        assert f"{name}=({name}" in cap.source and f"used.{name}" in cap.source
    assert "capstone.used_all(used)" in cap.source
    graded = cells[_index(cells, "capstone_check")]
    assert "capstone.achieved(" in graded.source


def test_capstone_fails_alone_naming_the_one_unfinished_exercise(cells):
    """The capstone's cells run with batchnorm_backward unfinished: one Unfinished error naming
    it (and not the finished ones), and the graded check then says the capstone did not run."""
    import numpy as np

    from labutils.grading.capstone import Unfinished
    from labutils.grading.report import CheckFailed

    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    from .test_norm_grading import batchnorm_eval, batchnorm_train   # written as a student would

    ns = {"np": np, "batchnorm_train": batchnorm_train, "batchnorm_eval": batchnorm_eval,
          "batchnorm_backward": unfinished}
    cap = next(c for c in cells if "capstone.require(" in c.source)
    with pytest.raises(Unfinished, match="`batchnorm_backward`") as err:
        exec(cap.source, ns)
    assert "batchnorm_train" not in str(err.value) and "batchnorm_eval" not in str(err.value)
    with pytest.raises(CheckFailed, match="did not run"):
        exec(cells[_index(cells, "capstone_check")].source, ns)
