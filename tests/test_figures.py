"""Figure builders: the data inside each figure equals the library's numbers."""

from __future__ import annotations

import importlib
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from alibi_lsh.app import figures
from alibi_lsh.app.data import attention_data, mask_data, theory_data
from alibi_lsh.masks import mask_running_mean, sample_masks, sample_partitions
from alibi_lsh.metrics import max_norm_bound, max_norm_error, relative_frobenius_error, spectral_norm_error
from alibi_lsh.slopes import alibi_kernel

N, M, R = 48, 0.125, 16


def vega_values(chart) -> pd.DataFrame:
    """All data rows of an altair chart's spec (its named datasets), as one table."""
    spec = chart.to_dict()
    return pd.concat([pd.DataFrame(rows) for rows in spec["datasets"].values()], ignore_index=True)


@pytest.mark.parametrize("scheme", ["binning", "qmc", "cuts"])
def test_block_bounds_and_the_largest_block_are_the_sampled_partitions(scheme):
    rows, starts, ends = mask_data.block_bounds(50, 0.1, 4, scheme, 9, 1)
    partitions = sample_partitions(50, 0.1, 4, scheme, 9, head=1)
    assert rows.tolist() == [r for r, p in enumerate(partitions) for _ in range(p.num_blocks)]
    assert starts.tolist() == [s for p in partitions for s in p.starts.tolist()]
    assert (ends - starts).tolist() == [w for p in partitions for w in p.lengths().tolist()]
    assert theory_data.largest_block(50, 0.1, 4, scheme, 9, 1) == max(int(p.lengths().max()) for p in partitions)


def test_claim_numbers_are_the_library_errors_and_bounds():
    data = mask_data.claim_data(N, M, R, "binning", 3, head=2)
    kernel = alibi_kernel(N, [M])[0]
    mean = mask_running_mean(N, M, R, "binning", 3, checkpoints=[R], head=2)[0][0]
    assert data.max_error == pytest.approx(float(max_norm_error(mean, kernel)), abs=1e-7)
    assert data.spectral_error == pytest.approx(float(spectral_norm_error(mean, kernel)), rel=1e-6)
    assert data.max_bound == pytest.approx(max_norm_bound(N, R)) and data.max_error < data.max_bound
    table = mask_data.claim_table(N, M, R, "binning", 3, head=2)
    assert len(table) == N * N
    np.testing.assert_allclose(table["difference"].to_numpy(), (mean - kernel).numpy().reshape(-1), atol=1e-7)


def colours(scale: list, positions: np.ndarray) -> np.ndarray:
    """RGB (0..255, float) of ``positions`` in 0..1 through a plotly colour scale, as plotly.js
    interpolates it (linearly between stops)."""
    stops = np.array([at for at, _ in scale])
    rgb = np.array([[int(hex_[i : i + 2], 16) for i in (1, 3, 5)] for _, hex_ in scale], dtype=float)
    return np.stack([np.interp(positions, stops, rgb[:, c]) for c in range(3)], axis=-1)


@pytest.mark.parametrize(
    ("scale", "largest_shift"), [("UNIT_COLORSCALE", 0.72), ("ERROR_COLORSCALE", 1.5), ("BIAS_COLORSCALE", 0.93)]
)
def test_8_bit_colour_codes_change_no_colour_by_a_visible_step(scale, largest_shift):
    """The eye cannot tell: through each colour scale, a code moves a colour channel by at most
    ``largest_shift`` of 255 levels (the steepest stretch of the scale, times half a code step);
    a just noticeable difference is several levels."""
    scales = importlib.import_module("alibi_lsh.app.figures.style")  # figures.style is a function
    values = np.linspace(-1.0, 1.0, 200_001)
    codes = figures.decode(figures.colour_levels(values, -1.0, 1.0)).astype(float)
    exact = colours(getattr(scales, scale), (values + 1) / 2)
    coded = colours(getattr(scales, scale), codes / 255)
    assert np.abs(exact - coded).max() <= largest_shift
    with pytest.raises(ValueError, match="high > low"):
        figures.colour_levels(values, 1.0, 1.0)


