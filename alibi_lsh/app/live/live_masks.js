// The live figures: one sampled mask, the mean of R masks, exp(-m|i-j|) and their difference,
// computed and drawn in the browser. This file is appended to blocks.js (one ES module, served by
// Streamlit as a custom component v2); the Python wrapper is alibi_lsh/app/live/component.py.
//
// Dragging R, the slope or the seed redraws on the next animation frame without asking the
// server; only when a control is let go does the component report its settings and the max-norm
// error of the mean it draws (state value "view"), so the server can show exact numbers for them.
// A page may take the report over as its own settings: it then sends them back, and the figure,
// which draws them already, carries on instead of starting over.

const PANELS = ["sample", "mean", "kernel", "error"];
const REPORT_DELAY_MS = 250; // coalesces key repeats and quick successive releases into one rerun

// ---- samples and their running mean ----------------------------------------------------------

// R's slider runs on a log2 scale (eighths of an octave), so that a drag reaches 1, 2, 4 and 8 as
// easily as 256 and 512: the value is log2(R) and R the nearest integer to 2^value.
function samplesAt(sliderValue, maxSamples) {
  return Math.min(maxSamples, Math.max(1, Math.round(2 ** Number(sliderValue))));
}


/**
 * The raw draws of one (n, scheme, seed, head), grown on demand: the points (u1, u2) of binning
 * and qmc (independent of n and of the slope) or the cut words of positions 0 .. n-2. A slope
 * change only re-reads them, so dragging the slope never runs Philox.
 */
export class SampleDraws {
  constructor(n, scheme, seed, head) {
    this.n = n;
    this.scheme = scheme;
    this.head = head;
    this.key = seedKey(seed);
    this.count = 0;
    this.values = new Float64Array(0); // points (2 per sample) ...
    this.words = new Uint32Array(0); // ... or cut words (n - 1 per sample)
    this.scratch = new Uint32Array(4);
  }

  ensure(count) {
    if (count <= this.count) return;
    const capacity = Math.max(count, 2 * this.count);
    const gaps = Math.max(this.n - 1, 0);
    if (this.scheme === "cuts") {
      const words = new Uint32Array(capacity * gaps);
      words.set(this.words.subarray(0, this.count * gaps));
      for (let r = this.count; r < capacity; r++) cutWords(this.key, this.head, r, this.n, words.subarray(r * gaps, (r + 1) * gaps));
      this.words = words;
    } else {
      const values = new Float64Array(2 * capacity);
      values.set(this.values.subarray(0, 2 * this.count));
      for (let r = this.count; r < capacity; r++) {
        const point = this.scheme === "qmc" ? qmcPoint(this.key, this.head, r, this.scratch) : binningPoint(this.key, this.head, r, this.scratch);
        values[2 * r] = point[0];
        values[2 * r + 1] = point[1];
      }
      this.values = values;
    }
    this.count = capacity;
  }

  /** Block starts of sample r for slope m, plus the draw that made them (W and s, or null). */
  blocks(r, slope, thresholds) {
    const n = this.n;
    if (slope === 0) return { starts: [0], width: null, shift: null };
    if (this.scheme === "cuts") {
      const gaps = n - 1;
      const starts = [0];
      for (let i = 0; i < gaps; i++) {
        if (isCut(this.key, this.head, r, i, this.words[r * gaps + i], thresholds, this.scratch)) starts.push(i + 1);
      }
      return { starts, width: null, shift: null };
    }
    const [width, shift] = widthAndShift(slope, this.values[2 * r], this.values[2 * r + 1]);
    return { starts: binningStarts(n, width, shift), width, shift };
  }
}

/**
 * Counts of "i and j share a block" over the masks included so far, kept as a 2-D difference
 * array: a block [a, b) adds +1 at (a, a) and (b, b) and -1 at (a, b) and (b, a), so adding or
 * removing a mask costs O(blocks) and two running sums give all n^2 counts (as alibi_lsh.masks).
 */
