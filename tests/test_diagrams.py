"""Every chapter's diagrams: drawn by tools/diagrams/chN.py, stored in book/assets/diagrams/,
up to date (regenerated into a temporary folder and compared), valid SVG, and shown in the
chapter's notebook with non-empty alt text. DIAGRAMS lists them by name, one entry per
chapter (each chapter's helper extends it); tests/test_site.py checks the built site by it."""
import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tools" / "diagrams"
STORED = ROOT / "book" / "assets" / "diagrams"

# chapter notebook stem -> the diagram names its issue asks for (file: chN_<name>.svg)
DIAGRAMS = {
    "01_basics": ["linear_shapes", "two_layer_graph", "highway_residual", "moe_gate"],
    "02_normalization": ["norm_axes", "backward_projection"],
    "03_cnn": ["conv_window", "im2col", "receptive_field", "mbconv", "unet",
               "depthwise_separable", "resnet_blocks", "resnext", "densenet"],
    "04_rnn": ["bptt_unrolled", "lstm_gru_cells", "dilated_residual", "encoder_decoder_attention"],
    "05_attention": ["sdpa_masks", "multihead_split_merge", "transformer_block", "model_families",
                     "kv_cache", "sparse_patterns"],
    "06_performer": ["favor_factorisation", "causal_prefix_sums", "recurrent_state"],
}


def svg_name(chapter, name):
    return f"ch{int(chapter[:2])}_{name}.svg"


def _script(chapter):
    import sys
    sys.path.insert(0, str(SCRIPTS))
    path = SCRIPTS / f"ch{int(chapter[:2])}.py"
    spec = importlib.util.spec_from_file_location(f"diagrams_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markdown_images(chapter):
    nb = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return re.findall(r"!\[([^\]]*)\]\(([^)\s]+)\)", text)


CASES = [(ch, name) for ch, names in DIAGRAMS.items() for name in names]


@pytest.mark.parametrize("chapter", sorted(DIAGRAMS))
def test_script_draws_exactly_the_listed_diagrams(chapter, tmp_path):
    module = _script(chapter)
    assert sorted(module.DIAGRAMS) == sorted(DIAGRAMS[chapter])
    from common import write
    for path in write(module.DIAGRAMS, f"ch{int(chapter[:2])}", tmp_path):
        stored = STORED / path.name
        assert stored.exists(), f"{stored.name} missing: run python {SCRIPTS.relative_to(ROOT)}/{path.stem.split('_')[0]}.py"
        assert stored.read_bytes() == path.read_bytes(), (
            f"{stored.name} is out of date: run python tools/diagrams/{path.stem.split('_')[0]}.py")


@pytest.mark.parametrize("chapter,name", CASES)
def test_diagram_is_valid_svg_with_a_white_background(chapter, name):
    root = ET.parse(STORED / svg_name(chapter, name)).getroot()
    assert root.tag.endswith("svg")
    text = (STORED / svg_name(chapter, name)).read_text()
    assert "#ffffff" in text.lower(), "a white background keeps black lines legible in dark mode"


@pytest.mark.parametrize("chapter,name", CASES)
def test_diagram_is_shown_with_alt_text(chapter, name):
    shown = {Path(src).name: alt for alt, src in _markdown_images(chapter)}
    target = svg_name(chapter, name)
    assert target in shown, f"{target} is not shown in notebooks/{chapter}.ipynb"
    assert len(shown[target].split()) >= 4, f"{target}: alt text must describe the diagram"
    for alt, src in _markdown_images(chapter):
        if src.endswith(target):
            assert src == f"../book/assets/diagrams/{target}", (
                "use the path ../book/assets/diagrams/<file> (it works from notebooks/, student/ "
                "and on the site)")