def test_mask_grid_draws_the_sampled_masks_exactly():
    sampled = mask_data.mask_samples(N, M, 4, "cuts", 1)
    masks = sample_masks(N, M, 4, "cuts", 1).numpy()
    figure = figures.mask_grid(sampled.starts, N, cols=2)
    assert len(figure.data) == 4 and all(t.fill == "toself" for t in figure.data)
    centres = np.arange(N)
    for trace, mask in zip(figure.data, masks):
        xs, ys = figures.decode(trace.x), figures.decode(trace.y)
        # Rasterise the filled squares: cell (i, j) is dark iff its centre lies in some square.
        squares = np.isnan(xs).nonzero()[0]
        drawn = np.zeros((N, N), dtype=bool)
        for end in squares:
            x0, x1, y0, y1 = xs[end - 5], xs[end - 4], ys[end - 5], ys[end - 3]
            inside_x = (centres > x0) & (centres < x1)
            inside_y = (centres > y0) & (centres < y1)
            drawn |= inside_y[:, None] & inside_x[None, :]
        np.testing.assert_array_equal(drawn, mask)
    starts = sample_partitions(N, M, 4, "cuts", 1)[0].starts.tolist()
    assert np.isnan(figures.decode(figure.data[0].x)).sum() == len(starts)  # one closed square per block
    assert figure.layout.yaxis.range == (N - 0.5, -0.5)  # query i down, as the heatmaps


@pytest.mark.parametrize("scheme", ["binning", "qmc", "cuts"])
def test_block_width_law_counts_the_sampled_partitions(scheme):
    """The law's bars come from the samplers' vectorised draws: the same blocks as sample_partitions."""
    law = mask_data.block_width_law(N, M, scheme, 5, num_samples=300, head=2)
    partitions = sample_partitions(N, M, 300, scheme, 5, head=2)
    if scheme == "cuts":
        drawn = [length for p in partitions if p.num_blocks > 2 for length in p.lengths()[1:-1].tolist()]
    else:
        drawn = [p.width for p in partitions]
    top = int(law["width"].max())
    expected = np.bincount(np.clip(drawn, 0, top + 1), minlength=top + 2)[1 : top + 1] / len(drawn)
    np.testing.assert_array_equal(law["sampled"].to_numpy(), expected)


def test_width_law_chart_data():
    law = mask_data.block_width_law(N, M, "binning", 0, num_samples=200)
    values = vega_values(figures.width_law_chart(law, "binning"))
    theory = values[values["series"].str.startswith("theory")]
    np.testing.assert_allclose(theory["probability"].to_numpy(), law["theory"].to_numpy())
    assert law["theory"].sum() == pytest.approx(0.995, abs=0.01)


def test_error_curves_chart_data_and_bounds():
    curves = mask_data.error_curves(N, M, 8, ("binning", "cuts"), (0, 1), spectral=False)
    summary = mask_data.summarize_errors(curves)
    refs = mask_data.reference_lines(N, M, 8, "binning", summary)
    chart = figures.error_curves_chart(summary, refs, ("max-norm", "relative Frobenius"))
    assert len(chart.to_dict()["hconcat"]) == 2
    means, _ = mask_running_mean(N, M, 8, "cuts", 1, checkpoints=[1, 2, 4, 8])
    expected = max_norm_error(means, alibi_kernel(N, [M])[0]).tolist()
    got = curves[(curves.scheme == "cuts") & (curves.seed == 1) & (curves.metric == "max-norm")]["error"].tolist()
    np.testing.assert_allclose(got, expected)
    bound = refs[(refs.metric == "max-norm") & (refs.line == "bound (95%)") & (refs.R == 8)]["value"].item()
    assert bound == pytest.approx(max_norm_bound(N, 8))


