import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ShapeError } from '../src/errors.ts';
import { createKernels, enableRelaxedSimd, type F32Buffer, type Kernels } from '../src/kernels/index.ts';
import type { EngineName } from '../src/kernels/types.ts';
import { fillUniform, seededRandom } from './helpers/random.ts';

// gemmStrided on every engine against a float64 product written here, and the WASM builds against the
// TypeScript twin. Operands are sub-matrices of larger arrays (an offset into the buffer and a leading dimension
// above the stored width); everything of C outside the m×n block must keep its sentinel value.

const EPS32 = 2 ** -23;
const SENTINEL = 12345.5;

const relaxedReady = enableRelaxedSimd();
const ENGINES: { engine: EngineName; skip: string | false }[] = [
  { engine: 'typescript', skip: false },
  { engine: 'wasm-simd', skip: false },
  { engine: 'wasm-relaxed-simd', skip: relaxedReady ? false : 'relaxed SIMD is unavailable in this runtime' },
];

interface Operand {
  /** The whole array (offset + span + tail), a slice of which is handed to the kernel. */
  values: Float32Array;
  offset: number;
  ld: number;
}

/** A rows×cols block stored at `offset` with leading dimension `ld` inside random (or sentinel) filler. */
function operand(
  rows: number,
  cols: number,
  pad: number,
  offset: number,
  seed: number,
  fill?: number,
): Operand {
  const ld = cols + pad;
  const values = new Float32Array(offset + rows * ld + 5);
  if (fill === undefined) fillUniform(values, seededRandom(seed));
  else values.fill(fill);
  return { values, offset, ld };
}

function at(x: Operand, r: number, c: number): number {
  return x.values[x.offset + r * x.ld + c];
}

function load(kernels: Kernels, values: Float32Array): F32Buffer {
  const buffer = kernels.arena.f32(values.length);
  buffer.view().set(values);
  return buffer;
}

/** Runs gemmStrided on `kernels` with fresh copies of the operands; returns the whole array holding C. */
function run(
  kernels: Kernels,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  A: Operand,
  B: Operand,
  beta: number,
  C: Operand,
): Float32Array {
  const mark = kernels.arena.mark();
  const a = load(kernels, A.values);
  const b = load(kernels, B.values);
  const c = load(kernels, C.values);
  const tail = (buf: F32Buffer, x: Operand) => buf.slice(x.offset, buf.length - x.offset);
  kernels.gemmStrided(
    transA,
    transB,
    m,
    n,
    k,
    alpha,
    tail(a, A),
    A.ld,
    tail(b, B),
    B.ld,
    beta,
    tail(c, C),
    C.ld,
  );
  assert.deepEqual(a.view(), A.values, 'A modified');
  assert.deepEqual(b.view(), B.values, 'B modified');
  const out = c.view().slice();
  kernels.arena.release(mark);
  return out;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 17, 5],
  [32, 200, 130],
  [130, 70, 32],
  [65, 9, 300],
  [5, 520, 33],
  [4, 0, 3],
  [3, 4, 0],
];

describe('gemmStrided', () => {
  const twin = createKernels({ engine: 'typescript' });
  for (const { engine, skip } of ENGINES) {
    test(`${engine}: sub-matrix products against float64 and the TypeScript twin`, { skip }, () => {
      const kernels = createKernels({ engine });
      for (const [m, n, k] of SHAPES) {
        for (const [transA, transB] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const) {
          for (const { alpha, beta } of [
            { alpha: 1, beta: 0 },
            { alpha: -1, beta: 1 },
            { alpha: 0.75, beta: -1.5 },
          ]) {
            const what = `${engine} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} ${m}×${n}×${k} α=${alpha} β=${beta}`;
            const seed = m * 131 + n * 17 + k;
            const A = transA ? operand(k, m, 3, 7, seed) : operand(m, k, 2, 5, seed);
            const B = transB ? operand(n, k, 1, 2, seed + 1) : operand(k, n, 4, 9, seed + 1);
            const C = operand(m, n, 3, 6, seed + 2, SENTINEL);
            // C's block starts random; the padding and the rest stay sentinels.
            const c0 = seededRandom(seed + 3);
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) C.values[C.offset + i * C.ld + j] = c0() - 0.5;
            const got = run(kernels, transA, transB, m, n, k, alpha, A, B, beta, C);
            const ref = run(twin, transA, transB, m, n, k, alpha, A, B, beta, C);
            for (let idx = 0; idx < C.values.length; idx++) {
              const r = idx - C.offset;
              const i = Math.floor(r / C.ld);
              const j = r - i * C.ld;
              if (r < 0 || i >= m || j >= n) {
                assert.equal(got[idx], SENTINEL, `${what}: wrote outside C at ${idx}`);
                continue;
              }
              let dot = 0;
              let mag = 0;
              for (let p = 0; p < k; p++) {
                const x = (transA ? at(A, p, i) : at(A, i, p)) * (transB ? at(B, j, p) : at(B, p, j));
                dot += x;
                mag += Math.abs(x);
              }
              const c = C.values[idx];
              const exact = alpha * dot + beta * c;
              const bound = (k + 5) * EPS32 * (Math.abs(alpha) * mag + Math.abs(beta * c));
              assert.ok(
                Math.abs(got[idx] - exact) <= bound,
                `${what}: (${i}, ${j}) = ${got[idx]}, want ${exact}`,
              );
              // The twin sums in float64 and rounds once.
              assert.ok(
                Math.abs(ref[idx] - exact) <= EPS32 * (Math.abs(alpha) * mag + Math.abs(beta * c)) + 1e-30,
              );
            }
          }
        }
      }
    });

    test(`${engine}: rejects short buffers, a leading dimension below the width, and C overlapping A`, {
      skip,
    }, () => {
      const kernels = createKernels({ engine });
      const a = kernels.arena.f32(40);
      const b = kernels.arena.f32(40);
      const c = kernels.arena.f32(40);
      // 3×4 A with lda 5 spans 14 elements; 4×2 B with ldb 3 spans 11; 3×2 C with ldc 4 spans 10.
      kernels.gemmStrided(
        false,
        false,
        3,
        2,
        4,
        1,
        a.slice(0, 14),
        5,
        b.slice(0, 11),
        3,
        0,
        c.slice(0, 10),
        4,
      );
      assert.throws(
        () => kernels.gemmStrided(false, false, 3, 2, 4, 1, a.slice(0, 13), 5, b, 3, 0, c, 4),
        ShapeError,
      );
      assert.throws(() => kernels.gemmStrided(false, false, 3, 2, 4, 1, a, 3, b, 3, 0, c, 4), ShapeError);
      assert.throws(
        () => kernels.gemmStrided(false, false, 3, 2, 4, 1, a, 5, b, 3, 0, c.slice(0, 9), 4),
        ShapeError,
      );
      assert.throws(
        () => kernels.gemmStrided(false, false, 3, 2, 4, 1, a.slice(0, 14), 5, b, 3, 0, a.slice(13, 10), 4),
        ShapeError,
      );
    });
  }
});
