import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../src/errors.ts';
import {
  availableEngines,
  createKernels,
  enableRelaxedSimd,
  type Kernels,
  type WasmEngineName,
} from '../src/kernels/index.ts';
import { SideScratch } from '../src/preconditioner/kronecker-side.ts';
import {
  accumulateCorrelations,
  allocateCorrelations,
  clearCorrelations,
  decodeCorrelations,
  sqrtPos,
} from '../src/storage/correlation-triangle.ts';
import { type Codecs, createCodecs, TsCodecs, WasmCodecs } from '../src/storage/index.ts';
import type { CorrelationBits } from '../src/storage/precision.ts';
import type { StateAllocator } from '../src/storage/store-context.ts';
import { bits, firstDifference, lcg } from './helpers/bit-compare.ts';

// The kernel uses no relaxed instructions, but it ships in both builds: test both where the runtime allows.
enableRelaxedSimd();
const wasmEngines = availableEngines().filter((e): e is WasmEngineName => e !== 'typescript');

/** Random roots with exact zeros and (never produced by `sqrtPos`, but accepted) negative entries. */
function fillRoots(r: Float64Array, rand: () => number): void {
  for (let i = 0; i < r.length; i++) {
    const u = rand();
    r[i] = u < 0.15 ? 0 : u < 0.25 ? -rand() : rand() * 10 ** (4 * rand() - 2);
  }
}

const DIMS = [0, 1, 2, 3, 5, 17, 64, 130];

test('the reference update is the formula, rounded to f32 once (hand-checked pairs)', () => {
  const kernels = createKernels({ engine: 'typescript' });
  const codecs = new TsCodecs(kernels.arena);
  const a = kernels.arena;
  const d = 3;
  const values = a.f32(3);
  values.view().set([0.5, -0.25, 1]);
  const inc = a.f32(9);
  inc.view().set([9, 2, -4, 9, 9, 8, 9, 9, 9]); // diagonal and lower triangle must be ignored
  const rootOld = a.f64(3);
  rootOld.view().set([2, 3, 0.5]);
  const rootNew = a.f64(3);
  rootNew.view().set([1, 4, 0]);
  codecs.correlationEma(values, inc, d, rootOld, rootNew, 0.9, 0.1);
  // (0,1): (0.5·0.9·2·3 + 0.1·2)/(1·4); (0,2) and (1,2): rootNew[2] = 0, so 0.
  const expect01 = Math.fround((0.5 * (0.9 * 2) * 3 + 0.1 * 2) / (1 * 4));
  assert.deepEqual(Array.from(values.view()), [expect01, 0, 0]);
  assert.equal(expect01, Math.fround(0.725));
});

