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

/** `out = aᵀ` for d×d row-major matrices (out must not overlap a). */
export function transposeSquare(a: Float32Array, d: number, out: Float32Array): void {
  for (let i = 0; i < d; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) out[j * d + i] = a[row + j];
  }
}

/**
 * A d×d orthonormal basis stored in 4 bits, as the 4-bit paper stores eigenvectors: the matrix kept is Qᵀ, whose
 * ROWS are the eigenvectors, so each block of B consecutive codes (and its fp32 absmax scale) belongs to one
 * eigenvector. Computations use the basis dequantized, transposed back to Q (columns = eigenvectors) and
 * Björck-rectified; that fp32 matrix is cached per side (scratch, `4d²` bytes) and rebuilt only when the codes
 * change or were overwritten from outside. Because the cache is a function of the stored codes alone, a
 * restored state computes the same basis bit for bit.
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
  ) {
    this.dim = dim;
    this.codecs = codecs;
    this.scratch = scratch;
    this.blockSize = blockSize;
    this.iterations = iterations;
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
   * code is 0) and a fixed point of Björck (1.5·1 − 0.5·1 = 1, the products of I are exact), so the cache is I
   * without computing it: what `get` would produce, bit for bit.
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

  /** out = Björck^t(dequantize(codes)ᵀ); uses the 'product' and 'work' scratch. */
  private rectify(kernels: Kernels, codes: U8Buffer, scales: F32Buffer, out: F32Buffer): void {
    const d = this.dim;
    const t = this.scratch.matrix('product', d);
    this.codecs.dequantize4(codes, scales, d, d, t, 'linear-2', this.blockSize);
    transposeSquare(t.view(), d, out.view());
    bjorckInPlace(kernels, out, d, this.iterations, t, this.scratch.matrix('work', d));
  }
}
