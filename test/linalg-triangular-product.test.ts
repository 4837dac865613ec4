import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createKernels, enableRelaxedSimd } from '../src/kernels/index.ts';
import type { EngineName } from '../src/kernels/types.ts';
import { mirrorUpper, upperOfTriangularProduct } from '../src/linalg/triangular-product.ts';
import { fillUniform, seededRandom } from './helpers/random.ts';

// The upper triangle of R·W (R upper triangular) against a float64 product of the whole matrices, on every
// engine, for orders below, at and across the row block (64); and the mirror against its definition.

const relaxedReady = enableRelaxedSimd();
const ENGINES: { engine: EngineName; skip: string | false }[] = [
  { engine: 'typescript', skip: false },
  { engine: 'wasm-simd', skip: false },
  { engine: 'wasm-relaxed-simd', skip: relaxedReady ? false : 'relaxed SIMD is unavailable in this runtime' },
];

/** R (upper triangular, zeros below) and W, random in [−1, 1), d×d. */
function operands(d: number, seed: number): { r: Float32Array; w: Float32Array } {
  const rand = seededRandom(seed);
  const r = new Float32Array(d * d);
  const w = new Float32Array(d * d);
  fillUniform(r, rand);
  fillUniform(w, rand);
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) r[i * d + j] = 0;
  return { r, w };
}

describe('upperOfTriangularProduct', () => {
  for (const { engine, skip } of ENGINES) {
    for (const d of [1, 7, 64, 65, 150]) {
      test(`${engine}: d = ${d} matches the float64 R·W on and above the diagonal`, { skip }, () => {
        const kernels = createKernels({ engine });
        const { r, w } = operands(d, 11 + d);
        const rb = kernels.arena.f32(d * d);
        const wb = kernels.arena.f32(d * d);
        const out = kernels.arena.f32(d * d);
        rb.view().set(r);
        wb.view().set(w);
        out.view().fill(Number.NaN);
        upperOfTriangularProduct(kernels, d, rb, wb, out);
        const o = out.view();
        let worst = 0;
        for (let i = 0; i < d; i++) {
          for (let j = i; j < d; j++) {
            let exact = 0;
            let scale = 0;
            for (let k = 0; k < d; k++) {
              exact += r[i * d + k] * w[k * d + j];
              scale += Math.abs(r[i * d + k] * w[k * d + j]);
            }
            const err = Math.abs(o[i * d + j] - exact) / (scale + 1e-30);
            assert.ok(Number.isFinite(o[i * d + j]), `entry (${i}, ${j}) was not written`);
            worst = Math.max(worst, err);
          }
        }
        // float32 accumulation over d terms, relative to Σ|terms|
        assert.ok(worst <= d * 2 ** -23, `worst relative error ${worst}`);
      });
    }
  }
});

describe('mirrorUpper', () => {
  test('copies the upper triangle with the diagonal and reflects it below, across tile edges', () => {
    for (const d of [1, 3, 64, 130]) {
      const a = new Float32Array(d * d);
      fillUniform(a, seededRandom(d));
      const out = new Float32Array(d * d).fill(Number.NaN);
      mirrorUpper(a, d, out);
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          const expected = j >= i ? a[i * d + j] : a[j * d + i];
          assert.equal(out[i * d + j], expected, `d = ${d}, (${i}, ${j})`);
        }
      }
    }
  });
});
