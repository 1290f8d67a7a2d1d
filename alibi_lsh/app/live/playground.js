// The cost playground: n, the slope m, R and a window w (log-scale sliders) -> keys per query,
// multiply-adds and output error of exact ALiBi, the window and the random blocks, computed in the
// browser on the playground's own small example. Appended to blocks.js and estimator.js (one ES
// module); the Python wrapper and the formulas the test checks are in playground.py.
//
// The expensive part (the error curves over every w and every R = 1, 2, 4, ... for the crossings)
// depends on n, m, the score scale and causality only; dragging w or R moves a marker and
// recomputes one point, so both stay far above 30 frames per second.

const HEAD_DIM = 8; // d = d_v of the example
const EXAMPLE_HEAD = 0;
const ERROR_FLOOR = 1e-8; // the chart's floor: smaller errors are drawn on it
const ROUNDING = 1e-13; // an output error below this is float64 rounding (the method reads every key that counts)
const COST_TITLES = { keys: "keys per query", macs: "multiply-adds per query" };
const REFINE_MS = 150; // the curves are drawn in full this long after the last slider input
const COARSE_MAX_SAMPLES = 256; // the blocks' curve stops here while a slider moves
const COLOURS = { window: "#1f77b4", blocks: "#d62728", exact: "#555" };

/** Whether two settings (of settings() or the server's data) put the sliders at the same place. */
function sameSettings(a, b) {
  return a.n === b.n && a.samples === b.samples && a.window === b.window && a.scoreStd === b.scoreStd &&
    a.causal === b.causal && a.seed === b.seed && Math.abs(Math.log2(a.slope) - Math.log2(b.slope)) < 1e-9;
}

/** The slider's value (log2) as an integer >= 1. */
function powerOfTwo(value) {
  return Math.max(1, Math.round(2 ** Number(value)));
}

/** Keys per query of exact attention: n, or (n + 1) / 2 on average when causal. */
export function exactKeys(n, causal) {
  return causal ? (n + 1) / 2 : n;
}

/** Keys per query of the window |i - j| < w, averaged over the n queries. */
export function windowKeys(n, window, causal) {
  let total = 0;
  for (let i = 0; i < n; i++) total += Math.min(i, window - 1) + 1 + (causal ? 0 : Math.min(n - 1 - i, window - 1));
  return total / n;
}

/** Multiply-adds per query: q.k and the weighted sum of v per key read, plus one count per sample (blocks). */
export function multiplyAdds(keys, d, dv, samples = 0) {
  return keys * (d + dv) + samples;
}

/** The share of the positional kernel (kernel[u] = exp(-m u)) a window of w leaves out, averaged over queries. */
export function cutKernelMass(n, kernel, window, causal) {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let all = 0;
    let kept = 0;
    const end = causal ? i + 1 : n;
    for (let j = 0; j < end; j++) {
      const weight = kernel[Math.abs(i - j)];
      all += weight;
      if (Math.abs(i - j) < window) kept += weight;
    }
    total += (all - kept) / all;
  }
  return total / n;
}

/**
 * Window sizes of the error curve: 1, then every position of the w slider (eighths of an octave;
 * coarse, while a slider moves: half octaves) up to n, and n itself, so that the slider's dot lies
 * on the curve. One pass computes them all (windowOutputs): more sizes cost little.
 */
function windowSweep(n, coarse) {
  const sizes = new Set([1]);
  for (let k = 1; 2 ** (k / 8) < n; k += coarse ? 4 : 1) sizes.add(Math.round(2 ** (k / 8)));
  sizes.add(n);
  return [...sizes].sort((a, b) => a - b);
}

/**
 * The example's softmax numerators without positions: E_ij = exp(scale q_i.k_j - max_j), over the
 * keys each query may see. Every method then weighs key j by E_ij times its positional factor
 * (exp(-m|i - j|) for ALiBi and the window, c_ij / R for the blocks: exp(log(c/R))), so a drag
 * of m, w or R never recomputes a dot product.
 */