def test_attention_figures_match_library_attention():
    setup = attention_data.attention_setup(N, 4, R, "binning", 0, 2.0, True)
    row = attention_data.attention_row(setup, 1, 30, 8)
    assert len(row) == 31 and np.allclose(row[["exact", "approximate", "window"]].sum(), 1.0)
    values = vega_values(figures.attention_row_chart(row, 30))
    assert set(values["method"]) == {"exact", "approximate", "window"}
    # Given its width, the window is named with it in the data and in the legend's domain.
    named = figures.attention_row_chart(row, 30, window=8)
    assert set(vega_values(named)["method"]) == {"exact", "approximate", "window w=8"}
    assert named.to_dict()["encoding"]["color"]["scale"]["domain"] == ["exact", "approximate", "window w=8"]
    # The dense mean-of-masks output equals the block algorithm on the same partitions.
    assert attention_data.block_algorithm_check(setup, R, "binning", 0, True) < 1e-5
    errors = attention_data.head_output_errors(setup, 8, True)
    chart_values = vega_values(figures.output_error_chart(errors))
    np.testing.assert_allclose(chart_values["relative error"].to_numpy(), errors["relative error"].to_numpy())


def test_distance_profile_triangle_mixture_is_the_kernel():
    profile = theory_data.distance_profile(N, M, R, "binning", 0)
    np.testing.assert_allclose(profile["triangle mixture"], profile["formula"], atol=1e-9)
    mean = mask_running_mean(N, M, R, "binning", 0, checkpoints=[R])[0][0].double()
    diagonals = [float(torch.diagonal(mean, offset=d).mean()) for d in range(N)]
    np.testing.assert_allclose(profile["sampled mean"], diagonals, rtol=1e-12)
    power = theory_data.distance_profile(N, 1.0, R, "binning", 0, kernel="power")
    np.testing.assert_allclose(power["triangle mixture"], power["formula"], atol=1e-5)  # heavy tail cut at 100 n
    values = vega_values(figures.distance_profile_chart(profile))
    assert {"formula exp(-m d)", "triangle mixture", "sampled mean"} <= set(values["curve"])


def test_per_head_figure_and_bars():
    data = mask_data.per_head_data(N, 4, R, "binning", 0)
    for narrow in (False, True):
        figure = figures.per_head_figure(data.kernels, data.means, data.table["slope"].tolist(), R, narrow=narrow)
        assert len(figure.data) == 8
        kernel = alibi_kernel(N, [0.0625 * 2**2])[0].numpy()
        # 8-bit colour codes on 0..1: within half a level of the kernel, and the axis spans the codes.
        np.testing.assert_allclose(figures.decode(figure.data[0].z) / 255, kernel, atol=0.5 / 255 + 1e-9)
        assert (figure.layout.coloraxis.cmin, figure.layout.coloraxis.cmax) == (0, 255)
        assert list(figure.layout.coloraxis.colorbar.ticktext) == ["0", "0.5", "1"]
    assert figure.layout.coloraxis.colorbar.orientation == "h"  # a phone: the bar on top, not at the side
    values = vega_values(figures.head_error_bars(data.table))
    assert len(values) == 8
    # The table's errors are the library's metrics of each head's full n x n mean.
    slopes = data.table["slope"].tolist()
    means = torch.stack(
        [mask_running_mean(N, m, R, "binning", 0, checkpoints=[R], head=h)[0][0] for h, m in enumerate(slopes)]
    )
    kernels = alibi_kernel(N, slopes)
    np.testing.assert_allclose(data.table["max-norm"], max_norm_error(means, kernels).numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        data.table["relative Frobenius"], relative_frobenius_error(means, kernels).numpy(), rtol=1e-12
    )


def test_per_head_panels_are_at_display_resolution():
    data = mask_data.per_head_data(256, 2, 4, "binning", 0)
    assert data.kernels.shape == (2, 64, 64) and data.factor == 4


