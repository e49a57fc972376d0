"""Plotting and explorers. The drawing functions are pure (values in, figure out) so that
pytest can check what they draw; ``explorer.FrameExplorer`` wires controls to them."""
from .explorer import FrameExplorer, render_png
from .style import DIVERGING, OKABE_ITO, SEQUENTIAL, finish, new_figure, use_style

__all__ = ["FrameExplorer", "render_png", "use_style", "new_figure", "finish",
           "OKABE_ITO", "SEQUENTIAL", "DIVERGING"]