function numerators(example) {
  const { q, k, n, d, scale, causal } = example;
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const end = causal ? i + 1 : n;
    let largest = -Infinity;
    for (let j = 0; j < end; j++) {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += q[i * d + t] * k[j * d + t];
      e[i * n + j] = scale * dot;
      if (e[i * n + j] > largest) largest = e[i * n + j];
    }
    for (let j = 0; j < end; j++) e[i * n + j] = Math.exp(e[i * n + j] - largest);
  }
  return e;
}

/** out_i = sum_j w_j v_j / sum_j w_j over keys lo..hi-1, w_j = E_ij * factor[j] (scratch.factor). */
function weighRow(example, i, lo, hi, factor, out) {
  const { v, n, d, e } = example;
  let total = 0;
  const row = i * n;
  for (let t = 0; t < d; t++) out[i * d + t] = 0;
  for (let j = lo; j < hi; j++) {
    const weight = e[row + j] * factor[j];
    if (weight === 0) continue;
    total += weight;
    for (let t = 0; t < d; t++) out[i * d + t] += weight * v[j * d + t];
  }
  for (let t = 0; t < d; t++) out[i * d + t] /= total;
}

/** The window's output (keys |i - j| < w, weighted by exp(-m|i - j|)); `kernel[u]` = exp(-m u). */
function windowOutput(example, kernel, window, scratch) {
  const { n, d, causal } = example;
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - window + 1);
    const hi = Math.min(causal ? i + 1 : n, i + window);
    for (let j = lo; j < hi; j++) scratch.factor[j] = kernel[Math.abs(i - j)];
    weighRow(example, i, lo, hi, scratch.factor, out);
  }
  return out;
}

/**
 * The window's outputs for every w of `windows` (sorted) in one pass per query: keys are added in
 * order of distance, and the running weighted sum is read off when the distance reaches w - 1.
 */
function windowOutputs(example, kernel, windows) {
  const { v, n, d, e, causal } = example;
  const outs = windows.map(() => new Float64Array(n * d));
  const sum = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    sum.fill(0);
    let total = 0;
    let next = 0;
    for (let u = 0; u < n && next < windows.length; u++) {
      // the keys at distance u: i - u, and i + u unless causal (u = 0: i once)
      for (let side = 0; side < (u === 0 || causal ? 1 : 2); side++) {
        const j = side === 0 ? i - u : i + u;
        if (j < 0 || j >= n) continue;
        const weight = e[i * n + j] * kernel[u];
        total += weight;
        for (let t = 0; t < d; t++) sum[t] += weight * v[j * d + t];
      }
      for (; next < windows.length && windows[next] - 1 <= u; next++) {
        for (let t = 0; t < d; t++) outs[next][i * d + t] = sum[t] / total;
      }
    }
    for (; next < windows.length; next++) for (let t = 0; t < d; t++) outs[next][i * d + t] = sum[t] / total;
  }
  return outs;
}

/**
 * The blocks' outputs and keys per query after each of the sample counts `checkpoints` (sorted):
 * one pass over the samples per query, the counts kept as a difference array over the union.
 */
function blockOutputs(example, bounds, checkpoints, scratch) {
  const { n, d, causal } = example;
  const outs = checkpoints.map(() => new Float64Array(n * d));
  const keys = checkpoints.map(() => 0);
  const { widths, shifts } = bounds;
  const difference = scratch.counts;
  for (let i = 0; i < n; i++) {
    difference.fill(0);
    let lo = i;
    let hi = i + 1;
    let r = 0;
    // (a plain loop: a closure would keep r, lo and hi in a context object, slowing the sample loop)
    for (let c = 0; c < checkpoints.length; c++) {
      for (; r < checkpoints[c]; r++) {
        // binning: i's block is [floor((i + s) / W) W - s, + W), cut to 0 .. n
        const width = widths[r];
        const blockStart = Math.floor((i + shifts[r]) / width) * width - shifts[r];
        const first = blockStart > 0 ? blockStart : 0;
        const last = blockStart + width < n ? blockStart + width : n;
        difference[first] += 1;
        difference[last] -= 1;
        if (first < lo) lo = first;
        if (last > hi) hi = last;
      }
      const top = causal ? i + 1 : hi;
      let run = 0;
      for (let j = lo; j < top; j++) {
        run += difference[j];
        scratch.factor[j] = run; // c_ij; the 1 / R of c / R cancels in the softmax
      }
      keys[c] += top - lo;
      weighRow(example, i, lo, top, scratch.factor, outs[c]);
    }
  }
  return { outs, keys: keys.map((total) => total / n) };
}

