"""What `./course autograde` does around nbgrader so that a submission cannot change how it
or anyone else is graded (book/instructor.md, "What hidden tests hide").

- ``Sandbox(students)``: a temporary folder with a fresh copy of the labutils this Python
  imports for each student, made read-only, and a PYTHONSTARTUP file for nbgrader's kernels:
  the kernel of autograded/<student>/<chapter>/ puts that student's copy first on sys.path
  (before the editable install) and runs ``labutils.grading.hidden.guard``, which checks the
  grading code before every cell. CI machines and many hubs run as root, where read-only does
  not stop a write: a rewrite then changes only that student's copy, and ``changed()`` lists
  the files whose hashes differ from the original after grading.
- ``scan_notebook(path)``: the code cells of a submission that touch the grading code:
  assignments to attributes of imported modules (labutils, numpy, sys, ...) or to a function's
  ``__code__``/``__defaults__``, names imported from labutils.grading redefined, ``setattr`` /
  ``delattr``, ``sys.setprofile``/``settrace``, ``sys.modules``, ``builtins``, IPython's
  event hooks, ``importlib.reload``, ``ctypes``, and file writes that name labutils or a
  module's ``__file__``.
"""
import ast
import hashlib
import importlib.util
import json
import shutil
import stat
import tempfile
from pathlib import Path

GUARD_MESSAGE = "Not graded: the grading code was changed"
STARTUP = '''\
def _course_grading_start():
    """Autograde kernel start (tools/sandbox.py): this student's copy of labutils, guarded."""
    import os
    import sys
    from pathlib import Path
    here = Path.cwd().resolve()
    copies = Path(os.environ["COURSE_GRADING_COPIES"])
    student = here.parent.name if here.parent.parent.name == "autograded" else ""
    copy = copies / "students" / student
    if not student or not (copy / "labutils").is_dir():
        copy = copies / "other"          # a kernel nbgrader started elsewhere: the spare copy
    sys.path.insert(0, str(copy))
    import labutils.grading.hidden
    labutils.grading.hidden.guard(get_ipython())  # noqa: F821 (IPython runs this file)


_course_grading_start()
del _course_grading_start
'''


def labutils_folder():
    """The labutils package this Python imports (the repository's, when installed -e)."""
    spec = importlib.util.find_spec("labutils")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def tree_hashes(folder):
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _set_mode(folder, writable):
    for p in [folder, *Path(folder).rglob("*")]:
        if p.is_symlink():
            continue
        mode = p.stat().st_mode
        if writable:
            p.chmod(mode | stat.S_IWUSR)
        else:
            p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


class Sandbox:
    def __init__(self, students, source=None):
        self.students = list(students)
        self.source = Path(source) if source else labutils_folder()

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="course-grading-"))
        self.original = tree_hashes(self.source)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in [f"students/{s}" for s in self.students] + ["other"]:
            shutil.copytree(self.source, self.dir / name / "labutils", ignore=ignore)
            _set_mode(self.dir / name, writable=False)
        (self.dir / "startup.py").write_text(STARTUP)
        return self

    def env(self):
        return {"PYTHONSTARTUP": str(self.dir / "startup.py"),
                "COURSE_GRADING_COPIES": str(self.dir), "PYTHONDONTWRITEBYTECODE": "1"}

    def changed(self):
        """{student: [files of their copy that differ from the original]} (flagged ones only)."""
        out = {}
        for student in self.students:
            now = tree_hashes(self.dir / "students" / student / "labutils")
            diff = sorted(f"labutils/{k}" for k in set(now) | set(self.original)
                          if now.get(k) != self.original.get(k))
            if diff:
                out[student] = diff
        return out

    def __exit__(self, *exc):
        _set_mode(self.dir, writable=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


# -- the scan of a submission's code ----------------------------------------------------------

_CALLS = {"setattr": "setattr", "delattr": "delattr", "sys.setprofile": "sys.setprofile",
          "sys.settrace": "sys.settrace", "threading.setprofile": "threading.setprofile",
          "threading.settrace": "threading.settrace", "importlib.reload": "importlib.reload",
          "reload": "importlib.reload"}
_WRITES = {"open", "write_text", "write_bytes", "copy", "copy2", "copyfile", "copytree", "move",
           "remove", "unlink", "rename", "replace", "chmod", "rmtree", "symlink_to", "touch",
           "system", "run", "Popen", "call", "check_call", "check_output"}
_DUNDERS = {"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__class__",
            "__builtins__", "__dict__"}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):
        inner = _dotted(node.func)
        return f"{inner}()" + ("." + ".".join(reversed(parts)) if parts else "") if inner else None
    if isinstance(node, ast.Subscript):
        inner = _dotted(node.value)
        return f"{inner}[]" + ("." + ".".join(reversed(parts)) if parts else "") if inner else None
    return None


