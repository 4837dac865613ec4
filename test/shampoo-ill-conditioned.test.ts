// Where the storage precisions differ: the small eigenvalues of an ill-conditioned factor. The 4-bit paper's
// representation (eigenvectors 4-bit, eigenvalues fp32) keeps the inverse fourth root within 0.1 where
// quantizing the factor itself ('4bit-naive') is off by more than 1 (ALGORITHMS.md §8.4), and the same holds
// for bf16 against 'bf16-naive'; then the full optimizer on gradients with an ill-conditioned covariance.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKernels } from '../src/kernels/index.ts';
import { eigh } from '../src/linalg/index.ts';
import type { StateDict } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { ShampooConfig } from '../src/optimizers/shampoo-config.ts';
import { denseFactorRoot } from '../src/preconditioner/dense-factor-root.ts';
import { eigenFactorRoot } from '../src/preconditioner/eigen-factor.ts';
import { KernelArithmetic } from '../src/preconditioner/matrix-arithmetic.ts';
import { bf16ToF32 } from '../src/storage/bf16.ts';
import { Bf16Writer } from '../src/storage/bf16-writer.ts';
import { dequantize4DiagReal } from '../src/storage/quant4.ts';
import { createStoredMatrix, type MatrixFormat } from '../src/storage/stored-matrix.ts';
import { createCodecs } from '../src/storage/wasm-codecs.ts';
import {
  gaussianStream,
  geometricSpectrum,
  randomOrthogonal,
  relativeError,
} from './helpers/lowbit-experiments.ts';

/** `Σ_p U[i,p]·f(λ_p)·U[j,p]` (U's columns are the eigenvectors), float64. */
function compose(u: Float64Array, values: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let p = 0; p < d; p++) acc += u[i * d + p] * values[p] * u[j * d + p];
      out[i * d + j] = acc;
    }
  return out;
}