/** log of a point's error, rounding-level errors counted as ROUNDING (two such are a tie). */
function logError(point) {
  return Math.log(Math.max(point.error, ROUNDING));
}

/**
 * The error of a curve (points sorted by cost) at `cost`, interpolated on log-log axes; null
 * outside the curve's range of costs.
 */
export function errorAt(curve, costName, cost) {
  for (let t = 1; t < curve.length; t++) {
    const a = curve[t - 1];
    const b = curve[t];
    if (cost >= a[costName] && cost <= b[costName]) {
      const f = b[costName] > a[costName] ? Math.log(cost / a[costName]) / Math.log(b[costName] / a[costName]) : 0;
      return Math.exp(logError(a) + f * (logError(b) - logError(a)));
    }
  }
  return null;
}

/**
 * Where the blocks' error curve crosses the window's at equal cost (log-log interpolation of the
 * window's curve at each blocks point), in order of cost: every crossing, since a curve of one draw
 * of the blocks can cross the window's and cross back. Returns [] when one method is better over
 * the whole range both curves share, else a list of { cost, error, samples, winnerAbove }.
 */
export function crossings(windowCurve, blockCurve, costName) {
  const found = [];
  let previous = null;
  for (const point of blockCurve) {
    const windowError = errorAt(windowCurve, costName, point[costName]);
    if (windowError === null) continue;
    const gap = logError(point) - Math.log(windowError); // < 0: the blocks are better here
    if (gap === 0) continue; // both at rounding level: no winner here
    if (previous && Math.sign(gap) !== Math.sign(previous.gap)) {
      const f = previous.gap / (previous.gap - gap);
      const cost = Math.exp(Math.log(previous.point[costName]) + f * (Math.log(point[costName]) - Math.log(previous.point[costName])));
      const error = Math.exp(logError(previous.point) + f * (logError(point) - logError(previous.point)));
      found.push({ cost, error, samples: [previous.point.samples, point.samples], winnerAbove: gap < 0 ? "blocks" : "window" });
    }
    previous = { point, gap };
  }
  return found;
}

function formatNumber(x) {
  if (x === 0) return "0";
  if (x >= 1e5) return x.toExponential(2).replace("e+", "e");
  if (x >= 100) return Math.round(x).toLocaleString("en-US");
  return x.toPrecision(3);
}

function formatError(x) {
  return x < ROUNDING ? "0 (rounding)" : x.toExponential(2);
}

function formatSlopeValue(m) {
  return m >= 0.01 ? m.toPrecision(3).replace(/\.?0+$/, "") : m.toExponential(2);
}

/** Both methods on one log-log chart: error against a cost, the current settings marked. */
class CostChart {
  constructor(canvas, costName, title) {
    this.canvas = canvas;
    this.costName = costName;
    this.title = title;
  }

