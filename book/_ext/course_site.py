"""Sphinx extension for the course site.

1. Solutions: by default a notebook page shows each exercise as the student gets it (the code
   between the nbgrader SOLUTION markers replaced by a stub); with `course_solutions: hide`
   (in _config.yml) it shows the full solution collapsed behind a click. Hidden tests are in
   cells tagged remove-cell and never reach a page.
2. Downloads and launch buttons reach the student version: the page's .ipynb download is
   replaced by student/<name>.ipynb (made by `./course release`), and the Colab and Binder
   links point at student/ instead of notebooks/.
3. Offline: MathJax, require.js and the widget manager are copied from node_modules into
   _static (no CDN). require.js gets _static/ as its base URL, so the widget manager finds
   its icon fonts there; a small shim answers the MathJax 2 call that the widget controls make
   while the book loads MathJax 3 (both in book/assets/widget_fixes.js).
"""
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

ASSETS = {  # destination under _static -> source under node_modules
    "mathjax/tex-chtml.js": "mathjax/es5/tex-chtml.js",
    "mathjax/input": "mathjax/es5/input",
    "mathjax/output/chtml": "mathjax/es5/output/chtml",
    "mathjax/ui": "mathjax/es5/ui",
    "mathjax/a11y": "mathjax/es5/a11y",
    "requirejs/require.js": "requirejs/require.js",
    "@jupyter-widgets/html-manager/dist": "@jupyter-widgets/html-manager/dist",
}



def stub_solution(source):
    """The student's version of a solution cell, as nbgrader makes it."""
    def repl(m):
        indent = m.group(1)
        return "\n".join(indent + line for line in STUB.split("\n"))
    return re.sub(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[ \t]*$", repl, source,
                  flags=re.S | re.M)


def strip_markers(source):
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", source, flags=re.M)


def transform_notebook(text, mode):
    """Apply the solution policy to a notebook's JSON text."""
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        src = "".join(cell.get("source", ""))
        meta = cell.setdefault("metadata", {})
        tags = meta.setdefault("tags", [])
        if "### BEGIN HIDDEN TESTS" in src and "remove-cell" not in tags:
            tags.append("remove-cell")      # never publish hidden tests, whatever the tags say
        if meta.get("nbgrader", {}).get("solution") and "### BEGIN SOLUTION" in src:
            if mode == "hide":
                cell["source"] = strip_markers(src)
                tags.append("hide-input")
            else:
                cell["source"] = stub_solution(src)
                cell["outputs"] = []
    return json.dumps(nb)


def on_source_read(app, docname, source):
    if docname.startswith("notebooks/") and source and source[0].lstrip().startswith("{"):
        mode = app.config.course_solutions
        if mode not in ("remove", "hide"):
            raise ValueError(f"course_solutions must be 'remove' or 'hide', got {mode!r}")
        source[0] = transform_notebook(source[0], mode)


def copy_assets(app):
    if app.builder.format != "html":
        return
    if not NODE.exists():
        raise RuntimeError("node_modules is missing: run `./course install` (it runs `npm ci`) "
                           "before building the site")
    static = Path(app.outdir) / "_static"
    for dest, src in ASSETS.items():
        s, d = NODE / src, static / dest
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.map"))
        else:
            shutil.copy2(s, d)


def on_build_finished(app, exception):
    if exception or app.builder.format != "html":
        return
    out = Path(app.outdir)
    student = ROOT / "student"
    for src in sorted((out / "_sources" / "notebooks").glob("*.ipynb")):
        release = student / src.name
        if not release.exists():
            raise RuntimeError(f"{release} is missing: run `./course release` before building "
                               f"the site (the download button serves the student version)")
        shutil.copy2(release, src)
    for page in (out / "notebooks").glob("*.html"):
        html = page.read_text()
        new = re.sub(r"(colab\.research\.google\.com/github/[^\"']*?/blob/[^/\"']+/)notebooks/",
                     r"\1student/", html)
        new = re.sub(r"(urlpath=(?:lab/)?tree/)notebooks(/|%2F)", r"\1student\2", new)
        if new != html:
            page.write_text(new)


def setup(app):
    app.add_config_value("course_solutions", "remove", "env")
    app.connect("source-read", on_source_read)
    app.connect("builder-inited", copy_assets)
    app.connect("build-finished", on_build_finished)
    app.add_js_file("widget_fixes.js", priority=100)   # before require.js reads its config
    app.add_css_file("course.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