def test_fonts_are_legible():
    chart = figures.width_law_chart(mask_data.block_width_law(N, M, "cuts", 0, num_samples=50), "cuts")
    config = chart.to_dict()["config"]
    assert config["axis"]["labelFontSize"] >= 14 and config["axis"]["titleFontSize"] >= 14


def test_bias_kernel_figure_holds_the_bias_and_its_exponential():
    data = mask_data.bias_kernel(N, M)
    figure = figures.bias_kernel_figure(data.bias, data.kernel, data.factor)
    bias, kernel = (figures.decode(trace.z).astype(float) / 255 for trace in figure.data)
    distance = np.abs(np.arange(N)[:, None] - np.arange(N)[None, :])
    lowest = -M * (N - 1)  # the bias's colour bar runs from the far corner to 0 (the diagonal)
    np.testing.assert_allclose(lowest * (1 - bias), -M * distance, atol=0.5 / 255 * -lowest + 1e-9)
    np.testing.assert_allclose(kernel, np.exp(-M * distance), atol=0.5 / 255 + 1e-9)
    assert figure.data[0].coloraxis == "coloraxis3"
    assert figure.layout.coloraxis3.colorbar.ticktext[0] == f"{lowest:.2g}".replace("-", "\u2212")


def test_per_head_titles_number_heads_from_one():
    data = mask_data.per_head_data(N, 4, R, "binning", 0)
    figure = figures.per_head_figure(data.kernels, data.means, data.table["slope"].tolist(), R)
    titles = [a.text for a in figure.layout.annotations]
    assert titles[:4] == ["head 1<br>m=1/4", "head 2<br>m=1/16", "head 3<br>m=1/64", "head 4<br>m=1/256"]


def test_scaling_chart_shows_the_chosen_cases_of_a_benchmark():
    frame = pd.DataFrame(
        {
            "n": [512, 1024, 512, 1024, 512],
            "label": ["dense", "dense", "lsh binning R=4", "lsh binning R=4", "window"],
            "time_ms": [10.0, 40.0, 5.0, 10.0, 3.0],
            "rel_error": [1e-7, 1e-7, 0.3, 0.31, 0.01],
            "peak_mem_mb": [8.0, 32.0, 1.0, 2.0, 1.0],
            "status": ["ok", "ok", "ok", "ok", "skipped: too slow"],
        }
    )
    chart = figures.scaling_chart(frame, ("dense", "lsh binning R=4", "window"))
    values = vega_values(chart)
    assert len(values) == 4 and set(values["label"]) == {"dense", "lsh binning R=4"}  # skipped rows left out
    spec = chart.to_dict()
    colours = spec["hconcat"][0]["encoding"]["color"]["scale"]
    assert colours["domain"] == ["dense", "lsh binning R=4", "window"] and colours["range"][0] == "#222222"


def _plotly_figures() -> dict[str, go.Figure]:
    bias = mask_data.bias_kernel(N, M)
    sampled = mask_data.mask_samples(N, M, 4, "cuts", 1)
    heads = mask_data.per_head_data(N, 4, R, "binning", 0)
    slopes = heads.table["slope"].tolist()
    return {
        "masks": figures.mask_grid(sampled.starts, N, cols=2),
        "masks, one column": figures.mask_grid(sampled.starts, N, cols=1),
        "heads": figures.per_head_figure(heads.kernels, heads.means, slopes, R),
        "heads, narrow": figures.per_head_figure(heads.kernels, heads.means, slopes, R, narrow=True),
        "bias": figures.bias_kernel_figure(bias.bias, bias.kernel, bias.factor),
        "masks, compact row": figures.mask_grid(sampled.starts[:3], N, cols=3, compact=True),
        "bias, narrow": figures.bias_kernel_panels(bias.bias, bias.kernel, bias.factor, narrow=True)[0],
    }


