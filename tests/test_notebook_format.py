"""Every chapter notebook follows the course conventions (tools/nbtool.py lint), is small,
and its Colab cell installs from the repository URL in _config.yml."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found"
    assert NOTEBOOKS[0].name == "01_basics.ipynb"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_follows_conventions(nb):
    assert nbtool.lint_notebook(nb) == []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_small(nb):
    assert nb.stat().st_size < 3_000_000, "keep stored outputs small"


def test_colab_cell_uses_the_configured_repository():
    url = nbtool.repository_url()
    assert url and url.startswith("https://github.com/")
    for nb in NOTEBOOKS:
        first = "".join(json.loads(nb.read_text())["cells"][0]["source"])
        assert f"git+{url}" in first, nb.name


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in toc, f"{nb.name} is not in _toc.yml"


def test_lint_catches_a_broken_notebook(tmp_path):
    nb = json.loads(NOTEBOOKS[0].read_text())
    for cell in nb["cells"]:
        if "nbgrader" in cell["metadata"] and cell["metadata"]["nbgrader"].get("grade"):
            cell["metadata"]["tags"] = []   # a check cell that would stop "Run All"
            break
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(nb))
    assert any("raises-exception" in p for p in nbtool.lint_notebook(bad))
