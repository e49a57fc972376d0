"""Hidden tests worth hiding: the class's cases, and the course's own grading code.

- ``seed(base)``: the seed of a hidden check's cases. Without ``COURSE_HIDDEN_SEED`` in the
  environment (a student running the instructor notebook, nbval) it is ``base``, so the
  notebooks stay deterministic; with it (``./course autograde --seed ...`` sets it for
  nbgrader's kernels) it is drawn from ``base`` and the class seed, so a class's hidden cases
  are neither the public ones nor another class's. Any text is a seed (a passphrase too).
  ``seed`` calls ``verify()`` first: every hidden check re-checks the grading code.
- ``verify()``: fails the check (``CheckFailed``, the report says what) when ``tampering()``
  finds something: a function of a loaded ``labutils`` module that is not the one its file
  defines (replaced, or its ``__code__`` or defaults changed), a method added to or replaced in
  a course class, a ``labutils`` module that is not the course's file, a file of ``labutils``
  changed on disk since this module was imported, or a key library function the grading code
  relies on (NumPy, ``sys.setprofile``, ``signal``, builtins ...) replaced.
- ``guard()``: used by the autograde kernels only (tools/sandbox.py starts them with it): runs
  ``tampering(disk=True)`` before every cell, and checks that the notebook's names of checks
  (``check_relu_backward``, imported by an earlier cell) were not redefined, so that after a
  submission changed the grading code every later cell shows an error (nbgrader scores a
  graded cell with an error 0).

What a process cannot defend against itself (code run before this module is imported can
replace it) is left to the autograde verb: a fresh copy of ``labutils`` per student, its files'
hashes compared after grading, and a scan of each submission's code (book/instructor.md).
"""
# No ``from __future__ import annotations`` in this module: ``compile`` in ``_compile`` inherits
# this module's future flags, and would then build, for a file without that import, code objects
# that differ from the loaded ones (a nested annotated function), reported as "replaced".
import builtins
import contextlib
import copy
import hashlib
import inspect
import os
import signal
import sys
import sysconfig
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .report import CheckFailed

SEED_VARIABLE = "COURSE_HIDDEN_SEED"
ROOT = Path(__file__).resolve().parents[1]          # the labutils folder in use

# -- the class's seed ---------------------------------------------------------------------------


def class_seed() -> str | None:
    """The instructor's seed (text) from the environment, or None."""
    return os.environ.get(SEED_VARIABLE, "").strip() or None


