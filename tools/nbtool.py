"""Authoring tools for the chapter notebooks.

    python tools/nbtool.py execute notebooks/01_basics.ipynb ...   run in place, store outputs
                                                                   and widget state, print time
    python tools/nbtool.py lint [notebooks/*.ipynb]                 check the course conventions
    python tools/nbtool.py colab-cells                              Colab cells from _config.yml

The conventions (CONTRIBUTING.md): the first cell is the Colab install cell; an exercise is a
solution cell (nbgrader solution metadata, BEGIN/END SOLUTION markers) followed by a graded
check cell tagged raises-exception; hidden tests sit alone in a graded cell tagged
remove-cell and raises-exception; no stored error output; every image output has alt text;
no exercise's declared answer appears before it (``answer_leaks``).
"""
import json
import re
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 120  # seconds per cell; Jupyter Book and nbgrader default to 30 s


def repository_url():
    """The one place the repository URL lives: _config.yml's repository.url."""
    text = (ROOT / "_config.yml").read_text()
    m = re.search(r"^repository:\s*\n(?:\s+.*\n)*?\s+url:\s*(\S+)", text, re.M)
    return m.group(1) if m else None


def colab_cell_source():
    return ("# On Google Colab only: install the course library (labutils). Elsewhere this\n"
            "# cell does nothing: locally and on Binder the library is already installed.\n"
            "import sys\n"
            "\n"
            "if \"google.colab\" in sys.modules:\n"
            f"    get_ipython().run_line_magic(\"pip\", \"install -q git+{repository_url()}\")")


def execute(paths):
    from nbclient import NotebookClient
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
                       store_widget_state=True, resources={"metadata": {"path": str(Path(p).parent)}}
                       ).execute()
        for cell in nb.cells:  # keep diffs small: no per-run metadata
            cell.metadata.pop("execution", None)
        nbformat.write(nb, p)
        print(f"{p}: executed in {time.perf_counter() - start:.1f} s")


_HIDDEN = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS).*?### END \1", re.S)


def _squeeze(text):
    return re.sub(r"\s+", "", text)


def _visible_text(cell):
    """What a reader sees of a cell: its source without solutions and hidden tests (the
    student version and the site's default view), and a code cell's text outputs."""
    parts = [_HIDDEN.sub("", cell.source)]
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


def answer_leaks(cells):
    """Problems: an exercise's declared answer seen before it. A solution cell declares
    ``metadata.course = {"answer": [expressions], "reveals": [function names]}``; an answer
    expression (compared without whitespace) must not appear in any earlier cell's source
    (markdown or code, solutions and hidden tests left out) or text output; a revealed name
    must not appear as a word in any earlier code cell's source (it would print the answer)."""
    problems = []
    for i, cell in enumerate(cells):
        decl = cell.metadata.get("course", {})
        answers = [a for a in decl.get("answer", []) if _squeeze(a)]
        reveals = decl.get("reveals", [])
        for j, before in enumerate(cells[:i]):
            text = _squeeze(_visible_text(before))
            for a in answers:
                if _squeeze(a) in text:
                    problems.append(f"cell {j}: shows {a!r}, the answer of the exercise in cell {i}")
            if before.cell_type == "code":
                for name in reveals:
                    if re.search(rf"\b{re.escape(name)}\b", _HIDDEN.sub("", before.source)):
                        problems.append(f"cell {j}: uses {name!r}, revealed by the exercise in cell {i}")
    return problems


def lint_notebook(path):
    """A list of problems (empty when the notebook follows the conventions)."""
    problems = []
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    if not cells or cells[0].cell_type != "code" or cells[0].source.strip() != colab_cell_source().strip():
        problems.append("cell 0 must be the Colab install cell (tools/nbtool.py colab_cell_source)")
    elif "remove-cell" not in cells[0].metadata.get("tags", []):
        problems.append("cell 0 (Colab install) must be tagged remove-cell")
    ids = set()
    exercises = 0
    for i, c in enumerate(cells):
        src, tags = c.source, c.metadata.get("tags", [])
        meta = c.metadata.get("nbgrader", {})
        if meta:
            gid = meta.get("grade_id")
            if not gid or gid in ids:
                problems.append(f"cell {i}: missing or repeated nbgrader grade_id {gid!r}")
            ids.add(gid)
            if meta.get("schema_version") != 3:
                problems.append(f"cell {i}: nbgrader schema_version must be 3")
        has_solution = "### BEGIN SOLUTION" in src
        if src.count("### BEGIN SOLUTION") != src.count("### END SOLUTION"):
            problems.append(f"cell {i}: unbalanced SOLUTION markers")
        if has_solution:
            exercises += 1
            if not meta.get("solution") or meta.get("grade"):
                problems.append(f"cell {i}: a solution cell needs nbgrader solution=true, grade=false")
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            if nxt is None or not nxt.metadata.get("nbgrader", {}).get("grade"):
                problems.append(f"cell {i}: a solution cell must be followed by a graded check cell")
        if meta.get("grade"):
            if "raises-exception" not in tags:
                problems.append(f"cell {i}: graded cells must be tagged raises-exception")
            if not meta.get("points"):
                problems.append(f"cell {i}: graded cell without points")
            if not meta.get("locked"):
                problems.append(f"cell {i}: graded cells must be locked")
        if "### BEGIN HIDDEN TESTS" in src:
            if "remove-cell" not in tags or not meta.get("grade"):
                problems.append(f"cell {i}: hidden tests need a graded cell of their own tagged "
                                f"remove-cell (else the site publishes them)")
            outside = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", src, flags=re.S)
            if outside.strip():
                problems.append(f"cell {i}: a hidden-tests cell must hold nothing but the hidden tests")
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: stored error output ({out.get('ename')})")
            if "image/png" in out.get("data", {}) and not c.metadata.get("mystnb", {}).get(
                    "image", {}).get("alt"):
                problems.append(f"cell {i}: an image output needs alt text in "
                                f"metadata.mystnb.image.alt")
    if exercises == 0:
        problems.append("no exercises (solution cells)")
    problems += answer_leaks(cells)
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec must be python3")
    return problems


def colab_cells(paths):
    """Rewrite the first cell of each notebook from _config.yml's repository URL."""
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        if nb.cells and "google.colab" in nb.cells[0].source:
            nb.cells[0].source = colab_cell_source()
            nbformat.write(nb, p)
            print(f"{p}: Colab cell updated")


def main(argv):
    if not argv or argv[0] not in ("execute", "lint", "colab-cells"):
        print(__doc__)
        return 2
    paths = argv[1:] or sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    if argv[0] == "execute":
        execute(paths)
        return 0
    if argv[0] == "colab-cells":
        colab_cells(paths)
        return 0
    bad = 0
    for p in paths:
        for problem in lint_notebook(p):
            print(f"{p}: {problem}")
            bad += 1
    print("lint: ok" if not bad else f"lint: {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
