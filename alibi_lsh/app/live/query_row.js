// One query's attention, computed in the browser: its scores, the bias log(c_ij / R) of the R
// blocks against ALiBi's -m|i - j|, and the weights of exact ALiBi, the blocks and a window on one
// axis, with each method's output error. Appended to blocks.js and estimator.js (one ES module);
// the Python wrapper is query_row.py.
//
// The blocks of a head are drawn once for the largest R (countsRow reads the first R of them), so
// a drag of the query, the score scale, R or the window recomputes one row: three softmaxes over
// at most n keys, far below a frame's time.

const HEAD_DIM = 8; // d = d_v of the example
const QR_SCHEME = "binning";
const LOG_DECADES = 9; // the log axis shows at most this many decades below the largest weight
const QR_COLOURS = {
  scores: "#7f7f7f",
  query: "#31333f",
  exact: "#222222",
  blocks: "#d62728",
  window: "#1f77b4",
  unread: "rgba(214, 39, 40, 0.13)",
  hidden: "rgba(128, 128, 128, 0.16)",
  grid: "rgba(128, 128, 128, 0.35)",
};

/**
 * Query row i of one head for the three methods, on the blocks `bounds` (sampleBounds of the
 * head's samples; the first `samples` are used). Arrays are over the keys j = 0..n-1:
 * scores (NaN where causal hides the key), alibi (-m|i - j|), counts (c_ij, 0 outside the union),
 * bias (log(c_ij / R), -Infinity where c_ij = 0), weights and output rows of exact ALiBi, the
 * blocks and the window |i - j| < w, the output errors against exact ALiBi and the keys each reads.
 */
export function queryRow({ q, k, v, n, d, slope, scale, causal, bounds, samples, window, query }) {
  const i = query;
  const end = causal ? i + 1 : n;
  const scores = new Float64Array(n).fill(NaN);
  const alibi = new Float64Array(n).fill(NaN);
  for (let j = 0; j < end; j++) {
    let dot = 0;
    for (let t = 0; t < d; t++) dot += scale * q[i * d + t] * k[j * d + t]; // as attendRow sums it
    scores[j] = dot;
    alibi[j] = -slope * Math.abs(i - j);
  }
  const outs = { exact: new Float64Array(n * d), blocks: new Float64Array(n * d), window: new Float64Array(n * d) };
  const weights = { exact: new Float64Array(n), blocks: new Float64Array(n), window: new Float64Array(n) };
  attendRow(q, k, v, d, d, scale, i, 0, end, alibi, weights.exact, outs.exact);
  const windowLo = Math.max(0, i - window + 1);
  const windowHi = Math.min(end, i + window);
  attendRow(q, k, v, d, d, scale, i, windowLo, windowHi, alibi, weights.window, outs.window);
  const row = new Int32Array(n + 1);
  const [lo, hi] = countsRow(bounds, samples, i, causal, row);
  const counts = new Int32Array(n);
  const bias = new Float64Array(n).fill(-Infinity);
  for (let j = lo; j < hi; j++) {
    counts[j] = row[j];
    bias[j] = row[j] > 0 ? Math.log(row[j] / samples) : -Infinity;
  }
  attendRow(q, k, v, d, d, scale, i, lo, hi, bias, weights.blocks, outs.blocks);
  const out = Object.fromEntries(Object.entries(outs).map(([name, o]) => [name, o.slice(i * d, (i + 1) * d)]));
  return {
    scores,
    alibi,
    counts,
    bias,
    weights,
    out,
    errors: { blocks: relativeError(out.blocks, out.exact), window: relativeError(out.window, out.exact) },
    keys: { exact: end, blocks: hi - lo, window: windowHi - windowLo },
    union: [lo, hi],
    windowRange: [windowLo, windowHi],
  };
}

/** Round ticks for [low, high]: about `count` of them at 1, 2 or 5 times a power of ten. */
function niceTicks(low, high, count) {
  const raw = (high - low) / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + 1e-9 * step; t += step) ticks.push(Math.abs(t) < 1e-12 ? 0 : t);
  return ticks;
}

function formatTick(x) {
  if (x === 0) return "0";
  if (Math.abs(x) >= 1000 || Math.abs(x) < 0.01) return x.toExponential(0).replace("e+", "e");
  return String(Number(x.toPrecision(3)));
}

