"""The instructor's grading steps, one verb each (book/instructor.md; `./course VERB` runs them).

    python tools/grade.py assign CH          notebooks/CH.ipynb -> source/CH/, generate_assignment
    python tools/grade.py collect CH FOLDER  FOLDER/<student>.ipynb -> submitted/<student>/CH/
    python tools/grade.py autograde CH [STUDENT ...] --seed S    (or $COURSE_HIDDEN_SEED)
                                             [--workers N]: N submissions at a time
    python tools/grade.py feedback CH        feedback/<student>/CH/CH.html, no hidden-test code
    python tools/grade.py export             grades.csv
    python tools/grade.py regrade CH --seed S   after an edit: assign, autograde, feedback, export
    python tools/grade.py nbgrader ARGS...   any nbgrader command, in the course folder
    python tools/grade.py folder             print the course folder (made if missing)

The course folder is $COURSE_DIR, or the repository root when it is unset; the chapters are
read from $COURSE_NOTEBOOKS, or notebooks/. nbgrader runs with this Python's bin folder first on
PATH (it calls the `alembic` command beside it).

autograde (and regrade) refuse to run without the class's hidden-test seed (--seed, or
$COURSE_HIDDEN_SEED), passed on to the kernels; each student's submission runs against a fresh
read-only copy of labutils, checked after grading, and every submission's code is scanned for
changes to the grading code (tools/sandbox.py); findings go to grading_flags.csv.
"""
import csv
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sandbox  # noqa: E402


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


def nbgrader(*args, env=None):
    """Run one nbgrader command in the course folder; stop the verb if it fails."""
    cmd = [str(Path(sys.executable).parent / "nbgrader"), *args]
    print("$ nbgrader " + " ".join(args), flush=True)
    r = subprocess.run(cmd, cwd=course_dir(), env={**venv_env(), **(env or {})})
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


SEED_VARIABLE = "COURSE_HIDDEN_SEED"
NO_SEED = f"""autograde needs the class's hidden-test seed, so that the hidden tests use cases no
student has seen (without it they are the public ones in notebooks/). Pass any text you keep
private, the same for the whole class and every regrade:
    ./course autograde CH --seed 'a private phrase'
or set it once in your shell (not in a file you share or commit):
    export {SEED_VARIABLE}='a private phrase'"""
FLAGS = "grading_flags.csv"


def require_seed():
    if not os.environ.get(SEED_VARIABLE, "").strip():
        sys.exit(NO_SEED)


def submitted_students(chapter):
    base = course_dir() / "submitted"
    return sorted(p.name for p in base.iterdir() if (p / chapter).is_dir()) if base.is_dir() else []


WORKERS = 1     # --workers N: submissions graded at a time (autograde, regrade)


def autograde(chapter, *students):
    """Every submission of the chapter, or only those students' (one nbgrader call each:
    nbgrader takes one student per call), each against a fresh read-only copy of labutils
    (sandbox.py); then the copies' hashes and the submissions' code are checked. With
    --workers N, N nbgrader processes grade one student each at a time (parallel_autograde)."""
    require_seed()
    names = list(students) or submitted_students(chapter)
    with sandbox.Sandbox(names) as box:
        if WORKERS > 1 and len(names) > 1:
            parallel_autograde(chapter, names, box.env())
        else:
            for student in students or [None]:
                nbgrader("autograde", chapter, "--force",
                         *([f"--student={student}"] if student else []), env=box.env())
        changed = box.changed()
    report_flags(chapter, names, changed)


