"""No delegation, by mechanism: watch the calls a student's function makes.

While the student's function runs, ``Watch`` is the profile function (``sys.setprofile``, which
also reports calls to C functions such as torch's) and records every call to a forbidden
reference. It never raises inside the student's code; the caller asks ``watch.called`` after.

Forbidden by default: anything defined in ``labutils`` (the course's references), ``torch``
(functions, tensor methods, autograd) and ``scipy.special`` (softmax, logsumexp, ...).
A check adds more with ``forbid``:

- a dotted name is a module or function prefix: ``"scipy.signal"``, ``"numpy.linalg.inv"``;
- a bare name is a function of the notebook's namespace (the student's ``__globals__``):
  ``"naive_conv2d"``.

``allow`` lists helpers the student may call (bare or dotted names); what they call is not
watched. Callables passed to the student's function as arguments (a loss ``f``, a module) are
allowed too. Grader code (``labutils.grading``) is neither forbidden nor exempt.

Known blind spot: NumPy/SciPy *ufuncs* (``scipy.special.expit``) emit no profile event.

Example::

    with Watch(student, forbid=("naive_conv2d",), args=args) as w:
        student(*args)
    if w.called:
        print("called", w.called)            # e.g. ['conv_forward (labutils.nn.conv)']
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from types import CodeType, FrameType, FunctionType
from typing import Any

DEFAULT_FORBIDDEN = ("labutils", "torch", "scipy.special", "jax", "tensorflow")
NEUTRAL = ("labutils.grading",)
_DUNDER = ("__init__", "__call__", "__new__", "forward")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _codes_of(obj: Any, depth: int = 0) -> Iterator[CodeType]:
    """Code objects of a callable argument (functions, methods, callable objects' methods)."""
    if depth > 2:
        return
    if isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _codes_of(o, depth + 1)
        return
    if isinstance(obj, dict):
        for o in obj.values():
            yield from _codes_of(o, depth + 1)
        return
    if not callable(obj) or isinstance(obj, type):
        return
    code = getattr(getattr(obj, "__func__", obj), "__code__", None)
    if code is not None:
        yield code
        return
    for klass in type(obj).__mro__[:-1]:
        for v in vars(klass).values():
            c = getattr(getattr(v, "__func__", v), "__code__", None)
            if c is not None:
                yield c


def _wrapped_name(frame: FrameType) -> tuple[str, str]:
    """(qualname, name) of the function a frame runs; for a decorator's wrapper (a closure such as
    ``_door.<locals>.forward`` around ``relu_forward``), those of the function it wraps, so that
    messages and ``allow`` use the name the student called."""
    code = frame.f_code
    qual = getattr(code, "co_qualname", code.co_name)
    if "<locals>" in qual:
        for var in code.co_freevars:
            inner = frame.f_locals.get(var)
            if isinstance(inner, FunctionType) and inner.__module__ == \
                    frame.f_globals.get("__name__"):
                return inner.__qualname__, inner.__name__
    return qual, code.co_name


class Watch:
    """Context manager: record forbidden calls made by ``student`` (see the module doc)."""

    def __init__(self, student: Any, forbid: Sequence[str] = (), allow: Sequence[str] = (),
                 args: Any = ()):
        self.bare = {n for n in forbid if "." not in n}
        self.prefixes = DEFAULT_FORBIDDEN + tuple(n for n in forbid if "." in n)
        self.allow_bare = {n for n in allow if "." not in n}
        self.allow_dotted = tuple(n for n in allow if "." in n)
        self.globals = getattr(student, "__globals__", None)
        self.own = getattr(student, "__code__", None)
        self.exempt = set(_codes_of(args))
        self.called, self._skip, self._cache = [], None, {}

    # -- classification -------------------------------------------------------------------
    def _allowed(self, module: str, qualname: str, name: str) -> bool:
        full = f"{module}.{qualname}"
        return name in self.allow_bare or any(_under(full, a) or _under(module, a)
                                              for a in self.allow_dotted)

    def _python(self, frame: FrameType) -> str:
        code = frame.f_code
        kind = self._cache.get(code)
        if kind is None:
            module = frame.f_globals.get("__name__") or ""
            qual, name = _wrapped_name(frame)
            if code in self.exempt or self._allowed(module, qual, name) \
                    or code.co_name == "<module>":      # an import run by the student's code
                kind = "exempt"
            elif any(_under(module, n) for n in NEUTRAL):
                kind = "neutral"
            elif frame.f_globals is self.globals and code.co_name in self.bare \
                    and code is not self.own:
                kind = f"{code.co_name} (defined in the notebook)"
            elif any(_under(module, p) or _under(f"{module}.{qual}", p) for p in self.prefixes):
                kind = f"{qual} ({module})"
            else:
                kind = "neutral"
            self._cache[code] = kind
        return kind

    def _c(self, fn: Any) -> str | None:
        module = getattr(fn, "__module__", None)
        owner = getattr(fn, "__self__", None)
        if not module:
            module = type(owner).__module__ or ""
        qual = getattr(fn, "__qualname__", getattr(fn, "__name__", "?"))
        if self._allowed(module, qual, getattr(fn, "__name__", "")):
            return None
        if any(_under(module, p) or _under(f"{module}.{qual}", p) for p in self.prefixes):
            if module.startswith("torch") and qual.startswith("_VariableFunctionsClass."):
                qual = qual.split(".", 1)[1]
            return f"{qual} ({module})"
        return None

    # -- the profile function -----------------------------------------------------------
    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if self._skip is not None:
            if event == "return" and frame is self._skip:
                self._skip = None
            return
        if event == "call":
            kind = self._python(frame)
            if kind == "neutral":
                return
            if kind != "exempt":
                owner = frame.f_locals.get("self") if frame.f_code.co_name in _DUNDER else None
                self._record(kind if owner is None else
                             f"{type(owner).__name__} ({type(owner).__module__})")
            self._skip = frame      # what an allowed or forbidden function calls is not watched
        elif event == "c_call":
            name = self._c(arg)
            if name:
                self._record(name)

    def _record(self, name: str) -> None:
        qual, _, rest = name.partition(" (")
        if qual.endswith((".__init__", ".__call__", ".__new__")):
            name = f"{qual.rsplit('.', 1)[0]} ({rest}"

        if name not in self.called and len(self.called) < 3:
            self.called.append(name)

    def __enter__(self) -> Watch:
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> bool:
        sys.setprofile(self._previous)     # a coverage tool's or debugger's profiler comes back
        return False

    def message(self, name: str = "your function") -> str:
        more = f" (and {len(self.called) - 1} more)" if len(self.called) > 1 else ""
        return (f"{name} called {self.called[0]}{more}: this exercise asks for your own code, "
                f"not a course or library function that computes the answer")