def seed(base: int) -> int:
    """The seed of a hidden check's cases (see the module doc); verifies the grading code."""
    verify()
    text = class_seed()
    if text is None:
        return base
    digest = hashlib.sha256(f"{text}\0{base}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# -- what the grading code relies on ------------------------------------------------------------

_LIBRARY = {
    "numpy": (np, ["asarray", "array", "abs", "max", "min", "sum", "mean", "isnan", "isinf",
                   "isfinite", "argmax", "argwhere", "unravel_index", "array_equal", "allclose",
                   "where", "errstate", "ndindex", "zeros", "zeros_like", "exp", "log", "sqrt"]),
    "numpy.linalg": (np.linalg, ["norm"]),
    "numpy.random": (np.random, ["default_rng"]),
    "builtins": (builtins, ["abs", "max", "min", "len", "isinstance", "print", "float", "int",
                            "callable", "getattr", "setattr", "any", "all", "range", "zip",
                            "sum", "type", "str", "repr", "hasattr", "iter", "next", "open",
                            "__import__", "__build_class__"]),
    "sys": (sys, ["setprofile", "getprofile", "settrace", "gettrace"]),
    "signal": (signal, ["signal", "setitimer"]),
    "warnings": (warnings, ["catch_warnings", "simplefilter", "filterwarnings"]),
    "contextlib": (contextlib, ["redirect_stderr", "contextmanager", "nullcontext"]),
    "copy": (copy, ["deepcopy"]),
    "time": (time, ["perf_counter"]),
}
if sys.platform.startswith("linux"):
    import resource
    _LIBRARY["resource"] = (resource, ["setrlimit", "getrlimit"])


def _files() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _own_file(obj: object) -> bool:
    """Is ``obj`` (a module) one of the course's files in ROOT?"""
    f = getattr(obj, "__file__", None)
    try:
        return f is not None and Path(f).resolve().is_relative_to(ROOT)
    except (OSError, TypeError):
        return False


_SOURCES = {p: _read(p) for p in _files()}       # the files as they were at import
_HASHES = {p: hashlib.sha256(t).hexdigest() for p, t in _SOURCES.items() if t is not None}
_FUNCTIONS = {name: {k: getattr(mod, k, None) for k in names}
              for name, (mod, names) in _LIBRARY.items()}
_MODULES = {name: m for name, m in sys.modules.items()
            if name == "labutils" or name.startswith("labutils.")}
_BOUND = {name: {k: v for k, v in vars(m).items()       # what each loaded module's names were
                 if isinstance(v, (types.FunctionType, type))}
          for name, m in _MODULES.items()}
_DEFAULTS = {id(f): (f, f.__defaults__, f.__kwdefaults__) for names in _BOUND.values()
             for f in names.values() if isinstance(f, types.FunctionType)}
_MEMBERS = {id(c): (c, dict(vars(c))) for names in _BOUND.values()
            for c in names.values() if isinstance(c, type)}
_COMPILED: dict[str, dict[str, types.CodeType]] = {}


def _compile(text: bytes, path: Path) -> dict[str, types.CodeType]:
    """{qualname: code object} of every function in the source ``text``."""
    key = hashlib.sha256(text).hexdigest()
    if key not in _COMPILED:
        found, stack = {}, [compile(text, str(path), "exec")]
        while stack:
            code = stack.pop()
            for c in code.co_consts:
                if isinstance(c, types.CodeType):
                    found.setdefault(c.co_qualname, c)
                    stack.append(c)
        _COMPILED[key] = found
    return _COMPILED[key]


def _codes(path: Path) -> dict[str, types.CodeType]:
    """The functions of the file as it was when this module was imported."""
    text = _SOURCES.get(path)
    return _compile(text, path) if text is not None else {}


def _defined(path: Path, code: types.CodeType) -> bool:
    """Is ``code`` what the file defines under its name, as it was at import or as it is now
    (a file edited since is the disk check's business, not a replaced function)?"""
    for text in (_SOURCES.get(path), _read(path)):
        if text is not None and _compile(text, path).get(code.co_qualname) == code:
            return True
    return False


def _origin(fn: object) -> str:
    code = getattr(inspect.unwrap(fn) if hasattr(fn, "__wrapped__") else fn, "__code__", None)
    return f" (by code from {code.co_filename})" if code is not None else ""


_LIBRARIES = tuple(Path(p).resolve() for p in {sysconfig.get_paths()["stdlib"],
                                               sysconfig.get_paths()["purelib"],
                                               sysconfig.get_paths()["platlib"]})


def _function_problem(where: str, fn: Callable[..., Any], dataclass: bool = False) -> str | None:
    """Is ``fn`` (found at ``where``) the function its file defines, or a library's?"""
    inner = inspect.unwrap(fn) if hasattr(fn, "__wrapped__") else fn
    if not isinstance(inner, types.FunctionType):
        return None
    code = inner.__code__
    path = Path(code.co_filename).resolve() if code.co_filename[:1] != "<" else None
    if path in _SOURCES:
        if not _defined(path, code) or inner.__qualname__ != code.co_qualname:
            return f"{where} was replaced{_origin(inner)}"
    elif dataclass and code.co_filename == "<string>":      # made by @dataclass
        pass
    elif path is None or not any(path.is_relative_to(lib) for lib in _LIBRARIES):
        return f"{where} was replaced{_origin(inner)}"
    seen = _DEFAULTS.get(id(inner))
    if seen is not None and seen[0] is inner and (inner.__defaults__ != seen[1]
                                                   or inner.__kwdefaults__ != seen[2]):
        return f"the default arguments of {where} were changed"
    return None


def _code_like(member: object) -> bool:
    """Functions and their wrappers in a class (not data such as copyreg's __slotnames__)."""
    return isinstance(member, (types.FunctionType, staticmethod, classmethod, property))


def _class_problems(name: str, cls: type) -> list[str]:
    where = f"{name}.{cls.__qualname__}"
    seen = _MEMBERS.get(id(cls))
    if seen is not None and seen[0] is cls:
        now = dict(vars(cls))
        changed = [k for k in set(now) | set(seen[1]) if now.get(k) is not seen[1].get(k)
                   and (_code_like(now.get(k)) or _code_like(seen[1].get(k)))]
        return [f"{where}.{k} was replaced{_origin(now.get(k))}" for k in sorted(changed)]
    problems = []
    for key, member in vars(cls).items():
        fn = getattr(member, "__func__", None) or getattr(member, "fget", None) or member
        if isinstance(fn, types.FunctionType):
            p = _function_problem(f"{where}.{key}", fn, "__dataclass_fields__" in vars(cls))
            if p:
                problems.append(p)
    return problems


def _module_problems(name: str, module: types.ModuleType) -> list[str]:
    path = Path(module.__file__).resolve()
    codes = _codes(path)
    problems = []
    for attr, was in _BOUND.get(name, {}).items():
        if getattr(module, attr, None) is not was:
            problems.append(f"{name}.{attr} was replaced{_origin(getattr(module, attr, None))}")
    for attr, value in list(vars(module).items()):
        if isinstance(value, types.FunctionType):
            own = codes.get(attr) if "." not in attr else None
            inner = inspect.unwrap(value) if hasattr(value, "__wrapped__") else value
            if own is not None and getattr(inner, "__code__", None) is not None \
                    and (inner.__code__.co_qualname != attr or not _defined(path, inner.__code__)):
                problems.append(f"{name}.{attr} was replaced{_origin(inner)}")
                continue
            p = _function_problem(f"{name}.{attr}", value)
            if p:
                problems.append(p)
        elif isinstance(value, type) and value.__module__ == name:
            problems += _class_problems(name, value)
    return sorted(set(problems), key=problems.index)


def tampering(disk: bool = False) -> list[str]:
    """What was changed in the grading code or what it relies on (empty: nothing); ``disk``:
    also the files of labutils, compared with what they were at import (autograde's guard:
    elsewhere an instructor may be editing them)."""
    problems = []
    for path in _files() if disk else ():
        if path not in _HASHES:
            problems.append(f"{path.relative_to(ROOT.parent)} was added on disk")
    for path, digest in _HASHES.items() if disk else ():
        text = _read(path)
        if text is None or hashlib.sha256(text).hexdigest() != digest:
            problems.append(f"{path.relative_to(ROOT.parent)} was changed on disk")
    for name, module in list(sys.modules.items()):
        if not (name == "labutils" or name.startswith("labutils.")):
            continue
        if _MODULES.get(name, module) is not module or not isinstance(module, types.ModuleType) \
                or not _own_file(module):
            problems.append(f"the module {name} is not the course's file")
            continue
        if Path(module.__file__).suffix == ".py":
            problems += _module_problems(name, module)
    for lib, names in _FUNCTIONS.items():
        mod = _LIBRARY[lib][0]
        for attr, was in names.items():
            if getattr(mod, attr, None) is not was:
                problems.append(f"{lib}.{attr} was replaced{_origin(getattr(mod, attr, None))}")
    return problems


def verify() -> None:
    """Fail the check, saying what, when the grading code or what it relies on was changed."""
    problems = tampering()
    if problems:
        shown = problems[:5] + ([f"... and {len(problems) - 5} more"] if len(problems) > 5 else [])
        print("The hidden tests cannot run: the grading code was changed in this notebook.")
        print("\n".join(f"  {p}" for p in shown))
        print("Restart the kernel and run the notebook without those changes.")
        raise CheckFailed(f"the grading code was changed ({problems[0]})")


# -- the autograde kernels ----------------------------------------------------------------------

class GradingCodeChanged(Exception):
    """Raised before a cell runs in an autograde kernel once the grading code was changed."""

    def _render_traceback_(self) -> list[str]:
        return [f"Not graded: {self}"]


def guard(shell: Any) -> Callable[..., None]:
    """Before every cell of this IPython ``shell``, check the grading code (autograde only):
    ``tampering(disk=True)``, and the notebook's names bound to a check of labutils.grading
    (``check_relu_backward`` imported by an earlier cell) still bound to it."""
    checks = {}

    def before(*_: object) -> None:
        problems = tampering(disk=True)
        names = shell.user_ns
        problems += [f"{name}, a check of labutils.grading, was redefined in the notebook"
                     for name, fn in checks.items() if names.get(name) is not fn]
        for name, value in list(names.items()):
            if isinstance(value, types.FunctionType) and name not in checks \
                    and str(getattr(value, "__module__", "")).startswith("labutils.grading"):
                checks[name] = value
        if problems:
            raise GradingCodeChanged("the grading code was changed in this notebook ("
                                     + "; ".join(problems[:3]) + ")")
    shell.events.print_on_error = False     # IPython would print the cell's source (hidden tests)
    shell.events.register("pre_run_cell", before)
    return before