/** An output error as the legend shows it: 3 significant digits, or 2 in powers of ten below 1e-3. */
function formatError(x) {
  if (x < 1e-13) return "0"; // float64 rounding: the method read every key that counts
  return x >= 1e-3 ? String(Number(x.toPrecision(3))) : x.toExponential(1);
}

function formatSlope(m) {
  return m >= 0.01 ? String(Number(m.toPrecision(3))) : m.toExponential(2);
}

/** The three panels: keys j on a shared x axis (the same left margin, so that a key lines up). */
class RowCharts {
  constructor(canvases) {
    this.canvases = canvases; // { scores, bias, weights }
  }

  draw(s, r, fontScale, logScale) {
    const font = Math.round(13 * fontScale);
    const frame = { font, left: 3.3 * font, right: 0.6 * font, n: s.n, s, r };
    this.scores(frame);
    this.bias(frame);
    this.weights(frame, logScale);
  }

  /** Background of a panel: hidden keys (causal), keys the blocks do not read, the query, the window's edges. */
  background(f, c, top, bottom, { unread = false, edges = false } = {}) {
    const { g } = c;
    const { s, r } = f;
    const x = (j) => f.left + (j / f.n) * (c.width - f.left - f.right);
    const end = s.causal ? s.query + 1 : s.n;
    if (end < s.n) {
      g.fillStyle = QR_COLOURS.hidden;
      g.fillRect(x(end), top, x(s.n) - x(end), bottom - top);
    }
    if (unread) {
      g.fillStyle = QR_COLOURS.unread;
      const [lo, hi] = r.union;
      if (lo > 0) g.fillRect(x(0), top, x(lo) - x(0), bottom - top);
      if (hi < end) g.fillRect(x(hi), top, x(end) - x(hi), bottom - top);
    }
    g.strokeStyle = QR_COLOURS.query;
    g.lineWidth = 1;
    g.setLineDash([2, 3]);
    g.beginPath();
    g.moveTo(x(s.query + 0.5), top);
    g.lineTo(x(s.query + 0.5), bottom);
    g.stroke();
    if (edges) {
      g.strokeStyle = QR_COLOURS.window;
      g.lineWidth = 2;
      g.setLineDash([5, 4]);
      const [lo, hi] = r.windowRange;
      for (const edge of [lo, hi]) {
        if (edge <= 0 || edge >= end) continue;
        g.beginPath();
        g.moveTo(x(edge), top);
        g.lineTo(x(edge), bottom);
        g.stroke();
      }
    }
    g.setLineDash([]);
    return x;
  }

