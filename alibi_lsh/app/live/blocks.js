// The block function of docs/blocks.md in JavaScript: which blocks a (seed, head, sample) draws.
//
// The same seed, head and sample give the same widths, shifts and cuts as alibi_lsh.samplers, bit
// for bit: Philox4x32-10 on 32-bit words (Math.imul for the low word of a product, 16-bit halves
// for the high word, since a double holds only 53 bits), the seed split into two key words with
// BigInt (seeds go up to 2^63 - 1), and the same float64 steps in the same order.

const ROUND_MULTIPLIER_0 = 0xd2511f53;
const ROUND_MULTIPLIER_1 = 0xcd9e8d57;
const KEY_STEP_0 = 0x9e3779b9;
const KEY_STEP_1 = 0xbb67ae85;
const TWO_26 = 2 ** 26;
const TWO_32 = 2 ** 32;
const TWO_53 = 2 ** 53;
const MAX_WIDTH = 2 ** 62; // the library's int64 cap: a width this large is as good as infinite

export const MAX_SEED = (1n << 63n) - 1n;
export const STREAM = { binning: 1, cuts: 2, owen: 3, jitter: 4, cutTies: 5 };

/** High 32 bits of the 64-bit product of two unsigned 32-bit words. */
export function mulhi32(a, b) {
  const aLow = a & 0xffff;
  const aHigh = a >>> 16;
  const bLow = b & 0xffff;
  const bHigh = b >>> 16;
  const lowHigh = aLow * bHigh; // each partial product < 2^32: exact in a double
  const highLow = aHigh * bLow;
  const carry = ((aLow * bLow) >>> 16) + (highLow & 0xffff) + lowHigh; // < 2^33: exact
  return (aHigh * bHigh + (highLow >>> 16) + Math.floor(carry / 65536)) >>> 0;
}

/**
 * Philox4x32-10 of the counter (c0, c1, c2, c3) under the key (k0, k1): four unsigned 32-bit words.
 * `out` (a Uint32Array(4)) is filled and returned, so hot loops allocate nothing.
 */
