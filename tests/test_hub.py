"""`./course rehearse`: a class on a local JupyterHub (tools/rehearse.py, hub/), run headless.

One run (about 2 minutes on 2 cores): an instructor and three students, the fixture chapter
through nbgrader's exchange, each student through their own server's Assignment List API.
Checked: each student's grade, the feedback each fetched (the hidden test's verdict, not its
code), isolation between Unix users (as root; otherwise the verb must say it was not
rehearsed), and that no throwaway user, process or folder is left behind.
"""
import html
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "workflow" / "mini.ipynb"
PREFIX = "dlb-rehearse-"
DESERVED = {PREFIX + "ada": 4.0, PREFIX + "ben": 3.0, PREFIX + "cyd": 0.0}

pytestmark = pytest.mark.skipif(shutil.which("npm") is None
                                and not (ROOT / "node_modules" / ".bin" /
                                         "configurable-http-proxy").exists(),
                                reason="the hub's proxy (configurable-http-proxy) needs Node.js")


def leftovers():
    users = [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(PREFIX)]
    folders = [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob(PREFIX + "*")]
    return users, folders


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    before = leftovers()
    out = tmp_path_factory.mktemp("hub") / "result.json"
    start = time.time()
    r = subprocess.run([str(ROOT / "course"), "rehearse", "--json", str(out)], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    seconds = time.time() - start
    print(r.stdout[-4000:])
    print(f"rehearsal: {seconds:.0f} s")
    assert r.returncode == 0, r.stdout[-5000:]
    return {"said": r.stdout, "result": json.loads(out.read_text()), "before": before,
            "after": leftovers()}


@pytest.mark.slow
def test_each_student_gets_the_grade_they_deserve(rehearsal):
    grades = rehearsal["result"]["grades"]
    assert grades == {s: [g, 4.0] for s, g in DESERVED.items()}
    for student, g in DESERVED.items():
        assert re.search(rf"{student}\s+{g:.1f} / 4\s+deserves {g:g}\s+ok", rehearsal["said"])
    for step in ("assign and release_assignment", "fetched, filled in", "submitted",
                 "collect, autograde, generate_feedback, release_feedback, export",
                 "fetched feedback"):
        assert step in rehearsal["said"], step


@pytest.mark.slow
def test_feedback_shows_the_hidden_verdict_not_the_hidden_code(rehearsal):
    src = next("".join(c["source"]) for c in json.loads(FIXTURE.read_text())["cells"]
               if "BEGIN HIDDEN TESTS" in "".join(c["source"]))
    hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", src, re.S).group(1)
    lines = [line.strip() for line in hidden.splitlines() if line.strip()]
    assert lines
    for student, page in rehearsal["result"]["feedback"].items():
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert "Hidden tests of linear_backward" in text, student
        for line in lines:
            assert line not in text, f"{student}'s feedback shows {line!r}"
        failed = "2 of 2 checks failed" in text
        assert failed == (student == PREFIX + "cyd"), student   # only the blank one fails it


@pytest.mark.slow
def test_isolation_rehearsed_as_root_or_said_not_to_be(rehearsal):
    result = rehearsal["result"]
    if os.geteuid() == 0:
        assert result["as_root"]
        assert result["isolation"] == ["list the exchange's inbound folder",
                                       f"read {PREFIX}ben's notebook",
                                       "read the instructor's source"]
    else:
        assert result["isolation"] is None
        assert "isolation was NOT rehearsed" in rehearsal["said"]


@pytest.mark.slow
def test_nothing_left_behind(rehearsal):
    users, folders = rehearsal["after"]
    assert users == rehearsal["before"][0] == []
    assert set(folders) <= set(rehearsal["before"][1])
    ps = subprocess.run(["ps", "-eo", "user:32,args"], capture_output=True, text=True).stdout
    assert "jupyterhub -f" not in ps and PREFIX not in ps
