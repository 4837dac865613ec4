// How accurately each Shampoo storage precision keeps the inverse root of an ill-conditioned factor: the
// measurements behind the choices in docs/storage.md (Shampoo section). Two tables:
// 1. one factor (d×d, eigenvalues geometric 1…κ⁻¹, Haar eigenbasis) held in each representation through the
//    library's stored-matrix formats and root functions, relative error of A^(−1/4) (ridge 1e−6·λ_max);
// 2. the optimizer, both forms, every precision, on 40 gradients G = U·Diag(sqrt(λ))·Z of a 64×16 weight:
//    relative error of the left root against the fp32 run's, overall and along the weakest direction.
// Run with `node --import tsx bench/shampoo-storage-accuracy.ts` (≈ 20 s); options: --d 256
import { parseArgs } from 'node:util';
import { createKernels } from '../src/kernels/index.ts';
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
} from '../test/helpers/lowbit-experiments.ts';

const { values } = parseArgs({ options: { d: { type: 'string', default: '256' } } });

function compose(u: Float64Array, f: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let p = 0; p < d; p++) acc += u[i * d + p] * f[p] * u[j * d + p];
      out[i * d + j] = acc;
    }
  return out;
}

// ---- 1. one factor, every representation ----
{
  const d = Number(values.d);
  const k = createKernels();
  const ar = new KernelArithmetic(k);
  const writer = new Bf16Writer(createCodecs(k), null);
  const ctx = { kernels: k, writer: () => writer, quanBlocksize: 64 };
  const alloc = ((_n: string, _k: string, dtype: 'f32', length: number) =>
    k.arena.alloc(dtype, length)) as never;
  const sc = { v: k.arena.f32(d * d), a: k.arena.f32(d * d), w: k.arena.f32(d * d), s: k.arena.f32(d) };
  const out = k.arena.f32(d * d);
  const input = k.arena.f32(d * d);
  const s = k.arena.f32(d);
  console.log(`# Shampoo storage accuracy\n\n## 1. one ${d}×${d} factor: relative error of A^(−1/4)\n`);
  console.log('| representation (factor → root storage) | κ = 1e3 | κ = 1e6 |\n|---|---:|---:|');
  const rows = new Map<string, string[]>();
  for (const kappa of [1e3, 1e6]) {
    const u = randomOrthogonal(d, 11);
    const lambda = geometricSpectrum(d, 1, 1 / kappa);
    const exact = compose(
      u,
      Array.from(lambda, (l) => (l + 1e-6) ** -0.25),
      d,
    );
    const a = compose(u, lambda, d);
    const vt = new Float32Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) vt[i * d + j] = u[j * d + i];
    s.view().set(lambda);
    const rootIn = (format: MatrixFormat) => {
      const m = createStoredMatrix(format, 'r', 'root', d, d, alloc, ctx);
      m.write(out);
      return relativeError(Float64Array.from(m.read(input).view()), exact);
    };
    const put = (label: string, err: number) => {
      rows.set(label, [...(rows.get(label) ?? []), err.toFixed(4)]);
    };
    for (const [vtFormat, rect, roots] of [
      ['fp32', 0, ['fp32']],
      ['4bit', 0, ['fp32']],
      ['4bit', 1, ['fp32']],
      ['4bit', 4, ['fp32', '4bit-diag']],
      ['bf16', 0, ['fp32']],
      ['bf16', 4, ['fp32', 'bf16-diag', 'bf16']],
    ] as const) {
      const v = createStoredMatrix(vtFormat, 'vt', 'factor', d, d, alloc, ctx);
      input.view().set(vt);
      v.write(input);
      eigenFactorRoot(ar, v, s, d, 1 / 4, 1e-6, rect, sc, out);
      for (const r of roots)
        put(`eigenvectors ${vtFormat} (Björck ${rect}), eigenvalues fp32 → ${r}`, rootIn(r));
    }
    for (const [format, root] of [
      ['4bit-diag', '4bit-diag'],
      ['bf16', 'bf16'],
      ['bf16-diag', 'bf16-diag'],
    ] as const) {
      const m = createStoredMatrix(format, 'a', 'factor', d, d, alloc, ctx);
      input.view().set(a);
      m.write(input);
      denseFactorRoot(ar, m.read(input), d, 1 / 4, 1e-6, sc, out);
      put(`factor A ${format} (eigh) → ${root}`, rootIn(root));
    }
  }
  for (const [label, errs] of rows) console.log(`| ${label} | ${errs.join(' | ')} |`);
}

