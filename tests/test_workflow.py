"""The grading workflow of book/instructor.md, run as the guide writes it, and the students'
own workspace.

- Grading: the commands of the guide's steps 2 and 3, and the `regrade` line of step 4, run
  from the repository root in a temporary course folder (COURSE_DIR) on a three-exercise
  fixture chapter (tests/fixtures/workflow/mini.ipynb, standing for 01_basics; the third
  exercise graded by a hidden test only) with a class of ten, one case each (see EXPECTED):
  right, one exercise wrong, blank, a check cell deleted and a locked one edited, an exercise
  deleted, noisy on stderr with warnings and Python floats, delegating to torch and hard-coded
  to the public hidden cases, the grader monkeypatched in the first cell, a grading file
  rewritten on disk, a memory blow-up and an endless loop. Checked: per-cell scores read from
  the gradebook, grades.csv, each submission's run time, the flags for tampering (and the
  repository's labutils untouched), the autograde log (checksum warnings), the feedback pages
  (hidden tests' verdicts, not their code), the exchange, the refusal to grade without the
  class's seed, and the grades after an exercise is edited.
- Workspace: tools/workspace.py makes work/ from student/, refreshes unchanged copies, keeps
  changed ones and puts the new version beside them; `./course release` writes only student/.
- The course script in a copy of the repository, on a PATH without Node.js: `./course start`
  skips the site and still opens JupyterLab; the students' JupyterLab hides nbgrader's
  instructor tools and the instructor's shows them (servers started headless, page read).
"""
import html
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import sandbox  # noqa: E402
import workspace  # noqa: E402

GUIDE = ROOT / "book" / "instructor.md"
FIXTURE = ROOT / "tests" / "fixtures" / "workflow" / "mini.ipynb"
CHAPTER, DOWNLOADS = "01_basics", "~/Downloads/01_basics"   # as the guide writes them

LF, RELU, LB = "ex_linear_forward_check", "ex_relu_backward_check", "ex_linear_backward_hidden"
SEED = "the test class's private phrase"        # what the guide's `export` line sets
ANSWERS = {
    "ex_linear_forward": "def linear_forward(x, W, b):\n    return x @ W.T + b",
    "ex_relu_backward": "def relu_backward(dy, x):\n    return dy * (x > 0)",
    "ex_linear_backward": "def linear_backward(dy, x, W):\n"
                          "    return dy @ W, dy.T @ x, dy.sum(axis=0)",
}
NOISY = {   # right, but each function prints to stderr and raises a warning
    k: v.replace("\n    return", "\n    import sys, warnings\n    print('debug', file=sys.stderr)"
                 "\n    warnings.warn('my own warning')\n    return") for k, v in ANSWERS.items()}
SCALARS = {  # right, as Python lists of Python floats
    "ex_linear_backward": "def linear_backward(dy, x, W):\n    return tuple(a.tolist() for a "
                          "in (dy @ W, dy.T @ x, dy.sum(axis=0)))",
}
WRONG_RELU = {"ex_relu_backward": "def relu_backward(dy, x):\n    return dy * (x >= 0)"}
DELEGATES = {"ex_linear_forward": "def linear_forward(x, W, b):\n    import torch\n"
                                  "    return torch.nn.functional.linear(*map(torch.from_numpy, "
                                  "(x, W, b))).numpy()"}
ENDLESS = {"ex_relu_backward": "def relu_backward(dy, x):\n    while True:\n        pass"}
BLOWUP = {"ex_linear_forward": "def linear_forward(x, W, b):\n"
                               "    table = np.ones((2**16, 2**15))   # 16 GiB\n    return x @ W.T + b"}
