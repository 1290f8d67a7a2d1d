"""The lecture's new chart builders: valid Vega-Lite, the right rows in the right places."""

from __future__ import annotations

import copy

import pytest

from alibi_lsh.app.data import verdict
from alibi_lsh.app.data.attention_data import attention_row, attention_setup
from alibi_lsh.app.figures import error_curves_layout
from alibi_lsh.app.figures.attention_log import attention_log_chart, attention_log_tables
from alibi_lsh.app.figures.narrow import stack_panels
from alibi_lsh.app.figures.verdict_charts import verdict_chart, verdict_table


def test_the_verdict_chart_draws_every_measured_setting_but_exact():
    run = verdict.load()
    table = verdict_table(run.frame)
    assert len(table) == len(run.frame) - 1 and set(table["family"]) == {
        "window, per head", "window, one w", "random blocks"
    }  # fmt: skip
    blocks = table[table["family"] == "random blocks"]
    assert list(blocks["setting"]) == [f"R={r:g}" for r in run.blocks["parameter"]]
    spec = verdict_chart(run.frame, 20).to_dict(validate=True)  # raises on an invalid spec
    assert len(spec["hconcat"]) == 2


def test_the_log_attention_row_leaves_out_zero_weights_and_names_the_window():
    setup = attention_setup(48, 4, 8, "binning", 0, 0.0, True)
    row = attention_row(setup, 3, 47, 16)
    table = attention_log_tables(row, 16)["row"]
    assert (table["weight"] > 0).all()
    window = table[table["method"] == "window w = 16"]
    assert sorted(window["key"]) == list(range(32, 48))  # the causal band |i - j| < 16 of query 47
    attention_log_chart(row, 47, 16, 20).to_dict(validate=True)


def test_stacked_panels_keep_every_panel_and_stay_narrow():
    spec = error_curves_layout(("binning", "cuts"), (1, 2, 4), ("max-norm", "relative Frobenius"), 16).to_dict()
    original = copy.deepcopy(spec["hconcat"])
    stacked = stack_panels(spec, width=240)
    assert "hconcat" not in stacked and len(stacked["vconcat"]) == 2
    for row, panel in zip(stacked["vconcat"], original):
        (inner,) = row["hconcat"]
        assert inner["width"] == 240 and inner["layer"] == panel["layer"] and inner["title"] == panel["title"]
    assert stacked["config"]["legend"]["orient"] == "bottom"
    assert stack_panels({"layer": []}) == {"layer": []}  # a single chart is left as it is


def test_the_query_mechanism_is_one_softmax_with_the_log_count_bias():
    """The blocks' weights of one query equal the dense mean-of-masks weights (attention_row's
    'approximate', normalize(exp(s) * M_hat)); the counts are the library's partitions'; the
    row's output error is computed from those weights."""
    import torch

    from alibi_lsh import sample_partitions
    from alibi_lsh.app.data.attention_data import query_mechanism, row_output_errors

    setup = attention_setup(64, 4, 16, "binning", 2, 1.0, True)
    table = query_mechanism(setup, 2, 50, 8, 16)
    assert len(table) == 51 and abs(table[["exact", "blocks", "window"]].sum() - 1).max() < 1e-12
    row = attention_row(setup, 2, 50, 8)
    assert (table["blocks"] - row["approximate"]).abs().max() < 1e-6  # float32 means on the dense path
    assert (table["window"] - row["window"]).abs().max() < 1e-12
    partitions = sample_partitions(64, setup.slopes[2], 16, "binning", 2, head=2)
    block = [torch.searchsorted(p.starts, torch.arange(51), right=True) for p in partitions]
    counts = sum((b == b[50]).long() for b in block)
    assert table["count"].tolist() == counts.tolist()
    assert (table["blocks"][table["count"] == 0] == 0).all()
    values = setup.v[0, 2, :51]
    exact = torch.tensor(table["exact"].to_numpy()) @ values
    blocks = torch.tensor(table["blocks"].to_numpy()) @ values
    assert row_output_errors(setup, table, 2)["blocks"] == pytest.approx(float((blocks - exact).norm() / exact.norm()))