PLOTLY_NAMES = ["masks", "masks, one column", "heads", "heads, narrow", "bias", "masks, compact row", "bias, narrow"]


@pytest.mark.parametrize("name", PLOTLY_NAMES)
def test_plotly_figures_pass_plotly_validation(name):
    """The builders skip plotly's validation for speed; here every property is validated once."""
    figure = _plotly_figures()[name]
    validated = go.Figure(figure.to_dict())  # raises on any unknown property or out-of-range value
    assert len(validated.data) == len(figure.data)


def test_subplot_grid_matches_make_subplots():
    """The hand-written grid puts axes and titles where plotly's make_subplots does."""
    from plotly.subplots import make_subplots

    titles = [f"head {h}" for h in range(1, 5)]
    ours = figures.grid(2, 4, titles, 14, horizontal_spacing=0.015, vertical_spacing=0.06, row_titles=["a", "b"])
    theirs = make_subplots(
        rows=2, cols=4, subplot_titles=titles, horizontal_spacing=0.015, vertical_spacing=0.06, row_titles=["a", "b"]
    ).to_dict()["layout"]
    for axis in [f"{xy}axis{suffix}" for xy in "xy" for suffix in ["", *map(str, range(2, 9))]]:
        np.testing.assert_allclose(ours[axis]["domain"], theirs[axis]["domain"], atol=1e-12)
        assert ours[axis]["anchor"] == theirs[axis]["anchor"]
    for mine, plotlys in zip(ours["annotations"], theirs["annotations"]):
        assert mine["text"] == plotlys["text"] and mine.get("textangle") == plotlys.get("textangle")
        assert (mine["x"], mine["y"]) == pytest.approx((plotlys["x"], plotlys["y"]))


def test_typed_arrays_round_trip():
    z = np.random.default_rng(0).random((3, 5)).astype(np.float32)
    encoded = figures.typed_array(z)
    assert encoded["dtype"] == "f4" and encoded["shape"] == "3, 5"
    np.testing.assert_array_equal(figures.decode(encoded), z)


def _stored_frame() -> pd.DataFrame:
    from alibi_lsh.app.data.stored_bench import load_shipped

    return load_shipped("cpu").frame


@pytest.mark.parametrize(
    ("name", "labels", "tables"),
    [
        (
            "width_law",
            ("binning",),
            lambda: figures.width_law_tables(mask_data.block_width_law(N, M, "binning", 0), "binning"),
        ),
        ("head_error", (), lambda: figures.head_error_tables(mask_data.per_head_data(N, 4, R, "binning", 0).table)),
        (
            "scaling",
            (("dense", "lsh binning R=4"),),
            lambda: figures.scaling_tables(_stored_frame(), ("dense", "lsh binning R=4")),
        ),
        (
            "distance_profile",
            ("(1+d)^-1", figures.FONT_SIZE, True),
            lambda: figures.distance_profile_tables(
                theory_data.distance_profile(N, 1.0, R, "binning", 0, kernel="power"), "(1+d)^-1", 0.0, True
            ),
        ),
    ],
)
def test_layouts_filled_with_data_are_valid_vega_lite(name, labels, tables):
    """What the app draws (a cached layout dict plus tables) is a valid Vega-Lite spec with the data."""
    import altair as alt

    layout = getattr(figures, f"{name}_layout")(*labels).to_dict(validate=False)
    filled = tables()
    spec = figures.spec_with_data(layout, filled)
    assert "datasets" not in layout  # the shared layout is not touched
    spec["datasets"] = {key: table.to_dict("records") for key, table in spec["datasets"].items()}
    alt.Chart.from_dict(spec, validate=True)  # raises on a schema violation
    assert set(spec["datasets"]) == set(filled)


