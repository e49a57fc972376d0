"""`./course help` lists every verb the script accepts, and only the help text."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def verbs_in_case_statement():
    text = (ROOT / "course").read_text()
    block = text[text.index('case "$verb" in'):text.index("esac")]
    verbs = set()
    for line in block.splitlines():
        m = re.match(r"\s+([a-z|-]+)\)", line)
        if m:
            verbs.update(m.group(1).split("|"))
    return verbs


def test_help_lists_every_verb_and_no_code():
    out = subprocess.run([str(ROOT / "course"), "help"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0
    listed = set(re.findall(r"^\s+\./course ([a-z-]+)", out.stdout, re.M))
    assert verbs_in_case_statement() == listed, verbs_in_case_statement() ^ listed
    for code in ("set -euo", "CALLER_DIR", "cd \"$(dirname", "ROOT=", "say()"):
        assert code not in out.stdout


def test_unknown_verb_prints_help_and_fails():
    out = subprocess.run([str(ROOT / "course"), "no-such-verb"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2 and "./course start" in out.stdout
