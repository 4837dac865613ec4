import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineError, ShapeError } from '../src/errors.ts';
import { createKernels, enableRelaxedSimd, type F32Buffer, type Kernels } from '../src/kernels/index.ts';
import type { EngineName } from '../src/kernels/types.ts';
import { fillUniform, seededRandom } from './helpers/random.ts';

// Every WASM kernel is checked against a float64 computation written here and against the TypeScript twin.
// Error bounds follow the usual floating-point analysis with u = 2⁻²⁴ (the unit roundoff of float32) and
// EPS32 = 2u: a length-k dot product in float32 is within γ_k·Σ|a||b| ≈ k·u·Σ|a||b| of the exact value, and
// every further rounded operation (alpha and beta rounded to float32, the two products, the sum) adds u times
// the magnitude of the terms involved.

const EPS32 = 2 ** -23;
const EPS64 = 2 ** -52;
const SENTINEL = 12345.5;

const relaxedReady = enableRelaxedSimd();
const WASM_ENGINES: { engine: EngineName; skip: string | false }[] = [
  { engine: 'wasm-simd', skip: false },
  {
    engine: 'wasm-relaxed-simd',
    skip: relaxedReady
      ? false
      : 'relaxed SIMD is unavailable: this runtime rejects the build even after v8.setFlagsFromString',
  },
];

/** Loads `values` into a fresh buffer of `kernels`' arena. */
function load(kernels: Kernels, values: ArrayLike<number>): F32Buffer {
  const buffer = kernels.arena.f32(values.length);
  buffer.view().set(values);
  return buffer;
}

/**
 * A buffer of `values.length` elements followed by a guard of sentinels in the same allocation, so a kernel
 * writing past its output is caught.
 */
function guarded(
  kernels: Kernels,
  values: ArrayLike<number>,
  guard = 7,
): { buffer: F32Buffer; all: F32Buffer } {
  const all = kernels.arena.f32(values.length + guard);
  all.view().set(values);
  all.view().fill(SENTINEL, values.length);
  return { buffer: all.slice(0, values.length), all };
}

function assertGuard(all: F32Buffer, used: number, what: string): void {
  const view = all.view();
  for (let i = used; i < view.length; i++)
    assert.equal(view[i], SENTINEL, `${what}: wrote past its end at ${i}`);
}