  draw(model, fontScale) {
    const { canvas } = this;
    const fitted = fitCanvas(canvas);
    if (!fitted) return;
    const { g, width, height } = fitted;
    const font = Math.round(13 * fontScale); // 17 px in lecture mode: read from the back of a room
    g.font = `${font}px sans-serif`;
    const style = getComputedStyle(canvas);
    const ink = style.color || "#31333f";
    const left = 3.6 * font;
    const right = 0.8 * font;
    const top = 1.6 * font;
    const bottom = 2.8 * font;
    const name = this.costName;
    const points = [...model.windowCurve, ...model.blockCurve];
    // Zoomed on the race: from half the blocks' cheapest cost to exact's (or the blocks' dearest),
    // down to a hundredth of the blocks' smallest error. The window's curve runs on beyond: it is
    // clipped at the sides, and errors under the bottom are drawn on it ("<=").
    const blockCosts = model.blockCurve.map((p) => p[name]);
    const allCosts = points.map((p) => p[name]);
    const lowest = Math.min(Math.min(...blockCosts) / 2, model.current.window[name]); // the window's dot in view
    const xMin = Math.log10(Math.max(Math.min(...allCosts), lowest));
    const xMax = Math.log10(Math.max(model.exact[name], ...blockCosts));
    const blockErrors = model.blockCurve.map((p) => Math.max(p.error, ERROR_FLOOR));
    const yMin = Math.max(Math.floor(Math.log10(ERROR_FLOOR)), Math.floor(Math.log10(Math.min(...blockErrors))) - 2);
    // (an error just above 1, a draw worse than no attention at all, does not add a decade)
    const shown = points.filter((p) => Math.log10(p[name]) >= xMin - 1e-9);
    const yMax = Math.max(0, Math.ceil(Math.log10(Math.max(...shown.map((p) => p.error))) - 0.2));
    const floor = 10 ** yMin;
    const x = (cost) => left + ((Math.log10(cost) - xMin) / Math.max(xMax - xMin, 1e-9)) * (width - left - right);
    const y = (error) => top + ((yMax - Math.log10(Math.max(error, floor))) / (yMax - yMin)) * (height - top - bottom);
    // axes and ticks (powers of ten)
    g.strokeStyle = "rgba(128,128,128,0.35)";
    g.fillStyle = ink;
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let e = yMin; e <= yMax; e += 1) {
      g.beginPath();
      g.moveTo(left, y(10 ** e));
      g.lineTo(width - right, y(10 ** e));
      g.stroke();
      const below = e === yMin && yMin > Math.floor(Math.log10(ERROR_FLOOR)) ? "≤" : "";
      if ((e - yMin) % 2 === 0 || yMax - yMin < 6) g.fillText(`${below}1e${e}`, left - 0.3 * font, y(10 ** e));
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    // x ticks: powers of ten, and 2 and 5 times them when the range spans under two decades
    const steps = xMax - xMin < 2 ? [1, 2, 5] : [1];
    for (let e = Math.floor(xMin); e <= Math.ceil(xMax); e += 1) {
      for (const step of steps) {
        const tick = step * 10 ** e;
        if (Math.log10(tick) < xMin - 1e-9 || Math.log10(tick) > xMax + 1e-9) continue;
        g.beginPath();
        g.moveTo(x(tick), top);
        g.lineTo(x(tick), height - bottom);
        g.stroke();
        g.fillText(tick.toLocaleString("en-US"), x(tick), height - bottom + 0.3 * font);
      }
    }
    g.fillText(this.title, left + (width - left - right) / 2, height - bottom + 1.45 * font);
    g.textAlign = "left";
    g.fillText("output error (relative)", left, 0.2 * font);
    // exact: error 0 at its cost, a dashed vertical line
    g.strokeStyle = COLOURS.exact;
    g.setLineDash([4, 4]);
    g.beginPath();
    g.moveTo(x(model.exact[name]), top);
    g.lineTo(x(model.exact[name]), height - bottom);
    g.stroke();
    g.setLineDash([]);
    g.save();
    g.beginPath();
    g.rect(left, 0, width - left - right, height - bottom + 1);
    g.clip();
    for (const [curve, colour] of [
      [model.windowCurve, COLOURS.window],
      [model.blockCurve, COLOURS.blocks],
    ]) {
      g.strokeStyle = colour;
      g.lineWidth = 2;
      g.beginPath();
      curve.forEach((p, t) => (t ? g.lineTo(x(p[name]), y(p.error)) : g.moveTo(x(p[name]), y(p.error))));
      g.stroke();
    }
    for (const [point, colour] of [
      [model.current.window, COLOURS.window],
      [model.current.blocks, COLOURS.blocks],
    ]) {
      g.fillStyle = colour;
      g.beginPath();
      g.arc(x(point[name]), y(point.error), 0.42 * font, 0, 2 * Math.PI);
      g.fill();
    }
    g.strokeStyle = ink;
    g.lineWidth = 2;
    for (const crossing of model.crossings[name]) {
      g.beginPath();
      g.arc(x(crossing.cost), y(crossing.error), 0.8 * font, 0, 2 * Math.PI);
      g.stroke();
    }
    g.restore();
  }
}