  /** y-axis ticks and grid lines, labelled in the left margin. */
  axis(f, c, ticks, y, label = formatTick) {
    const { g } = c;
    g.font = `${f.font}px sans-serif`;
    g.fillStyle = getComputedStyle(this.canvases.scores).color || "#31333f";
    g.strokeStyle = QR_COLOURS.grid;
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const t of ticks) {
      g.beginPath();
      g.moveTo(f.left, y(t));
      g.lineTo(c.width - f.right, y(t));
      g.stroke();
      g.fillText(label(t), f.left - 0.3 * f.font, y(t));
    }
  }

  scores(f) {
    const c = fitCanvas(this.canvases.scores);
    if (!c) return;
    const { g } = c;
    const top = 0.6 * f.font;
    const bottom = c.height - 0.4 * f.font;
    const finite = [...f.r.scores].filter(Number.isFinite);
    const reach = Math.max(0.5, ...finite.map(Math.abs)) * 1.08;
    const y = (value) => top + ((reach - value) / (2 * reach)) * (bottom - top);
    const x = this.background(f, c, top, bottom);
    // Two labels, as far apart as the short panel allows (the bars start from 0, drawn darker).
    const power = 10 ** Math.floor(Math.log10(reach));
    const round = [5, 2, 1].map((m) => m * power).find((t) => t <= reach);
    this.axis(f, c, [-round, round], y);
    g.strokeStyle = QR_COLOURS.query;
    g.beginPath();
    g.moveTo(f.left, y(0));
    g.lineTo(c.width - f.right, y(0));
    g.stroke();
    const width = Math.max(1, x(1) - x(0) - 1);
    f.r.scores.forEach((score, j) => {
      if (!Number.isFinite(score)) return;
      g.fillStyle = j === f.s.query ? QR_COLOURS.query : QR_COLOURS.scores;
      const y0 = y(0);
      const y1 = y(score);
      g.fillRect(x(j) + 0.5, Math.min(y0, y1), width, Math.max(Math.abs(y1 - y0), 1));
    });
  }

  bias(f) {
    const c = fitCanvas(this.canvases.bias);
    if (!c) return;
    const { g } = c;
    const { r, s } = f;
    const top = 0.6 * f.font;
    const bottom = c.height - 0.4 * f.font;
    const finiteBias = [...r.bias].filter(Number.isFinite);
    const alibi = [...r.alibi].filter(Number.isFinite);
    // Down to the lowest step of the blocks or ALiBi's line, but no lower than 3 below log(1/R):
    // weights e^-3 times the smallest step's are not worth the height.
    const floor = Math.log(1 / s.samples) - 3;
    const low = Math.max(Math.min(...finiteBias, ...alibi, -1), floor);
    const high = 0.25;
    const y = (value) => top + ((high - Math.max(value, low)) / (high - low)) * (bottom - top);
    const x = this.background(f, c, top, bottom, { unread: true, edges: true });
    this.axis(f, c, niceTicks(low, 0, 3), y);
    g.save();
    g.beginPath();
    g.rect(f.left, top, c.width - f.left - f.right, bottom - top);
    g.clip();
    // ALiBi's line through the key centres.
    g.strokeStyle = QR_COLOURS.exact;
    g.lineWidth = 2.5;
    g.beginPath();
    let started = false;
    r.alibi.forEach((value, j) => {
      if (!Number.isFinite(value)) return;
      if (started) g.lineTo(x(j + 0.5), y(value));
      else g.moveTo(x(j + 0.5), y(value));
      started = true;
    });
    g.stroke();
    // The blocks' steps: log(c_ij / R), one flat step per key of the union.
    g.strokeStyle = QR_COLOURS.blocks;
    g.lineWidth = 2.5;
    g.beginPath();
    const [lo, hi] = r.union;
    for (let j = lo; j < hi; j++) {
      if (!Number.isFinite(r.bias[j])) continue;
      if (j === lo) g.moveTo(x(j), y(r.bias[j]));
      else g.lineTo(x(j), y(r.bias[j]));
      g.lineTo(x(j + 1), y(r.bias[j]));
    }
    g.stroke();
    g.restore();
  }

  weights(f, logScale) {
    const c = fitCanvas(this.canvases.weights);
    if (!c) return;
    const { g } = c;
    const { r, s } = f;
    const top = 0.6 * f.font;
    const bottom = c.height - 1.6 * f.font;
    const all = [...r.weights.exact, ...r.weights.blocks, ...r.weights.window];
    const largest = Math.max(...all);
    let y;
    let ticks;
    let label = formatTick;
    if (logScale) {
      const smallest = Math.min(...all.filter((w) => w > 0));
      const high = Math.ceil(Math.log10(largest));
      // At least one decade: with one key read (causal, query 0) every weight is 1.
      const low = Math.min(high - 1, Math.max(Math.floor(Math.log10(smallest)), high - LOG_DECADES));
      y = (w) => top + ((high - Math.log10(Math.max(w, 10 ** low))) / (high - low)) * (bottom - top);
      const every = Math.max(1, Math.ceil((high - low) / 4));
      ticks = [];
      for (let e = high; e >= low; e -= every) ticks.push(10 ** e);
      label = (t) => `1e${Math.round(Math.log10(t))}`;
    } else {
      const high = largest * 1.08;
      y = (w) => top + ((high - w) / high) * (bottom - top);
      ticks = niceTicks(0, high, 3);
    }
    const x = this.background(f, c, top, bottom, { unread: true, edges: true });
    this.axis(f, c, ticks, y, label);
    // The key axis: a few round positions, and its name in the corner under the y labels.
    g.textAlign = "center";
    g.textBaseline = "top";
    const step = niceTicks(0, s.n, 6)[1] || s.n;
    for (let j = 0; j < s.n; j += step) g.fillText(String(j), x(j + 0.5), bottom + 0.3 * f.font);
    g.textAlign = "left";
    g.fillText("key j", 0, bottom + 0.3 * f.font);
    g.save();
    g.beginPath();
    g.rect(f.left, top - 2, c.width - f.left - f.right, bottom - top + 4);
    g.clip();
    const end = s.causal ? s.query + 1 : s.n;
    const line = (values, colour, width, dash, lo = 0, hi = end) => {
      g.strokeStyle = colour;
      g.lineWidth = width;
      g.setLineDash(dash);
      g.beginPath();
      const alone = []; // keys with no neighbour on the line (one key read): drawn as dots
      let run = 0;
      for (let j = 0; j <= end; j++) {
        const inside = j < end && j >= lo && j < hi && (!logScale || values[j] > 0);
        if (!inside) {
          if (run === 1) alone.push(j - 1);
          run = 0;
          continue;
        }
        if (run > 0) g.lineTo(x(j + 0.5), y(values[j]));
        else g.moveTo(x(j + 0.5), y(values[j]));
        run += 1;
      }
      g.stroke();
      g.fillStyle = colour;
      for (const j of alone) {
        g.beginPath();
        g.arc(x(j + 0.5), y(values[j]), width + 2, 0, 2 * Math.PI);
        g.fill();
      }
    };
    // On a linear axis a key a method does not read has weight 0 (drawn on the axis); on a log
    // axis it has none, so its line stops where the method stops reading.
    line(r.weights.exact, QR_COLOURS.exact, 4, []);
    line(r.weights.blocks, QR_COLOURS.blocks, 2.5, [], ...(logScale ? r.union : [0, end]));
    line(r.weights.window, QR_COLOURS.window, 2.5, [7, 4], ...(logScale ? r.windowRange : [0, end]));
    g.restore();
  }
}