export class MaskCounts {
  constructor(n) {
    this.n = n;
    this.side = n + 1;
    this.corners = new Int32Array(this.side * this.side);
    this.counts = new Int32Array(n * n);
    this.included = 0;
  }

  clear() {
    this.corners.fill(0);
    this.included = 0;
  }

  /** Add (sign = +1) or remove (sign = -1) the mask of one partition given by its block starts. */
  apply(starts, sign) {
    const { corners, side, n } = this;
    for (let b = 0; b < starts.length; b++) {
      const first = starts[b];
      const end = b + 1 < starts.length ? starts[b + 1] : n;
      corners[first * side + first] += sign;
      corners[end * side + end] += sign;
      corners[first * side + end] -= sign;
      corners[end * side + first] -= sign;
    }
    this.included += sign;
  }

  /** The n x n counts (row-major Int32Array): inclusive 2-D running sums of the corners. */
  update() {
    const { corners, counts, side, n } = this;
    for (let i = 0; i < n; i++) {
      let run = 0;
      const row = i * n;
      const above = row - n;
      for (let j = 0; j < n; j++) {
        run += corners[i * side + j];
        counts[row + j] = i > 0 ? run + counts[above + j] : run;
      }
    }
    return counts;
  }
}

// ---- colours ---------------------------------------------------------------------------------

/** 256 RGBA colours (packed little-endian for a Uint32Array view of ImageData) from plotly-style stops. */
export function colourTable(stops) {
  const rgb = stops.map(([at, hex]) => [at, parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)]);
  const table = new Uint32Array(256);
  for (let k = 0; k < 256; k++) {
    const t = k / 255;
    let s = 1;
    while (s < rgb.length - 1 && rgb[s][0] < t) s++;
    const [a0, r0, g0, b0] = rgb[s - 1];
    const [a1, r1, g1, b1] = rgb[s];
    const f = a1 > a0 ? Math.min(Math.max((t - a0) / (a1 - a0), 0), 1) : 0;
    const mix = (x, y) => Math.round(x + f * (y - x));
    table[k] = (255 << 24) | (mix(b0, b1) << 16) | (mix(g0, g1) << 8) | mix(r0, r1);
  }
  return table;
}

function gradientCss(stops) {
  return `linear-gradient(to right, ${stops.map(([at, hex]) => `${hex} ${(100 * at).toFixed(1)}%`).join(", ")})`;
}

/** One n x n raster: an ImageData filled through a Uint32 view, kept in an n x n canvas. */
class Raster {
  constructor(n) {
    this.canvas = document.createElement("canvas");
    this.canvas.width = n;
    this.canvas.height = n;
    this.context = this.canvas.getContext("2d");
    this.image = this.context.createImageData(n, n);
    this.pixels = new Uint32Array(this.image.data.buffer);
  }

  commit() {
    this.context.putImageData(this.image, 0, 0);
  }
}

// ---- the component ---------------------------------------------------------------------------

function formatSlope(m) {
  if (m === 0) return "0";
  return m >= 0.01 ? m.toPrecision(3).replace(/\.?0+$/, "") : m.toExponential(2);
}

function signed(x) {
  return `${x < 0 ? "−" : "+"}${Math.abs(x).toFixed(4)}`;
}

function isSeedText(text, maxSeed) {
  return /^\d{1,19}$/.test(text) && BigInt(text) <= maxSeed;
}

const SETTINGS = ["n", "slope", "samples", "scheme", "seed", "head"];

function sameSettings(a, b) {
  return SETTINGS.every((name) => String(a[name]) === String(b[name]));
}