def parallel_autograde(chapter, names, env):
    """One `nbgrader autograde --student=S` per student, WORKERS at a time. The gradebook is
    one SQLite file: each process waits up to 10 minutes for another's write to end (SQLite's
    busy timeout, in the database URL) instead of failing with "database is locked", and a
    student whose process failed anyway is graded again alone afterwards."""
    from concurrent.futures import ThreadPoolExecutor
    db = f"sqlite:///{course_dir() / 'gradebook.db'}?timeout=600"
    cmd = [str(Path(sys.executable).parent / "nbgrader"), "autograde", chapter, "--force",
           f"--CourseDirectory.db_url={db}"]
    print(f"$ nbgrader autograde {chapter} --force --student=... ({len(names)} students, "
          f"{WORKERS} at a time)", flush=True)
    if not (course_dir() / "gradebook.db").exists():
        sys.exit("no gradebook.db in the course folder: run `./course assign` first")

    def one(student):
        r = subprocess.run([*cmd, f"--student={student}"], cwd=course_dir(),
                           env={**venv_env(), **env}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        print(r.stdout, end="", flush=True)      # one student's log at a time, whole
        return student, r.returncode
    with ThreadPoolExecutor(WORKERS) as pool:
        failed = [s for s, rc in pool.map(one, names) if rc]
    for student in failed:
        print(f"autograde of {student} failed in parallel: graded again alone", flush=True)
        nbgrader("autograde", chapter, "--force", f"--student={student}", env=env)


def report_flags(chapter, students, changed):
    """A warning line per flagged student, and FLAGS next to grades.csv (this chapter's rows
    replaced): grading files a submission changed on disk, code that touches the grading
    code, and cells the autograde kernel refused to grade."""
    rows = []
    for student in students:
        found = [f"changed {f} in its copy of the grading code" for f in changed.get(student, [])]
        sub = course_dir() / "submitted" / student / chapter / f"{chapter}.ipynb"
        if sub.exists():
            found += sandbox.scan_notebook(sub)
        graded = course_dir() / "autograded" / student / chapter / f"{chapter}.ipynb"
        if graded.exists() and sandbox.GUARD_MESSAGE in graded.read_text():
            found.append("cells not graded: the grading code was changed while it ran")
        for f in found:
            print(f"WARNING {student}: {f}", flush=True)
            rows.append((student, chapter, f))
    path = course_dir() / FLAGS
    old = []
    if path.exists():
        with open(path, newline="") as fh:
            old = [r for r in list(csv.reader(fh))[1:] if len(r) == 3 and r[1] != chapter]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", "assignment", "finding"])
        w.writerows(old + rows)
    n = len({r[0] for r in rows})
    print(f"{n} submission{'s' * (n != 1)} of {chapter} flagged for you to read: {path}"
          if n else f"no submission of {chapter} touched the grading code ({path})")


def feedback(chapter):
    nbgrader("generate_feedback", chapter, "--force")


def export():
    nbgrader("export")
    print(f"grades: {course_dir() / 'grades.csv'}")


def regrade(chapter):
    require_seed()
    assign(chapter)
    autograde(chapter)
    feedback(chapter)
    export()


def folder():
    print(course_dir())


VERBS = {"assign": assign, "collect": collect, "autograde": autograde, "feedback": feedback,
         "export": export, "regrade": regrade, "nbgrader": nbgrader, "folder": folder}


def take_seed(args):
    """--seed S or --seed=S (autograde, regrade): into the environment nbgrader's kernels get.
    --workers N (or --workers=N): how many submissions autograde grades at a time."""
    global WORKERS
    rest, i = [], 0
    while i < len(args):
        if args[i] in ("--seed", "--workers") and i + 1 < len(args):
            if args[i] == "--seed":
                os.environ[SEED_VARIABLE] = args[i + 1]
            else:
                WORKERS = workers(args[i + 1])
            i += 2
            continue
        if args[i].startswith("--workers="):
            WORKERS = workers(args[i].split("=", 1)[1])
        elif args[i].startswith("--seed="):
            os.environ[SEED_VARIABLE] = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    return rest


def workers(text):
    if not text.isdigit() or int(text) < 1:
        sys.exit(f"--workers takes a whole number of at least 1, not {text!r}")
    return int(text)


def main(argv):
    if not argv or argv[0] not in VERBS:
        sys.exit(__doc__)
    verb, args = VERBS[argv[0]], argv[1:]
    if argv[0] in ("autograde", "regrade"):
        args = take_seed(args)
    try:
        inspect.signature(verb).bind(*args)
    except TypeError as e:
        sys.exit(f"{argv[0]}: {e}\n{__doc__}")
    verb(*args)


if __name__ == "__main__":
    main(sys.argv[1:])