FIRST_CELL = "import numpy as np"
MONKEYPATCH = FIRST_CELL + """
import labutils.grading.basics as grader
grader.check_linear_forward = grader.check_relu_backward = lambda *args, **kwargs: None
grader.check_linear_backward = lambda *args, **kwargs: None"""
REWRITE = FIRST_CELL + """
import importlib, os
import labutils.grading.basics as grader
path = grader.__file__
os.chmod(path, 0o644)                       # read-only stops a student, not root
text = open(path).read()
for name in ["check_linear_forward", "check_relu_backward", "check_linear_backward"]:
    stub = f"def {name}(*args, **kwargs):\\n    return\\n\\n\\n"
    text = text.replace(f"def {name}(", stub + f"def _{name}(")
open(path, "w").write(text)
importlib.reload(grader)"""
EXPECTED = {   # per-cell scores each student deserves
    "alice": {LF: 1, RELU: 1, LB: 2},      # right
    "bob": {LF: 1, RELU: 0, LB: 2},        # one exercise wrong
    "carol": {LF: 0, RELU: 0, LB: 0},      # blank
    "dave": {LF: 1, RELU: 1, LB: 2},       # right, a check cell deleted, a locked one edited
    "frank": {LF: 1, RELU: 0, LB: 2},      # the ReLU exercise deleted (solution and check)
    "grace": {LF: 1, RELU: 1, LB: 2},      # right, noisy on stderr with warnings; Python floats
    "ivan": {LF: 0, RELU: 1, LB: 0},       # delegates to torch; hard-codes public hidden cases
    "judy": {LF: 0, RELU: 0, LB: 0},       # blank, the grader monkeypatched in the first cell
    "mallory": {LF: 0, RELU: 0, LB: 0},    # blank, a grading file rewritten on disk
    "oscar": {LF: 0, RELU: 0, LB: 2},      # a memory blow-up, an endless loop
}
FLAGGED = {"judy", "mallory"}
REGRADED = ("alice", "bob", "carol", "dave")     # graded again after the edit (step 4)


def hard_coded_linear_backward():
    """linear_backward as a student who read the hidden tests in notebooks/ could write it:
    the answers of the default hidden cases (no class seed), looked up by shape."""
    from labutils.grading.basics import check_linear_backward
    seen = {}

    def record(dy, x, W):
        seen[repr((dy.shape, x.shape))] = [a.tolist() for a in (dy @ W, dy.T @ x, dy.sum(0))]
        return dy @ W, dy.T @ x, dy.sum(axis=0)
    os.environ.pop("COURSE_HIDDEN_SEED", None)
    check_linear_backward(record, hidden=True)
    return ("def linear_backward(dy, x, W):\n"
            f"    answers = {seen!r}\n"
            "    return tuple(np.array(a) for a in answers[repr((dy.shape, x.shape))])")


# -- the guide's commands ----------------------------------------------------------------------

def guide_commands(step):
    """The command lines of the bash blocks in the guide's section '## <step>...'."""
    m = re.search(rf"^## {re.escape(step)}.*?(?=^## |\Z)", GUIDE.read_text(), re.S | re.M)
    assert m, f"the guide has no section '## {step}'"
    lines = [line for block in re.findall(r"```bash\n(.*?)```", m.group(0), re.S)
             for line in block.splitlines()]
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


def localize(argv, downloads):
    """A guide command for the fixture chapter: 01_basics -> mini, the download folder -> ours."""
    return [str(downloads) if a == DOWNLOADS else a.replace(CHAPTER, "mini") for a in argv]


def cells(path):
    return json.loads(Path(path).read_text())["cells"]


def grade_id(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def submission(released, answers=None, drop=(), edit=None, first_cell=None):
    nb = json.loads(Path(released).read_text())
    for c in nb["cells"]:
        c["source"] = {**(answers or {}), **(edit or {})}.get(grade_id(c), c["source"])
    if first_cell:
        [first] = [c for c in nb["cells"] if "".join(c["source"]) == FIRST_CELL]
        first["source"] = first_cell
    nb["cells"] = [c for c in nb["cells"] if grade_id(c) not in drop]
    return nb


def per_student(log):
    """The autograde log cut into one block per student (each starts with 'Sanitizing')."""
    blocks, who = {}, None
    for line in log.splitlines():
        m = re.search(r"Sanitizing .*/submitted/([^/]+)/", line)
        who = m.group(1) if m else who
        if who:
            blocks.setdefault(who, []).append(line)
    return {k: "\n".join(v) for k, v in blocks.items()}


def verb_labutils():
    """The labutils folder the grading verb copies (the one its Python imports)."""
    code = "import sandbox; print(sandbox.labutils_folder())"
    return Path(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT / "tools",
                                        text=True).strip())


