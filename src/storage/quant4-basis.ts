import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { SideScratch } from '../preconditioner/kronecker-side.ts';
import type { Codecs, U8Buffer } from './codecs.ts';
import { quant4Layout } from './quant4.ts';
import type { StateAllocator } from './store-context.ts';

/**
 * Björck orthonormalization in float32 with the dense kernels: `V ← 1.5·V − 0.5·(V·Vᵀ)·V`, `iterations` times,
 * in place (ALGORITHMS.md P5; `(VVᵀ)V = V(VᵀV)`, so rows or columns as eigenvectors is the same iteration).
 * `g` and `c` are d×d scratch. One iteration is a SYRK and a GEMM (≈ 3d³ flops).
 */
export function bjorckInPlace(
  kernels: Kernels,
  v: F32Buffer,
  d: number,
  iterations: number,
  g: F32Buffer,
  c: F32Buffer,
): void {
  for (let it = 0; it < iterations; it++) {
    kernels.syrk(false, d, d, 1, v, 0, g);
    kernels.gemm(false, false, d, d, d, 1, g, v, 0, c);
    kernels.axpby(-0.5, c, 1.5, v);
  }
}

/**
 * Second-order steps need every singular value below sqrt(7/3) ≈ 1.53 (the fixed point of σ·p(σ²) above 1);
 * they are taken only when ‖VVᵀ − I‖₂ ≤ 1.25 is certain, i.e. σ ≤ 1.5.
 */
const SECOND_ORDER_LIMIT = 1.25;

/** What `bjorckToTolerance` computed. */
export interface RectifyReport {
  /** Steps `V ← V − ½·E·V` (E = VVᵀ − I): a SYRK and a GEMM, ≈ 3d³ flops. */
  firstOrder: number;
  /** Steps `V ← V + (−½·E + ⅜·E²)·V`: two SYRKs and a GEMM, ≈ 4d³ flops. */
  secondOrder: number;
  /** SYRKs of V (one per step, plus one when a residual was measured without a step following). */
  grams: number;
  /** Whether it stopped on the tolerance (false: the step count ran out first). */
  converged: boolean;
}

/**
 * Orthonormalization to a tolerance, in place: at most `maxSteps` Björck steps (first order, as `bjorckInPlace`,
 * or second order, the next term of Björck and Bowie's series `(I + E)^(−1/2) = I − ½E + ⅜E² − …`), stopping
 * as soon as `max|VVᵀ − I| ≤ tolerance` is measured or guaranteed.
 *
 * Each step starts from the Gram matrix `G = VVᵀ` (a SYRK) and reads off E = G − I: its largest entry r, its
 * largest row norm ρ and its largest absolute row sum ‖E‖∞ (≥ ‖E‖₂, E being symmetric). Then, in exact
 * arithmetic, a first-order step leaves `E' = −¾E² + ¼E³` and a second-order one `E' = ⅝E³ − ¹⁵⁄₆₄E⁴ + ⁹⁄₆₄E⁵`,
 * and since `|(Eᵏ)_ij| ≤ ρ²·‖E‖₂^(k−2)` the result's largest entry is bounded by `ρ²·(¾ + ¼s)` or
 * `ρ²·s·(⅝ + ¹⁵⁄₆₄s + ⁹⁄₆₄s²)` with s ≥ ‖E‖₂. So the step is:
 *
 * - none, if r ≤ tolerance (an orthonormal input costs one SYRK);
 * - first order, and the last one, if its bound is ≤ tolerance (the next SYRK is not computed);
 * - otherwise second order (its E² also gives `s = min(‖E‖∞, ‖E²‖∞^½)`), the last one if its bound is ≤
 *   tolerance; first order instead if s > 1.25 (outside the second-order step's safe range).
 *
 * The corrections are formed from E, not from G (`V − ½·(E·V)` instead of `1.5·V − 0.5·(G·V)`), so a GEMM's
 * rounding scales with the small correction rather than with V: near convergence the result is as close to the
 * orthogonal polar factor as the fixed iteration's, or up to 2× closer (docs/storage.md §5.3).
 *
 * A 4-bit (linear-2, block 64) orthogonal basis of order 64…1024 starts at ‖E‖₂ ≈ 0.3: with a tolerance of 1e-6
 * this is two second-order steps (8d³ flops, against 12d³ for the paper's four first-order steps) on the bases
 * of a SOAP run; on some random bases one more Gram matrix (9d³) or also a first-order step (11d³). The bounds
 * are for exact arithmetic; the result also carries float32 rounding (max|VVᵀ − I| ≈ 1–8e-7 at any step
 * count). `g` and `c` are d×d scratch.
 */
