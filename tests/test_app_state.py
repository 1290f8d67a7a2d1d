"""Parsing and clamping of the shared controls (pure functions, no Streamlit server)."""

from __future__ import annotations

import pytest

from alibi_lsh.app.ui.controls import (
    N_MAX,
    N_MIN,
    R_MAX,
    SEED_MAX,
    SLOPE_MAX,
    SLOPE_MIN,
    Controls,
    clamp_slope,
    parse_controls,
    to_query_params,
)
from alibi_lsh.slopes import alibi_slopes


def test_defaults_without_parameters():
    controls, messages = parse_controls({})
    assert controls == Controls() and messages == []
    assert controls.slope == pytest.approx(float(alibi_slopes(8)[3]))


def test_url_round_trip():
    controls = Controls(preset="custom", heads=12, head=7, n=100, samples=33, scheme="qmc", seed=9, lecture=True)
    parsed, messages = parse_controls(to_query_params(controls))
    assert parsed == controls and messages == []
    custom = Controls(preset="custom", heads=12, head=7, slope_mode="custom", custom_slope=0.3)
    parsed, messages = parse_controls(to_query_params(custom))
    assert parsed.slope == pytest.approx(0.3) and parsed.slope_mode == "custom"
    assert parsed == custom and messages == []  # the head count too (the per-head grid), not only the slope


@pytest.mark.parametrize(
    ("params", "field", "used", "text"),
    [
        ({"n": "99999"}, "n", N_MAX, "n=99999 is above the cap 1024 (dense n x n pages); using n=1024."),
        ({"n": "2"}, "n", N_MIN, "using n=8"),
        ({"n": "abc"}, "n", 256, "n='abc' is not a whole number; using n=256."),
        ({"R": "5000"}, "samples", R_MAX, "R=5000 is above the cap 1024"),
        ({"seed": "-3"}, "seed", 0, "seed=-3 is below the minimum 0; using seed=0."),
        ({"scheme": "magic"}, "scheme", "binning", "using scheme=binning"),
        ({"heads": "8", "head": "12"}, "head", 8, "using head=8"),
        ({"slope": "0"}, "custom_slope", SLOPE_MIN, "slope=0 is not allowed"),
        ({"slope": "-2"}, "custom_slope", SLOPE_MIN, "using slope=0.001"),
        ({"slope": "nan"}, "custom_slope", Controls.custom_slope, "not a finite number"),
        ({"preset": "nope"}, "preset", "lecture", "using preset=lecture"),
        # Quoted as typed, parsed exactly (not through a float, which would print 99999999999999991611392).
        ({"n": "99999999999999999999999"}, "n", N_MAX, "n=99999999999999999999999 is above the cap 1024"),
        ({"seed": "9223372036854775807"}, "seed", SEED_MAX, "seed=9223372036854775807 is above the cap"),
        ({"n": "1e2"}, "n", 100, None),
        ({"n": "64.5"}, "n", 256, "n='64.5' is not a whole number"),
        ({"lecture": "2"}, "lecture", False, "lecture='2' is not 0 or 1; using lecture=0."),
        ({"lecture": "off"}, "lecture", False, None),
        ({"lecture": "True"}, "lecture", True, None),
    ],
)
def test_bad_values_are_clamped_with_a_message(params, field, used, text):
    controls, messages = parse_controls(params)
    assert getattr(controls, field) == used
    if text is None:  # an accepted spelling: no message
        assert messages == []
    else:
        assert len(messages) == 1 and text in messages[0], messages


def test_preset_fills_values_and_explicit_values_win():
    controls, _ = parse_controls({"preset": "long context", "R": "32"})
    assert (controls.n, controls.samples, controls.scheme) == (1024, 32, "qmc")


def test_clamp_slope_range():
    assert clamp_slope(0.5) == (0.5, None)
    assert clamp_slope(100)[0] == SLOPE_MAX
    assert clamp_slope("x")[1].startswith("slope='x' is not a number")


def test_repeated_parameter_uses_the_last():
    controls, _ = parse_controls({"n": ["64", "128"]})
    assert controls.n == 128