def run_time(nb_cells):
    """Seconds from the first cell's start to the last cell's reply (nbclient's timing)."""
    from datetime import datetime
    stamps = [datetime.fromisoformat(c["metadata"]["execution"][k].replace("Z", "+00:00"))
              for c in nb_cells if c["cell_type"] == "code" and "execution" in c["metadata"]
              for k in ("iopub.execute_input", "shell.execute_reply")]
    return round((max(stamps) - min(stamps)).total_seconds(), 1)


def page_text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", Path(path).read_text()))


def gradebook_scores(cdir):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{cdir / 'gradebook.db'}") as gb:
        return {s: {g.name: g.score for g in gb.find_submission_notebook("mini", "mini", s).grades}
                for s in EXPECTED}


def grades_csv(cdir):
    rows = (cdir / "grades.csv").read_text().splitlines()
    head = rows[0].split(",")
    return {r["student_id"]: (float(r["score"]), float(r["max_score"]))
            for r in (dict(zip(head, row.split(","))) for row in rows[1:])}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Run the guide's steps 2, 3 and (after an edit of the chapter) 4 as written."""
    tmp = tmp_path_factory.mktemp("workflow")
    cdir, nbs, downloads = tmp / "course", tmp / "notebooks", tmp / "downloads"
    nbs.mkdir()
    shutil.copy2(FIXTURE, nbs / "mini.ipynb")
    env = {**os.environ, "COURSE_DIR": str(cdir), "COURSE_NOTEBOOKS": str(nbs)}
    env.pop("COURSE_HIDDEN_SEED", None)
    out, timings, done = {}, {}, set()
    target = verb_labutils() / "grading" / "basics.py"     # the file mallory rewrites
    original = target.read_bytes()
    trent = hard_coded_linear_backward()

    def run(argv):
        if argv[0] == "export":     # the guide's `export COURSE_HIDDEN_SEED='...'` line
            name, _ = argv[1].split("=", 1)
            env[name] = SEED
            return
        assert argv[0] == "./course", f"the guide's steps are ./course verbs: {argv}"
        start = time.time()
        r = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=600)
        timings[" ".join(argv[1:3])] = round(time.time() - start, 1)
        assert r.returncode == 0, f"{' '.join(argv)} failed:\n{r.stdout[-3000:]}"
        out[argv[1]] = r.stdout

    for argv in guide_commands("2.") + guide_commands("3."):
        argv = localize(argv, downloads)
        if tuple(argv) in done:     # step 3 repeats step 2's `assign`: same command, same result
            continue
        if argv[1] == "collect":    # the students' notebooks, made from what assign released
            released = cdir / "release" / "mini" / "mini.ipynb"
            downloads.mkdir()
            for name, nb in {"alice": submission(released, ANSWERS),
                             "bob": submission(released, {**ANSWERS, **WRONG_RELU}),
                             "carol": submission(released),
                             "dave": submission(released, ANSWERS, drop=[RELU],
                                                edit={LF: "pass"}),
                             "frank": submission(released, ANSWERS,
                                                 drop=["ex_relu_backward", RELU]),
                             "grace": submission(released, {**NOISY, "ex_linear_backward":
                                                            SCALARS["ex_linear_backward"]}),
                             "ivan": submission(released, {**ANSWERS, **DELEGATES,
                                                           "ex_linear_backward": trent}),
                             "judy": submission(released, first_cell=MONKEYPATCH),
                             "mallory": submission(released, first_cell=REWRITE),
                             "oscar": submission(released, {**ANSWERS, **ENDLESS, **BLOWUP}),
                             }.items():
                (downloads / f"{name}.ipynb").write_text(json.dumps(nb))
        run(argv)
        done.add(tuple(argv))
    first = {"scores": gradebook_scores(cdir), "csv": grades_csv(cdir), "log": out["autograde"],
             "feedback_log": out["feedback"], "flags": (cdir / grade.FLAGS).read_text(),
             "labutils_unchanged": target.read_bytes() == original,
             "feedback": {s: page_text(cdir / "feedback" / s / "mini" / "mini.html")
                          for s in EXPECTED},
             "autograded": {s: cells(cdir / "autograded" / s / "mini" / "mini.ipynb")
                            for s in EXPECTED}}
    first["seconds"] = {s: run_time(c) for s, c in first["autograded"].items()}

    # Step 4: the instructor gives the ReLU check 3 points instead of 1, then regrades.
    nb = json.loads((nbs / "mini.ipynb").read_text())
    [check] = [c for c in nb["cells"] if grade_id(c) == RELU]
    check["metadata"]["nbgrader"]["points"] = 3
    (nbs / "mini.ipynb").write_text(json.dumps(nb, indent=1))
    # (the regrade is checked on four students: the others' submissions are set aside, which
    # keeps this test short; their grades stay as they were)
    for student in set(EXPECTED) - set(REGRADED):
        shutil.move(cdir / "submitted" / student, tmp / f"set-aside-{student}")
    step4 = [localize(a, downloads) for a in guide_commands("4.")]
    assert [a[1] for a in step4] == ["execute", "release", "regrade", "test"], step4
    run(step4[2])    # execute, release and test concern notebooks/ and student/, not grades
    print("timings (s):", timings)
    return {"dir": cdir, "first": first, "after_edit": grades_csv(cdir), "timings": timings,
            "env": env}