export function bjorckToTolerance(
  kernels: Kernels,
  v: F32Buffer,
  d: number,
  maxSteps: number,
  tolerance: number,
  g: F32Buffer,
  c: F32Buffer,
): RectifyReport {
  const report: RectifyReport = { firstOrder: 0, secondOrder: 0, grams: 0, converged: false };
  for (let step = 0; step < maxSteps; step++) {
    kernels.syrk(false, d, d, 1, v, 0, g);
    report.grams++;
    const e = g.view();
    // E = G − I, exact wherever G's diagonal lies in [0.5, 2] (Sterbenz), as near an orthonormal basis.
    for (let i = 0; i < d; i++) e[i * d + i] -= 1;
    const { maxAbs, rowNorm2, rowSum } = deviation(e, d);
    if (maxAbs <= tolerance) {
      report.converged = true;
      break;
    }
    if (rowNorm2 * (0.75 + 0.25 * rowSum) <= tolerance) {
      firstOrderStep(kernels, v, d, g, c);
      report.firstOrder++;
      report.converged = true;
      break;
    }
    kernels.syrk(false, d, d, 1, g, 0, c); // E² = E·Eᵀ
    const s = Math.min(rowSum, Math.sqrt(deviation(c.view(), d).rowSum));
    if (!(s <= SECOND_ORDER_LIMIT)) {
      firstOrderStep(kernels, v, d, g, c);
      report.firstOrder++;
      continue;
    }
    kernels.axpby(-0.5, g, 0.375, c); // C = ⅜E² − ½E
    kernels.gemm(false, false, d, d, d, 1, c, v, 0, g);
    kernels.axpby(1, g, 1, v);
    report.secondOrder++;
    if (rowNorm2 * s * (0.625 + s * (0.234375 + 0.140625 * s)) <= tolerance) {
      report.converged = true;
      break;
    }
  }
  return report;
}

/** `V ← V − ½·E·V` with E in `e` (overwrites `c`). */
function firstOrderStep(kernels: Kernels, v: F32Buffer, d: number, e: F32Buffer, c: F32Buffer): void {
  kernels.gemm(false, false, d, d, d, 1, e, v, 0, c);
  kernels.axpby(-0.5, c, 1, v);
}

/**
 * Largest |entry|, largest squared row norm and largest absolute row sum of a d×d matrix, in float64. All three
 * are NaN if an entry is (so no stopping test passes on a non-finite matrix).
 */
function deviation(e: Float32Array, d: number): { maxAbs: number; rowNorm2: number; rowSum: number } {
  let maxAbs = 0;
  let rowNorm2 = 0;
  let rowSum = 0;
  let total = 0;
  for (let i = 0; i < d; i++) {
    const row = i * d;
    let sq = 0;
    let sum = 0;
    let big = 0;
    for (let j = 0; j < d; j++) {
      const x = e[row + j];
      const a = Math.abs(x);
      sq += x * x;
      sum += a;
      if (a > big) big = a;
    }
    if (big > maxAbs) maxAbs = big;
    if (sq > rowNorm2) rowNorm2 = sq;
    if (sum > rowSum) rowSum = sum;
    total += sum;
  }
  if (Number.isNaN(total)) return { maxAbs: Number.NaN, rowNorm2: Number.NaN, rowSum: Number.NaN };
  return { maxAbs, rowNorm2, rowSum };
}

/** Tile edge of the blocked transpose (a 32×32 float32 tile is 4 KiB: both tiles stay in L1). */
const TILE = 32;

/** `out = aᵀ` for d×d row-major matrices (out must not overlap a). */
export function transposeSquare(a: Float32Array, d: number, out: Float32Array): void {
  for (let i0 = 0; i0 < d; i0 += TILE) {
    const i1 = Math.min(i0 + TILE, d);
    for (let j0 = 0; j0 < d; j0 += TILE) {
      const j1 = Math.min(j0 + TILE, d);
      for (let i = i0; i < i1; i++) {
        const row = i * d;
        for (let j = j0; j < j1; j++) out[j * d + i] = a[row + j];
      }
    }
  }
}

/**
 * A d×d orthonormal basis stored in 4 bits, as the 4-bit paper stores eigenvectors: the matrix kept is Qᵀ, whose
 * ROWS are the eigenvectors, so each block of B consecutive codes (and its fp32 absmax scale) belongs to one
 * eigenvector. Computations use the basis dequantized, transposed back to Q (columns = eigenvectors) and
 * Björck-rectified; that fp32 matrix is cached per side (scratch, `4d²` bytes) and rebuilt only when the codes
 * change or were overwritten from outside. Because the cache is a function of the stored codes alone, a
 * restored state computes the same basis bit for bit.
 *
 * Rectification: with `tolerance` 0, exactly `iterations` first-order Björck steps (`bjorckInPlace`, the
 * paper's fixed count); with `tolerance` > 0, `bjorckToTolerance` with at most `iterations` steps.
 */