def _python(source):
    """The cell as Python: IPython magics and shell lines commented out."""
    return "\n".join("#" + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


class _Scan(ast.NodeVisitor):
    def __init__(self, modules, graders):
        self.modules, self.graders, self.found = modules, graders, []

    def add(self, node, what):
        self.found.append((node.lineno, what))

    def _target(self, t):
        if isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self._target(e)
            return
        name = _dotted(t)
        if isinstance(t, ast.Attribute) and name:
            root = name.split(".")[0].split("(")[0].split("[")[0]
            if t.attr in _DUNDERS:
                self.add(t, f"changes {name}")
            elif root in self.modules or "labutils" in name or "grading" in name:
                self.add(t, f"assigns {name}")
        elif isinstance(t, ast.Subscript) and name and (
                name.startswith(("sys.modules", "builtins", "__builtins__"))
                or name.split("[")[0] in self.modules):
            self.add(t, f"assigns an item of {name.rstrip('[]')}")
        elif isinstance(t, ast.Name) and t.id in self.graders:
            self.add(t, f"redefines {t.id}, imported from labutils.grading")

    def visit_Assign(self, node):
        for t in node.targets:
            self._target(t)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target)
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign

    def visit_Delete(self, node):
        for t in node.targets:
            self._target(t)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.name in self.graders:
            self.add(node, f"redefines {node.name}, imported from labutils.grading")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Import(self, node):
        for a in node.names:
            if a.name.split(".")[0] in ("ctypes", "builtins", "gc"):
                self.add(node, f"imports {a.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if (node.module or "").split(".")[0] in ("ctypes", "builtins", "gc"):
            self.add(node, f"imports from {node.module}")
        self.generic_visit(node)

    def visit_Call(self, node):
        name = _dotted(node.func) or ""
        short = name.rsplit(".", 1)[-1]
        text = ast.unparse(node)
        if name in _CALLS:
            self.add(node, f"calls {_CALLS[name]}")
        elif name.startswith(("sys.modules.", "builtins.", "__builtins__.")) or \
                ".events." in name or name.endswith(("events.register", "events.unregister")):
            self.add(node, f"calls {name}")
        elif short in _WRITES and ("labutils" in text or "__file__" in text or "grading" in text):
            self.add(node, f"writes or runs something naming labutils: {text[:80]}")
        self.generic_visit(node)


def _imports(trees):
    """Names bound by imports (an attribute assigned on one patches a library), and names
    imported from labutils.grading (redefining one replaces a check)."""
    modules, graders = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                names = {a.asname or a.name for a in node.names if a.name != "*"}
                modules.update(names)
                if (node.module or "").startswith("labutils.grading") or node.module == "labutils":
                    graders.update(names)
    return modules, graders


def scan_notebook(path):
    """Findings ("cell 3, line 2: assigns labutils.grading.core.check_function") in the code
    cells the student could edit (the locked cells are the instructor's, put back by
    autograde). An unparsable cell is skipped: it cannot run either."""
    nb = json.loads(Path(path).read_text())
    cells = [(i, c) for i, c in enumerate(nb.get("cells", []), 1) if c.get("cell_type") == "code"]
    trees = {}
    for i, c in cells:
        src = c.get("source", "")
        try:
            trees[i] = ast.parse(_python("".join(src) if isinstance(src, list) else src))
        except SyntaxError:
            continue
    locked = {i for i, c in cells if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    modules, graders = _imports(trees.values())
    found = []
    for i, tree in trees.items():
        if i in locked:
            continue
        scan = _Scan(modules, graders)
        scan.visit(tree)
        found += [f"cell {i}, line {line}: {what}" for line, what in scan.found]
    return found