export class LiveMasks {
  constructor(root) {
    this.root = root;
    this.stats = { frames: 0, drawMs: [] }; // read by the browser test (frame rate)
    this.ui = {
      samples: root.querySelector('[data-control="samples"]'),
      slope: root.querySelector('[data-control="slope"]'),
      seed: root.querySelector('[data-control="seed"]'),
      seedText: root.querySelector('[data-control="seed-text"]'),
      head: root.querySelector('[data-control="head"]'),
      step: root.querySelector('[data-control="step"]'),
      schemes: [...root.querySelectorAll("[data-scheme]")],
      tabs: [...root.querySelectorAll("[data-show]")],
      panels: Object.fromEntries(PANELS.map((name) => [name, root.querySelector(`[data-panel="${name}"]`)])),
      out: Object.fromEntries([...root.querySelectorAll("[data-out]")].map((e) => [e.dataset.out, e])),
    };
    this.shown = "mean"; // the panel shown when the layout has room for one only
    this.frame = 0;
    this.reportTimer = 0;
    this.reportCount = 0;
    this.reported = []; // the settings reported since the server last sent new ones
    this.bind();
    this.resizer = new ResizeObserver(() => this.layout());
    this.resizer.observe(root);
  }

  // -- data from the server and what the component reports back --

  receive(data, setStateValue) {
    this.setStateValue = setStateValue;
    this.reportLayout();
    this.options = data;
    this.root.style.setProperty("--alibi-live-font-scale", data.lecture ? "1.35" : "1");
    this.root.toggleAttribute("data-controls-beside", Boolean(data.controls_beside));
    for (const bar of this.root.querySelectorAll('[data-bar="unit"] i')) bar.style.background = gradientCss(data.unit_colors);
    for (const bar of this.root.querySelectorAll('[data-bar="error"] i')) bar.style.background = gradientCss(data.error_colors);
    this.unitColours = colourTable(data.unit_colors);
    this.errorColours = colourTable(data.error_colors);
    this.ui.out["error-low"].textContent = `−${data.error_range}`;
    this.ui.out["error-high"].textContent = `+${data.error_range}`;
    this.ui.samples.max = String(Math.ceil(8 * Math.log2(data.max_samples)) / 8); // the top step reaches the cap
    this.ui.slope.min = String(data.slope_slider_min ?? -10);
    this.maxSeed = BigInt(data.max_seed ?? MAX_SEED);
    this.ui.seedText.setAttribute("aria-label", `Seed (any integer 0 .. ${this.maxSeed})`);
    this.ui.out.heads.textContent = `ALiBi head (of ${data.heads.length})`;
    this.ui.head.replaceChildren(
      ...data.heads.map((m, h) => new Option(`${h + 1}: m = ${formatSlope(m)}`, String(h))),
      new Option("custom slope", "custom"),
    );
    if (data.basis !== this.basis) {
      // New settings from the server (first mount, a page control moved, or the page took over
      // what this figure reported): they replace the local ones, unless this is a remount and the
      // server still holds what was last reported.
      const start = data.view ?? data;
      const incoming = { n: data.n, slope: start.slope, samples: start.samples, scheme: start.scheme, seed: String(start.seed), head: start.head };
      const followed = this.settings && this.reported.some((sent) => sameSettings(sent, incoming));
      this.basis = data.basis;
      this.reported = [];
      if (!followed) {
        this.settings = incoming;
        this.draws = null;
        this.counts = null;
        this.rasters = null;
      } else if (!sameSettings(this.settings, incoming)) {
        // The server took over an earlier report, and the reader has moved on since: keep the
        // picture, and report it again against the new settings (a report for the old ones is stale).
        this.report();
      }
    }
    this.syncControls();
    this.request({ draws: true });
  }