export class QueryRowFigure {
  constructor(root) {
    this.root = root;
    this.stats = { frames: 0, drawMs: [] }; // read by the browser test (redraws, frame rate)
    this.ui = {
      controls: Object.fromEntries([...root.querySelectorAll("[data-control]")].map((e) => [e.dataset.control, e])),
      out: Object.fromEntries([...root.querySelectorAll("[data-out]")].map((e) => [e.dataset.out, e])),
    };
    const canvases = Object.fromEntries(
      [...root.querySelectorAll("[data-panel]")].map((e) => [e.dataset.panel, e.querySelector("canvas")]),
    );
    this.charts = new RowCharts(canvases);
    this.frame = 0;
    this.blocks = {};
    for (const control of Object.values(this.ui.controls)) {
      control.addEventListener("input", () => this.request());
      control.addEventListener("change", () => this.request());
    }
    this.resizer = new ResizeObserver(() => this.layout());
    this.resizer.observe(root);
  }

  receive(data) {
    this.options = data;
    this.root.style.setProperty("--alibi-qr-font-scale", data.lecture ? "1.3" : "1");
    const c = this.ui.controls;
    if (data.basis !== this.basis) {
      this.basis = data.basis;
      c.head.replaceChildren(
        ...data.slopes.map((m, h) => new Option(`${h + 1}: m = ${formatSlope(m)}`, String(h + 1))),
      );
      c.query.max = String(data.n - 1);
      c.window.max = String(data.n);
      c.samples.max = String(data.max_log2_samples);
      c.scale.max = String(data.max_score_scale);
      c.query.value = String(data.query);
      c.scale.value = String(data.score_scale);
      c.samples.value = String(Math.log2(data.samples));
      c.window.value = String(data.window);
      c.head.value = String(data.head);
      c.causal.checked = data.causal;
      const [q, k, v] = exampleTensors(data.n, HEAD_DIM);
      this.example = { q, k, v };
      this.blocks = {};
    }
    this.layout();
  }

  /** Three columns of panels and controls by width: beside (wide), above (grid), under (a phone). */
  layout() {
    const width = this.root.clientWidth;
    this.root.dataset.layout = width >= 880 ? "wide" : width >= 520 ? "grid" : "single";
    this.request();
  }