def test_log_axes_span_decades_labelled_in_one_notation():
    """The benchmark's log axes end on whole decades and label only the decades, each as 10^k, so
    that 1e-7 and 0.000001 never share an axis and no in-between label sits beside a line."""
    frame = pd.DataFrame(
        {"n": [512, 1024], "label": ["dense", "dense"], "time_ms": [10.0, 40.0], "rel_error": [1e-7, 2e-7]}
        | {"peak_mem_mb": [8.0, 32.0], "status": ["ok", "ok"]}
    )
    spec = figures.scaling_chart(frame, ("dense",)).to_dict()
    for panel in spec["hconcat"]:
        y = panel["encoding"]["y"]
        assert y["scale"] == {"type": "log", "nice": True}
        assert y["axis"]["labelExpr"] == figures.charts.DECADE_LABELS
        # On its decade, not flush inside the plot (Streamlit's theme default): a 10^0 moved down
        # beside a line at 0.57 reads as that line's value.
        assert y["axis"]["labelFlush"] is False
    written = re.findall(r"'([^']*)'", figures.charts.DECADE_LABELS)
    assert {"10\u207b\u2077", "10\u2070", "10\u00b3"} <= set(written)
    assert all(re.fullmatch("10\u207b?[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+", label) for label in written if label)


def test_perplexity_chart_names_every_line_and_takes_its_place_width():
    """Every line and rule of the language model's chart has a legend entry (the schemes, exact
    ALiBi, each window with its width), the y values are perplexities over exact ALiBi's at the
    same length, and the chart takes its container's width (a phone's column, a projector)."""
    from alibi_lsh.lm.figures import EXACT_LABEL, perplexity_chart

    rows = [
        ("exact", "", 0, 0, 128, 4.0),
        ("exact", "", 0, 0, 512, 5.0),
        ("window", "", 0, 16, 128, 4.4),
        ("window", "", 0, 16, 512, 5.5),
        ("lsh", "binning", 4, 0, 128, 6.0),
        ("lsh", "binning", 4, 0, 512, 10.0),
        ("lsh", "cuts", 4, 0, 128, 8.0),
        ("lsh", "cuts", 4, 0, 512, 5.0),
    ]
    summary = pd.DataFrame(rows, columns=["method", "scheme", "R", "window", "length", "ppl_mean"])
    summary = summary.assign(ppl_std=0.0, ppl_min=summary.ppl_mean, ppl_max=summary.ppl_mean, gap_pct=0.0)
    spec = perplexity_chart(summary).to_dict()
    assert spec["width"] == "container"
    encodings = [layer["encoding"] for layer in spec["layer"]]
    colour = next(e["color"] for e in encodings if "legend" in e["color"] and e["color"]["legend"] is not None)
    assert colour["scale"]["domain"] == ["binning", "cuts", EXACT_LABEL, "window w=16"]
    dash = next(e["strokeDash"] for e in encodings if "strokeDash" in e)
    assert dash["scale"]["domain"] == ["128 bytes (1x)", "512 bytes (4x)"]
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    ratio = data.set_index(["method", "scheme", "length"]).ratio
    assert ratio[("exact", "", 128)] == ratio[("exact", "", 512)] == 1.0
    assert ratio[("lsh", "binning", 512)] == pytest.approx(2.0) and ratio[("window", "", 128)] == pytest.approx(1.1)


def test_a_compact_mask_row_labels_the_first_panel_and_frames_each():
    """Three masks in a projector's row: ticks on the first panel only (all span 0..n-1), every
    matrix framed, the gaps 1 % of the width, and the masks themselves the same as a plain grid."""
    sampled = mask_data.mask_samples(N, M, 3, "binning", 0)
    compact = figures.mask_grid(sampled.starts, N, cols=3, compact=True).to_dict()
    plain = figures.mask_grid(sampled.starts, N, cols=3).to_dict()
    layout = compact["layout"]
    assert [layout[f"xaxis{s}"]["showticklabels"] for s in ("", "2", "3")] == [True, False, False]
    assert all(layout[f"yaxis{s}"]["mirror"] and layout[f"yaxis{s}"]["showline"] for s in ("", "2", "3"))
    assert layout["xaxis2"]["domain"][0] - layout["xaxis"]["domain"][1] == pytest.approx(0.01)
    for ours, theirs in zip(compact["data"], plain["data"]):
        np.testing.assert_array_equal(figures.decode(ours["x"]), figures.decode(theirs["x"]))


