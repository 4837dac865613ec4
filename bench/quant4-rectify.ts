// Rectification of 4-bit eigenbases in float32 on the kernels, as `Quant4Basis` does it: the paper's fixed count
// of first-order Björck steps (rectTol 0; t = 2, 3, 4) against the tolerance-driven steps (rectTol > 0). Per
// variant: the work (d³ flops: a SYRK is 1, a GEMM 2), the time, the orthogonality (‖VᵀV−I‖_F/√d as in
// ALGORITHMS.md §8.3, and max|VᵀV−I|), the largest entry of V minus the orthogonal polar factor of the decoded
// basis (float64 Björck to convergence), and the relative error of A^{-1/4} = V·Diag(λ^{-1/4})·Vᵀ built from the
// rectified basis and the exact eigenvalues (§8.3/§8.4). Bases: the §8.3 Wishart eigenbases (X·Xᵀ/N, N = 4d) and
// the §8.4 one (Haar, eigenvalues geometric 1…1e-6); linear-2, block 64.
// Run with `node --import tsx bench/quant4-rectify.ts [--sizes 128,256,512,1024] [--engine auto]` (d = 1024
// takes about a minute of float64 reference math).
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createKernels, type EngineChoice } from '../src/kernels/index.ts';
import { bjorck } from '../src/linalg/index.ts';
import { quant4Layout } from '../src/storage/quant4.ts';
import { bjorckInPlace, bjorckToTolerance } from '../src/storage/quant4-basis.ts';
import { createCodecs } from '../src/storage/wasm-codecs.ts';
import {
  fromEigen,
  geometricSpectrum,
  maxAbsOrthogonalityError,
  orthogonalityError,
  randomOrthogonal,
  relativeError,
  transpose,
  wishartEigen,
} from '../test/helpers/lowbit-experiments.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '128,256,512,1024' },
    engine: { type: 'string', default: 'auto' },
    repeats: { type: 'string', default: '3' },
  },
});
const kernels = createKernels({ engine: values.engine as EngineChoice });
const codecs = createCodecs(kernels);
const repeats = Math.max(1, Number(values.repeats));

interface Variant {
  name: string;
  iterations: number;
  tolerance: number;
}
const VARIANTS: Variant[] = [
  { name: 'fixed, t = 1', iterations: 1, tolerance: 0 },
  { name: 'fixed, t = 2', iterations: 2, tolerance: 0 },
  { name: 'fixed, t = 3', iterations: 3, tolerance: 0 },
  { name: 'fixed, t = 4 (rectTol 0)', iterations: 4, tolerance: 0 },
  { name: 'rectTol 1e-6, rectT2 1 (one step)', iterations: 1, tolerance: 1e-6 },
  { name: 'rectTol 1e-3', iterations: 4, tolerance: 1e-3 },
  { name: 'rectTol 1e-4', iterations: 4, tolerance: 1e-4 },
  { name: 'rectTol 1e-6 (default)', iterations: 4, tolerance: 1e-6 },
  { name: 'rectTol 1e-7', iterations: 4, tolerance: 1e-7 },
];

/** Qᵀ (rows = eigenvectors) stored 4-bit and decoded back to Q (columns), float32: what `Quant4Basis` rectifies. */
function decoded(vt: Float64Array, d: number): Float32Array {
  const layout = quant4Layout(d, d, 64);
  const codes = kernels.arena.alloc('u8', layout.codeBytes);
  const scales = kernels.arena.f32(layout.scaleCount);
  const t = kernels.arena.f32(d * d);
  t.view().set(vt);
  codecs.quantize4(t, d, d, codes, scales, 'linear-2', 64);
  codecs.dequantize4(codes, scales, d, d, t, 'linear-2', 64);
  return Float32Array.from(transpose(Float64Array.from(t.view()), d));
}

function rectify(
  v0: Float32Array,
  d: number,
  variant: Variant,
): { v: Float32Array; cost: number; ms: number } {
  const v = kernels.arena.f32(d * d);
  const g = kernels.arena.f32(d * d);
  const c = kernels.arena.f32(d * d);
  const times: number[] = [];
  let cost = 3 * variant.iterations;
  for (let r = 0; r < repeats; r++) {
    v.view().set(v0);
    const t0 = performance.now();
    if (variant.tolerance > 0) {
      const rep = bjorckToTolerance(kernels, v, d, variant.iterations, variant.tolerance, g, c);
      cost = rep.grams + 3 * rep.secondOrder + 2 * rep.firstOrder;
    } else {
      bjorckInPlace(kernels, v, d, variant.iterations, g, c);
    }
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { v: v.view().slice(), cost, ms: times[times.length >> 1] };
}

const fmt = (x: number) => (x < 1e-3 ? x.toExponential(2) : x.toFixed(4));

function table(label: string, vt: Float64Array, lambda: ArrayLike<number>, d: number): void {
  const rootValues = Array.from(lambda, (x) => x ** -0.25);
  const exactRoot = fromEigen(vt, rootValues, d);
  const v0 = decoded(vt, d);
  const polar = bjorck(v0, d, d, 12);
  console.log(`\n${label}, d = ${d}\n`);
  console.log(
    '| rectification | d³ flops | ms (median) | ‖VᵀV−I‖_F/√d | max abs(VᵀV−I) | max abs(V − polar) | rel. error of A^{-1/4} |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const variant of VARIANTS) {
    const r = rectify(v0, d, variant);
    const rt = transpose(Float64Array.from(r.v), d); // rows = basis vectors, as the helpers take it
    let toPolar = 0;
    for (let i = 0; i < d * d; i++) toPolar = Math.max(toPolar, Math.abs(r.v[i] - polar[i]));
    console.log(
      `| ${variant.name} | ${r.cost} | ${r.ms.toFixed(1)} | ${fmt(orthogonalityError(rt, d))} | ${fmt(maxAbsOrthogonalityError(rt, d))} | ${fmt(toPolar)} | ${fmt(relativeError(fromEigen(rt, rootValues, d), exactRoot))} |`,
    );
  }
}

console.log(
  `# 4-bit basis rectification in float32 (${kernels.engine}), load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (const d of values.sizes.split(',').map(Number)) {
  const { vt, values: lambda } = wishartEigen(d, 4 * d, 1);
  table('§8.3 Wishart eigenbasis', vt, lambda, d);
}
{
  const d = 256;
  table(
    '§8.4 Haar eigenbasis, eigenvalues geometric 1…1e-6',
    transpose(randomOrthogonal(d, 2), d),
    geometricSpectrum(d, 1, 1e-6),
    d,
  );
}