@pytest.mark.slow
def test_guide_steps_score_each_submission_as_it_deserves(graded):
    """Per-cell scores from the gradebook and the totals in grades.csv."""
    first = graded["first"]
    assert first["scores"] == EXPECTED
    assert first["csv"] == {s: (float(sum(v.values())), 4.0) for s, v in EXPECTED.items()}
    print("seconds per submission (first cell to last):", graded["first"]["seconds"])
    slowest = max(graded["first"]["seconds"].values())
    assert slowest < 60, graded["first"]["seconds"]


@pytest.mark.slow
def test_tampering_is_flagged_and_stays_in_its_own_copy(graded):
    """judy (monkeypatch) and mallory (a grading file rewritten on disk) score 0 and are named
    in the verb's output and in grading_flags.csv; the repository's labutils is unchanged and
    the students graded after mallory got their scores (test above)."""
    first = graded["first"]
    assert first["labutils_unchanged"]
    warned = set(re.findall(r"^WARNING (\w+): ", first["log"], re.M))
    assert warned == FLAGGED
    rows = [line.split(",", 2) for line in first["flags"].splitlines()[1:]]
    assert {r[0] for r in rows} == FLAGGED and {r[1] for r in rows} == {"mini"}
    said = {s: " ".join(r[2] for r in rows if r[0] == s) for s in FLAGGED}
    assert "assigns grader.check_linear_forward" in said["judy"]
    assert "changed labutils/grading/basics.py" in said["mallory"]
    for student in FLAGGED:
        notes = [o.get("evalue", "") for c in first["autograded"][student]
                 for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert any("the grading code was changed" in n for n in notes), student
        assert "cells not graded" in said[student]


@pytest.mark.slow
def test_autograde_refuses_to_run_without_the_seed(graded):
    env = {k: v for k, v in graded["env"].items() if k != "COURSE_HIDDEN_SEED"}
    r = subprocess.run(["./course", "autograde", "mini"], cwd=ROOT, env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode != 0
    assert "COURSE_HIDDEN_SEED" in r.stdout and "--seed" in r.stdout and "private" in r.stdout
    assert "$ nbgrader" not in r.stdout


@pytest.mark.slow
def test_exchange_gets_the_student_version(graded):
    nb = graded["dir"] / "exchange" / "deep-learning-blocks" / "outbound" / "mini" / "mini.ipynb"
    text = nb.read_text()
    assert "raise NotImplementedError()" in text
    assert "BEGIN SOLUTION" not in text and "_hidden_check" not in text


@pytest.mark.slow
def test_no_false_checksum_warning_and_an_edited_locked_cell_still_warns(graded):
    blocks = per_student(graded["first"]["log"])
    assert sorted(blocks) == sorted(EXPECTED)
    warned = {s: re.findall(r"Attribute 'checksum' for cell (\w+) has changed", b)
              for s, b in blocks.items()}
    # Every submission has the hidden-test cell without its hidden region: no warning for it.
    # dave replaced the locked linear-forward check by `pass`: warned, restored, graded.
    assert warned == {**{s: [] for s in EXPECTED}, "dave": [LF]}
    source = {grade_id(c): "".join(c["source"]) for c in cells(FIXTURE)}
    dave = {grade_id(c): "".join(c["source"]) for c in graded["first"]["autograded"]["dave"]}
    assert dave[LF] == source[LF]


@pytest.mark.slow
def test_deleted_check_cell_is_restored_and_graded(graded):
    assert f"Missing grade cell {RELU} encountered" in per_student(graded["first"]["log"])["dave"]
    dave = graded["first"]["autograded"]["dave"]
    ids = [grade_id(c) for c in dave]
    assert ids.index(RELU) == ids.index("ex_relu_backward") + 1     # back in its place
    assert dave[ids.index(RELU)]["outputs"], "the restored check cell did not run"
    assert graded["first"]["scores"]["dave"][RELU] == 1
    # frank deleted the whole exercise (solution and check): nbgrader 0.9.6 itself stops with a
    # KeyError there; the check comes back after the cell before it and fails (nothing defined).
    frank = graded["first"]["autograded"]["frank"]
    ids = [grade_id(c) for c in frank]
    assert ids.index(RELU) == ids.index(LF) + 1
    errors = [o["ename"] for o in frank[ids.index(RELU)]["outputs"] if o["output_type"] == "error"]
    assert errors == ["NameError"]


@pytest.mark.slow
def test_feedback_shows_hidden_verdicts_not_hidden_code(graded):
    src = "".join(next(c["source"] for c in cells(FIXTURE) if grade_id(c) == LB))
    hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", src, re.S).group(1)
    hidden_lines = [line.strip() for line in hidden.splitlines() if line.strip()]
    assert hidden_lines
    assert "not recognized" not in graded["first"]["feedback_log"]     # no config warning either
    for student, page in graded["first"]["feedback"].items():
        assert "graded by hidden tests only" in page          # the cell is there, its code is not
        for line in hidden_lines:
            assert line not in page, f"{student}'s feedback shows the hidden test line {line!r}"
        # the verdict: what the hidden check printed in the autograded notebook
        [cell] = [c for c in graded["first"]["autograded"][student] if grade_id(c) == LB]
        printed = ["".join(o["text"]) if o["output_type"] == "stream" else o.get("evalue", "")
                   for o in cell["outputs"] if o["output_type"] in ("stream", "error")]
        first_line = next(line for t in printed for line in t.splitlines() if line.strip())
        assert first_line.strip() in page, f"{student}'s feedback lacks the hidden test's verdict"


@pytest.mark.slow
def test_regrade_after_editing_an_exercise(graded):
    """The ReLU check now counts 3 points: stale until `regrade`, right after it."""
    assert graded["first"]["csv"]["alice"] == (4.0, 4.0)
    assert {s: graded["after_edit"][s] for s in REGRADED} == {
        s: (float(v[LF] + 3 * v[RELU] + v[LB]), 6.0) for s, v in EXPECTED.items() if s in REGRADED}


def test_autograde_some_students_one_call_each(monkeypatch, tmp_path):
    """nbgrader takes one --student per call: `./course autograde CH alice bob` makes two;
    each kernel gets the seed and the sandbox's start file (a copy of labutils per student)."""
    calls = []

    def fake(*args, env=None):
        start = Path(env["PYTHONSTARTUP"]).read_text()
        copies = Path(env["COURSE_GRADING_COPIES"]) / "students"
        calls.append((args, "guard(" in start, sorted(p.name for p in copies.iterdir())))
    monkeypatch.setattr(grade, "nbgrader", fake)
    monkeypatch.setenv("COURSE_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_HIDDEN_SEED", "s")
    grade.autograde("01_basics", "alice", "bob")
    (tmp_path / "submitted" / "carol" / "01_basics").mkdir(parents=True)
    grade.autograde("01_basics")
    assert calls == [(("autograde", "01_basics", "--force", "--student=alice"), True,
                      ["alice", "bob"]),
                     (("autograde", "01_basics", "--force", "--student=bob"), True,
                      ["alice", "bob"]),
                     (("autograde", "01_basics", "--force"), True, ["carol"])]


def test_seed_on_the_command_line_or_refused(monkeypatch, capsys):
    # take_seed writes os.environ itself: set the variable through monkeypatch first, so that
    # teardown removes it again (delenv of an absent variable records nothing to restore).
    monkeypatch.setenv("COURSE_HIDDEN_SEED", "set by this test")
    monkeypatch.delenv("COURSE_HIDDEN_SEED")
    assert grade.take_seed(["mini", "--seed", "a b", "alice"]) == ["mini", "alice"]
    assert os.environ["COURSE_HIDDEN_SEED"] == "a b"
    assert grade.take_seed(["mini", "--seed=xyz"]) == ["mini"]
    assert os.environ["COURSE_HIDDEN_SEED"] == "xyz"
    monkeypatch.delenv("COURSE_HIDDEN_SEED")
    with pytest.raises(SystemExit) as e:
        grade.main(["regrade", "mini"])
    assert "COURSE_HIDDEN_SEED" in str(e.value) and "private" in str(e.value)


def test_collect_takes_one_notebook_per_student(tmp_path, monkeypatch, capsys):
    downloads, cdir = tmp_path / "downloads", tmp_path / "course"
    (downloads / "bob").mkdir(parents=True)
    (downloads / ".ipynb_checkpoints").mkdir()
    (downloads / "alice.ipynb").write_text(notebook("alice's"))
    (downloads / "bob" / "whatever.ipynb").write_text(notebook("bob's"))
    (downloads / ".ipynb_checkpoints" / "alice-checkpoint.ipynb").write_text(notebook("old"))
    monkeypatch.setenv("COURSE_DIR", str(cdir))
    grade.collect("01_basics", str(downloads))
    got = {p.relative_to(cdir / "submitted").as_posix(): p.read_text()
           for p in (cdir / "submitted").rglob("*.ipynb")}
    assert got == {"alice/01_basics/01_basics.ipynb": notebook("alice's"),
                   "bob/01_basics/01_basics.ipynb": notebook("bob's")}
    assert "2 submissions" in capsys.readouterr().out
    assert "load_subconfig" in (cdir / "nbgrader_config.py").read_text()


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="not a git checkout")
def test_grading_outputs_and_the_workspace_are_ignored_by_git():
    paths = ["source/01_basics/01_basics.ipynb", "release/01_basics/01_basics.ipynb",
             "submitted/alice/01_basics/01_basics.ipynb",
             "autograded/alice/01_basics/01_basics.ipynb",
             "feedback/alice/01_basics/01_basics.html",
             "exchange/deep-learning-blocks/inbound/x", "gradebook.db", "grades.csv",
             "grading_flags.csv",
             ".nbgrader.log", "work/01_basics.ipynb", "work/.course-manifest.json"]
    r = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT,
                       capture_output=True, text=True)
    assert sorted(r.stdout.split()) == sorted(paths)


