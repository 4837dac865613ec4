// Björck rectification of 4-bit bases to a tolerance (`bjorckToTolerance`, option `rectTol`) against the
// paper's fixed count (`bjorckInPlace`) and a float64 oracle (the orthogonal polar factor by float64 Björck from
// src/linalg, an independent implementation): orthogonality at the float32 floor, the same basis within float32
// rounding, fewer products; rectTol 0 is the fixed count bit for bit; the stopping tests on special inputs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ArenaBuffer, createKernels, type Kernels } from '../src/kernels/index.ts';
import { bjorck, eigh } from '../src/linalg/index.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { quant4Layout } from '../src/storage/quant4.ts';
import {
  bjorckInPlace,
  bjorckToTolerance,
  type RectifyReport,
  transposeSquare,
} from '../src/storage/quant4-basis.ts';
import { createCodecs } from '../src/storage/wasm-codecs.ts';
import { gaussian, matmul, maxAbsDiff, randomOrthogonal, rng, transpose } from './helpers/linalg.ts';
import { makeStore, setIncrement } from './helpers/stores.ts';

/** max|VVᵀ − I| in float64 (V square, row-major). */
function orthogonality(v: ArrayLike<number>, d: number): number {
  const g = matmul(Float64Array.from(v), transpose(v, d, d), d, d, d);
  let m = 0;
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) m = Math.max(m, Math.abs(g[i * d + j] - (i === j ? 1 : 0)));
  return m;
}

/**
 * Q = eigenvectors (columns, float64 eigh) of X·Xᵀ/N with X d×4d Gaussian, rows scaled geometrically from 1 to
 * 1e-3 (a covariance with a spread spectrum), stored as the 4-bit paper stores it (Qᵀ, linear-2, block 64) and
 * decoded back to Q: the input every 4-bit rectification sees.
 */
function quantizedEigenbasis(kernels: Kernels, d: number, seed: number): Float32Array {
  const n = 4 * d;
  const x = gaussian(rng(seed), d * n);
  for (let i = 0; i < d; i++) for (let j = 0; j < n; j++) x[i * n + j] *= 1e-3 ** (i / (d - 1));
  const a = matmul(x, transpose(x, d, n), d, n, d).map((v) => v / n);
  const q = eigh(a, d).vectors;
  const codecs = createCodecs(kernels);
  const layout = quant4Layout(d, d, 64);
  const codes = kernels.arena.alloc('u8', layout.codeBytes);
  const scales = kernels.arena.f32(layout.scaleCount);
  const t = kernels.arena.f32(d * d);
  t.view().set(transpose(q, d, d));
  codecs.quantize4(t, d, d, codes, scales, 'linear-2', 64);
  codecs.dequantize4(codes, scales, d, d, t, 'linear-2', 64);
  return Float32Array.from(transpose(t.view(), d, d));
}

function run(
  kernels: Kernels,
  v0: Float32Array,
  d: number,
  how: { iterations: number; tolerance: number },
): { v: Float32Array; report: RectifyReport | null } {
  const v = kernels.arena.f32(d * d);
  const g = kernels.arena.f32(d * d);
  const c = kernels.arena.f32(d * d);
  v.view().set(v0);
  let report: RectifyReport | null = null;
  if (how.tolerance > 0) report = bjorckToTolerance(kernels, v, d, how.iterations, how.tolerance, g, c);
  else bjorckInPlace(kernels, v, d, how.iterations, g, c);
  return { v: v.view().slice(), report };
}

/** Products in units of d³ flops: a SYRK is 1, a GEMM 2. */
const cost = (r: RectifyReport) => r.grams + 3 * r.secondOrder + 2 * r.firstOrder;

