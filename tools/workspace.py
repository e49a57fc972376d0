"""The student's workspace: their own copies of the student notebooks, which no course
command overwrites once they have been changed.

    python tools/workspace.py [--student student] [--work work]

`./course start` and `./course lab` run this before opening JupyterLab in work/:
- the first time, work/ is created with a copy of every notebook of student/;
- a chapter new in student/ (or a copy the student deleted) is copied in;
- when student/ has a newer version of a chapter (after `./course release` or a git pull):
  if the student's copy is exactly the version it was made from (never saved with a change),
  it is replaced by the new one: nothing is lost; if they changed it, their copy stays as it
  is and the new version arrives beside it, as 01_basics.updated-<date>.ipynb, with a message.
work/.course-manifest.json records, for each chapter, the hash of the student version the copy
was made from, and of the last version offered beside it (so each version is offered once).
Before work/ existed students worked in student/ itself: a notebook of student/ that looks
worked on (it has outputs, which a release never has, or git sees it changed) is copied as the
student's own work, so a later version is offered beside it, never put in its place.
"""
import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ".course-manifest.json"


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def looks_edited(path):
    """Whether a notebook of student/ was worked on in place."""
    path = Path(path)
    try:
        cells = json.loads(path.read_text()).get("cells", [])
    except (OSError, ValueError):
        return True
    if any(c.get("outputs") or c.get("execution_count") for c in cells):
        return True
    try:
        r = subprocess.run(["git", "status", "--porcelain", "--", path.name], cwd=path.parent,
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False                      # no git: a notebook without outputs counts as released
    return r.returncode == 0 and bool(r.stdout.strip())


def _copy_new(src, dest):
    """Copy src to dest, which must not exist (never overwrite a file of the student's)."""
    with open(src, "rb") as f, open(dest, "xb") as g:
        shutil.copyfileobj(f, g)


def _replace_if_unchanged(src, dest, expected):
    """Replace dest by src only if dest still has the hash `expected`."""
    tmp = dest.with_name(dest.name + ".course-tmp")
    shutil.copyfile(src, tmp)
    if digest(dest) != expected:
        tmp.unlink()
        return False
    os.replace(tmp, dest)
    return True


def _beside(work, name, today):
    stem = Path(name).stem
    candidate = work / f"{stem}.updated-{today}.ipynb"
    n = 2
    while candidate.exists():
        candidate = work / f"{stem}.updated-{today}-{n}.ipynb"
        n += 1
    return candidate


def sync(student, work, today=None):
    """Bring work/ up to date with student/ without losing a change of the student's.
    Returns the messages to show (one per notebook added, refreshed or offered)."""
    student, work = Path(student), Path(work)
    today = today or datetime.date.today().isoformat()
    first = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    mpath = work / MANIFEST
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    messages = []
    if first:
        messages.append(f"Your workspace {work} was made from {student}: work there, "
                        f"course commands never overwrite your changes.")
    for src in sorted(student.glob("*.ipynb")):
        name, new = src.name, digest(src)
        entry = manifest.setdefault(name, {"from": None, "offered": None})
        mine = work / name
        if not mine.exists():
            _copy_new(src, mine)
            entry.update({"from": None if looks_edited(src) else new, "offered": None})
            if not first:
                messages.append(f"{mine}: copied from {src} (it was not in your workspace).")
            continue
        current = digest(mine)
        if current == new:
            if entry["from"] != new and not looks_edited(src):
                entry["from"] = new
            continue
        if new in (entry["from"], entry["offered"]):
            continue
        if current == entry["from"] and _replace_if_unchanged(src, mine, current):
            entry.update({"from": new, "offered": None})
            messages.append(f"{mine}: updated to the new version (you had not changed it).")
            continue
        beside = _beside(work, name, today)
        _copy_new(src, beside)
        entry["offered"] = new
        messages.append(f"{mine}: there is a new version of this chapter. Your copy is kept as it "
                        f"is; the new version is beside it: {beside}")
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    if not mpath.exists() or mpath.read_text() != text:
        tmp = mpath.with_name(MANIFEST + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, mpath)
    return messages


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--student", default=str(ROOT / "student"))
    p.add_argument("--work", default=str(ROOT / "work"))
    a = p.parse_args()
    for line in sync(a.student, a.work):
        print(line)


if __name__ == "__main__":
    main()