export class Quant4Basis {
  readonly dim: number;
  private readonly codes: U8Buffer;
  private readonly scales: F32Buffer;
  private readonly cache: F32Buffer;
  private readonly pendingCodes: U8Buffer;
  private readonly pendingScales: F32Buffer;
  private readonly codecs: Codecs;
  private readonly scratch: SideScratch;
  private readonly blockSize: number;
  private readonly iterations: number;
  private readonly tolerance: number;
  private valid = false;

  constructor(
    dim: number,
    name: string,
    alloc: StateAllocator,
    kernels: Kernels,
    codecs: Codecs,
    scratch: SideScratch,
    blockSize: number,
    iterations: number,
    tolerance = 0,
  ) {
    this.dim = dim;
    this.codecs = codecs;
    this.scratch = scratch;
    this.blockSize = blockSize;
    this.iterations = iterations;
    this.tolerance = tolerance;
    const layout = quant4Layout(dim, dim, blockSize);
    this.codes = alloc(`${name}_codes`, 'basis', 'u8', layout.codeBytes);
    this.scales = alloc(`${name}_scales`, 'scales', 'f32', layout.scaleCount);
    this.cache = kernels.arena.f32(dim * dim);
    const max = quant4Layout(scratch.maxDim, scratch.maxDim, blockSize);
    const pending = scratch.shared(`quant4-basis:${blockSize}`, () => ({
      codes: kernels.arena.alloc('u8', max.codeBytes),
      scales: kernels.arena.f32(max.scaleCount),
    }));
    this.pendingCodes = pending.codes.slice(0, layout.codeBytes);
    this.pendingScales = pending.scales.slice(0, layout.scaleCount);
  }

  /** The rectified fp32 basis (columns = eigenvectors), rebuilt from the codes if needed. */
  get(kernels: Kernels): F32Buffer {
    if (!this.valid) {
      this.rectify(kernels, this.codes, this.scales, this.cache);
      this.valid = true;
    }
    return this.cache;
  }

  /**
   * Quantizes the fp32 basis `q` (columns = eigenvectors; overwritten) into the pending codes and writes the
   * basis the state will hold after `commit` (dequantized, rectified) into `q`. Uses the 'product' and 'work'
   * scratch. Returns false if `q` or the result is not finite (nothing pending then).
   */
  propose(kernels: Kernels, q: F32Buffer): boolean {
    const d = this.dim;
    if (!kernels.allFinite(q)) return false;
    const t = this.scratch.matrix('product', d);
    transposeSquare(q.view(), d, t.view());
    this.codecs.quantize4(t, d, d, this.pendingCodes, this.pendingScales, 'linear-2', this.blockSize);
    this.rectify(kernels, this.pendingCodes, this.pendingScales, q);
    return kernels.allFinite(q);
  }

  /** Makes the pending codes the state; `rectified` is what `propose` left in its argument. */
  commit(rectified: F32Buffer): void {
    this.codes.view().set(this.pendingCodes.view());
    this.scales.view().set(this.pendingScales.view());
    this.cache.view().set(rectified.view());
    this.valid = true;
  }

  /**
   * Stores the identity. It is exactly representable (each row's block holding the 1 has scale 1, every other
   * code is 0) and a fixed point of Björck (1.5·1 − 0.5·1 = 1, the products of I are exact; to a tolerance, the
   * first Gram matrix is exactly I), so the cache is I without computing it: what `get` would produce, bit for bit.
   */
  setIdentity(): void {
    const d = this.dim;
    const eye = this.cache.view();
    eye.fill(0);
    for (let i = 0; i < d; i++) eye[i * d + i] = 1;
    this.codecs.quantize4(this.cache, d, d, this.codes, this.scales, 'linear-2', this.blockSize);
    this.valid = true;
  }

  invalidate(): void {
    this.valid = false;
  }

  /** out = dequantize(codes)ᵀ, the stored basis before rectification (columns = vectors); uses the 'product' scratch. */
  decode(out: F32Buffer): void {
    const d = this.dim;
    const t = this.scratch.matrix('product', d);
    this.codecs.dequantize4(this.codes, this.scales, d, d, t, 'linear-2', this.blockSize);
    transposeSquare(t.view(), d, out.view());
  }

  /** out = Björck(dequantize(codes)ᵀ) as configured; uses the 'product' and 'work' scratch. */
  private rectify(kernels: Kernels, codes: U8Buffer, scales: F32Buffer, out: F32Buffer): void {
    const d = this.dim;
    const t = this.scratch.matrix('product', d);
    this.codecs.dequantize4(codes, scales, d, d, t, 'linear-2', this.blockSize);
    transposeSquare(t.view(), d, out.view());
    const work = this.scratch.matrix('work', d);
    if (this.tolerance > 0) bjorckToTolerance(kernels, out, d, this.iterations, this.tolerance, t, work);
    else bjorckInPlace(kernels, out, d, this.iterations, t, work);
  }
}