for (const engine of ['typescript', 'auto'] as const) {
  test(`rectTol (${engine}): 4-bit eigenbases orthonormal to the float32 floor, the fixed count's basis, fewer products`, () => {
    const kernels = createKernels({ engine });
    for (const [d, seed] of [
      [96, 1],
      [128, 2],
    ]) {
      const v0 = quantizedEigenbasis(kernels, d, seed);
      const polar = bjorck(v0, d, d, 12); // float64: the orthogonal polar factor of the decoded basis
      const fixed = run(kernels, v0, d, { iterations: 4, tolerance: 0 }).v;
      const { v, report } = run(kernels, v0, d, { iterations: 4, tolerance: 1e-6 });
      assert.ok(report?.converged, `d=${d}: converged within 4 steps`);
      // Two second-order steps (8d³) or, at worst, a measured residual and a first-order step more (11d³).
      assert.ok(
        cost(report) <= 11,
        `d=${d}: ${JSON.stringify(report)} costs ${cost(report)}d³, the fixed count 12d³`,
      );
      const orthFixed = orthogonality(fixed, d);
      const orth = orthogonality(v, d);
      // Four first-order steps reach the float32 floor, max|VVᵀ−I| ≈ 1e-7 (TypeScript kernels) to 5e-7 (WASM);
      // to the tolerance, the result is within it (measured 1.7e-7 … 8.7e-7), plus float32 rounding.
      assert.ok(orthFixed < 1e-6, `d=${d}: fixed count ${orthFixed}`);
      assert.ok(orth < 1.2e-6, `d=${d}: to tolerance ${orth} (fixed ${orthFixed})`);
      // The same matrix within float32 rounding: both within 5e-7 of the polar factor entrywise (entries are
      // up to ≈ 0.5; one decoded 4-bit step away from it the difference is ≈ 1e-2), and of each other.
      const toPolar = maxAbsDiff(v, polar);
      const fixedToPolar = maxAbsDiff(fixed, polar);
      assert.ok(fixedToPolar < 5e-7 && toPolar < 5e-7, `d=${d}: to polar ${toPolar}, fixed ${fixedToPolar}`);
      assert.ok(maxAbsDiff(v, fixed) < 5e-7, `d=${d}: to the fixed count ${maxAbsDiff(v, fixed)}`);
      // Stopping one step early would not pass: a single second-order step leaves ≈ 1e-2.
      const early = run(kernels, v0, d, { iterations: 1, tolerance: 1e-6 });
      assert.equal(early.report?.converged, false);
      assert.ok(
        orthogonality(early.v, d) > 1e-4,
        'one step is not enough, so the bound above is not vacuous',
      );
    }
  });
}

test('rectTol: an orthonormal input costs one Gram matrix and comes back unchanged', () => {
  const kernels = createKernels();
  const d = 70;
  // A signed permutation: exactly orthonormal in float32, so G = I exactly.
  const p = new Float32Array(d * d);
  for (let i = 0; i < d; i++) p[i * d + ((i * 31) % d)] = i % 3 === 0 ? -1 : 1;
  const { v, report } = run(kernels, p, d, { iterations: 4, tolerance: 1e-6 });
  assert.deepEqual(report, { firstOrder: 0, secondOrder: 0, grams: 1, converged: true });
  assert.deepEqual(v, p);
});

test('rectTol: far from orthonormal, first-order steps until the second-order step is safe, then the polar factor', () => {
  const kernels = createKernels();
  const d = 48;
  const rand = rng(5);
  const u = randomOrthogonal(d, rand);
  const w = randomOrthogonal(d, rand);
  // Singular values 0.4 … 1.6: ‖VVᵀ − I‖₂ = 1.56, beyond the second-order step's safe range (σ < 1.53).
  const sigma = Float64Array.from({ length: d }, (_, i) => 0.4 + (1.2 * i) / (d - 1));
  const us = u.map((x, k) => x * sigma[k % d]);
  const v0 = Float32Array.from(matmul(us, transpose(w, d, d), d, d, d));
  const polar = matmul(u, transpose(w, d, d), d, d, d);
  const { v, report } = run(kernels, v0, d, { iterations: 12, tolerance: 1e-6 });
  assert.ok(report?.converged, JSON.stringify(report));
  assert.ok((report?.firstOrder ?? 0) >= 1, `first-order steps first: ${JSON.stringify(report)}`);
  assert.ok(
    (report?.secondOrder ?? 0) >= 1,
    `second-order steps near convergence: ${JSON.stringify(report)}`,
  );
  assert.ok(orthogonality(v, d) < 1.5e-6, `orthogonality ${orthogonality(v, d)}`);
  assert.ok(maxAbsDiff(v, polar) < 2e-6, `to the polar factor ${maxAbsDiff(v, polar)}`);
});

