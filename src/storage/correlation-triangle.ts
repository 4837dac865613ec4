import type { F32Buffer, F64Buffer, Kernels } from '../kernels/index.ts';
import type { SideScratch } from '../preconditioner/kronecker-side.ts';
import type { Codecs, U8Buffer } from './codecs.ts';
import type { CorrelationBits } from './precision.ts';
import { quant4Layout } from './quant4.ts';
import { quant8ScaleCount } from './quant8.ts';
import type { StateAllocator } from './store-context.ts';

/** √x for x > 0, else 0 (an eigenvalue estimate that is not positive scales its correlations to 0). */
export const sqrtPos = (x: number): number => (x > 0 ? Math.sqrt(x) : 0);

/**
 * The off-diagonal of a factor held in its basis, as the 4-bit eigen-parametrized stores keep it: the strict
 * upper triangle (`pairs` = d(d−1)/2 values, row by row) of correlations `c_ij = O_ij/sqrt(σ_i·σ_j)`, in blocks
 * of `blockSize` with an fp32 absmax scale each (a correlation lies in [−1, 1], so one block scale fits any
 * spectrum): 4-bit linear-2 codes (`bits` 4, two per byte) or 8-bit linear ones (`bits` 8, src/storage/quant8.ts).
 * `values` is fp32 scratch of `pairs` entries; `rootOld`/`rootNew` f64 scratch of d (in the arena, so the
 * WASM codecs read them).
 */
export interface CorrelationTriangle {
  codes: U8Buffer;
  scales: F32Buffer;
  values: F32Buffer;
  pairs: number;
  blockSize: number;
  bits: CorrelationBits;
  rootOld: F64Buffer;
  rootNew: F64Buffer;
}

/**
 * Allocates the triangle of a d×d factor: its codes and scales as state (under the given names), the fp32
 * values and the roots as scratch shared by every side of the optimizer.
 */
export function allocateCorrelations(
  dim: number,
  names: { codes: string; scales: string },
  alloc: StateAllocator,
  scratch: SideScratch,
  kernels: Kernels,
  blockSize: number,
  bits: CorrelationBits,
): CorrelationTriangle {
  const pairs = (dim * (dim - 1)) / 2;
  const layout =
    bits === 4
      ? quant4Layout(1, pairs, blockSize)
      : { codeBytes: pairs, scaleCount: quant8ScaleCount(pairs, blockSize) };
  const maxDim = scratch.maxDim;
  const shared = scratch.shared('correlation-triangle', () => ({
    values: kernels.arena.f32(Math.max(1, (maxDim * (maxDim - 1)) / 2)),
    rootOld: kernels.arena.f64(maxDim),
    rootNew: kernels.arena.f64(maxDim),
  }));
  return {
    codes: alloc(names.codes, 'factor', 'u8', layout.codeBytes),
    scales: alloc(names.scales, 'scales', 'f32', layout.scaleCount),
    values: shared.values.slice(0, pairs),
    pairs,
    blockSize,
    bits,
    rootOld: shared.rootOld.slice(0, dim),
    rootNew: shared.rootNew.slice(0, dim),
  };
}

/**
 * One EMA step of the off-diagonal, `O ← β·O + w·offdiag(ΔS)`, with the diagonal going from `diag` to
 * `nextDiag` (the correlations are renormalized to it). `increment` is ΔS (d×d row-major). Returns false, the
 * codes untouched, if the result is not finite.
 */
export function accumulateCorrelations(
  kernels: Kernels,
  codecs: Codecs,
  tri: CorrelationTriangle,
  increment: F32Buffer,
  d: number,
  diag: ArrayLike<number>,
  nextDiag: ArrayLike<number>,
  beta: number,
  weight: number,
): boolean {
  const rootOld = tri.rootOld.view();
  const rootNew = tri.rootNew.view();
  for (let i = 0; i < d; i++) {
    rootOld[i] = sqrtPos(diag[i]);
    rootNew[i] = sqrtPos(nextDiag[i]);
  }
  decodeCorrelations(codecs, tri);
  codecs.correlationEma(tri.values, increment, d, tri.rootOld, tri.rootNew, beta, weight);
  if (!kernels.allFinite(tri.values)) return false;
  encodeCorrelations(codecs, tri);
  return true;
}

/** `values` ← the stored correlations. */
export function decodeCorrelations(codecs: Codecs, tri: CorrelationTriangle): void {
  if (tri.bits === 4) {
    codecs.dequantize4(tri.codes, tri.scales, 1, tri.pairs, tri.values, 'linear-2', tri.blockSize);
  } else {
    codecs.dequantize8(tri.codes, tri.scales, tri.pairs, tri.values, tri.blockSize);
  }
}

/**
 * `out` (d×d) ← `Diag(σ) + O`, O decoded from the triangle (`O_ij = c_ij·sqrt(σ_i·σ_j)`). With `at`, row and
 * column i of that matrix are written at position `at[i]` (S_π for `at` = π⁻¹); without it, in place.
 */
export function expandCorrelations(
  codecs: Codecs,
  tri: CorrelationTriangle,
  sigma: ArrayLike<number>,
  at: ArrayLike<number> | null,
  out: Float32Array,
): void {
  decodeCorrelations(codecs, tri);
  const c = tri.values.view();
  const d = sigma.length;
  let t = 0;
  for (let i = 0; i < d; i++) {
    const ri = sqrtPos(sigma[i]);
    const ai = at ? at[i] : i;
    const row = ai * d;
    for (let j = i + 1; j < d; j++, t++) {
      const aj = at ? at[j] : j;
      const o = c[t] * ri * sqrtPos(sigma[j]);
      out[row + aj] = o;
      out[aj * d + ai] = o;
    }
    out[row + ai] = sigma[i];
  }
}

/** The stored correlations ← `values`. */
function encodeCorrelations(codecs: Codecs, tri: CorrelationTriangle): void {
  if (tri.bits === 4) {
    codecs.quantize4(tri.values, 1, tri.pairs, tri.codes, tri.scales, 'linear-2', tri.blockSize);
  } else {
    codecs.quantize8(tri.values, tri.pairs, tri.codes, tri.scales, tri.blockSize);
  }
}

/** O ← 0 (the codes of an all-zero triangle). */
export function clearCorrelations(codecs: Codecs, tri: CorrelationTriangle): void {
  tri.values.view().fill(0);
  encodeCorrelations(codecs, tri);
}
