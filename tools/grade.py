"""The instructor's grading steps, one verb each (book/instructor.md; `./course VERB` runs them).

    python tools/grade.py assign CH          notebooks/CH.ipynb -> source/CH/, generate_assignment
    python tools/grade.py collect CH FOLDER  FOLDER/<student>.ipynb -> submitted/<student>/CH/
    python tools/grade.py autograde CH [STUDENT ...]
    python tools/grade.py feedback CH        feedback/<student>/CH/CH.html, no hidden-test code
    python tools/grade.py export             grades.csv
    python tools/grade.py regrade CH         after an edit: assign, autograde, feedback, export
    python tools/grade.py nbgrader ARGS...   any nbgrader command, in the course folder
    python tools/grade.py folder             print the course folder (made if missing)

The course folder is $COURSE_DIR, or the repository root when it is unset; the chapters are
read from $COURSE_NOTEBOOKS, or notebooks/. nbgrader runs with this Python's bin folder first on
PATH (it calls the `alembic` command beside it).
"""
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def course_dir():
    cdir = Path(os.environ.get("COURSE_DIR") or ROOT).expanduser().resolve()
    cdir.mkdir(parents=True, exist_ok=True)
    write_course_config(cdir)
    return cdir


def notebooks_dir():
    return Path(os.environ.get("COURSE_NOTEBOOKS") or ROOT / "notebooks").expanduser().resolve()


def write_course_config(cdir):
    """A course folder other than the repository gets a nbgrader_config.py that loads the
    repository's (the one place for the settings) and makes that folder the course folder."""
    cdir = Path(cdir)
    if cdir.resolve() == ROOT:
        return
    text = ("# Made by the course's grading verbs: the settings live in the repository's file.\n"
            "import os\n"
            "os.environ['COURSE_NBGRADER_FOLDER'] = os.path.dirname(os.path.abspath(__file__))\n"
            f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})  # noqa: F821\n"
            "del os.environ['COURSE_NBGRADER_FOLDER']   # not passed on to kernels or commands\n")
    path = cdir / "nbgrader_config.py"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def venv_env():
    """The environment with this Python's bin folder first on PATH, and without the
    SQLAlchemy warnings nbgrader's gradebook code raises on every run (the scores are right)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    quiet = "ignore::Warning:nbgrader.api"
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), quiet]))
    return env


def nbgrader(*args):
    """Run one nbgrader command in the course folder; stop the verb if it fails."""
    cmd = [str(Path(sys.executable).parent / "nbgrader"), *args]
    print("$ nbgrader " + " ".join(args), flush=True)
    r = subprocess.run(cmd, cwd=course_dir(), env=venv_env())
    if r.returncode:
        sys.exit(f"nbgrader {' '.join(args[:1])} failed (exit code {r.returncode}); "
                 f"see its messages above.")


def assign(chapter):
    """Copy the chapter's instructor source into source/ (replacing an older copy: edits of
    notebooks/ must reach the gradebook) and record its graded cells with generate_assignment."""
    src = notebooks_dir() / f"{chapter}.ipynb"
    if not src.exists():
        sys.exit(f"no chapter {chapter!r}: {src} does not exist")
    dest = course_dir() / "source" / chapter
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest / f"{chapter}.ipynb")
    nbgrader("generate_assignment", chapter, "--force")


def collect(chapter, folder):
    """One notebook per student, named after the student (alice.ipynb), or a folder per
    student holding one notebook (alice/01_basics.ipynb)."""
    folder = Path(folder).expanduser()
    found = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):          # .ipynb_checkpoints, .DS_Store
            continue
        if p.suffix == ".ipynb":
            found[p.stem] = p
        elif p.is_dir():
            nbs = list(p.glob("*.ipynb"))
            if len(nbs) == 1:
                found[p.name] = nbs[0]
            elif nbs:
                print(f"skipped {p}: several notebooks, keep only the submitted one",
                      file=sys.stderr)
    if not found:
        sys.exit(f"no submissions in {folder} (expected <student>.ipynb files)")
    for student, nb in found.items():
        dest = course_dir() / "submitted" / student / chapter
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, dest / f"{chapter}.ipynb")
    print(f"{len(found)} submissions of {chapter} in submitted/: {', '.join(found)}")


def autograde(chapter, *students):
    """Every submission of the chapter, or only those students' (one nbgrader call each:
    nbgrader takes one student per call)."""
    for student in students or [None]:
        nbgrader("autograde", chapter, "--force", *([f"--student={student}"] if student else []))


def feedback(chapter):
    nbgrader("generate_feedback", chapter, "--force")


def export():
    nbgrader("export")
    print(f"grades: {course_dir() / 'grades.csv'}")


def regrade(chapter):
    assign(chapter)
    autograde(chapter)
    feedback(chapter)
    export()


def folder():
    print(course_dir())


VERBS = {"assign": assign, "collect": collect, "autograde": autograde, "feedback": feedback,
         "export": export, "regrade": regrade, "nbgrader": nbgrader, "folder": folder}


def main(argv):
    if not argv or argv[0] not in VERBS:
        sys.exit(__doc__)
    verb, args = VERBS[argv[0]], argv[1:]
    try:
        inspect.signature(verb).bind(*args)
    except TypeError as e:
        sys.exit(f"{argv[0]}: {e}\n{__doc__}")
    verb(*args)


if __name__ == "__main__":
    main(sys.argv[1:])