// ---- 2. the optimizer ----
const D = 64;
const N = 16;
const STEPS = 40;

function decode(sd: StateDict, name: string): Float64Array {
  const get = (n: string) => sd.tensors.find((t) => t.param === 0 && t.name === n)?.data;
  const out = new Float64Array(D * D);
  const codes = get(`${name}_codes`);
  if (codes) {
    const sc = get(`${name}_scales`) as Float32Array;
    dequantize4DiagReal(codes as Uint8Array, sc, get(`${name}_diag`) as Float32Array, D, out);
    return out;
  }
  const off = get(`${name}_offdiag`) as Uint16Array | undefined;
  if (off) {
    const diag = get(`${name}_diag`) as Float32Array;
    for (let i = 0; i < D * D; i++) out[i] = bf16ToF32(off[i]);
    for (let i = 0; i < D; i++) out[i * D + i] = diag[i];
    return out;
  }
  const x = get(name)!;
  if (x instanceof Uint16Array) for (let i = 0; i < D * D; i++) out[i] = bf16ToF32(x[i]);
  else out.set(x as Float32Array);
  return out;
}

console.log(
  `\n## 2. the optimizer: left root of a ${D}×${N} weight after ${STEPS} steps, relative error vs the fp32 run ` +
    '(overall / along the weakest direction)\n',
);
console.log('| form | κ | 4bit | 4bit-naive | bf16 | bf16-naive |\n|---|---:|---:|---:|---:|---:|');
for (const kappa of [1e2, 1e3, 1e4, 1e6]) {
  const u = randomOrthogonal(D, 3);
  const lambda = geometricSpectrum(D, 1, 1 / kappa);
  const rnd = gaussianStream(5);
  const grads = Array.from({ length: STEPS }, () => {
    const z = Float64Array.from({ length: D * N }, rnd);
    const g = new Float32Array(D * N);
    for (let i = 0; i < D; i++)
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let p = 0; p < D; p++) acc += u[i * D + p] * Math.sqrt(lambda[p]) * z[p * N + j];
        g[i * N + j] = acc;
      }
    return g;
  });
  const weakest = (r: Float64Array) => {
    let acc = 0;
    for (let i = 0; i < D; i++)
      for (let j = 0; j < D; j++) acc += u[i * D + D - 1] * r[i * D + j] * u[j * D + D - 1];
    return acc;
  };
  for (const [form, config] of [
    ['lowbit', { variant: 'lowbit', lr: 0, statComputeSteps: 1, precComputeSteps: STEPS, statDecay: 0.95 }],
    [
      'distributed',
      { lr: 0, betas: [0, 0.95], epsilon: 1e-10, preconditionFrequency: 5, maxPreconditionerDim: D },
    ],
  ] as [string, ShampooConfig][]) {
    const roots: Record<string, Float64Array> = {};
    for (const precision of ['fp32', '4bit', '4bit-naive', 'bf16', 'bf16-naive'] as const) {
      const opt = new Shampoo([{ shape: [D, N], data: new Float32Array(D * N) }], {
        ...config,
        precision,
      } as ShampooConfig);
      for (const g of grads) opt.step([g]);
      roots[precision] = decode(opt.stateDict(), 'block0.root0');
    }
    const cell = (p: string) =>
      `${relativeError(roots[p], roots.fp32).toFixed(3)} / ${Math.abs(weakest(roots[p]) / weakest(roots.fp32) - 1).toFixed(3)}`;
    console.log(
      `| ${form} | ${kappa.toExponential(0)} | ${['4bit', '4bit-naive', 'bf16', 'bf16-naive'].map(cell).join(' | ')} |`,
    );
  }
}
