"""References that a chapter's grader module also publishes for the notebook's own use (after
the exercise), such as ``rnn.reference_clip_grad_norm``:

    reference_clip_grad_norm = published(_clip_grad_norm, "reference_clip_grad_norm")


Code in ``labutils.grading`` is neutral to the call watch (``watch.Watch``): a student who calls
a published reference from inside an exercise would not be seen. ``published(fn)`` returns the
same function, run in a copy of its module's namespace named ``labutils.references.<chapter>``,
so that the watch counts a call to it as a call to a course reference (forbidden, like any
other ``labutils`` function).
"""
from __future__ import annotations

import functools
import sys
import types


def published(fn: types.FunctionType, name: str) -> types.FunctionType:
    """``fn``, named ``name`` and watched as a course reference (see the module doc)."""
    module = sys.modules[fn.__module__]
    namespace = dict(vars(module))
    namespace["__name__"] = "labutils.references." + fn.__module__.rsplit(".", 1)[-1]
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    copy = types.FunctionType(code, namespace, name, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    functools.update_wrapper(copy, fn)
    copy.__name__ = copy.__qualname__ = name
    copy.__module__ = fn.__module__      # documentation and pickling see the real module
    return copy
