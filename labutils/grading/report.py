"""A check's report: one line per case, hints in words, at most GRADER_REPORT_LINES lines.

``Report.finish()`` prints the report to stdout (never stderr) and, when a case failed, raises
``CheckFailed``: an AssertionError (nbgrader scores the cell 0) whose ``_render_traceback_``
makes IPython show one summary line instead of a traceback into grader code.

Example::

    report = Report("Checking my_fn")          # also starts the exercise's time budget
    report.ok("case 1")
    report.fail("case 2", "relative error 3e-01", hint="the bias is missing")
    report.finish()                            # prints; raises CheckFailed
"""
from __future__ import annotations

from ..tolerances import GRADER_REPORT_LINES, GRADER_TIME_LIMIT
from .run import Budget


class CheckFailed(AssertionError):
    """A failed check. In IPython only the summary is shown, not the grader's source."""

    def _render_traceback_(self) -> list[str]:
        return [f"Check failed: {self} (see the report above)"]


class Report:
    """Collects one line per case and ends with a verdict (see the module doc)."""

    def __init__(self, title: str, time_limit_s: float | None = GRADER_TIME_LIMIT):
        self.title, self.failed = title, 0
        self.entries: list[tuple[str, str]] = []    # (kind, line): "pass", "fail", "not run"
        self.hints: list[str] = []
        self._last: str | None = None   # the previous failure's message: repeated as "the same"
        self.budget = Budget(time_limit_s)

    def ok(self, case: str, detail: str = "ok") -> None:
        self.entries.append(("pass", f"  [pass] {case}: {detail}"))

    def fail(self, case: str, message: object, hint: str | None = None) -> None:
        self.failed += 1
        kind = "not run" if str(message).startswith("not run") else "fail"
        shown = "the same" if str(message) == self._last else message
        self._last = str(message)
        self.entries.append((kind, f"  [FAIL] {case}: {shown}"))
        if hint:
            self.hint(hint)

    def hint(self, text: str | None) -> None:
        if text and text not in self.hints:
            self.hints.append(text)

    def _body(self, room: int) -> list[str]:
        entries = list(self.entries)
        notrun = [e for e in entries if e[0] == "not run"]
        if len(notrun) > 1:
            first = entries.index(notrun[0])
            entries = [e for e in entries if e[0] != "not run"]
            entries.insert(first, ("fail", f"  [FAIL] {len(notrun)} more cases not run: the time "
                                           f"limit of this exercise was used up"))
        passes = [e for e in entries if e[0] == "pass"]
        if len(entries) > room and len(passes) > 1:
            first = entries.index(passes[0])
            entries = [e for e in entries if e[0] != "pass"]
            entries.insert(first, ("pass", f"  [pass] {len(passes)} other cases: ok"))
        if len(entries) > room:
            kept = entries[:room - 1]
            entries = kept + [("fail", f"  [FAIL] ... and {len(entries) - len(kept)} more lines "
                                       f"like these")]
        return [text for _, text in entries]

    def finish(self) -> None:
        self.budget.close()
        n = len(self.entries)
        notes = [f"  note: your code raised a warning ({w}); reported here, not on stderr"
                 for w in self.budget.warnings[:2]]
        hints = [f"  hint: {h}" for h in self.hints[:2]]
        room = max(GRADER_REPORT_LINES - 2 - len(notes) - len(hints), 3) if self.failed else n
        print(self.title)
        print("\n".join(self._body(room) + hints + notes))
        if self.failed:
            print(f"{self.failed} of {n} checks failed.")
            raise CheckFailed(f"{self.title}: {self.failed} of {n} checks failed")
        print(f"All {n} checks passed.")
