"""Hidden tests worth hiding (labutils.grading.hidden, tools/sandbox.py): cases drawn from the
class's seed, the grading code verified before a hidden check runs, and the scan of a
submission's code. The end-to-end proof through nbgrader is tests/test_workflow.py."""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from labutils.grading import core, hidden, report, watch
from labutils.grading.basics import check_linear_backward
from labutils.grading.report import CheckFailed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import sandbox  # noqa: E402


def right(dy, x, W):
    return dy @ W, dy.T @ x, dy.sum(axis=0)


def hidden_inputs(monkeypatch, seed):
    """The arrays the hidden linear_backward check gives the student under ``seed``."""
    if seed is None:
        monkeypatch.delenv(hidden.SEED_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(hidden.SEED_VARIABLE, seed)
    seen = []

    def record(dy, x, W):
        seen.append((dy.copy(), x.copy(), W.copy()))
        return right(dy, x, W)
    check_linear_backward(record, hidden=True)
    return seen


def test_seeds_give_different_cases_and_none_gives_the_public_ones(monkeypatch, capsys):
    public, again = hidden_inputs(monkeypatch, None), hidden_inputs(monkeypatch, None)
    a, b = hidden_inputs(monkeypatch, "fall class"), hidden_inputs(monkeypatch, "spring class")
    assert len(public) == len(a) == len(b) == 2
    same = lambda u, v: all(np.array_equal(p, q) for s, t in zip(u, v) for p, q in zip(s, t))
    assert same(public, again)                       # deterministic without a class seed
    assert not same(public, a) and not same(public, b) and not same(a, b)
    assert same(a, hidden_inputs(monkeypatch, "fall class"))    # the same class, the same cases
    assert hidden.seed(1234) != 1234 and hidden.seed(1234) != hidden.seed(1235)
    monkeypatch.delenv(hidden.SEED_VARIABLE)
    assert hidden.seed(1234) == 1234


@pytest.mark.parametrize("seed", [None, "fall class", "0", "a long private phrase, with spaces"])
def test_a_right_answer_passes_under_any_seed(monkeypatch, capsys, seed):
    hidden_inputs(monkeypatch, seed)
    assert "All 2 checks passed." in capsys.readouterr().out


def test_an_answer_hard_coded_to_the_public_cases_fails_under_a_class_seed(monkeypatch, capsys):
    answers = {(dy.shape, x.shape): right(dy, x, W)
               for dy, x, W in hidden_inputs(monkeypatch, None)}

    def hard_coded(dy, x, W):
        return answers[(dy.shape, x.shape)]
    monkeypatch.delenv(hidden.SEED_VARIABLE, raising=False)
    check_linear_backward(hard_coded, hidden=True)             # passes the public cases
    monkeypatch.setenv(hidden.SEED_VARIABLE, "fall class")
    with pytest.raises(CheckFailed):
        check_linear_backward(hard_coded, hidden=True)
    assert "relative error" in capsys.readouterr().out


# -- verify: the grading code is the course's own ----------------------------------------------

def fake(*args, **kwargs):
    return None


def replace_method(monkeypatch):
    monkeypatch.setattr(report.Report, "finish", fake)


def swap_code(monkeypatch):
    monkeypatch.setattr(core.diagnose_cases, "__code__", fake.__code__)


def swap_defaults(monkeypatch):
    monkeypatch.setattr(core.check_function, "__kwdefaults__",
                        {**core.check_function.__kwdefaults__, "rtol": 1e9})


@pytest.mark.parametrize("change, named", [
    (lambda m: m.setattr(core, "check_function", fake), "labutils.grading.core.check_function"),
    (lambda m: m.setattr(core, "compare", core.diagnose), "labutils.grading.core.compare"),
    (swap_code, "labutils.grading.core.diagnose_cases"),
    (swap_defaults, "default arguments of labutils.grading.core.check_function"),
    (replace_method, "labutils.grading.report.Report.finish"),
    (lambda m: m.setattr(watch, "Watch", type("Watch", (), {})), "labutils.grading.watch.Watch"),
    (lambda m: m.setattr(np, "max", fake), "numpy.max"),
    (lambda m: m.setattr(sys, "setprofile", fake), "sys.setprofile"),
    (lambda m: m.setitem(sys.modules, "labutils.grading.compare", type(sys)("fake")),
     "labutils.grading.compare is not the course's file"),
], ids=["function", "other course function", "__code__", "defaults", "method", "class",
        "numpy", "setprofile", "sys.modules"])
def test_verify_names_what_was_changed(monkeypatch, capsys, change, named):
    hidden.verify()                                       # the course's own: nothing said
    with monkeypatch.context() as m:
        change(m)
        problems = hidden.tampering()
        with pytest.raises(CheckFailed):
            hidden.verify()
        with pytest.raises(CheckFailed):                  # every hidden check verifies first
            check_linear_backward(right, hidden=True)
    assert any(named in p for p in problems), problems
    out = capsys.readouterr().out
    assert "The hidden tests cannot run" in out and named in out
    assert hidden.tampering() == []


def test_the_autograde_guard_stops_every_later_cell(monkeypatch):
    class Shell:
        class events:
            print_on_error, hooks = True, []

            @classmethod
            def register(cls, event, fn):
                cls.hooks.append((event, fn))
    # the files as they are now (other work may edit them; rewrites: tests/test_workflow.py)
    monkeypatch.setattr(hidden, "_HASHES", {f: hashlib.sha256(f.read_bytes()).hexdigest()
                                            for f in hidden._files()})
    Shell.user_ns = {"check_linear_backward": check_linear_backward, "mine": fake}
    before = hidden.guard(Shell)
    assert Shell.events.hooks == [("pre_run_cell", before)] and not Shell.events.print_on_error
    before(None)
    Shell.user_ns["mine"] = print                     # the student's own names are theirs
    before(None)
    Shell.user_ns["check_linear_backward"] = fake      # a check redefined in the notebook
    with pytest.raises(hidden.GradingCodeChanged, match="check_linear_backward, a check of"):
        before(None)
    Shell.user_ns["check_linear_backward"] = check_linear_backward
    before(None)
    monkeypatch.setattr(core, "check_function", fake)
    with pytest.raises(hidden.GradingCodeChanged, match="check_function was replaced"):
        before(None)


# -- the scan of submissions -----------------------------------------------------------------

def notebook(tmp_path, *sources, locked=()):
    cells = [{"cell_type": "code", "metadata": {"nbgrader": {"locked": i in locked}},
              "source": s, "outputs": []} for i, s in enumerate(sources)]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


@pytest.mark.parametrize("code, said", [
    ("import labutils.grading.core as c\nc.check_function = print", "assigns c.check_function"),
    ("from labutils.grading import basics\nbasics.check_relu_backward = None", "assigns basics"),
    ("import numpy as np\nnp.max = min", "assigns np.max"),
    ("def f(): pass\nf.__code__ = print.__code__", "changes f.__code__"),
    ("import sys\nsys.setprofile(None)", "calls sys.setprofile"),
    ("import sys\nsys.settrace(None)", "calls sys.settrace"),
    ("import sys\nsys.modules['labutils.grading'] = None", "sys.modules"),
    ("import builtins\nbuiltins.print = len", "builtins"),
    ("setattr(object(), 'x', 1)", "calls setattr"),
    ("import importlib, labutils\nimportlib.reload(labutils)", "importlib.reload"),
    ("get_ipython().events.unregister('pre_run_cell', None)", "events.unregister"),
    ("import labutils.grading.basics as g\nopen(g.__file__, 'w').write('')", "writes or runs"),
    ("from pathlib import Path\nPath('labutils/grading/core.py').write_text('')", "writes or runs"),
    ("import ctypes", "imports ctypes"),
    ("check_relu_backward = lambda f: None", "redefines check_relu_backward"),
])
def test_scan_finds_changes_to_the_grading_code(tmp_path, code, said):
    nb = notebook(tmp_path, "from labutils.grading.basics import check_relu_backward\n"
                            "check_relu_backward(relu_backward)", code, locked=[0])
    found = sandbox.scan_notebook(nb)
    assert any(said in f for f in found), found
    assert all(f.startswith("cell 2, line ") for f in found)


def test_scan_is_silent_on_ordinary_answers(tmp_path):
    answers = ["import numpy as np\n%matplotlib inline",
               "def relu_backward(dy, x):\n    out = dy.copy()\n    out[x <= 0] = 0\n    return out",
               "class Net:\n    def __init__(self):\n        self.w = np.zeros(3)\n"
               "net = Net()\nnet.w = np.ones(3)\nnp.random.seed(0)\nprint(open('data.txt').read)",
               "def linear_forward(x, W, b):\n    import sys\n    print('x', file=sys.stderr)\n"
               "    return x @ W.T + b",
               "this is not Python (: a cell that cannot run"]
    assert sandbox.scan_notebook(notebook(tmp_path, *answers)) == []


def test_sandbox_copies_are_fresh_read_only_and_compared(tmp_path):
    source = tmp_path / "src" / "labutils"
    (source / "grading").mkdir(parents=True)
    (source / "grading" / "basics.py").write_text("x = 1\n")
    with sandbox.Sandbox(["alice", "mallory"], source=source) as box:
        target = box.dir / "students" / "mallory" / "labutils" / "grading" / "basics.py"
        assert not target.stat().st_mode & 0o222
        target.chmod(0o644)
        target.write_text("x = 2\n")
        assert box.changed() == {"mallory": ["labutils/grading/basics.py"]}
        assert "PYTHONSTARTUP" in box.env()
        folder = box.dir
    assert not folder.exists()
    assert (source / "grading" / "basics.py").read_text() == "x = 1\n"