test('§8.4 through the library: 4-bit eigenvectors keep A^(−1/4) within 0.1, a 4-bit A is off by > 1', () => {
  // 128×128 (the specification used 256; the numbers agree to 1e-3, see docs/storage.md), eigenvalues
  // geometric 1…1e−6, Haar eigenbasis, the 4-bit paper's relative ridge 1e−6·λ_max.
  const d = 128;
  const k = createKernels({ engine: 'auto' });
  const ar = new KernelArithmetic(k);
  const writer = new Bf16Writer(createCodecs(k), null);
  const ctx = { kernels: k, writer: () => writer, quanBlocksize: 64 };
  const alloc = ((_n: string, _k: string, dtype: 'f32', length: number) =>
    k.arena.alloc(dtype, length)) as never;
  const u = randomOrthogonal(d, 11);
  const lambda = geometricSpectrum(d, 1, 1e-6);
  const exact = compose(
    u,
    Array.from(lambda, (l) => (l + 1e-6) ** -0.25),
    d,
  );
  const a = compose(u, lambda, d);
  const vt = new Float32Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) vt[i * d + j] = u[j * d + i];
  const sc = { v: k.arena.f32(d * d), a: k.arena.f32(d * d), w: k.arena.f32(d * d), s: k.arena.f32(d) };
  const out = k.arena.f32(d * d);
  const input = k.arena.f32(d * d);
  const s = k.arena.f32(d);
  s.view().set(lambda);
  /** The root after storing it in `format` (as the optimizer does), relative to the exact root. */
  const stored = (format: MatrixFormat): number => {
    const m = createStoredMatrix(format, 'root', 'root', d, d, alloc, ctx);
    assert.ok(m.write(out));
    return relativeError(Float64Array.from(m.read(input).view()), exact);
  };

  const errors: Record<string, number> = {};
  // '4bit' (lowbit form): Vt 4-bit, S fp32, rectT2 = 4 Björck steps, root stored DiagReal.
  const vt4 = createStoredMatrix('4bit', 'vt', 'factor', d, d, alloc, ctx);
  input.view().set(vt);
  vt4.write(input);
  assert.equal(eigenFactorRoot(ar, vt4, s, d, 1 / 4, 1e-6, 4, sc, out), 'ok');
  errors['4bit root'] = relativeError(Float64Array.from(out.view()), exact);
  errors['4bit root, stored DiagReal'] = stored('4bit-diag');
  // Without rectification the quantized eigenvectors give twice the error (§8.3/§8.4, t = 0).
  assert.equal(eigenFactorRoot(ar, vt4, s, d, 1 / 4, 1e-6, 0, sc, out), 'ok');
  errors['4bit root, no Björck'] = relativeError(Float64Array.from(out.view()), exact);
  // '4bit-naive': A stored DiagReal, root by eigh of the decoded A (negative eigenvalues clamped).
  const a4 = createStoredMatrix('4bit-diag', 'a', 'factor', d, d, alloc, ctx);
  input.view().set(a);
  a4.write(input);
  assert.equal(denseFactorRoot(ar, a4.read(input), d, 1 / 4, 1e-6, sc, out), 'ok');
  errors['4bit-naive root'] = relativeError(Float64Array.from(out.view()), exact);
  // 'bf16': Vt bf16, root stored fp32 diagonal + bf16 off-diagonal; 'bf16-naive': A and root bf16.
  const vt16 = createStoredMatrix('bf16', 'vt16', 'factor', d, d, alloc, ctx);
  input.view().set(vt);
  vt16.write(input);
  assert.equal(eigenFactorRoot(ar, vt16, s, d, 1 / 4, 1e-6, 4, sc, out), 'ok');
  errors['bf16 root, stored bf16-diag'] = stored('bf16-diag');
  errors['bf16 root, stored dense bf16'] = stored('bf16');
  for (const format of ['bf16', 'bf16-diag'] as const) {
    const a16 = createStoredMatrix(format, `a16${format}`, 'factor', d, d, alloc, ctx);
    input.view().set(a);
    a16.write(input);
    assert.equal(denseFactorRoot(ar, a16.read(input), d, 1 / 4, 1e-6, sc, out), 'ok');
    errors[`A stored ${format}`] = relativeError(Float64Array.from(out.view()), exact);
  }
  const msg = JSON.stringify(errors);
  assert.ok(errors['4bit root'] <= 0.1, msg); // specification: 0.071
  assert.ok(errors['4bit root, stored DiagReal'] <= 0.12, msg);
  assert.ok(errors['4bit root, no Björck'] > 1.5 * errors['4bit root'], msg); // specification: 0.153
  assert.ok(errors['4bit-naive root'] > 1, msg); // specification: 1.23
  assert.ok(errors['bf16 root, stored bf16-diag'] <= 0.01, msg);
  assert.ok(errors['bf16 root, stored bf16-diag'] < errors['bf16 root, stored dense bf16'], msg);
  // A dense bf16 factor loses the small eigenvalues whether or not its diagonal is fp32.
  assert.ok(errors['A stored bf16'] > 0.3 && errors['A stored bf16-diag'] > 0.3, msg);
});

// ---------------------------------------------------------------------------------------------------------
// The optimizer: the left factor of a 64×16 weight sees gradients G = U·Diag(sqrt(λ))·Z with λ geometric
// 1…1e−3 (Z Gaussian), so its statistics have condition number ≈ 1.3e3. Every precision runs the same 40
// gradients; the left inverse roots are compared with the fp32 run's.
// ---------------------------------------------------------------------------------------------------------

const D = 64;
const N = 16;
const STEPS = 40;

function illConditionedGradients(): { grads: Float32Array[]; u: Float64Array } {
  const u = randomOrthogonal(D, 3);
  const lambda = geometricSpectrum(D, 1, 1e-3);
  const rnd = gaussianStream(5);
  const grads: Float32Array[] = [];
  for (let t = 0; t < STEPS; t++) {
    const z = Float64Array.from({ length: D * N }, rnd);
    const g = new Float32Array(D * N);
    for (let i = 0; i < D; i++)
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let p = 0; p < D; p++) acc += u[i * D + p] * Math.sqrt(lambda[p]) * z[p * N + j];
        g[i * N + j] = acc;
      }
    grads.push(g);
  }
  return { grads, u };
}

/** The d×d matrix `name` of param 0 decoded from a state dict, whatever its storage format. */
function decodeMatrix(sd: StateDict, name: string, d: number): Float64Array {
  const get = (n: string) => sd.tensors.find((t) => t.param === 0 && t.name === n)?.data;
  const out = new Float64Array(d * d);
  const codes = get(`${name}_codes`);
  if (codes) {
    dequantize4DiagReal(
      codes as Uint8Array,
      get(`${name}_scales`) as Float32Array,
      get(`${name}_diag`) as Float32Array,
      d,
      out,
    );
    return out;
  }
  const off = get(`${name}_offdiag`);
  if (off) {
    const diag = get(`${name}_diag`) as Float32Array;
    for (let i = 0; i < d * d; i++) out[i] = bf16ToF32((off as Uint16Array)[i]);
    for (let i = 0; i < d; i++) out[i * d + i] = diag[i];
    return out;
  }
  const x = get(name);
  assert.ok(x, `state ${name}`);
  if (x instanceof Uint16Array) for (let i = 0; i < d * d; i++) out[i] = bf16ToF32(x[i]);
  else out.set(x as Float32Array);
  return out;
}