  report() {
    clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      const s = this.settings;
      this.reported.push({ ...s });
      this.reportCount += 1;
      this.setStateValue?.("view", {
        basis: this.basis,
        // Every report differs from the last, so that the same settings reported again (after the
        // page moved away from them) still reach the server as news.
        report: `${Date.now()}-${this.reportCount}`,
        n: s.n,
        slope: s.slope,
        samples: s.samples,
        scheme: s.scheme,
        seed: s.seed,
        head: s.head,
        max_norm_error: this.maxError,
      });
    }, REPORT_DELAY_MS);
  }

  /** Tell the server when the width calls for a phone's layout (one panel at a time) or no longer
   *  does: it then lays out its own figures for a narrow column. Other changes cost no rerun. */
  reportLayout() {
    const narrow = this.root.dataset.layout === "single";
    if (!this.setStateValue || !this.measured || narrow === (this.reportedNarrow ?? false)) return;
    this.reportedNarrow = narrow;
    this.setStateValue("layout", this.root.dataset.layout);
  }

  // -- controls --

  bind() {
    const { ui } = this;
    const on = (element, type, handler) => element.addEventListener(type, handler);
    on(ui.samples, "input", () => this.change({ samples: samplesAt(ui.samples.value, this.options.max_samples) }, { samples: true }));
    on(ui.slope, "input", () => {
      // A dragged slope is no ALiBi head's: its masks use the page's head index for a custom slope,
      // if it has one (the app's: 0), so that the page can hold these very masks.
      const head = this.options.custom_head ?? this.settings.head;
      this.change({ slope: 2 ** Number(ui.slope.value), head }, head === this.settings.head ? { slope: true } : { draws: true });
    });
    on(ui.seed, "input", () => this.change({ seed: ui.seed.value }, { draws: true }));
    on(ui.seedText, "change", () => {
      const text = ui.seedText.value.trim();
      if (!isSeedText(text, this.maxSeed)) {
        const top = this.maxSeed === MAX_SEED ? "2^63 - 1" : this.maxSeed === 2n ** 53n - 1n ? "2^53 - 1" : String(this.maxSeed);
        this.showError(`seed must be an integer from 0 to ${top}; keeping seed ${this.settings.seed}`);
        ui.seedText.value = this.settings.seed;
        return;
      }
      this.change({ seed: BigInt(text).toString() }, { draws: true });
      this.report();
    });
    on(ui.head, "change", () => {
      if (ui.head.value === "custom") return;
      const head = Number(ui.head.value);
      this.change({ head, slope: this.options.heads[head] }, { draws: true });
      this.report();
    });
    for (const button of ui.schemes) {
      on(button, "click", () => {
        this.change({ scheme: button.dataset.scheme }, { draws: true });
        this.report();
      });
    }
    for (const slider of [ui.samples, ui.slope, ui.seed]) on(slider, "change", () => this.report());
    // A slider or menu set with the mouse or a finger gives the keyboard back to the page, so that a
    // presenter's remote (PageDown, the arrow keys) moves the page's own controls again instead of
    // this one (Streamlit ignores its key shortcuts while an input has the focus). Controls reached
    // with Tab keep the focus, for keyboard users.
    for (const control of [ui.samples, ui.slope, ui.seed]) on(control, "pointerup", () => control.blur());
    on(ui.head, "pointerdown", () => (this.headByPointer = true));
    on(ui.head, "keydown", () => (this.headByPointer = false));
    on(ui.head, "change", () => this.headByPointer && ui.head.blur());
    for (const tab of ui.tabs) on(tab, "click", () => this.showPanel(tab.dataset.show));
    on(ui.step, "click", () => this.advanceStep());
    for (const name of PANELS) {
      const canvas = ui.panels[name].querySelector("canvas");
      on(canvas, "pointermove", (event) => this.readout(name, canvas, event));
      on(canvas, "pointerdown", (event) => this.readout(name, canvas, event));
      on(canvas, "click", (event) => this.follow(canvas, event));
    }
  }

  change(values, what) {
    this.stepping = null; // a new setting abandons a mask being made
    Object.assign(this.settings, values);
    this.showError("");
    this.syncControls();
    this.request(what);
  }

  syncControls() {
    const { ui, settings } = this;
    // Keep the thumb where it is if it already means this R: between 1 and 2 several eighths round
    // to the same R, and snapping back to log2(R) would undo each small step of a key or a drag.
    if (samplesAt(ui.samples.value, this.options.max_samples) !== settings.samples) {
      ui.samples.value = String(Math.log2(settings.samples));
    }
    ui.samples.setAttribute("aria-valuetext", `R = ${settings.samples}`);
    if (settings.slope > 0) ui.slope.value = String(Math.log2(settings.slope));
    else ui.slope.value = ui.slope.min;
    const seed = BigInt(settings.seed);
    ui.seed.value = String(seed <= 999n ? seed : 999n);
    if (document.activeElement !== ui.seedText) ui.seedText.value = settings.seed;
    // The menu shows the head whose slope this is (and whose index, where a dragged slope has its own).
    const alibiHead = this.options.heads.indexOf(settings.slope);
    const isHead = alibiHead >= 0 && (this.options.custom_head == null || settings.head === alibiHead);
    ui.head.value = isHead ? String(alibiHead) : "custom";
    for (const button of ui.schemes) button.setAttribute("aria-checked", String(button.dataset.scheme === settings.scheme));
    ui.out.samples.textContent = `R = ${settings.samples}`;
    ui.out.slope.textContent = `m = ${formatSlope(settings.slope)}`;
  }

  showError(message) {
    this.ui.out.error.textContent = message;
  }

  showPanel(name) {
    this.shown = name;
    this.layout();
  }

  // -- layout: four panels in a row, two by two, or one at a time with tabs on a phone --

  layout() {
    const width = this.root.clientWidth;
    if (!width) return;
    const layout = width >= 760 ? "wide" : width >= 500 ? "grid" : "single";
    this.root.dataset.layout = layout;
    this.measured = true;
    this.reportLayout();
    for (const name of PANELS) this.ui.panels[name].hidden = layout === "single" && name !== this.shown;
    for (const tab of this.ui.tabs) tab.setAttribute("aria-selected", String(tab.dataset.show === this.shown));
    this.request({});
  }

  // -- computing and drawing, at most once per animation frame --

  request(what) {
    this.dirty = { ...(this.dirty ?? {}), ...what };
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    const dirty = this.dirty ?? {};
    this.dirty = {};
    const started = performance.now();
    const { n, slope, samples, scheme, seed, head } = this.settings;
    if (!this.counts) {
      this.counts = new MaskCounts(n);
      this.rasters = Object.fromEntries(PANELS.map((name) => [name, new Raster(n)]));
      dirty.draws = true;
    }
    if (dirty.draws) this.draws = new SampleDraws(n, scheme, seed, head);
    if (dirty.draws || dirty.slope) {
      this.blocks = []; // block starts per sample, for the current slope
      this.thresholds = cutThresholds(slope);
      this.counts.clear();
      this.drawKernel(slope);
    }
    this.draws.ensure(samples);
    for (let r = this.blocks.length; r < samples; r++) this.blocks.push(this.draws.blocks(r, slope, this.thresholds));
    while (this.counts.included < samples) this.counts.apply(this.blocks[this.counts.included].starts, +1);
    while (this.counts.included > samples) this.counts.apply(this.blocks[this.counts.included - 1].starts, -1);
    this.drawMeanAndError(this.counts.update(), samples);
    this.drawSample(this.stepping ? this.stepping.block : this.blocks[samples - 1], this.stepping?.stage < this.paintedStage());
    this.blit();
    this.describe();
    this.describeStep();
    this.drawFollow();
    this.stats.frames += 1;
    this.stats.drawMs.push(performance.now() - started);
    if (this.stats.drawMs.length > 1000) this.stats.drawMs.splice(0, 500);
  }

  drawKernel(slope) {
    const { n } = this.settings;
    this.kernelByDistance = new Float64Array(n);
    for (let d = 0; d < n; d++) this.kernelByDistance[d] = Math.exp(-slope * d);
    const { pixels } = this.rasters.kernel;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) pixels[i * n + j] = this.unitColours[Math.round(255 * this.kernelByDistance[Math.abs(i - j)])];
    }
    this.rasters.kernel.commit();
  }

  drawMeanAndError(counts, samples) {
    const { n } = this.settings;
    const kernel = this.kernelByDistance;
    const meanPixels = this.rasters.mean.pixels;
    const errorPixels = this.rasters.error.pixels;
    const unit = this.unitColours;
    const colours = this.errorColours;
    const toColour = 127.5 / this.options.error_range;
    let largest = 0;
    let where = [0, 0];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const k = i * n + j;
        const mean = counts[k] / samples;
        const error = mean - kernel[i > j ? i - j : j - i];
        const size = error < 0 ? -error : error;
        if (size > largest) {
          largest = size;
          where = [i, j];
        }
        meanPixels[k] = unit[Math.round(255 * mean)];
        const level = Math.round(127.5 + error * toColour);
        errorPixels[k] = colours[level < 0 ? 0 : level > 255 ? 255 : level];
      }
    }
    this.maxError = largest;
    this.maxErrorAt = where;
    this.rasters.mean.commit();
    this.rasters.error.commit();
  }

  drawSample(blocks, blank = false) {
    const { n } = this.settings;
    const { pixels } = this.rasters.sample;
    const off = this.unitColours[0];
    const on = this.unitColours[255];
    pixels.fill(off);
    if (blank) return this.rasters.sample.commit(); // a mask being made: its blocks are not painted yet
    const { starts } = blocks;
    for (let b = 0; b < starts.length; b++) {
      const end = b + 1 < starts.length ? starts[b + 1] : n;
      for (let i = starts[b]; i < end; i++) pixels.fill(on, i * n + starts[b], i * n + end);
    }
    this.rasters.sample.commit();
  }

  /** Copy the n x n rasters onto the visible canvases at the panel's size and pixel ratio. */
  blit() {
    const ratio = window.devicePixelRatio || 1;
    for (const name of PANELS) {
      const panel = this.ui.panels[name];
      if (panel.hidden) continue;
      const canvas = panel.querySelector("canvas");
      const size = Math.max(1, Math.round(canvas.clientWidth * ratio));
      if (canvas.width !== size || canvas.height !== size) {
        canvas.width = size;
        canvas.height = size;
      }
      const context = canvas.getContext("2d");
      // Sharp squares from twice the size up; below that nearest-neighbour scaling would double
      // some rows and not others (a jagged diagonal), so interpolate.
      context.imageSmoothingEnabled = size < 2 * this.settings.n;
      context.drawImage(this.rasters[name].canvas, 0, 0, size, size);
    }
  }

  describe() {
    const { n, samples, scheme, head } = this.settings;
    const last = this.blocks[samples - 1];
    const blocks = last.starts.length === 1 ? "1 block" : `${last.starts.length} blocks`;
    const draw = last.width === null ? blocks : `W = ${last.width}, s = ${last.shift}`;
    this.ui.out["sample-title"].textContent = `mask r = ${samples - 1}: ${draw}`;
    this.ui.out["mean-title"].textContent = `mean of ${samples} masks`;
    const [i, j] = this.maxErrorAt;
    this.ui.out.summary.innerHTML =
      `max-norm error <b>${this.maxError.toFixed(4)}</b> (at i = ${i}, j = ${j}) · the newest mask has ${blocks} · ` +
      `${scheme}, head index ${head}, seed ${this.settings.seed} · rows i and columns j run over 0 … ${n - 1}`;
  }

  readout(name, canvas, event) {
    const box = canvas.getBoundingClientRect();
    const { n, samples } = this.settings;
    const j = Math.floor(((event.clientX - box.left) / box.width) * n);
    const i = Math.floor(((event.clientY - box.top) / box.height) * n);
    if (i < 0 || j < 0 || i >= n || j >= n || !this.counts) return;
    const mean = this.counts.counts[i * n + j] / samples;
    const kernel = this.kernelByDistance[Math.abs(i - j)];
    const inSample = this.sameBlock(this.blocks[samples - 1].starts, i, j);
    this.ui.out.readout.textContent =
      `i = ${i}, j = ${j}: one mask ${inSample ? 1 : 0} · mean ${mean.toFixed(4)} · ` +
      `exp(−m·${Math.abs(i - j)}) = ${kernel.toFixed(4)} · error ${signed(mean - kernel)}`;
  }

  // -- one more mask, one stage per press: the draw (W, then s; or the cuts), the blocks, the mean --

  /** The stage at which the new mask's blocks are painted: after W and s (binning), after the cuts. */
  paintedStage() {
    return this.stepping?.block.width === null ? 2 : 3;
  }

  advanceStep() {
    const { samples, slope } = this.settings;
    if (samples >= this.options.max_samples) return;
    if (!this.stepping) {
      this.draws.ensure(samples + 1);
      this.stepping = { stage: 1, block: this.draws.blocks(samples, slope, this.thresholds) };
    } else if (this.stepping.stage < this.paintedStage()) {
      this.stepping.stage += 1;
    } else {
      this.change({ samples: samples + 1 }, { samples: true }); // into the mean: R + 1, as a drag would
      this.report();
      return;
    }
    this.request({});
  }

  describeStep() {
    const { ui } = this;
    const atCap = this.settings.samples >= this.options.max_samples;
    ui.step.disabled = atCap && !this.stepping;
    const step = this.stepping;
    if (!step) {
      ui.step.textContent = this.settings.scheme === "cuts" ? "Step: cut the gaps" : "Step: draw W";
      return;
    }
    const r = this.settings.samples;
    const { width, shift, starts } = step.block;
    const m = formatSlope(this.settings.slope);
    const title = this.ui.out["sample-title"];
    if (width === null) {
      title.textContent = `mask r = ${r}: ${starts.length - 1} gaps cut, each with probability 1 − exp(−m), m = ${m}`;
    } else if (step.stage === 1) {
      title.textContent = `mask r = ${r}: W = ${width} drawn from π(W) = W q^(W−1) (1−q)²`;
    } else {
      title.textContent = `mask r = ${r}: W = ${width}, then s = ${shift} drawn uniform in 0 … ${width - 1}`;
    }
    if (step.stage === this.paintedStage()) title.textContent += " · blocks painted";
    const next = step.stage < this.paintedStage() - 1 ? "Step: draw s" : step.stage < this.paintedStage() ? "Step: paint the blocks" : `Step: add to the mean (R = ${r + 1})`;
    ui.step.textContent = next;
  }

  // -- one entry followed as R grows: Seeing Theory's running coin-flip fraction --

  follow(canvas, event) {
    const box = canvas.getBoundingClientRect();
    const { n } = this.settings;
    const j = Math.floor(((event.clientX - box.left) / box.width) * n);
    const i = Math.floor(((event.clientY - box.top) / box.height) * n);
    if (i < 0 || j < 0 || i >= n || j >= n) return;
    this.followed = [i, j];
    this.drawFollow();
  }

  /** The followed entry's running fraction: in how many of the first r masks i and j share a block, over r. */
  followSeries() {
    if (!this.followed || !this.blocks) return null;
    const [i, j] = this.followed;
    const { n, samples } = this.settings;
    if (i >= n || j >= n) return null;
    const fractions = [];
    let shared = 0;
    for (let r = 0; r < samples; r++) {
      shared += this.sameBlock(this.blocks[r].starts, i, j) ? 1 : 0;
      fractions.push(shared / (r + 1));
    }
    return { i, j, kernel: this.kernelByDistance[Math.abs(i - j)], fractions };
  }

  drawFollow() {
    const figure = this.ui.out.follow;
    const series = this.followSeries();
    figure.hidden = series === null;
    if (series === null) return;
    const { i, j, kernel, fractions } = series;
    const samples = fractions.length;
    const last = fractions[samples - 1];
    this.ui.out["follow-title"].textContent =
      `entry (i, j) = (${i}, ${j}): share of the first r masks (r on a log axis) in which i and j share a block, now ${last.toFixed(3)} ` +
      `at r = ${samples}; dashed: exp(−m·${Math.abs(i - j)}) = ${kernel.toFixed(3)}; band: ± 2 sd = 2·sqrt(k(1−k)/r)`;
    const canvas = figure.querySelector("canvas");
    const fitted = fitCanvas(canvas);
    if (!fitted) return;
    const { g, width, height } = fitted;
    const font = 13 * Number(getComputedStyle(this.root).getPropertyValue("--alibi-live-font-scale") || 1);
    const left = 3 * font;
    const right = width - font;
    const top = font * 0.6;
    const bottom = height - 1.6 * font;
    const span = Math.max(1, Math.log2(samples));
    const x = (r) => left + ((samples === 1 ? 0 : Math.log2(r)) / span) * (right - left); // r on a log2 axis
    const y = (f) => bottom - f * (bottom - top);
    // The band k +- 2 sqrt(k (1 - k) / r), clipped to [0, 1].
    const sd = (r) => 2 * Math.sqrt((kernel * (1 - kernel)) / r);
    g.fillStyle = "rgba(31, 119, 180, 0.18)";
    g.beginPath();
    for (let r = 1; r <= samples; r++) g.lineTo(x(r), y(Math.min(1, kernel + sd(r))));
    for (let r = samples; r >= 1; r--) g.lineTo(x(r), y(Math.max(0, kernel - sd(r))));
    g.closePath();
    g.fill();
    g.strokeStyle = "#c8ccd2";
    g.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      g.beginPath();
      g.moveTo(left, y(f));
      g.lineTo(right, y(f));
      g.stroke();
    }
    g.strokeStyle = "#222";
    g.setLineDash([6, 4]);
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(left, y(kernel));
    g.lineTo(right, y(kernel));
    g.stroke();
    g.setLineDash([]);
    g.strokeStyle = "#1f77b4";
    g.lineWidth = 2.5;
    g.beginPath();
    fractions.forEach((f, k) => g.lineTo(x(k + 1), y(f)));
    g.stroke();
    g.fillStyle = "#262730";
    g.font = `${font}px sans-serif`;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const f of [0, 0.5, 1]) g.fillText(String(f), left - 0.4 * font, y(f));
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let r = 1; r <= samples; r *= 2) g.fillText(String(r), x(r), bottom + 0.3 * font);
  }

  sameBlock(starts, i, j) {
    let block = 0;
    const lower = Math.min(i, j);
    const upper = Math.max(i, j);
    while (block + 1 < starts.length && starts[block + 1] <= lower) block++;
    return block + 1 >= starts.length || starts[block + 1] > upper;
  }

  /** What the browser test compares with the library: settings, counts and the blocks of every sample. */
  snapshot() {
    return {
      settings: { ...this.settings },
      counts: Array.from(this.counts.counts),
      starts: this.blocks.slice(0, this.settings.samples).map((b) => b.starts),
      maxError: this.maxError,
    };
  }

  dispose() {
    cancelAnimationFrame(this.frame);
    clearTimeout(this.reportTimer);
    this.resizer.disconnect();
  }
}

const instances = new WeakMap();

/** Streamlit's entry point: called on mount and again whenever the data from Python changes. */
export default function mountLiveMasks({ data, parentElement, setStateValue }) {
  const root = parentElement.querySelector(".alibi-live");
  let live = instances.get(root);
  if (!live) {
    live = new LiveMasks(root);
    instances.set(root, live);
    root.liveMasks = live; // a handle for the browser test
  }
  live.receive(data, setStateValue);
  return () => {
    live.dispose();
    instances.delete(root);
  };
}