# -- the student's workspace -----------------------------------------------------------------

def notebook(text):
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}) + "\n"


def snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_workspace_made_on_first_start(tmp_path):
    student, work = tmp_path / "student", tmp_path / "work"
    student.mkdir()
    (student / "a.ipynb").write_text(notebook("a v1"))
    (student / "b.ipynb").write_text(notebook("b v1"))
    messages = workspace.sync(student, work)
    assert (work / "a.ipynb").read_text() == notebook("a v1")
    assert (work / "b.ipynb").read_text() == notebook("b v1")
    assert len(messages) == 1 and "workspace" in messages[0]
    assert workspace.sync(student, work) == []     # nothing new: nothing said, nothing written


def test_new_versions_never_overwrite_a_changed_copy(tmp_path):
    student, work = tmp_path / "student", tmp_path / "work"
    student.mkdir()
    for name in "ab":
        (student / f"{name}.ipynb").write_text(notebook(f"{name} v1"))
    workspace.sync(student, work, today="2026-01-01")
    (work / "a.ipynb").write_text(notebook("a v1 with my answers"))     # the student works on a
    (work / "notes.ipynb").write_text(notebook("my own notebook"))
    for name in "ab":                                                     # a new release
        (student / f"{name}.ipynb").write_text(notebook(f"{name} v2"))
    (student / "c.ipynb").write_text(notebook("c v1"))
    messages = workspace.sync(student, work, today="2026-01-02")

    assert (work / "a.ipynb").read_text() == notebook("a v1 with my answers")
    assert (work / "a.updated-2026-01-02.ipynb").read_text() == notebook("a v2")
    assert (work / "b.ipynb").read_text() == notebook("b v2")           # unchanged copy: refreshed
    assert (work / "c.ipynb").read_text() == notebook("c v1")           # new chapter: copied
    assert (work / "notes.ipynb").read_text() == notebook("my own notebook")
    said = "\n".join(messages)
    assert len(messages) == 3 and "a.updated-2026-01-02.ipynb" in said and "b.ipynb" in said

    before = snapshot(work)
    assert workspace.sync(student, work, today="2026-01-02") == []      # each version offered once
    assert snapshot(work) == before

    (student / "a.ipynb").write_text(notebook("a v3"))                  # released again, same day
    (work / "a.updated-2026-01-02.ipynb").write_text(notebook("I wrote here too"))
    messages = workspace.sync(student, work, today="2026-01-02")
    assert (work / "a.ipynb").read_text() == notebook("a v1 with my answers")
    assert (work / "a.updated-2026-01-02.ipynb").read_text() == notebook("I wrote here too")
    assert (work / "a.updated-2026-01-02-2.ipynb").read_text() == notebook("a v3")
    assert len(messages) == 1

    (work / "b.ipynb").unlink()                                          # deleted: comes back
    workspace.sync(student, work)
    assert (work / "b.ipynb").read_text() == notebook("b v2")


