// The LSH estimator of ALiBi attention in JavaScript, for small n and d, beside exact ALiBi and a
// window: what alibi_lsh.lsh_alibi_attention_reference, alibi_attention and window_alibi_attention
// compute, in float64, so that the browser can show (and a test can check) the attention itself.
//
// This file is appended to blocks.js (one ES module): the blocks are those of sampleStarts, the
// documented block function, so the same (seed, head, sample) gives the library's blocks.
//
// Layout: one head at a time; q is (n, d), k is (n, d), v is (n, dv), row-major Float64Arrays.
// Queries are positions 0..n-1 (n_q = n_k); causal hides the keys after each query.

/**
 * Where each position's block starts and ends in each sample: start[r * n + i], end[r * n + i]
 * (end exclusive), from the block starts of every sample (sampleStarts' output).
 */
export function sampleBounds(startsOfSamples, n) {
  const samples = startsOfSamples.length;
  const start = new Int32Array(samples * n);
  const end = new Int32Array(samples * n);
  for (let r = 0; r < samples; r++) {
    const starts = startsOfSamples[r];
    for (let b = 0; b < starts.length; b++) {
      const first = starts[b];
      const last = b + 1 < starts.length ? starts[b + 1] : n;
      start.fill(first, r * n + first, r * n + last);
      end.fill(last, r * n + first, r * n + last);
    }
  }
  return { samples, n, start, end };
}

/** The block starts of R samples of one head (scheme, seed, global head index), as the library draws them. */
export function drawBlocks(n, slope, samples, scheme, seed, head) {
  return Array.from({ length: samples }, (_, r) => sampleStarts(n, slope, scheme, seed, head, r));
}

/**
 * Counts c_ij over the first `samples` samples for query i: written to row[j] for j in the
 * union of i's blocks, [lo, hi) (causal: hi = i + 1). Returns [lo, hi]. A difference array over
 * the union: +1 where a sample's block starts, -1 where it ends, then a running sum.
 * `row` needs n + 1 entries.
 */
export function countsRow(bounds, samples, i, causal, row) {
  const { n, start, end } = bounds;
  let lo = i;
  let hi = i + 1;
  for (let r = 0; r < samples; r++) {
    if (start[r * n + i] < lo) lo = start[r * n + i];
    if (end[r * n + i] > hi) hi = end[r * n + i];
  }
  row.fill(0, lo, hi + 1);
  for (let r = 0; r < samples; r++) {
    row[start[r * n + i]] += 1;
    row[end[r * n + i]] -= 1;
  }
  let run = 0;
  for (let j = lo; j < hi; j++) {
    run += row[j];
    row[j] = run;
  }
  return [lo, causal ? i + 1 : hi];
}

/**
 * Softmax attention of query i over keys lo..hi-1 with an additive bias (bias[j], -Infinity =
 * hidden): the weights go to weights[lo..hi-1] (zero elsewhere is the caller's business), the
 * output to out[i * dv ..]. Scores are (scale q_i) . k_j, as the library computes them.
 */
export function attendRow(q, k, v, d, dv, scale, i, lo, hi, bias, weights, out) {
  let largest = -Infinity;
  for (let j = lo; j < hi; j++) {
    if (bias[j] === -Infinity) {
      weights[j] = -Infinity;
      continue;
    }
    let dot = 0;
    for (let t = 0; t < d; t++) dot += scale * q[i * d + t] * k[j * d + t];
    weights[j] = dot + bias[j];
    if (weights[j] > largest) largest = weights[j];
  }
  let total = 0;
  for (let j = lo; j < hi; j++) {
    weights[j] = weights[j] === -Infinity ? 0 : Math.exp(weights[j] - largest);
    total += weights[j];
  }
  for (let t = 0; t < dv; t++) out[i * dv + t] = 0;
  for (let j = lo; j < hi; j++) {
    weights[j] /= total;
    if (weights[j] === 0) continue;
    for (let t = 0; t < dv; t++) out[i * dv + t] += weights[j] * v[j * dv + t];
  }
}

/** The keys query i may see: [0, i + 1) when causal, else [0, n). */
function visibleEnd(n, i, causal) {
  return causal ? i + 1 : n;
}

/**
 * Exact ALiBi attention of one head: softmax(scale q k^T - m |i - j|) v.
 * Returns { out: Float64Array(n dv), weights: Float64Array(n n) (row-major) }.
 */
