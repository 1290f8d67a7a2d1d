"""Figure builders for the app: plain functions from arrays and tables to plotly or altair objects.

No Streamlit here, so each builder can be tested (and used in a notebook) on its own.

- :mod:`.style`: font sizes, colour scales and palettes shared by every figure;
- :mod:`.grid`: plotly figures from plain dicts, typed arrays, subplot grids;
- :mod:`.heatmaps`: kernels, masks, running means and errors as n x n heatmaps (plotly);
- :mod:`.charts`: line and bar charts (altair), as cached layouts filled with tables.
"""

from .charts import (
    attention_row_chart,
    attention_row_layout,
    attention_row_tables,
    distance_profile_chart,
    distance_profile_layout,
    distance_profile_tables,
    error_curves_chart,
    error_curves_layout,
    head_error_bars,
    head_error_layout,
    head_error_tables,
    legend_below,
    legends_under,
    output_error_chart,
    output_error_layout,
    scaling_chart,
    scaling_layout,
    scaling_tables,
    side_by_side_panels,
    spec_with_data,
    style,
    width_law_chart,
    width_law_layout,
    width_law_tables,
    with_data,
)
from .grid import colour_levels, decode, grid, plain_figure, typed_array
from .heatmaps import (
    bias_kernel_figure,
    bias_kernel_panels,
    block_squares,
    heatmap_row,
    mask_grid,
    per_head_figure,
)
from .style import ERROR_COLORSCALE, FONT_SIZE, LECTURE_FONT_SIZE, UNIT_COLORSCALE

__all__ = [
    "ERROR_COLORSCALE",
    "FONT_SIZE",
    "LECTURE_FONT_SIZE",
    "UNIT_COLORSCALE",
    "attention_row_chart",
    "attention_row_layout",
    "attention_row_tables",
    "bias_kernel_figure",
    "bias_kernel_panels",
    "block_squares",
    "colour_levels",
    "decode",
    "distance_profile_chart",
    "distance_profile_layout",
    "distance_profile_tables",
    "error_curves_chart",
    "error_curves_layout",
    "grid",
    "head_error_bars",
    "head_error_layout",
    "head_error_tables",
    "heatmap_row",
    "legend_below",
    "legends_under",
    "mask_grid",
    "output_error_chart",
    "output_error_layout",
    "per_head_figure",
    "plain_figure",
    "scaling_chart",
    "scaling_layout",
    "side_by_side_panels",
    "scaling_tables",
    "spec_with_data",
    "style",
    "typed_array",
    "width_law_chart",
    "width_law_layout",
    "width_law_tables",
    "with_data",
]