/** `uᵀ·R·u` for the eigenvector u of the true covariance's smallest eigenvalue (the weakest direction). */
function weakest(root: Float64Array, u: Float64Array): number {
  const p = D - 1;
  let acc = 0;
  for (let i = 0; i < D; i++)
    for (let j = 0; j < D; j++) acc += u[i * D + p] * root[i * D + j] * u[j * D + p];
  return acc;
}

for (const [variant, config] of [
  ['lowbit', { variant: 'lowbit', lr: 0, statComputeSteps: 1, precComputeSteps: STEPS, statDecay: 0.95 }],
  [
    'distributed',
    { lr: 0, betas: [0, 0.95], epsilon: 1e-10, preconditionFrequency: 5, maxPreconditionerDim: D },
  ],
] as [string, ShampooConfig][]) {
  test(`${variant}: on ill-conditioned statistics 4bit tracks fp32 while 4bit-naive does not (bf16 likewise)`, () => {
    const { grads, u } = illConditionedGradients();
    const roots: Record<string, Float64Array> = {};
    for (const precision of ['fp32', '4bit', '4bit-naive', 'bf16', 'bf16-naive'] as const) {
      const params = [{ shape: [D, N], data: new Float32Array(D * N) }];
      const opt = new Shampoo(params, { ...config, precision } as ShampooConfig);
      for (const g of grads) opt.step([g]);
      assert.equal(opt.consecutiveFailures, 0);
      roots[precision] = decodeMatrix(opt.stateDict(), 'block0.root0', D);
    }
    // The fp32 root is the exact one here (distributed: eigh of the exact EMA), not a stand-in.
    const err = (p: string) => relativeError(roots[p], roots.fp32);
    const weak = (p: string) => Math.abs(weakest(roots[p], u) / weakest(roots.fp32, u) - 1);
    const report = ['4bit', '4bit-naive', 'bf16', 'bf16-naive']
      .map((p) => `${p}: ${err(p).toFixed(4)} (weakest direction ${weak(p).toFixed(3)})`)
      .join(', ');
    if (process.env.SHAMPOO_ILL_REPORT) console.log(variant, report);
    assert.ok(err('4bit') <= 0.3, report);
    assert.ok(err('4bit-naive') >= 10 * err('4bit') && err('4bit-naive') > 1, report);
    assert.ok(err('bf16') <= 0.05, report);
    assert.ok(err('bf16-naive') >= 3 * err('bf16'), report);
    // Where: in the weakest direction the naive roots are far off.
    assert.ok(weak('4bit-naive') > 3 * weak('4bit'), report);
  });
}

test('the distributed fp32 run is the exact inverse root of the EMA (the reference of the comparison above)', () => {
  const { grads } = illConditionedGradients();
  const params = [{ shape: [D, N], data: new Float32Array(D * N) }];
  const opt = new Shampoo(params, {
    lr: 0,
    betas: [0, 0.95],
    epsilon: 1e-10,
    preconditionFrequency: 5,
    maxPreconditionerDim: D,
  });
  for (const g of grads) opt.step([g]);
  const a = new Float64Array(D * D);
  for (const g of grads)
    for (let i = 0; i < D; i++)
      for (let j = 0; j < D; j++) {
        let acc = 0;
        for (let c = 0; c < N; c++) acc += g[i * N + c] * g[j * N + c];
        a[i * D + j] = 0.95 * a[i * D + j] + 0.05 * acc;
      }
  const bc = 1 - 0.95 ** STEPS;
  for (let i = 0; i < D * D; i++) a[i] /= bc;
  for (let i = 0; i < D; i++) a[i * D + i] += 1e-10;
  const { values, vectors } = eigh(a, D);
  const exact = compose(
    vectors,
    Array.from(values, (l) => l ** -0.25),
    D,
  );
  assert.ok(relativeError(decodeMatrix(opt.stateDict(), 'block0.root0', D), exact) < 5e-3);
});
