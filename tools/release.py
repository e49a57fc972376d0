"""Make the student version of every chapter with nbgrader.

    python tools/release.py [--out student] [--course-dir DIR] [notebooks/NN.ipynb ...]

Each notebook becomes an nbgrader assignment named after it (source/<name>/<name>.ipynb in a
course folder, a temporary one unless --course-dir is given); `nbgrader generate_assignment`
replaces solutions with stubs and removes hidden tests; the result is copied to --out
(default student/), without the stored widget state (its pre-drawn frames would only bloat
a notebook whose outputs are cleared anyway).
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grade  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_course(notebooks, course_dir):
    course_dir = Path(course_dir)
    for nb in notebooks:
        name = Path(nb).stem
        dest = course_dir / "source" / name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, dest / f"{name}.ipynb")
    grade.write_course_config(course_dir)   # loads the repository's nbgrader_config.py
    return course_dir


def generate(course_dir, names):
    """Run nbgrader generate_assignment for each assignment in one Python process."""
    code = ("import sys\nfrom nbgrader.apps import NbGraderAPI\nfrom traitlets.config import Config\n"
            "c = Config(); c.CourseDirectory.root = sys.argv[1]\n"
            "c.Execute.timeout = 120; c.ExecutePreprocessor.timeout = 120\n"
            "api = NbGraderAPI(config=c)\n"
            "for name in sys.argv[2:]:\n"
            "    r = api.generate_assignment(name, force=True)\n"
            "    if not r['success']:\n"
            "        print(r['log'], r.get('error'), file=sys.stderr); sys.exit(1)\n")
    subprocess.run([sys.executable, "-c", code, str(course_dir), *names], check=True,
                   cwd=course_dir, env=venv_env())


venv_env = grade.venv_env   # nbgrader runs the `alembic` command beside this Python


def strip_widget_state(path):
    """Drop the stored widget state, and each exercise's declared answer (the cell metadata
    ``course.answer`` / ``course.reveals`` that the authors' leak test reads): a student can
    open a cell's metadata in JupyterLab."""
    nb = json.loads(path.read_text())
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        course = cell.get("metadata", {}).get("course")
        if isinstance(course, dict):
            course.pop("answer", None)
            course.pop("reveals", None)
            if not course:
                cell["metadata"].pop("course")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def release(notebooks, out, course_dir=None):
    notebooks = [Path(n) for n in notebooks]
    names = [n.stem for n in notebooks]
    with tempfile.TemporaryDirectory() as tmp:
        cdir = make_course(notebooks, course_dir or tmp)
        generate(cdir, names)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            target = out / f"{name}.ipynb"
            shutil.copy2(Path(cdir) / "release" / name / f"{name}.ipynb", target)
            strip_widget_state(target)
    return [out / f"{n}.ipynb" for n in names]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("notebooks", nargs="*")
    p.add_argument("--out", default=str(ROOT / "student"))
    p.add_argument("--course-dir", default=None)
    a = p.parse_args()
    nbs = a.notebooks or sorted(str(x) for x in (ROOT / "notebooks").glob("*.ipynb"))
    for path in release(nbs, a.out, a.course_dir):
        print(f"student version: {path}")


if __name__ == "__main__":
    main()