def test_the_error_axis_is_labelled_at_decades_only():
    # A label between decades (0.3) sat beside a line and read as its value on a projector.
    import math

    from alibi_lsh.app.figures.verdict_charts import verdict_layout

    spec = verdict_layout().to_dict()
    for panel in spec["hconcat"]:
        y_axes = [layer["encoding"]["y"]["axis"]["values"] for layer in panel["layer"] if "y" in layer["encoding"]]
        assert y_axes and all(abs(math.log10(v) - round(math.log10(v))) < 1e-9 for axis in y_axes for v in axis)


def test_every_point_is_labelled_once_and_no_two_labels_overlap():
    """Every point of the three lines carries its setting (t, w or R), in exactly one label layer per
    panel; on the chart's geometry at a projector's and a phone's plot size, no label box overlaps
    another label or a point, and none leaves the plot."""

    from alibi_lsh.app.figures import point_labels
    from alibi_lsh.app.figures.style import LECTURE_FONT_SIZE
    from alibi_lsh.app.figures.verdict_charts import COSTS, label_size, verdict_layout

    run = verdict.load()
    table = verdict_table(run.frame)
    expected = {f"t={p:g}" for p in run.windows["parameter"]} | {f"w={p:g}" for p in run.fixed_windows["parameter"]}
    expected |= {f"R={p:g}" for p in run.blocks["parameter"]}
    assert set(table["setting"]) == expected and len(table) == len(expected)
    spec = verdict_layout(LECTURE_FONT_SIZE).to_dict()
    for panel, cost in zip(spec["hconcat"], COSTS):
        texts = [layer for layer in panel["layer"] if layer["mark"]["type"] == "text" and "stroke" not in layer["mark"]]
        filters = sorted(str(layer["transform"][0]["filter"]) for layer in texts)
        assert filters == sorted(f"(datum['side_{cost}'] === '{side}')" for side in point_labels.ANCHORS), filters
        assert set(table[f"side_{cost}"]) <= set(point_labels.ANCHORS)
        font = label_size(LECTURE_FONT_SIZE)
        for width, height in point_labels.PLOT_SIZES:
            points = point_labels.plot_positions(table[cost].tolist(), table["rel_error"].tolist(), width, height)
            boxes = [
                point_labels.label_box(x, y, text, side, font)
                for (x, y), text, side in zip(points, table["setting"], table[f"side_{cost}"])
            ]
            plot = point_labels.Box(0, 0, width, height)
            for index, box in enumerate(boxes):
                area = (box.right - box.left) * (box.bottom - box.top)
                assert plot.overlap(box) == pytest.approx(area), (cost, width, table["setting"][index])
                assert all(box.overlap(other) == 0 for other in boxes[index + 1 :]), (cost, width, index)
                assert all(box.overlap(point_labels.point_box(x, y)) == 0 for x, y in points), (cost, width, index)


def test_a_label_moves_off_a_point_in_its_way():
    """Three points: a label above right of the first is free at first; a second point put where
    that label would be pushes it to another side, and the plot's edges are kept."""
    from alibi_lsh.app.figures.point_labels import label_box, place_labels, plot_positions

    xs, ys, texts = [1.0, 100.0, 10.0], [1.0, 0.01, 0.1], ["first", "last", "mid"]
    free = place_labels(xs, ys, texts, [[0, 2, 1]], [("above right",)] * 3, 16, sizes=((400, 300),))
    assert free[2] == "above right"
    (x, y), size = plot_positions([*xs, 12.0], [*ys, 0.12], 400, 300)[2], 16
    # Put a fourth point in the middle of the free label's box: that side is taken now.
    box = label_box(x, y, "mid", "above right", size)
    xs4 = [*xs, 10 ** (1 + ((box.left + box.right) / 2 - x) / (400 - 24) * 2)]
    ys4 = [*ys, 10 ** (-1 + (y - (box.top + box.bottom) / 2) / (300 - 24) * 2)]
    moved = place_labels(xs4, ys4, [*texts, "x"], [[0, 2, 1]], [("above right",)] * 4, 16, sizes=((400, 300),))
    assert moved[2] != "above right"
    assert moved[0] not in ("above", "above left", "above right", "left")  # the top left corner: no room