for (const engine of wasmEngines) {
  test(`${engine}: correlationEma is bit-identical to the TS codecs`, () => {
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    assert.ok(wasm instanceof WasmCodecs);
    const ts = new TsCodecs(kernels.arena);
    const arena = kernels.arena;
    const rand = lcg(31);
    for (const d of DIMS) {
      for (const [beta, weight] of [
        [0.95, 0.05],
        [0.3, 1.7],
        [1, 0],
      ]) {
        const mark = arena.mark();
        const pairs = (d * (d - 1)) / 2;
        // Everything allocated before any view is taken (growing the memory detaches views).
        const start = arena.f32(pairs);
        const inc = arena.f32(d * d);
        const rootOld = arena.f64(d);
        const rootNew = arena.f64(d);
        const results = [arena.f32(pairs), arena.f32(pairs)];
        const sv = start.view();
        for (let t = 0; t < pairs; t++) sv[t] = rand() < 0.1 ? 0 : 2 * rand() - 1;
        const iv = inc.view();
        for (let k = 0; k < d * d; k++) iv[k] = (rand() - 0.5) * 10 ** (4 * rand() - 2);
        fillRoots(rootOld.view(), rand);
        fillRoots(rootNew.view(), rand);
        const incBefore = bits(iv).slice();
        const out: Float32Array[] = [wasm, ts].map((codecs, k) => {
          results[k].view().set(sv);
          codecs.correlationEma(results[k], inc, d, rootOld, rootNew, beta, weight);
          return results[k].view();
        });
        const what = `d=${d} β=${beta} w=${weight}`;
        assert.equal(firstDifference(bits(out[0]), bits(out[1])), -1, what);
        assert.equal(firstDifference(bits(iv), incBefore), -1, `${what}: increment changed`);
        // The den ≤ 0 path and the ordinary path are both exercised (and the update moved the values).
        if (d >= 17) {
          const zeros = out[1].filter((x) => x === 0).length;
          assert.ok(zeros > 0 && zeros < pairs, `${what}: ${zeros} zeros of ${pairs}`);
          assert.notEqual(firstDifference(bits(out[1]), bits(sv)), -1, what);
        }
        arena.release(mark);
      }
    }
  });

  test(`${engine}: correlationEma multiplies in the reference's order (extreme roots overflow otherwise)`, () => {
    // A reassociated product differs from the reference by an f64 ulp, which the f32 rounding almost always
    // hides; with roots near the f64 range, (c·ro)·rootOld_j overflows or underflows where c·(ro·rootOld_j)
    // does not, so any other order shows.
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    const ts = new TsCodecs(kernels.arena);
    const arena = kernels.arena;
    const rand = lcg(11);
    for (const d of [2, 3, 6, 9, 40]) {
      const mark = arena.mark();
      const pairs = (d * (d - 1)) / 2;
      const inc = arena.f32(d * d);
      const rootOld = arena.f64(d);
      const rootNew = arena.f64(d);
      const results = [arena.f32(pairs), arena.f32(pairs)];
      const start = new Float32Array(pairs).map(() => (rand() - 0.5) * 10 ** (60 * rand() - 30));
      const iv = inc.view();
      for (let k = 0; k < d * d; k++) iv[k] = rand() - 0.5;
      const ro = rootOld.view();
      const rn = rootNew.view();
      for (let i = 0; i < d; i++) {
        ro[i] = 10 ** ((i & 1 ? -1 : 1) * (280 + 20 * rand()));
        rn[i] = 10 ** (10 * rand() - 5);
      }
      const out: Float32Array[] = [wasm, ts].map((codecs, k) => {
        results[k].view().set(start);
        codecs.correlationEma(results[k], inc, d, rootOld, rootNew, 0.9, 0.1);
        return results[k].view();
      });
      for (let t = 0; t < pairs; t++) {
        assert.ok(Object.is(out[0][t], out[1][t]) || (Number.isNaN(out[0][t]) && Number.isNaN(out[1][t])));
      }
      arena.release(mark);
    }
  });

  test(`${engine}: correlationEma agrees on non-finite inputs (same bits, or NaN on both)`, () => {
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    const ts = new TsCodecs(kernels.arena);
    const arena = kernels.arena;
    const rand = lcg(5);
    const d = 21;
    const pairs = (d * (d - 1)) / 2;
    const start = new Float32Array(pairs).map(() => 2 * rand() - 1);
    start[3] = Number.NaN;
    start[40] = Infinity;
    const inc = arena.f32(d * d);
    const rootOld = arena.f64(d);
    const rootNew = arena.f64(d);
    const results = [arena.f32(pairs), arena.f32(pairs)];
    const iv = inc.view();
    for (let k = 0; k < d * d; k++) iv[k] = rand() - 0.5;
    iv[5] = -Infinity;
    iv[d + 7] = Number.NaN;
    iv[2 * d + 9] = 3e38; // overflows f32 after the division by a small denominator
    fillRoots(rootOld.view(), rand);
    fillRoots(rootNew.view(), rand);
    rootNew.view()[2] = 1e-3;
    rootNew.view()[9] = 1e-3;
    rootNew.view()[11] = Number.NaN;
    const out: Float32Array[] = [wasm, ts].map((codecs, k) => {
      results[k].view().set(start);
      codecs.correlationEma(results[k], inc, d, rootOld, rootNew, 0.9, 0.1);
      return results[k].view();
    });
    let nonFinite = 0;
    for (let t = 0; t < pairs; t++) {
      if (Number.isNaN(out[1][t])) assert.ok(Number.isNaN(out[0][t]), `pair ${t}`);
      else assert.ok(Object.is(out[0][t], out[1][t]), `pair ${t}: ${out[0][t]} vs ${out[1][t]}`);
      if (!Number.isFinite(out[1][t])) nonFinite++;
    }
    assert.ok(nonFinite > 0);
  });

  test(`${engine}: accumulateCorrelations gives identical codes and scales with the WASM and TS codecs`, () => {
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    const ts = new TsCodecs(kernels.arena);
    const rand = lcg(77);
    for (const d of [2, 17, 64, 130]) {
      for (const [blockSize, width] of [
        [64, 4],
        [7, 4],
        [64, 8],
        [7, 8],
      ] as const) {
        const runs = [wasm, ts].map((codecs) => setup(kernels, codecs, d, blockSize, width));
        // The same start: random correlations quantized, σ positive with a few zeros.
        const start = new Float32Array(runs[0].tri.pairs).map(() => 2 * rand() - 1);
        const sigma = Float64Array.from({ length: d }, () => (rand() < 0.1 ? 0 : rand() * 5));
        for (const r of runs) {
          r.tri.values.view().set(start);
          if (width === 4) {
            ts.quantize4(r.tri.values, 1, r.tri.pairs, r.tri.codes, r.tri.scales, 'linear-2', blockSize);
          } else {
            ts.quantize8(r.tri.values, r.tri.pairs, r.tri.codes, r.tri.scales, blockSize);
          }
        }
        for (let step = 0; step < 3; step++) {
          const iv = runs[0].inc.view();
          for (let k = 0; k < d * d; k++) iv[k] = (rand() - 0.5) * 2;
          const next = sigma.map((s, i) => 0.9 * s + 0.1 * Math.abs(iv[i * d + i]));
          if (step === 1) next[0] = 0;
          const ok = runs.map((r) =>
            accumulateCorrelations(kernels, r.codecs, r.tri, runs[0].inc, d, sigma, next, 0.9, 0.1),
          );
          assert.deepEqual(ok, [true, true]);
          const what = `d=${d} B=${blockSize} ${width}-bit step ${step}`;
          const [a, b] = runs.map((r) => r.tri);
          assert.equal(firstDifference(a.codes.view(), b.codes.view()), -1, `${what}: codes`);
          assert.equal(firstDifference(bits(a.scales.view()), bits(b.scales.view())), -1, `${what}: scales`);
          sigma.set(next);
        }
        // The roots the codecs read are those of the diagonals passed in.
        assert.equal(runs[1].tri.rootNew.view()[1], sqrtPos(sigma[1]));
      }
    }
  });
}

