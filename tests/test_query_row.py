"""The Python side of the one-query figure (alibi_lsh/app/live/query_row.py): argument checks, the
data the browser receives, its assets as one module, and its registration (no browser here; the
numbers it computes are checked in Chromium by tests/test_query_row_browser.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from alibi_lsh import alibi_slopes
from alibi_lsh.app.live import query_row
from alibi_lsh.app.live.query_row import (
    QueryRowStart,
    checked_start,
    component_data,
    component_source,
    equal_keys_window,
    example_tensors,
    row_errors,
    union_keys,
    window_keys,
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n": 8}, "n must be an integer >= 16 and <= 128, got 8"),
        ({"n": 129}, "n must be an integer >= 16 and <= 128, got 129"),
        ({"n": 96.0}, "n must be an integer >= 16 and <= 128, got 96.0"),
        ({"heads": 0}, "heads must be an integer >= 1 and <= 16, got 0"),
        ({"head": 9}, "head must be an integer >= 1 and <= 8, got 9"),
        ({"samples": 0}, "samples must be an integer >= 1 and <= 512, got 0"),
        ({"samples": 1024}, "samples must be an integer >= 1 and <= 512, got 1024"),
        ({"samples": 24}, "samples must be a power of two (the R slider's steps), got 24"),
        ({"window": 0}, "window must be an integer >= 1 and <= 96, got 0"),
        ({"window": 97}, "window must be an integer >= 1 and <= 96, got 97"),
        ({"query": -1}, "query must be an integer >= 0 and <= 95, got -1"),
        ({"query": 96}, "query must be an integer >= 0 and <= 95, got 96"),
        ({"score_scale": -0.5}, "score_scale must be a finite number in [0, 4], got -0.5"),
        ({"score_scale": math.nan}, "score_scale must be a finite number in [0, 4]"),
        ({"seed": 2**63}, "seed must be an integer >= 0 and <= 9223372036854775807"),
        ({"causal": "False"}, "causal must be True or False, got 'False'"),
    ],
)
def test_settings_out_of_range_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        checked_start(replace(QueryRowStart(), **changes))


def test_the_browser_gets_the_settings_the_slopes_and_the_seed_as_a_string():
    start = QueryRowStart(n=64, heads=12, head=7, samples=2, window=5, query=63, score_scale=0.0, seed=2**53 + 1)
    data = component_data(start, lecture=True)
    assert data["seed"] == str(2**53 + 1)  # a JavaScript number would round it to 2^53
    assert data["slopes"] == [float(m) for m in alibi_slopes(12)]  # the library's float32 values, exactly
    assert (data["n"], data["head"], data["samples"], data["window"], data["query"]) == (64, 7, 2, 5, 63)
    assert data["score_scale"] == 0.0 and data["causal"] is False and data["lecture"] is True
    assert data["max_log2_samples"] == 9 and 2 ** data["max_log2_samples"] == 512
    json.dumps(data)  # plain JSON
    # The browser starts over only when a setting changes, not when lecture mode does.
    assert component_data(start, lecture=False)["basis"] == data["basis"]
    assert component_data(replace(start, query=0), lecture=True)["basis"] != data["basis"]
    with pytest.raises(ValueError, match="lecture must be True or False"):
        component_data(start, lecture=1)


def test_the_assets_form_one_module_with_the_estimator_and_no_network():
    source = component_source()
    assert source["js"].count("export default function") == 1 and "import " not in source["js"]
    for name in ("export function sampleStarts", "export function countsRow", "export function queryRow"):
        assert name in source["js"], name
    assert "http" not in source["js"] + source["css"]
    # The root carries the class the app's layout checks find live figures by, and one canvas per panel.
    assert 'class="alibi-live alibi-qr"' in source["html"]
    assert source["html"].count("data-panel=") == 3 and source["html"].count("<canvas") == 3


def test_the_component_is_registered_without_style_isolation(monkeypatch):
    registered = {}

    def fake_component(name, **kwargs):
        registered.update(kwargs, name=name)
        return lambda **mount: registered.setdefault("mounted", mount)

    import streamlit as st

    monkeypatch.setattr(st.components.v2, "component", fake_component)
    query_row._mount.cache_clear()
    try:
        query_row.query_row(QueryRowStart(), key="one", lecture=True)
    finally:
        query_row._mount.cache_clear()
    assert registered["isolate_styles"] is False and registered["name"] == query_row.COMPONENT_NAME
    assert registered["js"] == component_source()["js"]
    assert registered["mounted"] == {"key": "one", "data": component_data(QueryRowStart(), lecture=True)}


def test_window_keys_count_the_keys_within_w_of_the_query():
    assert window_keys(96, 48, 1, False) == 1 and window_keys(96, 48, 16, False) == 31
    assert window_keys(96, 3, 16, False) == 3 + 16 and window_keys(96, 95, 16, False) == 16
    assert window_keys(96, 48, 16, True) == 16 and window_keys(96, 48, 96, True) == 49
    assert window_keys(96, 48, 96, False) == 96


def test_the_union_of_the_blocks_and_the_window_that_reads_as_many_keys():
    """R = 1 reads the query's one block; the union grows with R (the first R blocks are kept); the
    equal-keys window is the smallest w that reads at least as many keys."""
    unions = [union_keys(QueryRowStart(samples=2**r)) for r in range(10)]
    assert unions == sorted(unions) and 1 <= unions[0] < unions[-1] <= 96
    start = QueryRowStart(samples=8)
    w = equal_keys_window(start)
    assert window_keys(96, 48, w, False) >= union_keys(start) > window_keys(96, 48, w - 1, False)
    causal = QueryRowStart(samples=8, causal=True, query=10)
    assert union_keys(causal) <= 11 and window_keys(96, 10, equal_keys_window(causal), True) >= union_keys(causal)


def test_the_example_and_the_row_errors_check_their_arguments():
    q, k, v = example_tensors(5, 3)
    assert q.shape == k.shape == v.shape == (5, 3) and q.dtype == torch.float64
    assert not torch.equal(q, k) and torch.equal(example_tensors(9, 3)[0][:5], q)  # n only slices
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        example_tensors(0)
    with pytest.raises(ValueError, match="head_dim must be an integer >= 1, got 0"):
        example_tensors(4, 0)
    with pytest.raises(ValueError, match="window must be an integer >= 1 and <= 96, got 97"):
        row_errors(QueryRowStart(), 97)
    with pytest.raises(ValueError, match="query must be an integer >= 0 and <= 95, got 96"):
        union_keys(QueryRowStart(query=96))
    # A window of n is exact ALiBi: error 0 (to rounding); a window of 1 reads the query alone.
    assert row_errors(QueryRowStart(), 96).window_error < 1e-14
    assert row_errors(QueryRowStart(), 1).window_error > 0.1
