"""Scaling: time and error as the context length grows, exact against approximate against window."""

from __future__ import annotations

import dataclasses
import os

import streamlit as st
import torch

from alibi_lsh.app.data import cache, stored_bench
from alibi_lsh.app.figures.narrow import stack_panels
from alibi_lsh.app.ui import display, session
from alibi_lsh.classroom import bench_gate

CPU_CAP = 16384  # largest n offered on a CPU: dense attention at 16k already takes seconds per head
CUDA_CAP = 65536
RESULTS_KEY = "scaling_results"  # this session's results, one entry per configuration
MAX_RESULTS = 8
MAX_CALL_S = 30.0  # a measurement predicted to take longer is skipped (and says so), keeping runs interactive

session.ensure_entry_point()
controls = session.current()
font = display.figure_font(controls.lecture)

display.page_head(
    "Scaling with the context length",
    "Exact ALiBi attention costs time proportional to n^2. The approximation draws R random block partitions per "
    "head and makes one pass per query over the union of its R blocks, each key weighted by the number of those "
    "blocks that hold it (the same result as R block attentions merged); the union spans about H_R/m keys "
    "(H_R = 1 + 1/2 + ... + 1/R), so its time grows like n (slope 1 on the log-log chart), and its error does not "
    "grow with n. The page opens with a stored measurement; **Run on this server** measures again here.",
    controls.lecture,
)

try:
    from alibi_lsh.bench import BenchConfig, fit_loglog_slopes, run_benchmark
except ImportError as error:
    st.error(f"The benchmark module alibi_lsh.bench is not available ({error}); this page needs it.")
    st.stop()


def show_results(frame, name: str, cases: list[str]) -> None:
    """The time and error panels of ``cases`` in a benchmark frame, with its CSV."""
    if not cases:
        st.info("Pick at least one method to draw.")
        return
    display.by_screen(  # a phone gets the two panels one under the other, the legend under them
        name,
        lambda: display.show_altair(cache.scaling_spec(frame, tuple(cases), font), name),
        lambda: display.show_altair(stack_panels(cache.scaling_spec(frame, tuple(cases), font)), f"{name}_phone"),
    )
    display.csv_download(lambda: frame, name)


# --- the stored measurement, drawn at once ---------------------------------------------------
stored = {device: cache.stored_results(device) for device in stored_bench.DEVICES}
stored = {device: results for device, results in stored.items() if results is not None}
if stored:
    shown_device = next(iter(stored))
    if len(stored) > 1:
        shown_device = st.radio("Stored results", list(stored), key="scale_stored_device", horizontal=True)
    results = stored[shown_device]
    labels = list(dict.fromkeys(results.frame["label"]))
    picked = st.multiselect(
        "Methods",
        labels,
        default=[c for c in stored_bench.DEFAULT_CASES if c in labels],
        key=f"scale_cases_{shown_device}",
    )
    show_results(results.frame, f"scaling_stored_{shown_device}", picked)
    st.caption(
        f"Stored results ({shown_device}): measured on {results.machine}, torch {results.torch}, "
        f"{results.created}, with `{results.command}`. "
        f"{results.notes}"
    )
else:
    st.info("No stored results ship with this installation; run a measurement below.")

# --- a fresh measurement on this server ------------------------------------------------------
st.subheader("Run on this server")
limits = bench_gate.caps()
if limits.max_n is not None:
    st.caption(
        f"On a shared server one measurement runs at a time, with n up to {limits.max_n}, the dense bias up to "
        f"{limits.max_dense_bytes / 2**30:.0f} GiB and {limits.threads} CPU thread, so that the rest of the class "
        f"keeps its pages. An instructor lifts these caps by starting the server with "
        f"`{bench_gate.INSTRUCTOR_ENV}=1` (`python -m alibi_lsh.classroom.serve --instructor`). A run here also "
        "yields the CPU to the class's pages, so on a busy server its times include waiting."
    )
running_since = bench_gate.busy_since()
if running_since is not None:
    st.info(
        "Busy: another visitor's measurement is running on this server; the stored results above stay. "
        "Press Run again when it has finished.",
        icon=":material/hourglass_top:",
    )
devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
c1, c2, c3 = st.columns(3)
device = c1.selectbox("Device", devices, key="scale_device", help="CUDA appears when a GPU is available.")
cap_max = CUDA_CAP if device == "cuda" else CPU_CAP
if limits.max_n is not None:
    cap_max = min(cap_max, limits.max_n)