export class CostPlayground {
  constructor(root) {
    this.root = root;
    this.stats = { frames: 0, drawMs: [] }; // read by the browser test (redraws, frame rate)
    this.ui = {
      controls: Object.fromEntries([...root.querySelectorAll("[data-control]")].map((e) => [e.dataset.control, e])),
      out: Object.fromEntries([...root.querySelectorAll("[data-out]")].map((e) => [e.dataset.out, e])),
    };
    this.chart = new CostChart(root.querySelector("canvas[data-chart]"), "keys", COST_TITLES.keys);
    this.costs = [...root.querySelectorAll("[data-cost]")];
    for (const choice of this.costs) {
      choice.addEventListener("change", () => {
        this.chart.costName = choice.dataset.cost;
        this.chart.title = COST_TITLES[choice.dataset.cost];
        this.request();
      });
    }
    this.frame = 0;
    this.cache = {};
    this.lastInput = -Infinity;
    this.reported = []; // the settings reported since the server last sent new ones
    this.reportCount = 0;
    for (const control of Object.values(this.ui.controls)) {
      control.addEventListener("input", () => {
        this.lastInput = performance.now();
        this.request();
      });
      // A slider let go, a score std chosen, causal switched: the page puts the settings in its URL.
      control.addEventListener("change", () => this.report());
    }
    // "draw again": the next seed of the blocks (another draw; q, k, v stay).
    root.querySelector("[data-action='redraw']").addEventListener("click", () => {
      this.seed = String(BigInt(this.seed) + 1n);
      this.request();
      this.report();
    });
    this.resizer = new ResizeObserver(() => this.request());
    this.resizer.observe(root);
  }

  receive(data, setStateValue) {
    this.setStateValue = setStateValue;
    this.options = data;
    this.root.style.setProperty("--alibi-pg-font-scale", data.lecture ? "1.3" : "1");
    const c = this.ui.controls;
    c.n.min = String(Math.log2(data.min_n));
    c.n.max = String(Math.log2(data.max_n));
    c.samples.max = String(Math.log2(data.max_samples));
    c.slope.min = String(data.min_log2_slope);
    c.slope.max = String(data.max_log2_slope);
    if (data.basis !== this.basis) {
      // New settings from the server: the page took a report over (keep what is on screen; if the
      // reader has moved on since, report that again), or something else changed them (draw them).
      const incoming = { n: data.n, slope: data.slope, samples: data.samples, window: data.window, scoreStd: data.score_std, causal: data.causal, seed: data.seed };
      const followed = this.basis !== undefined && this.reported.some((sent) => sameSettings(sent, incoming));
      this.basis = data.basis;
      this.reported = [];
      if (!followed) {
        c.n.value = String(Math.log2(data.n));
        c.slope.value = String(Math.log2(data.slope));
        c.samples.value = String(Math.log2(data.samples));
        c.window.max = String(Math.log2(data.n));
        c.window.value = String(Math.log2(data.window));
        c.scale.value = String(data.score_std);
        c.causal.checked = data.causal;
        this.seed = data.seed;
      } else if (!sameSettings(this.settings(), incoming)) {
        this.report();
      }
    }
    if (!this.example || this.example.maxN !== data.max_n) {
      const [q, k, v] = exampleTensors(data.max_n, HEAD_DIM);
      this.example = { maxN: data.max_n, q, k, v };
    }
    this.request();
  }

  /** The settings the sliders show now. */
  settings() {
    const c = this.ui.controls;
    const n = powerOfTwo(c.n.value);
    c.window.max = String(Math.log2(n));
    return {
      n,
      slope: 2 ** Number(c.slope.value),
      samples: Math.min(powerOfTwo(c.samples.value), this.options.max_samples),
      window: Math.min(powerOfTwo(c.window.value), n),
      scoreStd: Number(c.scale.value),
      causal: c.causal.checked,
      seed: this.seed,
    };
  }