def worked_on(text):
    nb = json.loads(notebook(text))
    nb["cells"].append({"cell_type": "code", "execution_count": 1, "metadata": {},
                        "outputs": [{"name": "stdout", "output_type": "stream", "text": "3\n"}],
                        "source": "1 + 2"})
    return json.dumps(nb)


@pytest.mark.parametrize("how", ["outputs", "git"])
def test_work_done_in_student_before_the_workspace_is_kept(tmp_path, how):
    """A student who worked in student/ itself (before work/ existed): the first start copies
    their notebook, and a later version is offered beside it, never put in its place."""
    student, work = tmp_path / "student", tmp_path / "work"
    student.mkdir()
    if how == "outputs":
        (student / "a.ipynb").write_text(worked_on("a v1"))
    else:
        if shutil.which("git") is None:
            pytest.skip("no git")
        (student / "a.ipynb").write_text(notebook("a v1"))
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
        for cmd in (["init", "-q"], ["add", "a.ipynb"], ["commit", "-qm", "release"]):
            subprocess.run(git + cmd, cwd=student, check=True, capture_output=True)
        (student / "a.ipynb").write_text(notebook("a v1 with answers typed, never run"))
    mine = (student / "a.ipynb").read_text()
    workspace.sync(student, work)
    assert (work / "a.ipynb").read_text() == mine
    assert workspace.sync(student, work) == []
    (student / "a.ipynb").write_text(notebook("a v2"))                 # git checkout + pull
    messages = workspace.sync(student, work, today="2026-01-03")
    assert (work / "a.ipynb").read_text() == mine
    assert (work / "a.updated-2026-01-03.ipynb").read_text() == notebook("a v2")
    assert len(messages) == 1