caps = [2**k for k in range(9, 17) if 2**k <= cap_max]
n_cap = c2.select_slider("Largest n", caps, value=min(CPU_CAP, cap_max), key=f"scale_cap_{device}")
repeat = c3.select_slider("Repeats (median)", [1, 2, 3, 5], value=2, key="scale_repeat")
c4, c5, c6 = st.columns(3)
methods = c4.multiselect(
    "Methods",
    ["dense", "flex", "window", "lsh"],
    default=["dense", "window", "lsh"],
    key="scale_methods",
    help="dense = exact ALiBi; flex = torch flex attention (if supported).",
)
samples = c5.multiselect("Samples R (lsh)", [1, 4, 16, 64], default=[4, 16], key="scale_samples")
schemes = c6.multiselect("Schemes (lsh)", ["binning", "cuts", "qmc"], default=["binning"], key="scale_schemes")
c7, c8 = st.columns(2)
max_threads = min(os.cpu_count() or 1, limits.threads or os.cpu_count() or 1)
threads = c7.slider(
    "CPU threads",
    1,
    max(2, max_threads),  # a slider needs two values; more than the cap is refused with a message
    max_threads,
    key="scale_threads",
    help="Threads for this run only; the other pages use one thread per computation.",
)
measure_matmul = c8.toggle(
    "Measure the matmul peak",
    value=False,
    key="scale_matmul",
    help="Adds the GFLOP/s of a large matmul (and an efficiency column); takes several seconds on a CPU.",
)

n_values = tuple(2**k for k in range(8, 17) if 2**k <= n_cap)
if not methods or ("lsh" in methods and (not samples or not schemes)):
    st.info("Pick at least one method (and for lsh at least one R and one scheme).")
    st.stop()
config = BenchConfig(
    n_values=n_values,
    samples=tuple(sorted(samples)) or (4,),
    schemes=tuple(schemes) or ("binning",),
    methods=tuple(methods),
    heads=controls.heads if controls.slope_mode == "alibi" else 8,
    device=device,
    repeat=repeat,
    seed=controls.seed,
    threads=threads if device == "cpu" else None,
    measure_matmul=measure_matmul,
    max_call_s=MAX_CALL_S,
)
key = repr(dataclasses.astuple(config))
runs: dict = st.session_state.setdefault(RESULTS_KEY, {})
st.caption(
    f"n = {', '.join(map(str, n_values))}; H = {config.heads} heads, d = {config.dim}, {device}, "
    f"{repeat} repeat(s), median time. Measurements predicted to take over {MAX_CALL_S:g} s are skipped."
)

if st.button("Run", type="primary", icon=":material/play_arrow:", key="scale_run"):
    refusal = limits.refusal(n_values, config.heads, config.methods, threads if device == "cpu" else 1)
    if refusal:
        st.error(f"Not run: {refusal}. Pick a smaller largest n, fewer threads or no dense method.")
        st.stop()
    bar = st.progress(0.0, text="Waiting for the server...")

    def progress(done: int, total: int, label: str) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=f"{done}/{total}: {label}")

    try:
        with bench_gate.exclusive_run(), bench_gate.yielding_cpu(limits.max_n is not None):
            frame = run_benchmark(config, progress=progress)
    except bench_gate.Busy as busy:
        bar.empty()
        st.warning(f"Busy: {busy}. The stored results above stay; press Run again when it has finished.")
        st.stop()
    except (ValueError, RuntimeError) as error:
        display.error_box(error)
        st.stop()
    bar.empty()
    # The frame's attrs (machine, config, matmul GFLOP/s, possibly NaN) would travel with every table
    # and chart as JSON metadata, and NaN is not valid JSON in the browser: keep them apart.
    machine = frame.attrs.get("machine", "")
    frame = frame.copy()
    frame.attrs = {}
    runs[key] = (frame, machine)
    while len(runs) > MAX_RESULTS:  # keep this session's memory bounded
        runs.pop(next(iter(runs)))

if key not in runs:
    st.info("Press **Run** to measure this configuration (results are kept for this session, per configuration).")
    st.stop()

frame, machine = runs[key]
if machine:
    st.caption(f"Measured on: {machine}")
show_results(frame, "scaling_measurements", list(dict.fromkeys(frame["label"])))
ok = frame[frame["status"] == "ok"]
st.subheader("Fitted log-log slopes of time against n")
st.markdown("Slope 2 means quadratic in n (dense attention), slope 1 linear (blocks, window).")
st.dataframe(fit_loglog_slopes(ok), hide_index=True, width="stretch")
skipped = frame[frame["status"] != "ok"]
if len(skipped):
    st.warning(f"{len(skipped)} measurement(s) skipped; see the status column.")
st.subheader("All measurements")
st.dataframe(frame, hide_index=True, width="stretch")

display.show_code(run_benchmark, lecture=controls.lecture)
