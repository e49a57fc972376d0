"""The messages shown in book/exercises.md ("When the input is wrong") are exactly what the
library raises today, so the page cannot drift from the code."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import labutils.nn as nn
from labutils import optim

PAGE = Path(__file__).resolve().parents[1] / "book" / "exercises.md"


def shown_examples() -> list[tuple[str, str, str]]:
    """(code, error type, message) for each ``>>>`` line of the section and the line after it."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## When the input is wrong", 1)[1].split("\n## ", 1)[0]
    pairs = re.findall(r"^>>> (.+?)(?:\s+#.*)?\n(\w+): (.+)$", section, flags=re.M)
    return [(code.strip(), err, message) for code, err, message in pairs]


def test_the_page_shows_five_or_more_messages() -> None:
    kinds = {err for _, err, _ in shown_examples()}
    assert len(shown_examples()) >= 5 and {"ValueError", "TypeError", "RuntimeError"} <= kinds


@pytest.mark.parametrize("code,err,message", shown_examples())
def test_each_message_is_what_the_library_raises(code: str, err: str, message: str) -> None:
    with pytest.raises(Exception) as info:
        eval(code, {"np": np, "nn": nn, "optim": optim})  # noqa: S307  (the page's own code)
    assert type(info.value).__name__ == err
    assert str(info.value) == message