def test_refresh_refuses_a_copy_saved_in_the_meantime(tmp_path):
    src, mine = tmp_path / "new.ipynb", tmp_path / "mine.ipynb"
    src.write_text(notebook("new"))
    mine.write_text(notebook("saved a moment ago"))
    assert not workspace._replace_if_unchanged(src, mine, expected="hash of the old version")
    assert mine.read_text() == notebook("saved a moment ago")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.ipynb", "new.ipynb"]


# -- the course script, in a copy of the repository without Node.js --------------------------

@pytest.fixture
def repo_copy(tmp_path):
    """The course script, tools, config and student/ (the fixture chapter) in a folder of their
    own, the installed .venv linked, and a PATH with the basic commands but no npm."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for f in ["course", "nbgrader_config.py", "requirements.txt", "pyproject.toml"]:
        shutil.copy2(ROOT / f, repo / f)
    shutil.copytree(ROOT / "tools", repo / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv").symlink_to(ROOT / ".venv")
    for d in ["student", "notebooks"]:
        (repo / d).mkdir()
        shutil.copy2(FIXTURE, repo / d / "mini.ipynb")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["bash", "env", "cat", "sha256sum", "cut", "id", "dirname", "sed", "mkdir"]:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    assert shutil.which("npm", path=str(bin_dir)) is None
    env = {k: v for k, v in os.environ.items()
           if k not in ("JUPYTER_CONFIG_PATH", "COURSE_DIR", "COURSE_NOTEBOOKS", "LAB_ARGS")}
    env.update(PATH=str(bin_dir), PYTHON=str(ROOT / ".venv" / "bin" / "python"))
    return repo, env


def test_start_without_node_skips_the_site_and_opens_jupyterlab(repo_copy):
    repo, env = repo_copy
    r = subprocess.run([str(repo / "course"), "start"], cwd=repo,
                       env={**env, "COURSE_DRY_RUN": "1"}, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert r.returncode == 0, r.stdout
    assert "the site is skipped" in r.stdout
    [launch] = [line for line in r.stdout.splitlines() if line.startswith("dry run:")]
    assert f"--notebook-dir={repo / 'work'}" in launch and "jupyter-lab" in launch
    assert f"JUPYTER_CONFIG_PATH={repo / 'tools' / 'student_jupyter'}" in launch
    copy, original = repo / "work" / "mini.ipynb", repo / "student" / "mini.ipynb"
    assert copy.read_bytes() == original.read_bytes()
    assert not (repo / "_build").exists()


@pytest.mark.slow
def test_release_writes_only_student(repo_copy):
    """`./course release` (nbgrader on the fixture chapter) leaves the workspace as it was; the
    next start offers the new student version beside the student's changed copy."""
    repo, env = repo_copy
    workspace.sync(repo / "student", repo / "work")
    mine = notebook("my answers")
    (repo / "work" / "mini.ipynb").write_text(mine)
    before = snapshot(repo / "work")
    r = subprocess.run([str(repo / "course"), "release"], cwd=repo, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    assert r.returncode == 0, r.stdout
    released = (repo / "student" / "mini.ipynb").read_text()
    assert "raise NotImplementedError()" in released and "_hidden_check" not in released
    assert snapshot(repo / "work") == before
    messages = workspace.sync(repo / "student", repo / "work")
    assert (repo / "work" / "mini.ipynb").read_text() == mine
    [beside] = (repo / "work").glob("mini.updated-*.ipynb")
    assert beside.read_text() == released and beside.name in messages[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@contextmanager
def jupyterlab(repo, env, verb, log):
    """Start `./course <verb>` headless; yield (page config of /lab, url maker); stop it."""
    port, token = free_port(), "workflow-test"
    env = {**env, "LAB_ARGS": f"--no-browser --port={port} --ServerApp.port_retries=0 "
                              f"--ServerApp.token={token}"}
    with open(log, "w") as out:
        proc = subprocess.Popen([str(repo / "course"), verb], cwd=repo, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def url(path):
        return f"http://127.0.0.1:{port}{path}{'&' if '?' in path else '?'}token={token}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(url("/lab"), timeout=10) as r:
                    page = r.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                said = Path(log).read_text()[-3000:]
                assert proc.poll() is None, f"JupyterLab stopped:\n{said}"
                assert time.time() < deadline, f"JupyterLab did not answer:\n{said}"
                time.sleep(0.5)
        data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                         page, re.S)
        yield json.loads(data.group(1)), url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)     # the server's own process group, started above
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


INSTRUCTOR_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                      "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:menu"}