  /** The settings the controls show now. */
  settings() {
    const c = this.ui.controls;
    const o = this.options;
    const head = Number(c.head.value);
    const scoreScale = Number(c.scale.value);
    return {
      n: o.n,
      d: HEAD_DIM,
      query: Number(c.query.value),
      scoreScale,
      scale: scoreScale / Math.sqrt(HEAD_DIM),
      samples: 2 ** Number(c.samples.value),
      head,
      headIndex: head - 1, // the global head index that keys the blocks (docs/blocks.md)
      slope: o.slopes[head - 1],
      window: Number(c.window.value),
      causal: c.causal.checked,
      log: c.log.checked,
      seed: o.seed,
      scheme: QR_SCHEME,
    };
  }

  /** The head's blocks for the largest R, drawn once per head (the first R are read). */
  bounds(s) {
    const key = `${s.slope} ${s.headIndex}`;
    if (!this.blocks[key]) {
      const samples = 2 ** this.options.max_log2_samples;
      this.blocks[key] = sampleBounds(drawBlocks(s.n, s.slope, samples, QR_SCHEME, s.seed, s.headIndex), s.n);
    }
    return this.blocks[key];
  }

  request() {
    if (!this.frame && this.options) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    const started = performance.now();
    const s = this.settings();
    const r = queryRow({ ...this.example, n: s.n, d: s.d, slope: s.slope, scale: s.scale, causal: s.causal, bounds: this.bounds(s), samples: s.samples, window: s.window, query: s.query });
    this.shown = { settings: s, result: r };
    this.write(s, r);
    this.charts.draw(s, r, this.options.lecture ? 1.3 : 1, s.log);
    this.stats.frames += 1;
    this.stats.drawMs.push(performance.now() - started);
    if (this.stats.drawMs.length > 1000) this.stats.drawMs.splice(0, 500);
  }

  write(s, r) {
    const out = this.ui.out;
    out.query.textContent = String(s.query);
    out["query-title"].textContent = String(s.query);
    out.scale.textContent = s.scoreScale === 0 ? "0 (off)" : String(s.scoreScale);
    out.samples.textContent = String(s.samples);
    out.window.textContent = String(s.window);
    out["samples-legend"].textContent = String(s.samples);
    out["window-legend"].textContent = String(s.window);
    out["blocks-error"].textContent = formatError(r.errors.blocks);
    out["window-error"].textContent = formatError(r.errors.window);
    const keys = (count) => `(${count} ${count === 1 ? "key" : "keys"})`;
    out["exact-keys"].textContent = keys(r.keys.exact);
    out["blocks-keys"].textContent = keys(r.keys.blocks);
    out["window-keys"].textContent = keys(r.keys.window);
  }

  /** What is on screen, for the browser test. */
  snapshot() {
    const { settings, result: r } = this.shown;
    const list = (a) => Array.from(a, (x) => (Number.isFinite(x) ? x : null));
    const methods = (o) => Object.fromEntries(Object.entries(o).map(([name, a]) => [name, Array.from(a)]));
    return {
      settings,
      scores: list(r.scores),
      alibi: list(r.alibi),
      counts: Array.from(r.counts),
      bias: list(r.bias),
      weights: methods(r.weights),
      out: methods(r.out),
      errors: r.errors,
      keys: r.keys,
      union: r.union,
      legend: [...this.root.querySelectorAll("[data-panel='weights'] figcaption span")].map((e) => e.textContent.trim()),
    };
  }

  /** The example on screen (q, k, v of the n positions, row-major), for the browser test. */
  exampleShown() {
    const { q, k, v } = this.example;
    return { q: Array.from(q), k: Array.from(k), v: Array.from(v), n: this.options.n, d: HEAD_DIM };
  }

  dispose() {
    cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
  }
}

const figures = new WeakMap();

/** Streamlit's entry point: called on mount and again whenever the data from Python changes. */
export default function mountQueryRow({ data, parentElement }) {
  const root = parentElement.querySelector(".alibi-qr");
  let figure = figures.get(root);
  if (!figure) {
    figure = new QueryRowFigure(root);
    figures.set(root, figure);
    root.queryRow = figure; // a handle for the browser test
  }
  figure.receive(data);
  return () => {
    figure.dispose();
    figures.delete(root);
  };
}