export function philox4x32(c0, c1, c2, c3, k0, k1, out = new Uint32Array(4), rounds = 10) {
  for (let round = 0; round < rounds; round++) {
    if (round > 0) {
      k0 = (k0 + KEY_STEP_0) >>> 0;
      k1 = (k1 + KEY_STEP_1) >>> 0;
    }
    const high0 = mulhi32(ROUND_MULTIPLIER_0, c0);
    const low0 = Math.imul(ROUND_MULTIPLIER_0, c0) >>> 0;
    const high1 = mulhi32(ROUND_MULTIPLIER_1, c2);
    const low1 = Math.imul(ROUND_MULTIPLIER_1, c2) >>> 0;
    c0 = (high1 ^ c1 ^ k0) >>> 0;
    c1 = low1;
    c2 = (high0 ^ c3 ^ k1) >>> 0;
    c3 = low0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** The seed (a decimal string, a BigInt or a safe integer) as the key words [seed mod 2^32, seed / 2^32]. */
export function seedKey(seed) {
  const value = BigInt(seed);
  if (value < 0n || value > MAX_SEED) throw new RangeError(`seed must be an integer in 0 .. 2^63 - 1, got ${seed}`);
  return [Number(value & 0xffffffffn), Number(value >> 32n)];
}

/** A uniform in [0, 1) from the top 53 bits of two words: exact k / 2^53. */
export function uniform53(high, low) {
  return ((high >>> 5) * TWO_26 + (low >>> 6)) / TWO_53;
}

// ---- widths and shifts (binning, qmc) -------------------------------------------------------

/** P(W > w) of ALiBi's width law, exp(-m w) (1 - w expm1(-m)), as the library computes it. */
function alibiTail(slope, expm1MinusSlope, width) {
  return Math.exp(-slope * width) * (1 - width * expm1MinusSlope);
}

/**
 * The smallest width w >= 1 with tail(w) <= 1 - u, by the library's search: double until the
 * tail falls to the target, then bisect (the same comparisons, so the same W on a tail that
 * rounding makes non-monotone).
 */
export function widthFromUniform(slope, u) {
  const target = 1 - u;
  const expm1MinusSlope = Math.expm1(-slope);
  let low = 0;
  let high = 1;
  while (alibiTail(slope, expm1MinusSlope, high) > target && high < MAX_WIDTH) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (alibiTail(slope, expm1MinusSlope, middle) > target) low = middle;
    else high = middle;
  }
  return Math.min(Math.max(high, 1), MAX_WIDTH);
}

/** The width W and shift s in 0 .. W-1 of the point (u1, u2). */
export function widthAndShift(slope, u1, u2) {
  const width = widthFromUniform(slope, u1);
  return [width, Math.min(Math.floor(u2 * width), width - 1)];
}

/** Scheme "binning": the independent point (u1, u2) of one sample. */
export function binningPoint(key, head, sample, words = new Uint32Array(4)) {
  philox4x32(STREAM.binning, head, sample, 0, key[0], key[1], words);
  return [uniform53(words[0], words[1]), uniform53(words[2], words[3])];
}

function bitReverse32(x) {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return ((x >>> 16) | (x << 16)) >>> 0;
}

/** Point `index` of the unscrambled 2-D Sobol sequence as two 32-bit integers. */
export function sobol2d(index) {
  let second = 0;
  let direction = 0x80000000;
  for (let bit = 0; bit < 32; bit++) {
    if (Math.floor(index / 2 ** bit) % 2 === 1) second = (second ^ direction) >>> 0;
    direction = (direction ^ (direction >>> 1)) >>> 0;
  }
  return [bitReverse32(index >>> 0), second];
}

/** Owen's nested scrambling of a 32-bit integer: bit 31 - level flips on an odd Philox word. */
export function owenScramble(x, dim, key, head, words = new Uint32Array(4)) {
  let y = x;
  for (let level = 0; level < 32; level++) {
    const prefix = level === 0 ? 0 : x >>> (32 - level); // (x >>> 32 would be x itself in JS)
    philox4x32(STREAM.owen, head, 32 * dim + level, prefix, key[0], key[1], words);
    if (words[0] & 1) y = (y ^ (1 << (31 - level))) >>> 0;
  }
  return y;
}

/** Scheme "qmc": point `sample` of the head's Owen-scrambled Sobol sequence, 21 random low bits added. */
export function qmcPoint(key, head, sample, words = new Uint32Array(4)) {
  const [x0, x1] = sobol2d(sample);
  const y0 = owenScramble(x0, 0, key, head, words);
  const y1 = owenScramble(x1, 1, key, head, words);
  philox4x32(STREAM.jitter, head, sample, 0, key[0], key[1], words);
  return [(y0 * 2 ** 21 + (words[0] >>> 11)) / TWO_53, (y1 * 2 ** 21 + (words[1] >>> 11)) / TWO_53];
}

// ---- cuts ------------------------------------------------------------------------------------

/** The cut threshold T = floor(p 2^64), p = 1 - exp(-m), as its halves [T_hi, T_lo]. */
export function cutThresholds(slope) {
  const scaled = -Math.expm1(-slope) * TWO_32;
  const high = Math.floor(scaled);
  return [high, Math.floor((scaled - high) * TWO_32)];
}

/** Is there a cut after `position` (between it and the next) in sample `sample`? */
export function cutAfter(key, head, sample, position, thresholds, words = new Uint32Array(4)) {
  philox4x32(STREAM.cuts, head, sample, Math.floor(position / 4), key[0], key[1], words);
  return isCut(key, head, sample, position, words[position % 4], thresholds, words);
}

/** The decision for one position from its word; the rare tie with T_hi reads Philox stream 5. */
export function isCut(key, head, sample, position, word, thresholds, words = new Uint32Array(4)) {
  if (word !== thresholds[0]) return word < thresholds[0];
  philox4x32(STREAM.cutTies, head, sample, position, key[0], key[1], words);
  return words[0] < thresholds[1];
}

/** The cut words of positions 0 .. n-2 of one sample (one Philox call per four positions). */
export function cutWords(key, head, sample, n, out = new Uint32Array(Math.max(n - 1, 0))) {
  const words = new Uint32Array(4);
  for (let quad = 0; 4 * quad < n - 1; quad++) {
    philox4x32(STREAM.cuts, head, sample, quad, key[0], key[1], words);
    for (let t = 0; t < 4 && 4 * quad + t < n - 1; t++) out[4 * quad + t] = words[t];
  }
  return out;
}

// ---- partitions ------------------------------------------------------------------------------

/** Block starts of positions 0 .. n-1 for width W and shift s: block(i) = floor((i + s) / W). */
export function binningStarts(n, width, shift) {
  const starts = [0];
  for (let boundary = (width - shift) % width || width; boundary < n; boundary += width) starts.push(boundary);
  return starts;
}

/**
 * Block starts of sample `sample` of global head `head` over n positions: what
 * alibi_lsh.sample_partitions(n, slope, R, scheme, seed, head=head)[sample].starts holds.
 */
export function sampleStarts(n, slope, scheme, seed, head, sample) {
  if (slope === 0) return [0]; // one block: plain attention, nothing is drawn
  const key = seedKey(seed);
  if (scheme === "cuts") {
    const thresholds = cutThresholds(slope);
    const words = cutWords(key, head, sample, n);
    const starts = [0];
    for (let i = 0; i < n - 1; i++) if (isCut(key, head, sample, i, words[i], thresholds)) starts.push(i + 1);
    return starts;
  }
  const point = scheme === "qmc" ? qmcPoint(key, head, sample) : binningPoint(key, head, sample);
  const [width, shift] = widthAndShift(slope, point[0], point[1]);
  return binningStarts(n, width, shift);
}
