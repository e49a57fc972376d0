"""The student release made with nbgrader: stubs instead of solutions, no hidden tests, the
committed student/ folder current, and autograde (the guide's verb, `./course autograde`, with
a class seed for the hidden tests) scoring the instructor version full marks and the unfilled
version zero, with no false checksum warning on the hidden-test cells, nothing flagged as a
change to the grading code, and "Run All" surviving; on chapter 1, a mock class of three
(right, blank, one exercise wrong) gets exactly its per-cell scores."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import release as rel  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    cdir = tmp_path_factory.mktemp("course")
    out = cdir / "student_out"
    rel.release(NOTEBOOKS, out, course_dir=cdir)
    return cdir, out


def solution_lines(cell_source):
    lines = []
    for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell_source, re.S):
        lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return lines


def cells(path):
    return json.loads(Path(path).read_text())["cells"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_solution_or_hidden_test_survives(course, nb):
    _, out = course
    student = (out / nb.name).read_text()
    assert "BEGIN SOLUTION" not in student and "HIDDEN TESTS" not in student
    source_cells = cells(nb)
    other_text = "".join("".join(c["source"]) for c in source_cells if "### BEGIN SOLUTION" not in "".join(c["source"]))
    leaked = [line for c in source_cells for line in solution_lines("".join(c["source"]))
              if line in student and line not in other_text]
    assert not leaked, f"solution lines in the student version: {leaked[:3]}"
    hidden = [c for c in source_cells if "BEGIN HIDDEN TESTS" in "".join(c["source"])]
    for c in hidden:
        body = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", "".join(c["source"]), re.S).group(1)
        for line in body.splitlines():
            if len(line.strip()) > 12:
                assert line.strip() not in student
    n_solutions = sum("".join(c["source"]).count("### BEGIN SOLUTION") for c in source_cells)
    assert student.count("raise NotImplementedError()") == n_solutions


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_student_version_is_current(course, nb):
    _, out = course
    committed = ROOT / "student" / nb.name
    assert committed.exists(), "run ./course release and commit student/"
    fresh, old = json.loads((out / nb.name).read_text()), json.loads(committed.read_text())
    assert [c["source"] for c in fresh["cells"]] == [c["source"] for c in old["cells"]], \
        f"student/{nb.name} is stale: run ./course release"
    assert [c["metadata"] for c in fresh["cells"]] == [c["metadata"] for c in old["cells"]]


SEED = "the release test's class"      # the class's hidden-test seed (COURSE_HIDDEN_SEED)
WRONG_RELU = "def relu_backward(dy, x):\n    return dy * (x >= 0)"


def one_wrong(nb, tmp):
    """The instructor version of chapter 1 with one exercise wrong (ReLU's kink: x >= 0)."""
    data = json.loads(Path(nb).read_text())
    [cell] = [c for c in data["cells"]
              if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex_relu_backward"]
    cell["source"] = WRONG_RELU
    path = Path(tmp) / "one_wrong.ipynb"
    path.write_text(json.dumps(data))
    return path


def autograde(cdir, name, student_files):
    """Grade every student's copy of one chapter with the guide's verb (`./course autograde CH`,
    one nbgrader call, each submission against its own copy of labutils, the class's seed for
    the hidden tests), in a course folder of its own (a copy of the generated one), so that
    chapters can be graded side by side."""
    mine = cdir.parent / f"grade_{name}"
    shutil.copytree(cdir, mine, ignore=shutil.ignore_patterns("student_out", "grade_*", "submitted"))
    for student, src in student_files.items():
        d = mine / "submitted" / student / name
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, d / f"{name}.ipynb")
    env = {**rel.venv_env(), "COURSE_DIR": str(mine), "COURSE_HIDDEN_SEED": SEED}
    r = subprocess.run([str(ROOT / "course"), "autograde", name], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # hidden-test cells come back without a false "checksum has changed" (nbgrader #1961)
    warned = [line for line in (r.stdout + r.stderr).splitlines() if "Attribute 'checksum'" in line]
    assert not warned, f"{name}: " + "\n".join(warned)
    # nothing flagged: neither the scan nor the kernels' guard found a change to the grading code
    assert f"no submission of {name} touched the grading code" in r.stdout, r.stdout[-3000:]
    return mine


def test_autograde_instructor_full_marks_and_stubs_zero(course):
    from concurrent.futures import ThreadPoolExecutor

    from nbgrader.api import Gradebook
    cdir, out = course
    names = [nb.stem for nb in NOTEBOOKS]
    classes = {nb.stem: {"instructor": nb, "stub": out / nb.name} for nb in NOTEBOOKS}
    # A mock class of three on chapter 1: right (the instructor version), blank (the stubs),
    # and one exercise wrong.
    classes["01_basics"]["one_wrong"] = one_wrong(ROOT / "notebooks" / "01_basics.ipynb", cdir)
    with ThreadPoolExecutor(max_workers=2) as pool:   # two cores: two chapters at a time
        dirs = dict(zip(names, pool.map(lambda n: autograde(cdir, n, classes[n]), names)))
    for name in names:
        with Gradebook(f"sqlite:///{dirs[name] / 'gradebook.db'}") as gb:
            full = gb.find_submission(name, "instructor")
            stub = gb.find_submission(name, "stub")
            assert full.max_score > 0
            assert full.score == full.max_score, f"{name}: instructor scored {full.score}/{full.max_score}"
            assert stub.score == 0, f"{name}: the unfilled version scored {stub.score}"
            # every autograder cell fails on the stubs
            for grade in gb.find_submission_notebook(name, name, "stub").grades:
                assert grade.score == 0, f"{name}: {grade.name} passed on the unfilled version"
            if name == "01_basics":     # the mock class: exactly what each deserves, per cell
                scores = {s: {g.name: g.score for g in
                              gb.find_submission_notebook(name, name, s).grades}
                          for s in classes[name]}
                full = {g: gb.find_grade_cell(g, name, name).max_score
                        for g in scores["instructor"]}
                assert scores == {"instructor": full, "stub": {g: 0 for g in full},
                                  "one_wrong": {**full, "ex_relu_backward_check": 0,
                                                "ex_relu_backward_hidden": 0}}

    # "Run All" on the student version: only autograder cells (tagged raises-exception) fail,
    # and every cell ran.
    for name in names:
        graded = cells(dirs[name] / "autograded" / "stub" / name / f"{name}.ipynb")
        for i, c in enumerate(graded):
            if c["cell_type"] != "code":
                continue
            assert c.get("execution_count") is not None, f"{name}: cell {i} never ran"
            errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                assert "raises-exception" in c["metadata"].get("tags", []), \
                    f"{name}: cell {i} failed in the student version ({errors[0].get('ename')}) " \
                    f"but is not an autograder cell"
                # CheckFailed: the grading engine's AssertionError (a report, no traceback)
                assert errors[0]["ename"] in ("CheckFailed", "AssertionError", "NotImplementedError",
                                              "NameError", "Unfinished"), errors[0]["ename"]