  /** The random points of the blocks' first max_samples samples for ``seed`` (kept until it changes). */
  blockPoints(seed) {
    if (this.pointsSeed !== seed || this.points.length !== 2 * this.options.max_samples) {
      this.points = new Float64Array(2 * this.options.max_samples);
      const key = seedKey(seed);
      for (let r = 0; r < this.options.max_samples; r++) {
        const [u1, u2] = binningPoint(key, EXAMPLE_HEAD, r);
        this.points[2 * r] = u1;
        this.points[2 * r + 1] = u2;
      }
      this.pointsSeed = seed;
    }
    return this.points;
  }

  /** Send the sliders' settings to the page (which writes them into its URL). */
  report() {
    if (!this.setStateValue || !this.options) return;
    const s = this.settings();
    this.reported.push(s);
    this.reportCount += 1;
    this.setStateValue("settings", {
      n: s.n,
      slope: s.slope,
      samples: s.samples,
      window: s.window,
      score_std: s.scoreStd,
      causal: s.causal,
      seed: s.seed,
      report: this.reportCount, // the same settings reported twice are still a change
    });
  }

  request() {
    if (!this.frame && this.options) this.frame = requestAnimationFrame(() => this.render());
  }

  /** Widths and shifts of the first `samples` binning samples of `seed` for the slope m. */
  bounds(slope, samples, seed) {
    const points = this.blockPoints(seed);
    const widths = new Float64Array(samples);
    const shifts = new Float64Array(samples);
    for (let r = 0; r < samples; r++) [widths[r], shifts[r]] = widthAndShift(slope, points[2 * r], points[2 * r + 1]);
    return { widths, shifts };
  }

  /** The error curves and the crossings: only when n, m, the score scale, causality or the seed change. */
  curves(s, coarse) {
    const basis = `${s.n} ${s.slope} ${s.scoreStd} ${s.causal} ${s.seed}`;
    if (this.cache.basis === basis && (coarse || !this.cache.coarse)) return this.cache;
    const n = s.n;
    const d = HEAD_DIM;
    const example = {
      q: this.example.q.subarray(0, n * d),
      k: this.example.k.subarray(0, n * d),
      v: this.example.v.subarray(0, n * d),
      n,
      d,
      scale: s.scoreStd / Math.sqrt(d),
      causal: s.causal,
    };
    const examples = `${n} ${s.scoreStd} ${s.causal}`;
    if (this.cache.examples === examples) example.e = this.cache.example.e;
    else example.e = numerators(example);
    const scratch = { factor: new Float64Array(n + 1), counts: new Int32Array(n + 1) };
    const kernel = Float64Array.from({ length: n }, (_, u) => Math.exp(-s.slope * u));
    const windows = windowSweep(n, coarse);
    const windowOuts = windowOutputs(example, kernel, windows);
    const exactOut = windowOuts.at(-1); // the sweep ends at w = n: every key, exact ALiBi
    const windowCurve = windows.map((window, c) => {
      const keys = windowKeys(n, window, s.causal);
      return { window, keys, macs: multiplyAdds(keys, d, d), error: relativeError(windowOuts[c], exactOut) };
    });
    const checkpoints = [];
    // While a slider moves: R = 1, 4, 16, ..., COARSE_MAX_SAMPLES (the largest R cost most: about half
    // the redraw of an m drag at n = 256); at rest, every power of two up to max_samples.
    const largest = coarse ? Math.min(COARSE_MAX_SAMPLES, this.options.max_samples) : this.options.max_samples;
    for (let r = 1; r <= largest; r *= coarse ? 4 : 2) checkpoints.push(r);
    const bounds = this.bounds(s.slope, this.options.max_samples, s.seed);
    const blocks = blockOutputs(example, bounds, checkpoints, scratch);
    const blockCurve = checkpoints.map((samples, c) => ({
      samples,
      keys: blocks.keys[c],
      macs: multiplyAdds(blocks.keys[c], d, d, samples),
      error: relativeError(blocks.outs[c], exactOut),
    }));
    const exactKeyCount = exactKeys(n, s.causal);
    this.cache = {
      basis,
      coarse,
      examples,
      kernel,
      example,
      scratch,
      bounds,
      exactOut,
      windowCurve,
      blockCurve,
      exact: { keys: exactKeyCount, macs: multiplyAdds(exactKeyCount, d, d), error: 0 },
      crossings: { keys: crossings(windowCurve, blockCurve, "keys"), macs: crossings(windowCurve, blockCurve, "macs") },
    };
    return this.cache;
  }

