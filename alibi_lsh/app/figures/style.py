"""The app's shared visual conventions: font sizes and colours, the same on every page.

- every mask/kernel heatmap uses :data:`UNIT_COLORSCALE`, fixed to 0..1 (white = 0, dark blue = 1),
  and every error heatmap the diverging :data:`ERROR_COLORSCALE`, symmetric around 0 (white = no
  error), so colours mean the same thing on every page;
- fonts are at least 14 px on a laptop and at least 16 px in lecture mode (read from the back of a
  room on a 1280 x 720 projector).
"""

from __future__ import annotations

FONT_SIZE = 16
LECTURE_FONT_SIZE = 20
MIN_FONT_SIZE = 14  # smallest text in any figure (tick labels on a laptop)

# White (0) to dark blue (1): a block mask reads as dark squares on white paper.
UNIT_COLORSCALE = [[0.0, "#ffffff"], [0.25, "#c6dbef"], [0.5, "#6baed6"], [0.75, "#2171b5"], [1.0, "#08306b"]]
# Orange (estimate below the kernel) - white (exact) - purple (above); distinct from the blues.
ERROR_COLORSCALE = [[0.0, "#b35806"], [0.25, "#f1a340"], [0.5, "#ffffff"], [0.75, "#998ec3"], [1.0, "#542788"]]
# The ALiBi bias -m|i-j| <= 0: dark red (strongly penalised) to white (no penalty on the diagonal).
BIAS_COLORSCALE = [[0.0, "#67000d"], [0.35, "#cb181d"], [0.7, "#fc9272"], [1.0, "#ffffff"]]
TEXT_COLOR = "#262730"  # Streamlit's text colour, for chart labels and titles
EDGE_COLOR = "#f16913"  # block outlines on the masks
SCHEME_COLORS = {"binning": "#1f77b4", "cuts": "#ff7f0e", "qmc": "#2ca02c"}
METHOD_COLORS = {"exact": "#222222", "approximate": "#1f77b4", "window": "#ff7f0e"}


def tick_size(font_size: int) -> int:
    """Tick labels: two points under the figure's font, never under :data:`MIN_FONT_SIZE`."""
    return max(MIN_FONT_SIZE, font_size - 2)