def test_a_narrow_heatmap_puts_its_colour_bar_above_the_square():
    """On a phone the bar stands above the panel (horizontal, its title on top), the margins leave
    the square the column's width, and the picture is the same as the wide one's."""
    bias = mask_data.bias_kernel(N, M)
    wide, narrow = (
        figures.bias_kernel_panels(bias.bias, bias.kernel, bias.factor, narrow=flag)[1].to_dict() for flag in (0, 1)
    )
    bar = narrow["layout"]["coloraxis"]["colorbar"]
    assert bar["orientation"] == "h" and bar["y"] > 1 and bar["title"]["side"] == "top"
    assert narrow["layout"]["margin"]["l"] + narrow["layout"]["margin"]["r"] <= 50
    assert "orientation" not in wide["layout"]["coloraxis"]["colorbar"]
    np.testing.assert_array_equal(figures.decode(wide["data"][0]["z"]), figures.decode(narrow["data"][0]["z"]))


def test_legend_below_keeps_the_panel_and_moves_only_its_legend():
    """A phone's copy of a panel: the legend under the plot, one entry a row; the data, the
    encodings and the original panel unchanged."""
    curves = mask_data.error_curves(N, M, 8, ("binning", "cuts"), (0, 1), spectral=False)
    summary = mask_data.summarize_errors(curves)
    refs = mask_data.reference_lines(N, M, 8, "binning", summary)
    spec = figures.error_curves_chart(summary, refs, ("max-norm", "relative Frobenius")).to_dict()
    panel = figures.side_by_side_panels(spec)[-1]
    before = json.dumps(panel, sort_keys=True, default=str)
    phone = figures.legend_below(panel, plot_height=240)
    assert json.dumps(panel, sort_keys=True, default=str) == before  # a copy: the projector's panel is intact
    assert phone["config"]["legend"]["orient"] == "bottom" and phone["config"]["legend"]["columns"] == 1
    assert phone["height"] == 240 and phone["autosize"]["type"] == "fit-x"
    assert {k: v for k, v in phone.items() if k not in ("config", "height", "autosize")} == {
        k: v for k, v in panel.items() if k not in ("config", "height", "autosize")
    }


def test_a_plotly_row_restacked_for_a_phone_keeps_its_panels():
    """Two heatmaps side by side become one column: the same traces, full-width x domains, the
    second panel under the first, each subplot title above its panel and the title broken into lines."""
    from alibi_lsh.app.figures.narrow import stack_plotly_row

    bias = mask_data.bias_kernel(N, M)
    row = figures.heatmap_row([("a", bias.kernel, "unit"), ("b", bias.kernel, "unit")])
    row.update_layout(title=dict(text="Layer 1, head 8: attention weights on the exact model's q and k"))
    stacked = stack_plotly_row(row)
    layout = stacked.layout
    assert len(stacked.data) == 2 and list(layout.xaxis.domain) == [0, 1] and list(layout.xaxis2.domain) == [0, 1]
    assert layout.yaxis2.domain[1] < layout.yaxis.domain[0]  # the second panel under the first
    titles = {a.text: a.y for a in layout.annotations}
    assert titles == {"a": layout.yaxis.domain[1], "b": layout.yaxis2.domain[1]}
    assert all(len(line) <= 30 for line in layout.title.text.split("<br>")) and "<br>" in layout.title.text
    assert row.layout.xaxis.domain[1] < 1  # the wide figure is left as it was
    go.Figure(stacked.to_dict())  # valid plotly