test('rectTol: a non-finite basis passes no stopping test (all steps run, the result is not finite)', () => {
  const kernels = createKernels();
  const d = 16;
  const v0 = new Float32Array(d * d);
  for (let i = 0; i < d; i++) v0[i * d + i] = 1;
  v0[5] = Number.NaN;
  const { v, report } = run(kernels, v0, d, { iterations: 3, tolerance: 1e-6 });
  assert.equal(report?.converged, false);
  assert.equal(report?.grams, 3);
  assert.ok(v.some((x) => Number.isNaN(x)));
});

test('transposeSquare (blocked) is the transpose, on orders around the tile size', () => {
  for (const d of [1, 31, 32, 33, 70]) {
    const a = Float32Array.from({ length: d * d }, (_, k) => k + 0.5);
    const out = new Float32Array(d * d);
    transposeSquare(a, d, out);
    assert.deepEqual(out, Float32Array.from(transpose(a, d, d)));
  }
});

/** The '4bit' store after its first call (eigh basis) and one refresh, with `options`. */
function refreshedStore(options: Record<string, unknown>) {
  const d = 80;
  const cols = 90;
  const rand = rng(11);
  const h = makeStore('4bit', d, options, 'auto');
  const scale = Float64Array.from({ length: d }, (_, i) => 1e-2 ** (i / (d - 1)));
  const next = () => gaussian(rand, d * cols).map((x, k) => x * scale[Math.floor(k / cols)]);
  const rotated = () => transpose(Float64Array.from(h.side.basisF32().view()), d, d);
  setIncrement(h, next(), cols);
  assert.ok(h.side.initialise(h.kernels, 0.9, 0.1, 'eigh'));
  for (let t = 0; t < 3; t++) {
    setIncrement(h, matmul(rotated(), next(), d, d, cols), cols);
    assert.ok(h.side.accumulate(h.kernels, 0.9, 0.1));
  }
  assert.ok(h.side.proposeRefresh(h.kernels, true));
  h.side.commit();
  return { h, d };
}

/** The store's basis recomputed from its codes with the given rectification (same kernels, float32). */
function fromCodes(h: ReturnType<typeof refreshedStore>['h'], d: number, tolerance: number): Float32Array {
  const codecs = createCodecs(h.kernels);
  const t = h.kernels.arena.f32(d * d);
  const codes = h.state.get('Q0_codes') as ArenaBuffer<'u8'>;
  const scales = h.state.get('Q0_scales') as ArenaBuffer<'f32'>;
  codecs.dequantize4(codes, scales, d, d, t, 'linear-2', 64);
  const v0 = Float32Array.from(transpose(t.view(), d, d));
  return run(h.kernels, v0, d, { iterations: 4, tolerance }).v;
}

test('rectTol 0 is the fixed count bit for bit; the default rectifies the same codes to a tolerance, bit for bit', () => {
  const fixed = refreshedStore({ rectTol: 0 });
  assert.deepEqual(fixed.h.side.basisF32().view(), fromCodes(fixed.h, fixed.d, 0));
  const tolerant = refreshedStore({});
  const cache = tolerant.h.side.basisF32().view().slice();
  assert.deepEqual(cache, fromCodes(tolerant.h, tolerant.d, 1e-6));
  // Rebuilt from the codes after an outside overwrite: the same bits (the cache is a function of the codes).
  tolerant.h.side.invalidate();
  assert.deepEqual(tolerant.h.side.basisF32().view(), cache);
});

test('rectTol: validated (ConfigError naming the field), default 1e-6, 0 accepted', () => {
  const params = () => [{ data: new Float32Array(12), shape: [4, 3] }];
  for (const bad of [-1e-9, 2e-3, Number.NaN, Number.POSITIVE_INFINITY, '1e-6']) {
    for (const make of [
      () => new SOAP(params(), { precision: '4bit', rectTol: bad as number }),
      () => new KLSOAP(params(), { precision: '4bit', rectTol: bad as number }),
      () => new KLShampoo(params(), { precision: '4bit', rectTol: bad as number }),
    ]) {
      assert.throws(make, (e: Error & { field?: string }) => e.field === 'rectTol', `rectTol ${String(bad)}`);
    }
  }
  const store = (options: Record<string, unknown>) => makeStore('4bit', 8, options).ctx.storage.rectTol;
  assert.equal(store({}), 1e-6);
  assert.equal(store({ rectTol: 0 }), 0);
  assert.equal(store({ rectTol: 1e-3 }), 1e-3);
  new SOAP(params(), { precision: '4bit', rectTol: 0 });
});