  render() {
    this.frame = 0;
    const started = performance.now();
    const s = this.settings();
    // While a slider moves (an input in the last REFINE_MS), the curves take every other point and
    // the blocks' stops at COARSE_MAX_SAMPLES; once it rests, one more frame draws them in full.
    const coarse = started - this.lastInput < REFINE_MS;
    const model = this.curves(s, coarse);
    clearTimeout(this.refineTimer);
    if (model.coarse) this.refineTimer = setTimeout(() => this.request(), REFINE_MS);
    const d = HEAD_DIM;
    if (model.windowPoint?.window !== s.window) {
      const keys = windowKeys(s.n, s.window, s.causal);
      const error = relativeError(windowOutput(model.example, model.kernel, s.window, model.scratch), model.exactOut);
      model.windowPoint = { window: s.window, keys, macs: multiplyAdds(keys, d, d), error, cutMass: cutKernelMass(s.n, model.kernel, s.window, s.causal) };
    }
    if (model.blockPoint?.samples !== s.samples) {
      const result = blockOutputs(model.example, model.bounds, [s.samples], model.scratch);
      const keys = result.keys[0];
      model.blockPoint = { samples: s.samples, keys, macs: multiplyAdds(keys, d, d, s.samples), error: relativeError(result.outs[0], model.exactOut) };
    }
    model.current = { window: model.windowPoint, blocks: model.blockPoint };
    this.shown = { settings: s, model };
    this.write(s, model);
    const fontScale = this.options.lecture ? 1.3 : 1;
    this.chart.draw(model, fontScale);
    this.stats.frames += 1;
    this.stats.drawMs.push(performance.now() - started);
    if (this.stats.drawMs.length > 1000) this.stats.drawMs.splice(0, 500);
  }

  write(s, model) {
    const out = this.ui.out;
    const { window: w, blocks: b } = model.current;
    out.n.textContent = String(s.n);
    out.slope.textContent = formatSlopeValue(s.slope);
    out.samples.textContent = String(s.samples);
    out.window.textContent = String(s.window);
    out.seed.textContent = s.seed;
    out["exact-keys"].textContent = formatNumber(model.exact.keys);
    out["exact-macs"].textContent = formatNumber(model.exact.macs);
    out["window-keys"].textContent = formatNumber(w.keys);
    out["window-macs"].textContent = formatNumber(w.macs);
    out["window-error"].textContent = formatError(w.error);
    // A non-breaking hyphen keeps the exponent on the number's line in a narrow column.
    out["window-cut"].textContent = `kernel mass cut off: ${w.cutMass.toExponential(2).replace("-", "\u2011")}`;
    out["blocks-keys"].textContent = formatNumber(b.keys);
    out["blocks-macs"].textContent = formatNumber(b.macs);
    out["blocks-error"].textContent = formatError(b.error);
    const harmonic = Array.from({ length: s.samples }, (_, r) => 1 / (r + 1)).reduce((a, x) => a + x, 0);
    const sides = s.causal ? "" : " each side";
    out["blocks-reach"].textContent = `union of ${s.samples} blocks; reach about H_R / m = ${formatNumber(harmonic / s.slope)}${sides}`;
    out.verdict.textContent = this.verdict(s, model);
  }

