"""Live figures computed and drawn in the browser (a Streamlit custom component, plain JavaScript).

``live_masks(...)`` mounts one sampled mask, the running mean of R masks, exp(-m|i-j|) and their
difference; see docs/app.md, "Live figures in the browser".
"""

from .component import LiveView, live_masks

__all__ = ["LiveView", "live_masks"]
