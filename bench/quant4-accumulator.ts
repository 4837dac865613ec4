// Why the '4bit' store accumulates the off-diagonal statistics between refreshes in a normalized 4-bit
// triangle. A float64 model of the store's loop (one side, d×d): rotated statistics every step, a sorted QR
// power step every f = 10 steps from S = Diag(λ) + O, the new basis quantized (4-bit, Qᵀ rows, block 64) and
// Björck-rectified (4 iterations) — or kept exact, to isolate the accumulator — with the off-diagonal O held
// as: exact (float64); bf16; 4-bit of O itself; 4-bit of O_ij/sqrt(λ_i·λ_j) (what the store does); or not
// accumulated at all (only the refresh step's own statistic, like the 4-bit paper's sub-sampling). Gradients
// X = C^{1/2}·Z with C = U·Diag(λ)·Uᵀ, λ from 1 to 10⁻⁴. Printed: the alignment error of the basis Q with the
// true eigenbasis, sqrt(mean over pairs of (QᵀCQ)_ij²/((QᵀCQ)_ii·(QᵀCQ)_jj)), every 50 steps (0 = aligned),
// and the same error for the true eigenbasis quantized and rectified (the floor of any 4-bit basis).
// Run with `node --import tsx bench/quant4-accumulator.ts [d] [steps]` (defaults 64 300; about 20 s).
import { bjorck, eigh, qr } from '../src/linalg/index.ts';
import { roundToBf16 } from '../src/storage/bf16.ts';
import { dequantize4, quantize4 } from '../src/storage/quant4.ts';
import { Normal } from './kronecker-problem.ts';

const d = Number(process.argv[2] ?? 64);
const T = Number(process.argv[3] ?? 300);
const n = 2 * d;
const beta = 0.95;
const w = 1 - beta;
const f = 10;
const rng = new Normal(7);

function mm(a: Float64Array, b: Float64Array, r: number, k: number, c: number, ta = false, tb = false) {
  const o = new Float64Array(r * c);
  for (let i = 0; i < r; i++)
    for (let p = 0; p < k; p++) {
      const av = ta ? a[p * r + i] : a[i * k + p];
      if (av === 0) continue;
      for (let j = 0; j < c; j++) o[i * c + j] += av * (tb ? b[j * k + p] : b[p * c + j]);
    }
  return o;
}

const U = qr(
  Float64Array.from({ length: d * d }, () => rng.next()),
  d,
  d,
);
const spectrum = Float64Array.from({ length: d }, (_, i) => 10 ** ((-4 * i) / (d - 1)));
const root = new Float64Array(d * d);
for (let i = 0; i < d; i++)
  for (let j = 0; j < d; j++) root[i * d + j] = U[i * d + j] * Math.sqrt(spectrum[j]);
const C = mm(root, root, d, d, d, false, true);
const grads = Array.from({ length: T }, () =>
  mm(
    root,
    Float64Array.from({ length: d * n }, () => rng.next()),
    d,
    d,
    n,
  ),
);

function quant(x: Float64Array, rows: number, cols: number): Float64Array {
  const codes = new Uint8Array(Math.ceil((rows * cols) / 2));
  const scales = new Float32Array(rows * Math.ceil(cols / 64));
  const out = new Float32Array(rows * cols);
  quantize4(x, rows, cols, codes, scales);
  dequantize4(codes, scales, rows, cols, out);
  return Float64Array.from(out);
}

const transpose = (q: Float64Array) => {
  const t = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = q[i * d + j];
  return t;
};

function alignment(q: Float64Array): number {
  const s = mm(mm(q, C, d, d, d, true), q, d, d, d);
  let off = 0;
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) if (i !== j) off += s[i * d + j] ** 2 / (s[i * d + i] * s[j * d + j]);
  return Math.sqrt(off / d);
}

type Accumulator = 'exact' | 'bf16' | '4-bit O' | '4-bit normalized' | 'none';

function run(acc: Accumulator, quantizeBasis: boolean): string {
  const rectify = (q: Float64Array) =>
    quantizeBasis ? transpose(bjorck(quant(transpose(q), d, d), d, d, 4)) : q;
  const g0 = grads[0];
  const l0 = mm(g0, g0, d, n, d, false, true).map((x) => x * w);
  const e = eigh(l0, d);
  const q0 = new Float64Array(d * d);
  const lam = new Float64Array(d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) q0[i * d + j] = e.vectors[i * d + d - 1 - j];
  for (let j = 0; j < d; j++) lam[j] = e.values[d - 1 - j];
  let basis = rectify(q0);
  let o: Float64Array<ArrayBufferLike> = new Float64Array(d * d);
  const out: string[] = [];
  for (let t = 1; t < T; t++) {
    const gh = mm(basis, grads[t], d, d, n, true);
    const ds = mm(gh, gh, d, n, d, false, true);
    const refresh = t % f === 0;
    for (let i = 0; i < d; i++) lam[i] = beta * lam[i] + w * ds[i * d + i];
    if (acc === 'none') {
      if (refresh) o = ds.map((v, k) => (k % (d + 1) === 0 ? 0 : (1 - beta ** f) * v));
    } else {
      o = o.map((v, k) => (k % (d + 1) === 0 ? 0 : beta * v + w * ds[k]));
      if (acc === 'bf16') o = o.map(roundToBf16);
      if (acc === '4-bit O') o = quant(o, d, d);
      if (acc === '4-bit normalized') {
        const norm = (k: number) => Math.sqrt(lam[Math.floor(k / d)] * lam[k % d]);
        const c = quant(
          o.map((v, k) => (k % (d + 1) === 0 ? 0 : v / norm(k))),
          d,
          d,
        );
        o = c.map((v, k) => (k % (d + 1) === 0 ? 0 : v * norm(k)));
      }
    }
    if (refresh) {
      const perm = Array.from({ length: d }, (_, i) => i).sort((a, b) => lam[b] - lam[a] || a - b);
      const s = new Float64Array(d * d);
      for (let i = 0; i < d; i++)
        for (let j = 0; j < d; j++) s[i * d + j] = i === j ? lam[perm[i]] : o[perm[i] * d + perm[j]];
      const wq = qr(s, d, d);
      const bp = new Float64Array(d * d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) bp[i * d + j] = basis[i * d + perm[j]];
      const sw = mm(s, wq, d, d, d);
      for (let j = 0; j < d; j++) {
        let acc2 = 0;
        for (let i = 0; i < d; i++) acc2 += wq[i * d + j] * sw[i * d + j];
        lam[j] = acc2;
      }
      basis = rectify(mm(bp, wq, d, d, d));
      o.fill(0);
      if (t % 50 === 0) out.push(alignment(basis).toFixed(3));
    }
  }
  return out.join(' ');
}

const eye = Float64Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? 1 : 0));
console.log(`# basis alignment error every 50 steps (d = ${d}, ${T} steps); 0 = the true eigenbasis`);
console.log(
  `identity: ${alignment(eye).toFixed(3)}; true eigenbasis quantized + rectified: ${alignment(transpose(bjorck(quant(transpose(U), d, d), d, d, 4))).toFixed(3)}\n`,
);
console.log('| off-diagonal accumulator | exact basis | 4-bit basis |\n|---|---|---|');
for (const acc of ['exact', 'bf16', '4-bit normalized', '4-bit O', 'none'] as Accumulator[]) {
  console.log(`| ${acc} | ${run(acc, false)} | ${run(acc, true)} |`);
}