function assertWithin(
  what: string,
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  bound: (i: number) => number,
): void {
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    if (!(err <= bound(i))) {
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${ref[i]} within ${bound(i)} (error ${err})`);
    }
  }
}

function randomF32(length: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(length);
  fillUniform(out, seededRandom(seed), lo, hi);
  return out;
}

/** Element (i, p) of op(M), op(M) being rows×cols; M is stored cols×rows when transposed. */
function opAt(M: Float32Array, trans: boolean, rows: number, cols: number, i: number, p: number): number {
  return trans ? M[p * rows + i] : M[i * cols + p];
}

/** Σ_p op(A)(i,p)·op(B)(p,j) and Σ_p |op(A)(i,p)·op(B)(p,j)| in float64, m×n each. */
function products(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  A: Float32Array,
  B: Float32Array,
): { dot: Float64Array; abs: Float64Array } {
  const dot = new Float64Array(m * n);
  const abs = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let t = 0;
      for (let p = 0; p < k; p++) {
        const x = opAt(A, transA, m, k, i, p) * opAt(B, transB, k, n, p, j);
        s += x;
        t += Math.abs(x);
      }
      dot[i * n + j] = s;
      abs[i * n + j] = t;
    }
  }
  return { dot, abs };
}

const TRANSPOSITIONS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

/** (alpha, beta) pairs: general, the beta = 1 accumulate path, and beta = 0 over a NaN-filled C. */
const SCALINGS: { alpha: number; beta: number; nanC: boolean }[] = [
  { alpha: 1.25, beta: -0.75, nanC: false },
  { alpha: 0.3, beta: 1, nanC: false },
  { alpha: -0.5, beta: 0, nanC: true },
];

const GEMM_SHAPES: [number, number, number][] = [
  ...[1, 3, 17, 64, 65, 257].map((s): [number, number, number] => [s, s, s]),
  [3, 17, 1],
  [17, 65, 3],
  [65, 3, 17],
  [1, 257, 64],
  [257, 1, 65],
  [2, 9, 300],
  [130, 70, 260],
  [5, 600, 9],
  [150, 9, 4],
  [33, 520, 1],
];

/** Float64 products per (shape, transposition), shared by both WASM builds. */
const productCache = new Map<string, { dot: Float64Array; abs: Float64Array }>();

function checkGemm(kernels: Kernels, twin: Kernels, m: number, n: number, k: number): void {
  const A = randomF32(m * k, 1000 + m * 7 + n * 13 + k);
  const B = randomF32(k * n, 2000 + m * 7 + n * 13 + k);
  const C0 = randomF32(m * n, 3000 + m * 7 + n * 13 + k);
  for (const [transA, transB] of TRANSPOSITIONS) {
    const key = `${m}x${n}x${k}:${transA}${transB}`;
    let prod = productCache.get(key);
    if (prod === undefined) {
      prod = products(transA, transB, m, n, k, A, B);
      productCache.set(key, prod);
    }
    for (const { alpha, beta, nanC } of SCALINGS) {
      const what = `gemm ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} m=${m} n=${n} k=${k} alpha=${alpha} beta=${beta}`;
      const start = nanC ? new Float32Array(m * n).fill(Number.NaN) : C0;
      const markK = kernels.arena.mark();
      const markT = twin.arena.mark();
      const ref = new Float64Array(m * n);
      const mag = new Float64Array(m * n);
      for (let i = 0; i < m * n; i++) {
        ref[i] = alpha * prod.dot[i] + (beta === 0 ? 0 : beta * C0[i]);
        mag[i] = Math.abs(alpha) * prod.abs[i] + Math.abs(beta) * (beta === 0 ? 0 : Math.abs(C0[i]));
      }
      const a = load(kernels, A);
      const b = load(kernels, B);
      const c = guarded(kernels, start);
      kernels.gemm(transA, transB, m, n, k, alpha, a, b, beta, c.buffer);
      // k roundings in the dot product, then alpha, beta, two products and a sum: (k + 5)·u ≤ (k + 5)·EPS32/2.
      assertWithin(`${what} (wasm vs float64)`, c.buffer.view(), ref, (i) => (k + 5) * EPS32 * mag[i]);
      assertGuard(c.all, m * n, what);
      assert.deepEqual(a.view(), A, `${what}: A modified`);
      assert.deepEqual(b.view(), B, `${what}: B modified`);

      const ct = load(twin, start);
      twin.gemm(transA, transB, m, n, k, alpha, load(twin, A), load(twin, B), beta, ct);
      // The twin sums in float64 in the same order as `ref` and rounds once.
      assertWithin(`${what} (twin vs float64)`, ct.view(), ref, (i) => EPS32 * mag[i]);
      assertWithin(`${what} (wasm vs twin)`, c.buffer.view(), ct.view(), (i) => (k + 6) * EPS32 * mag[i]);
      kernels.arena.release(markK);
      twin.arena.release(markT);
    }
  }
}

const SYRK_SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [17, 1],
  [64, 64],
  [65, 300],
  [257, 33],
  [130, 257],
  [9, 600],
];

function checkSyrk(kernels: Kernels, twin: Kernels, n: number, k: number): void {
  const A = randomF32(n * k, 4000 + n * 11 + k);
  const C0Raw = randomF32(n * n, 5000 + n * 11 + k);
  // A symmetric starting C, as SYRK's users hold (only its lower triangle is read).
  const C0 = new Float32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) C0[i * n + j] = C0Raw[Math.max(i, j) * n + Math.min(i, j)];
  for (const trans of [false, true]) {
    // op(A) = A (n×k) or Aᵀ (A stored k×n); C = alpha·op(A)·op(A)ᵀ + beta·C.
    const prod = products(trans, !trans, n, n, k, A, A);
    for (const { alpha, beta, nanC } of SCALINGS) {
      const what = `syrk trans=${trans} n=${n} k=${k} alpha=${alpha} beta=${beta}`;
      const start = nanC ? new Float32Array(n * n).fill(Number.NaN) : C0;
      const ref = new Float64Array(n * n);
      const mag = new Float64Array(n * n);
      for (let i = 0; i < n * n; i++) {
        ref[i] = alpha * prod.dot[i] + (beta === 0 ? 0 : beta * C0[i]);
        mag[i] = Math.abs(alpha) * prod.abs[i] + (beta === 0 ? 0 : Math.abs(beta * C0[i]));
      }
      const a = load(kernels, A);
      const c = guarded(kernels, start);
      kernels.syrk(trans, n, k, alpha, a, beta, c.buffer);
      const got = c.buffer.view();
      assertWithin(`${what} (wasm vs float64)`, got, ref, (i) => (k + 5) * EPS32 * mag[i]);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < i; j++) {
          if (got[i * n + j] !== got[j * n + i]) assert.fail(`${what}: C(${i},${j}) ≠ C(${j},${i})`);
        }
      }
      assertGuard(c.all, n * n, what);
      assert.deepEqual(a.view(), A, `${what}: A modified`);

      const ct = load(twin, start);
      twin.syrk(trans, n, k, alpha, load(twin, A), beta, ct);
      assertWithin(`${what} (twin vs float64)`, ct.view(), ref, (i) => EPS32 * mag[i]);
      assertWithin(`${what} (wasm vs twin)`, got, ct.view(), (i) => (k + 6) * EPS32 * mag[i]);
    }
  }
}

const LENGTHS = [1, 3, 17, 64, 65, 257, 1031];

function checkElementwise(kernels: Kernels, twin: Kernels, n: number): void {
  const x = randomF32(n, 6000 + n);
  const y = randomF32(n, 7000 + n);
  const g = randomF32(n, 8000 + n, -3, 3);
  const v = randomF32(n, 9000 + n, 0, 2);
  type Case = {
    name: string;
    run: (k: Kernels, out: F32Buffer) => void;
    start: Float32Array;
    ref: (i: number) => number;
    mag: (i: number) => number;
    /** Rounded operations along the way (float32 parameters included). */
    roundings: number;
  };
  const cases: Case[] = [];
  for (const [alpha, beta] of [
    [0.1, 0.9],
    [-1.7, 0.3],
  ]) {
    cases.push({
      name: `axpby(${alpha}, x, ${beta}, y)`,
      run: (k, out) => k.axpby(alpha, load(k, x), beta, out),
      start: y,
      ref: (i) => alpha * x[i] + beta * y[i],
      mag: (i) => Math.abs(alpha * x[i]) + Math.abs(beta * y[i]),
      roundings: 5,
    });
    cases.push({
      name: `emaSquare(${beta}, y, ${alpha}, x)`,
      run: (k, out) => k.emaSquare(beta, out, alpha, load(k, x)),
      start: y,
      ref: (i) => beta * y[i] + alpha * x[i] * x[i],
      mag: (i) => Math.abs(beta * y[i]) + Math.abs(alpha * x[i] * x[i]),
      roundings: 6,
    });
  }
  for (const [b1, b2] of [
    [0.9, 0.999],
    [0.5, 0.95],
  ]) {
    cases.push({
      name: `adamMoments m (${b1}, ${b2})`,
      run: (k, out) => k.adamMoments(load(k, g), out, load(k, v), b1, b2),
      start: y,
      ref: (i) => b1 * y[i] + (1 - b1) * g[i],
      mag: (i) => Math.abs(b1 * y[i]) + Math.abs((1 - b1) * g[i]),
      roundings: 5,
    });
    cases.push({
      name: `adamMoments v (${b1}, ${b2})`,
      run: (k, out) => k.adamMoments(load(k, g), load(k, y), out, b1, b2),
      start: v,
      ref: (i) => b2 * v[i] + (1 - b2) * g[i] * g[i],
      mag: (i) => Math.abs(b2 * v[i]) + (1 - b2) * g[i] * g[i],
      roundings: 6,
    });
  }
  const vScale = 1 / Math.sqrt(1 - 0.999 ** 3);
  cases.push({
    name: 'adamDirection',
    run: (k, out) => k.adamDirection(load(k, x), load(k, v), vScale, 1e-8, out),
    start: new Float32Array(n).fill(Number.NaN),
    ref: (i) => x[i] / (Math.sqrt(v[i]) * vScale + 1e-8),
    mag: (i) => Math.abs(x[i] / (Math.sqrt(v[i]) * vScale + 1e-8)),
    roundings: 6,
  });
  for (const c of cases) {
    const what = `${c.name} n=${n}`;
    const out = guarded(kernels, c.start);
    c.run(kernels, out.buffer);
    assertWithin(
      `${what} (wasm vs float64)`,
      out.buffer.view(),
      Float64Array.from({ length: n }, (_, i) => c.ref(i)),
      (i) => c.roundings * (EPS32 / 2) * c.mag(i),
    );
    assertGuard(out.all, n, what);
    const tw = load(twin, c.start);
    c.run(twin, tw);
    assertWithin(
      `${what} (wasm vs twin)`,
      out.buffer.view(),
      tw.view(),
      (i) => (c.roundings + 1) * (EPS32 / 2) * c.mag(i),
    );
  }

  // Σx² in float64 on both sides: only float64 summation error, n·EPS64 relative.
  const ref = x.reduce((s, xi) => s + xi * xi, 0);
  const got = kernels.sumSquares(load(kernels, x));
  assert.ok(Math.abs(got - ref) <= n * EPS64 * ref, `sumSquares n=${n}: ${got} vs ${ref}`);
  assert.ok(Math.abs(twin.sumSquares(load(twin, x)) - ref) <= n * EPS64 * ref, `twin sumSquares n=${n}`);
}

function checkScale(kernels: Kernels, twin: Kernels, rows: number, cols: number): void {
  const X = randomF32(rows * cols, 10000 + rows * 31 + cols);
  const S = randomF32(Math.max(rows, cols), 11000 + rows * 31 + cols, -2, 2);
  for (const which of ['scaleRows', 'scaleCols'] as const) {
    // One product of two float32 numbers, rounded once: exact agreement with Math.fround.
    const expected = X.map((xv, idx) =>
      Math.fround(xv * S[which === 'scaleRows' ? Math.floor(idx / cols) : idx % cols]),
    );
    const out = guarded(kernels, X);
    kernels[which](out.buffer, rows, cols, load(kernels, S));
    assert.deepEqual(out.buffer.view(), expected, `${which} ${rows}×${cols}`);
    assertGuard(out.all, rows * cols, `${which} ${rows}×${cols}`);
    const tw = load(twin, X);
    twin[which](tw, rows, cols, load(twin, S));
    assert.deepEqual(tw.view(), expected, `twin ${which} ${rows}×${cols}`);
  }
}

for (const { engine, skip } of WASM_ENGINES) {
  describe(engine, { skip }, () => {
    const fresh = (): { kernels: Kernels; twin: Kernels } => ({
      kernels: createKernels({ engine }),
      twin: createKernels({ engine: 'typescript' }),
    });

    test('selects the requested engine', () => {
      const { kernels } = fresh();
      assert.equal(kernels.engine, engine);
      assert.ok(kernels.wasm !== undefined);
    });

    for (const [m, n, k] of GEMM_SHAPES) {
      test(`gemm ${m}×${k} · ${k}×${n}, all transpositions`, () => {
        const { kernels, twin } = fresh();
        checkGemm(kernels, twin, m, n, k);
      });
    }

    test('gemm with k = 0 scales C by beta; empty products are no-ops', () => {
      const { kernels } = fresh();
      const a = kernels.arena.f32(1);
      const c = load(kernels, [1, Number.NaN, 3, 4, 5, 6]);
      kernels.gemm(false, false, 2, 3, 0, 2, a, a, 0, c);
      assert.deepEqual([...c.view()], [0, 0, 0, 0, 0, 0]);
      const d = load(kernels, [1, 2, 3, 4, 5, 6]);
      kernels.gemm(true, true, 3, 2, 0, 2, a, a, -2, d);
      assert.deepEqual([...d.view()], [-2, -4, -6, -8, -10, -12]);
      kernels.gemm(false, false, 0, 3, 4, 1, a, kernels.arena.f32(12), 0, d);
      assert.deepEqual([...d.view()], [-2, -4, -6, -8, -10, -12]);
    });

    for (const [n, k] of SYRK_SHAPES) {
      test(`syrk n=${n} k=${k}, both orientations, exactly symmetric`, () => {
        const { kernels, twin } = fresh();
        checkSyrk(kernels, twin, n, k);
      });
    }

    for (const n of LENGTHS) {
      test(`elementwise kernels, length ${n}`, () => {
        const { kernels, twin } = fresh();
        checkElementwise(kernels, twin, n);
      });
    }

    test('scaleRows and scaleCols agree exactly with one float32 rounding', () => {
      const { kernels, twin } = fresh();
      for (const [rows, cols] of [
        [1, 1],
        [3, 17],
        [17, 3],
        [64, 65],
        [65, 64],
        [5, 257],
      ]) {
        checkScale(kernels, twin, rows, cols);
      }
    });

    test('allFinite finds NaN and ±Infinity anywhere, including the scalar tail', () => {
      const { kernels, twin } = fresh();
      for (const n of LENGTHS) {
        const base = randomF32(n, 12000 + n);
        base[0] = 3.4e38; // large but finite
        if (n > 1) base[1] = -0;
        if (n > 2) base[2] = 1e-45; // subnormal
        for (const k of [kernels, twin]) assert.equal(k.allFinite(load(k, base)), true, `finite n=${n}`);
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          for (const at of new Set([0, n >> 1, n - 1])) {
            const values = base.slice();
            values[at] = bad;
            for (const k of [kernels, twin]) {
              assert.equal(k.allFinite(load(k, values)), false, `${bad} at ${at} of ${n} (${k.engine})`);
            }
          }
        }
      }
    });

    test('handles stay valid through memory growth between calls', () => {
      const { kernels } = fresh();
      const n = 33;
      const A = randomF32(n * n, 13000);
      const B = randomF32(n * n, 13001);
      const a = load(kernels, A);
      const b = load(kernels, B);
      const c = kernels.arena.f32(n * n);
      kernels.gemm(false, true, n, n, n, 1, a, b, 0, c);
      const first = c.view().slice();
      const oldView = c.view();
      const memoryBefore = kernels.arena.memory.buffer;
      // Force the memory to grow by several pages: old typed-array views detach, handles stay valid.
      const big = kernels.arena.f32(5 * 65536);
      assert.notEqual(kernels.arena.memory.buffer, memoryBefore);
      assert.equal(oldView.length, 0, 'a view taken before growth is detached');
      big.view().fill(1);
      kernels.gemm(false, true, n, n, n, 1, a, b, 0, c);
      assert.deepEqual(c.view(), first);
      // And a kernel writing into a buffer allocated after growth, high in the memory.
      const high = kernels.arena.f32(n * n);
      kernels.gemm(false, true, n, n, n, 1, a, b, 0, high);
      assert.deepEqual(high.view(), first);
      assert.ok(
        big.view().every((value) => value === 1),
        'the large buffer was not touched',
      );
    });

    test('rejects buffers from another context, short buffers and overlapping output', () => {
      const { kernels, twin } = fresh();
      const a = kernels.arena.f32(12);
      const b = kernels.arena.f32(12);
      const c = kernels.arena.f32(9);
      assert.throws(() => kernels.gemm(false, false, 3, 3, 4, 1, twin.arena.f32(12), b, 0, c), EngineError);
      assert.throws(() => kernels.gemm(false, false, 3, 3, 5, 1, a, b, 0, c), ShapeError);
      assert.throws(() => kernels.gemm(false, false, 3, 3, 4, 1, a, b, 0, a), ShapeError);
      assert.throws(() => kernels.syrk(false, 4, 3, 1, a, 0, c), ShapeError);
      assert.throws(() => kernels.axpby(1, kernels.arena.f32(3), 1, a), ShapeError);
      assert.throws(() => kernels.scaleRows(a, 4, 3, kernels.arena.f32(3)), ShapeError);
      assert.throws(() => kernels.gemm(false, false, 1.5, 3, 4, 1, a, b, 0, c), ShapeError);
    });

    test('each context has its own memory above the module data', () => {
      const one = createKernels({ engine });
      const two = createKernels({ engine });
      assert.notEqual(one.arena.memory, two.arena.memory);
      const buffer = one.arena.f32(4);
      assert.ok(buffer.byteOffset > 0 && buffer.byteOffset % 16 === 0);
      buffer.view().set([1, 2, 3, 4]);
      assert.equal(two.arena.f32(4).view()[0], 0);
    });
  });
}