  /** The sentences under the charts, from the numbers drawn. */
  verdict(s, model) {
    const { window: w, blocks: b } = model.current;
    const range = (name, unit) => {
      const found = model.crossings[name];
      if (found.length === 0) {
        const compared = model.blockCurve.filter((p) => errorAt(model.windowCurve, name, p[name]) !== null);
        const gaps = compared.map((p) => logError(p) - Math.log(errorAt(model.windowCurve, name, p[name])));
        if (compared.length === 0) return `At equal ${unit}: no R of the sweep costs as little as a window of w <= n.`;
        const costs = compared.map((p) => p[name]);
        const span = `${formatNumber(Math.min(...costs))} to ${formatNumber(Math.max(...costs))} ${unit}`;
        const who = gaps.every((gap) => gap <= 0) && gaps.some((gap) => gap < 0)
          ? "the blocks beat the window"
          : gaps.every((gap) => gap >= 0) && gaps.some((gap) => gap > 0)
            ? "the window beats the blocks"
            : "the two tie at rounding level";
        return `At equal ${unit}: ${who} everywhere; crossover: none in this range (${span}).`;
      }
      if (found.length > 2) {
        const costs = found.map((crossing) => formatNumber(crossing.cost));
        return `At equal ${unit}: the curves cross ${found.length} times, at about ${costs.slice(0, -1).join(", ")} and ${costs.at(-1)} ${unit} (circled): this draw of the blocks is ahead in places, behind in others.`;
      }
      const each = found.map((crossing, t) => {
        const overtake = crossing.winnerAbove === "blocks" ? "the blocks overtake the window" : "the window overtakes the blocks";
        const back = t > 0 ? " back" : "";
        return `${overtake}${back} at about ${formatNumber(crossing.cost)} ${unit} (between R = ${crossing.samples[0]} and ${crossing.samples[1]}, error ${crossing.error.toExponential(1)})`;
      });
      return `At equal ${unit}: ${each.join(", then ")}; circled.`;
    };
    const closer = w.error < b.error ? "the window is closer" : w.error > b.error ? "the blocks are closer" : "both are as close";
    const sides = s.causal ? "causal" : "both sides";
    return [
      `Now: the window (w = ${s.window}) reads ${formatNumber(w.keys)} keys per query for an error of ${formatError(w.error)}; ` +
        `the blocks (R = ${s.samples}) read ${formatNumber(b.keys)} for ${formatError(b.error)}: ${closer} to exact.`,
      `The curves: on this example only (n = ${s.n}, m = ${formatSlopeValue(s.slope)}, score std ${s.scoreStd}, ${sides}; ` +
        `one draw of q, k, v and one of the blocks, seed ${s.seed}).`,
      range("keys", "keys per query"),
      range("macs", "multiply-adds"),
    ].join(" ");
  }

  /** What is on screen, for the browser test. */
  snapshot() {
    const { settings, model } = this.shown;
    const pick = (p) => ({ keys: p.keys, macs: p.macs, error: p.error });
    return {
      settings,
      exact: pick(model.exact),
      window: { ...pick(model.current.window), cutMass: model.current.window.cutMass },
      blocks: pick(model.current.blocks),
      crossings: model.crossings,
      verdict: this.ui.out.verdict.textContent,
    };
  }

  /** The example on screen (q, k, v of the n positions, row-major, and the scale), for the browser test. */
  exampleShown() {
    const { q, k, v, n, d, scale, causal } = this.shown.model.example;
    return { q: Array.from(q), k: Array.from(k), v: Array.from(v), n, d, scale, causal };
  }

  dispose() {
    cancelAnimationFrame(this.frame);
    clearTimeout(this.refineTimer);
    this.resizer.disconnect();
  }
}

const playgrounds = new WeakMap();

/** Streamlit's entry point: called on mount and again whenever the data from Python changes. */
export default function mountCostPlayground({ data, parentElement, setStateValue }) {
  const root = parentElement.querySelector(".alibi-pg");
  let playground = playgrounds.get(root);
  if (!playground) {
    playground = new CostPlayground(root);
    playgrounds.set(root, playground);
    root.playground = playground; // a handle for the browser test
  }
  playground.receive(data, setStateValue);
  return () => {
    playground.dispose();
    playgrounds.delete(root);
  };
}