@pytest.mark.slow
def test_student_jupyterlab_hides_the_instructor_tools(repo_copy, tmp_path):
    repo, env = repo_copy
    import nbgrader
    with jupyterlab(repo, env, "lab", tmp_path / "lab.log") as (config, url):
        disabled = set(config["disabledExtensions"])
        assert INSTRUCTOR_PLUGINS <= disabled
        assert "@jupyter/nbgrader:validate-assignment" not in disabled
        assert status(url("/formgrader")) == 404
        assert status(url("/assignments")) == 404 and status(url("/formgraders")) == 404
        assert status(url(f"/nbgrader_version?version={nbgrader.__version__}")) == 200  # Validate's
    assert (repo / "work" / "mini.ipynb").exists()


@pytest.mark.slow
def test_instructor_jupyterlab_shows_them(repo_copy, tmp_path):
    repo, env = repo_copy
    cdir = tmp_path / "course"
    env = {**env, "COURSE_DIR": str(cdir)}
    with jupyterlab(repo, env, "instructor", tmp_path / "lab.log") as (config, url):
        assert not INSTRUCTOR_PLUGINS & set(config["disabledExtensions"])
        assert status(url("/formgrader")) == 200
        assert config.get("serverRoot", str(cdir)) == str(cdir)
    assert (cdir / "nbgrader_config.py").exists()
    assert not (repo / "work").exists()