test('the codecs check the sizes of the correlationEma buffers', () => {
  const kernels = createKernels({ engine: 'typescript' });
  const codecs = createCodecs(kernels);
  const a = kernels.arena;
  assert.throws(() => codecs.correlationEma(a.f32(6), a.f32(15), 4, a.f64(4), a.f64(4), 1, 1), ShapeError);
  assert.throws(() => codecs.correlationEma(a.f32(5), a.f32(16), 4, a.f64(4), a.f64(4), 1, 1), ShapeError);
  assert.throws(() => codecs.correlationEma(a.f32(6), a.f32(16), 4, a.f64(4), a.f64(3), 1, 1), ShapeError);
  for (const engine of wasmEngines) {
    const k = createKernels({ engine });
    const w = createCodecs(k);
    const b = k.arena;
    assert.throws(() => w.correlationEma(b.f32(6), b.f32(16), 4, b.f64(3), b.f64(4), 1, 1), ShapeError);
  }
});

/** A triangle of a d×d factor in its own scratch, plus an arena increment. */
function setup(kernels: Kernels, codecs: Codecs, d: number, blockSize: number, bits: CorrelationBits = 4) {
  const alloc: StateAllocator = (_name, _kind, dtype, length) => kernels.arena.alloc(dtype, length);
  const scratch = new SideScratch(kernels, d);
  const tri = allocateCorrelations(d, { codes: 'c', scales: 's' }, alloc, scratch, kernels, blockSize, bits);
  return { codecs, tri, inc: scratch.matrix('increment', d) };
}

test('the stored correlations follow a float64 EMA of the off-diagonal: 8-bit within its rounding bound, 4-bit not', () => {
  const kernels = createKernels({ engine: 'typescript' });
  const codecs = createCodecs(kernels);
  const d = 40;
  const beta = 0.9;
  const weight = 0.1;
  const steps = 20;
  const worst: Record<CorrelationBits, number> = { 4: 0, 8: 0 };
  for (const bits of [4, 8] as const) {
    const rand = lcg(5);
    const { tri, inc } = setup(kernels, codecs, d, 64, bits);
    clearCorrelations(codecs, tri);
    // Exact state: the off-diagonal O and the diagonal σ of the EMA, in float64.
    const o = new Float64Array(d * d);
    const sigma = new Float64Array(d);
    const g = new Float64Array(d * 3);
    for (let step = 0; step < steps; step++) {
      // ΔS = G·Gᵀ for a d×3 G whose rows share a common component (correlated, not diagonal).
      for (let k = 0; k < g.length; k++) g[k] = 2 * rand() - 1 + (k % 3 === 0 ? 0.8 : 0);
      const iv = inc.view();
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) {
          let x = 0;
          for (let r = 0; r < 3; r++) x += g[i * 3 + r] * g[j * 3 + r];
          iv[i * d + j] = x;
        }
      }
      const next = sigma.map((s, i) => beta * s + weight * iv[i * d + i]);
      assert.ok(accumulateCorrelations(kernels, codecs, tri, inc, d, sigma, next, beta, weight));
      for (let k = 0; k < d * d; k++) o[k] = beta * o[k] + weight * iv[k];
      sigma.set(next);
      decodeCorrelations(codecs, tri);
      const c = tri.values.view();
      let t = 0;
      for (let i = 0; i < d; i++) {
        for (let j = i + 1; j < d; j++, t++) {
          const exact = o[i * d + j] / Math.sqrt(sigma[i] * sigma[j]);
          worst[bits] = Math.max(worst[bits], Math.abs(c[t] - exact));
        }
      }
    }
  }
  // Each step re-rounds by at most half a step of a block scale ≤ 1 (|c| ≤ 1), and earlier roundings decay
  // by β per step: 8-bit ≤ Σ βᵏ/254 < 1/(254·(1 − β)).
  assert.ok(worst[8] < 1 / (254 * (1 - beta)), `8-bit error ${worst[8]}`);
  assert.ok(worst[4] > 4 * worst[8], `4-bit ${worst[4]} against 8-bit ${worst[8]}`);
});
