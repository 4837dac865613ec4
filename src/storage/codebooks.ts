/**
 * The 16-entry codebooks of the 4-bit block-wise quantizer, as exact float32 values, plus the decision
 * thresholds of the nearest-code search.
 *
 * The stored nibble is an index into the codebook, so the codebook must be bit-identical to the one the 4-bit
 * Shampoo reference used: a last-bit difference moves the midpoints and flips codes. Both are rebuilt here with
 * explicit float32 rounding (`Math.fround` after every operation) rather than typed in as decimals.
 */

/** 'linear-2' = linear-square (the 4-bit Shampoo default); 'dynamic' = signed dynamic tree (power 1). */
export type Codebook4Name = 'linear-2' | 'dynamic';

export const CODEBOOK_SIZE = 16;

const f = Math.fround;

/**
 * `torch.linspace(-1, 1, 16)` in float32 as the x86-64 CPU kernel computes it: two 8-lane vectors; the first
 * starts at −1, the second at `1 − 7·step` rounded once (the compiler fuses that multiply-add), and lane i of a
 * vector is `base + fround(i·step)`. A naive `−1 + i·step` differs in the last bit at entries 8, 9, 10 and 13
 * after squaring; this model reproduces the reference's float32 codebook bit for bit (checked in the tests).
 */
function torchLinspaceMinus1To1x16(): Float32Array {
  const step = f(2 / 15);
  const out = new Float32Array(16);
  // 7·step is exact in float64 (a 24-bit significand times a 3-bit integer), so one fround = one fused rounding.
  const secondBase = f(1 - 7 * step);
  for (let i = 0; i < 8; i++) {
    out[i] = f(-1 + f(i * step));
    out[8 + i] = f(secondBase + f(i * step));
  }
  return out;
}

/** Linear-square codebook: `sign(x)·x²` over linspace(−1, 1, 16) with entry 7 forced to 0. Sorted ascending. */
function buildLinear2(): Float32Array {
  const x = torchLinspaceMinus1To1x16();
  x[7] = 0;
  const code = new Float32Array(16);
  for (let i = 0; i < 16; i++) code[i] = Math.sign(x[i]) * f(x[i] * x[i]);
  return code;
}

/** float32 `torch.linspace(start, end, steps)` for small `steps` (the scalar path: halves from each end). */
function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const out = new Float32Array(steps);
  for (let i = 0; i < steps; i++) out[i] = i < half ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)));
  return out;
}

/**
 * Signed dynamic-tree codebook with 3 exponent bits and power 1: for i = 0, 1, 2 the midpoints of
 * linspace(0.1, 1, 2^i + 1), scaled by 10^(i−2), in both signs; then 0 and +1; sorted. There is no −1.
 * All arithmetic in float32 as in the reference's tensor code (whether the linspace ends are fused or not gives
 * the same bits here).
 */
function buildDynamic(): Float32Array {
  const values: number[] = [];
  for (let i = 0; i < 3; i++) {
    const k = 2 ** i + 1;
    const bounds = linspaceF32(0.1, 1, k);
    const scale = f(10 ** (i - 2));
    for (let j = 0; j < k - 1; j++) {
      const mean = f(f(bounds[j] + bounds[j + 1]) / 2);
      values.push(f(scale * mean), f(-scale * mean));
    }
  }
  values.push(0, 1);
  values.sort((a, b) => a - b);
  return Float32Array.from(values);
}

const LINEAR2 = buildLinear2();
const DYNAMIC = buildDynamic();

/** A fresh copy of the named codebook (16 ascending float32 values; the index is the stored nibble). */
export function codebook4(name: Codebook4Name): Float32Array {
  return (name === 'linear-2' ? LINEAR2 : DYNAMIC).slice();
}

/** Read-only access without copying, for the quantizer's inner loops. */
export function codebook4Shared(name: Codebook4Name): Readonly<Float32Array> {
  return name === 'linear-2' ? LINEAR2 : DYNAMIC;
}

/** The index whose code is 0 (7 for both codebooks): what every element of an all-zero block stores. */
export function zeroIndex(name: Codebook4Name): number {
  return codebook4Shared(name).indexOf(0);
}

/** The largest float32 strictly below `x` (x finite, not −max). */
function prevFloat32(x: number): number {
  const buf = new Float32Array([x]);
  const bits = new Int32Array(buf.buffer);
  if (x === 0) {
    bits[0] = 0x80000001; // −(smallest subnormal)
  } else if (x > 0) {
    bits[0] -= 1;
  } else {
    bits[0] += 1;
  }
  return buf[0];
}

/**
 * Decision thresholds `t[0..14]` such that the reference search returns `Σ_j [x > t_j]` for every float32 x
 * (NaN → 0). The reference compares with the float32 midpoint `m_j = fround((code[j] + code[j+1])·0.5)`, and at
 * an exact midpoint it keeps its final pivot, which is always an even index: for an even j it picks j (`x > m_j`
 * to move up), for an odd j it picks j+1 (`x ≥ m_j`, i.e. `x > prevFloat32(m_j)`). A branch-free compare-and-count
 * over these thresholds is what the SIMD kernels use; the tests check it against the literal search.
 */
export function codebookThresholds(code: Readonly<Float32Array>): Float32Array {
  const t = new Float32Array(CODEBOOK_SIZE - 1);
  for (let j = 0; j < CODEBOOK_SIZE - 1; j++) {
    const m = f(f(code[j] + code[j + 1]) * 0.5);
    t[j] = j % 2 === 0 ? m : prevFloat32(m);
  }
  return t;
}