export function exactAlibi(q, k, v, n, d, dv, slope, scale, causal) {
  return windowAlibi(q, k, v, n, d, dv, slope, scale, causal, n);
}

/**
 * ALiBi attention inside a window |i - j| < w (w >= n: exact ALiBi), as window_alibi_attention.
 * Returns { out, weights } as exactAlibi.
 */
export function windowAlibi(q, k, v, n, d, dv, slope, scale, causal, window) {
  const out = new Float64Array(n * dv);
  const weights = new Float64Array(n * n);
  const bias = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - window + 1);
    const hi = Math.min(visibleEnd(n, i, causal), i + window);
    for (let j = lo; j < hi; j++) bias[j] = -slope * Math.abs(i - j);
    attendRow(q, k, v, d, dv, scale, i, lo, hi, bias, weights.subarray(i * n, (i + 1) * n), out);
  }
  return { out, weights };
}

/**
 * The LSH estimator of one head on given blocks: softmax(scale q k^T + log(c / R)) v, c_ij the
 * number of the R samples in which i and j share a block. Returns { out, weights, counts }
 * (counts: Int32Array(n n), row-major; zero after the query when causal).
 */
export function lshAttention(q, k, v, n, d, dv, scale, causal, bounds, samples = bounds.samples) {
  const out = new Float64Array(n * dv);
  const weights = new Float64Array(n * n);
  const counts = new Int32Array(n * n);
  const row = new Int32Array(n + 1);
  const bias = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = countsRow(bounds, samples, i, causal, row);
    for (let j = lo; j < hi; j++) {
      counts[i * n + j] = row[j];
      bias[j] = row[j] > 0 ? Math.log(row[j] / samples) : -Infinity;
    }
    attendRow(q, k, v, d, dv, scale, i, lo, hi, bias, weights.subarray(i * n, (i + 1) * n), out);
  }
  return { out, weights, counts };
}

/**
 * Every head of one call, as the library's reference: head h has slope slopes[h] and draws its
 * blocks as global head headOffset + h. q, k, v are per head: arrays of H row-major arrays.
 * Returns per head { out, weights, counts } of the estimator and the out/weights of exact ALiBi
 * and of the window (omitted when window is null).
 */
export function lshAlibiHeads({ q, k, v, n, d, dv, slopes, samples, scheme, seed, headOffset = 0, scale, causal, window = null }) {
  return slopes.map((slope, h) => {
    const bounds = sampleBounds(drawBlocks(n, slope, samples, scheme, seed, headOffset + h), n);
    return {
      lsh: lshAttention(q[h], k[h], v[h], n, d, dv, scale, causal, bounds),
      exact: exactAlibi(q[h], k[h], v[h], n, d, dv, slope, scale, causal),
      window: window === null ? null : windowAlibi(q[h], k[h], v[h], n, d, dv, slope, scale, causal, window),
    };
  });
}

/** Relative Frobenius error ||a - b|| / ||b|| of two outputs. */
export function relativeError(a, b) {
  let difference = 0;
  let norm = 0;
  for (let t = 0; t < b.length; t++) {
    difference += (a[t] - b[t]) ** 2;
    norm += b[t] ** 2;
  }
  return Math.sqrt(difference / norm);
}

// The example of the cost playground and the one-query figure: its own Philox stream (counter
// word 0), apart from the block streams of docs/blocks.md.
const EXAMPLE_STREAM = 7;

/**
 * Example q, k, v: standard normals from Philox (Box-Muller), `rows` rows of d each, in order, so
 * that a smaller n only slices a larger one. query_row.example_tensors is the Python twin.
 */
export function exampleTensors(rows, d, seed = 0) {
  const key = seedKey(seed);
  const words = new Uint32Array(4);
  const tensors = [];
  for (let t = 0; t < 3; t++) {
    const values = new Float64Array(rows * d);
    for (let index = 0; index < values.length; index += 2) {
      philox4x32(EXAMPLE_STREAM, t, index / 2, 0, key[0], key[1], words);
      const u1 = 1 - uniform53(words[0], words[1]); // in (0, 1]
      const u2 = uniform53(words[2], words[3]);
      const radius = Math.sqrt(-2 * Math.log(u1));
      values[index] = radius * Math.cos(2 * Math.PI * u2);
      if (index + 1 < values.length) values[index + 1] = radius * Math.sin(2 * Math.PI * u2);
    }
    tensors.push(values);
  }
  return tensors;
}
