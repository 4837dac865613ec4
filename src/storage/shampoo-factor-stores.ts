/**
 * The Kronecker factors of Distributed Shampoo under each storage precision (docs/storage.md, Shampoo
 * section). A factor is updated every step (`F ← β·F + w·X_(k)·X_(k)ᵀ`) and decomposed every
 * `preconditionFrequency` steps, so a store must take cheap per-step updates and hand the refresh a matrix to
 * decompose:
 *
 * - parameter coordinates (`ParameterFactorStore`): F itself, fp32 ('fp32'), bf16 ('bf16-naive') or DiagReal
 *   4-bit ('4bit-naive'), decoded, updated in fp32 and re-encoded each step;
 * - rotated coordinates (`RotatedFactorStore`, '4bit' and 'bf16'): F is held as `Q̃·S·Q̃ᵀ` in a stored basis
 *   Q̃ (bf16, or 4-bit and Björck-rectified), with `S = Q̃ᵀ·F·Q̃` split into its diagonal σ (fp32: the
 *   eigenvalue estimates) and its off-diagonal O (bf16, or 4-bit as correlations `O_ij/sqrt(σ_i·σ_j)`).
 *   Increments arrive rotated (`Q̃ᵀ·X_(k)X_(k)ᵀ·Q̃`, one more mode product per step). A refresh decomposes S
 *   (`S = W·Λ·Wᵀ`, so `F = (Q̃W)·Λ·(Q̃W)ᵀ`) and rebases: Q̃ ← Q̃·W stored again, σ ← Λ, O ← 0 (the 4-bit
 *   paper's re-parametrization: what the re-stored basis fails to diagonalize is dropped).
 *
 * Small eigenvalues are why: a dense F in bf16 or 4 bits loses every eigenvalue below its entries' rounding
 * error (ALGORITHMS.md §8.4, §8.5), while σ keeps them in fp32 and O holds only the small couplings that the
 * basis has not absorbed yet.
 */

import { isAllFinite } from '../finite.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { SideScratch } from '../preconditioner/kronecker-side.ts';
import { type ModeShape, modeProduct, modeStatistics } from '../preconditioner/mode-products.ts';
import type { Bf16Writer } from './bf16-writer.ts';
import type { U16Buffer } from './codecs.ts';
import {
  accumulateCorrelations,
  allocateCorrelations,
  type CorrelationTriangle,
  clearCorrelations,
  expandCorrelations,
} from './correlation-triangle.ts';
import { descendingEigenvectors } from './power-step.ts';
import { Quant4Basis } from './quant4-basis.ts';
import { DecodeSlot, type StateAllocator } from './store-context.ts';
import type { StoredMatrix } from './stored-matrix.ts';

export interface ShampooFactorStore {
  readonly dim: number;
  readonly coordinates: 'parameter' | 'rotated';
  /**
   * `F ← beta·F + weight·X_(k)·X_(k)ᵀ` for the block gradient x (`shape`: its view along this factor's mode),
   * `tmp` scratch of x's length. Returns false, state unchanged, if the result would not be finite.
   */
  update(
    kernels: Kernels,
    x: F32Buffer,
    shape: ModeShape,
    weight: number,
    beta: number,
    tmp: F32Buffer,
  ): boolean;
  /** The factor in the store's coordinates (F, or S for a rotated store), fp32 d×d: the state or `into`. */
  read(into: F32Buffer): F32Buffer;
  /** Rotated stores: the basis Q̃ (columns), valid for the rest of the block's step. */
  basis(): F32Buffer | null;
  /**
   * Rotated stores, after a refresh: the new basis `b = Q̃·W` (columns, fp32 d×d; overwritten with the basis as
   * stored) and the diagonal of S in it (d values). Returns false, state unchanged, if not finite.
   */
  rebase(kernels: Kernels, b: F32Buffer, sigma: ArrayLike<number>): boolean;
  /** The state buffers were overwritten from outside: forget what was derived from them. */
  invalidate(): void;
}

/** F itself in a stored-matrix format (fp32, bf16 or DiagReal 4-bit). */
export class ParameterFactorStore implements ShampooFactorStore {
  readonly coordinates = 'parameter' as const;
  readonly dim: number;
  private readonly factor: StoredMatrix<F32Buffer>;
  private readonly work: F32Buffer;

  /** `work`: d×d scratch (shared) for the formats that decode. */
  constructor(dim: number, factor: StoredMatrix<F32Buffer>, work: F32Buffer) {
    this.dim = dim;
    this.factor = factor;
    this.work = work.slice(0, dim * dim);
  }

  update(kernels: Kernels, x: F32Buffer, shape: ModeShape, weight: number, beta: number): boolean {
    if (this.factor.format === 'fp32') {
      // In place, as the fp32 reference (the gradient was checked: its statistics cannot overflow).
      modeStatistics(kernels, x, shape, weight, beta, this.factor.read(this.work));
      return true;
    }
    const f = this.factor.read(this.work);
    modeStatistics(kernels, x, shape, weight, beta, f);
    return this.factor.write(f, 'average');
  }

  read(into: F32Buffer): F32Buffer {
    return this.factor.read(into);
  }

  basis(): null {
    return null;
  }

  rebase(): boolean {
    return false;
  }

  invalidate(): void {}
}

/** How a rotated store holds its basis and its off-diagonal. */
export type RotatedFormat = 'bf16' | '4bit';

/** See the file comment. State: `{name}` basis, `{factor}_diag` σ, `{factor}_offdiag…` O. */
export class RotatedFactorStore implements ShampooFactorStore {
  readonly coordinates = 'rotated' as const;
  readonly dim: number;
  private readonly sigma: F32Buffer;
  private readonly writer: Bf16Writer;
  private readonly scratch: SideScratch;
  private readonly kernels: Kernels;
  // bf16: Q in bf16 (decoded into a shared slot per step), O a full d×d bf16 matrix with a zero diagonal.
  private readonly basis16: U16Buffer | null = null;
  private readonly offdiag16: U16Buffer | null = null;
  private readonly slot: DecodeSlot | null = null;
  // 4-bit: Q as Quant4Basis (Qᵀ codes, rectified fp32 copy cached), O as the packed strict upper triangle of
  // correlations O_ij/sqrt(σ_i·σ_j) in one row of 4-bit blocks.
  private readonly basis4: Quant4Basis | null = null;
  private readonly tri: CorrelationTriangle | null = null;
  private readonly nextSigma: Float32Array;

  constructor(
    dim: number,
    format: RotatedFormat,
    names: { basis: string; factor: string },
    mode: number,
    alloc: StateAllocator,
    ctx: {
      kernels: Kernels;
      writer: Bf16Writer;
      scratch: SideScratch;
      quanBlocksize: number;
      rectify: number;
    },
  ) {
    this.dim = dim;
    this.writer = ctx.writer;
    this.scratch = ctx.scratch;
    this.kernels = ctx.kernels;
    const n2 = dim * dim;
    const k = ctx.kernels;
    this.sigma = alloc(`${names.factor}_diag`, 'factor', 'f32', dim);
    if (format === 'bf16') {
      this.basis16 = alloc(names.basis, 'basis', 'u16', n2);
      this.offdiag16 = alloc(`${names.factor}_offdiag`, 'factor', 'u16', n2);
      this.slot = ctx.scratch.shared(`shampoo-basis:${mode}:${dim}`, () => new DecodeSlot(k.arena.f32(n2)));
    } else {
      this.basis4 = new Quant4Basis(
        dim,
        names.basis,
        alloc,
        k,
        ctx.writer.codecs,
        ctx.scratch,
        ctx.quanBlocksize,
        ctx.rectify,
      );
      this.tri = allocateCorrelations(
        dim,
        { codes: `${names.factor}_offdiag_codes`, scales: `${names.factor}_offdiag_scales` },
        alloc,
        ctx.scratch,
        k,
        ctx.quanBlocksize,
        4, // Shampoo's stores take no correlationBits option
      );
    }
    const shared = ctx.scratch.shared('shampoo-rotated', () => new Float32Array(ctx.scratch.maxDim));
    this.nextSigma = shared.subarray(0, dim);
    ctx.scratch.matrix('work', dim);
    // Q = I (exact in both formats); σ = 0 and O = 0 are the zero-filled state (the codes of an all-zero
    // triangle are written explicitly).
    const eye = ctx.scratch.matrix('next', dim);
    const v = eye.view();
    v.fill(0);
    for (let i = 0; i < dim; i++) v[i * dim + i] = 1;
    if (this.basis16) this.writer.nearest(eye, this.basis16);
    else this.basis4!.setIdentity();
    if (this.tri) clearCorrelations(this.writer.codecs, this.tri);
  }

  basis(): F32Buffer {
    if (this.basis4) return this.basis4.get(this.kernels);
    const slot = this.slot!;
    if (slot.owner !== this) {
      this.writer.decode(this.basis16!, slot.buffer);
      slot.owner = this;
    }
    return slot.buffer;
  }

  update(
    kernels: Kernels,
    x: F32Buffer,
    shape: ModeShape,
    weight: number,
    beta: number,
    tmp: F32Buffer,
  ): boolean {
    const d = this.dim;
    const inc = this.scratch.matrix('increment', d);
    if (this.empty()) {
      // The first statistics define the basis: F = w·X_(k)X_(k)ᵀ = V·Diag(w·λ)·Vᵀ exactly (up to storing V).
      // Accumulating them rotated into the identity would hold F densely in the low precision until the
      // first refresh, which is what destroys small eigenvalues.
      modeStatistics(kernels, x, shape, weight, 0, inc);
      if (!kernels.allFinite(inc)) return false;
      const v = this.scratch.matrix('next', d);
      if (!descendingEigenvectors(inc.view(), d, v.view(), this.nextSigma)) return false;
      return this.rebase(kernels, v, this.nextSigma);
    }
    // ΔS = (Q̃ᵀ·X_(k))·(Q̃ᵀ·X_(k))ᵀ
    modeProduct(kernels, x, shape, this.basis(), false, tmp);
    modeStatistics(kernels, tmp, shape, 1, 0, inc);
    if (!kernels.allFinite(inc)) return false;
    const a = inc.view();
    const sig = this.sigma.view();
    const next = this.nextSigma;
    for (let i = 0; i < d; i++) next[i] = beta * sig[i] + weight * a[i * d + i];
    if (!isAllFinite(next)) return false;
    if (this.offdiag16) {
      const o = this.scratch.matrix('work', d);
      this.writer.decode(this.offdiag16, o);
      kernels.axpby(weight, inc, beta, o);
      const ov = o.view();
      for (let i = 0; i < d; i++) ov[i * d + i] = 0;
      if (!kernels.allFinite(o)) return false;
      this.writer.average(o, this.offdiag16);
    } else {
      // Correlations c_ij = O_ij/sqrt(σ_i·σ_j): renormalized from the old σ to the new one.
      if (!accumulateCorrelations(kernels, this.writer.codecs, this.tri!, inc, d, sig, next, beta, weight))
        return false;
    }
    sig.set(next);
    return true;
  }

  read(into: F32Buffer): F32Buffer {
    const d = this.dim;
    const s = into.view();
    const sig = this.sigma.view();
    if (this.offdiag16) {
      this.writer.decode(this.offdiag16, into);
      for (let i = 0; i < d; i++) s[i * d + i] = sig[i];
    } else {
      expandCorrelations(this.writer.codecs, this.tri!, sig, null, s);
    }
    return into;
  }

  rebase(kernels: Kernels, b: F32Buffer, sigma: ArrayLike<number>): boolean {
    const d = this.dim;
    if (!kernels.allFinite(b) || !isAllFinite(sigma)) return false;
    if (this.basis16) {
      this.writer.nearest(b, this.basis16);
      this.writer.decode(this.basis16, b);
      const slot = this.slot!;
      slot.buffer.view().set(b.view());
      slot.owner = this;
      this.offdiag16!.view().fill(0);
    } else {
      if (!this.basis4!.propose(kernels, b)) return false;
      this.basis4!.commit(b);
      clearCorrelations(this.writer.codecs, this.tri!);
    }
    const sig = this.sigma.view();
    for (let i = 0; i < d; i++) sig[i] = sigma[i];
    return true;
  }

  /** No statistics yet (σ = 0: every increment adds a non-negative diagonal). */
  private empty(): boolean {
    const sig = this.sigma.view();
    for (let i = 0; i < this.dim; i++) if (sig[i] !== 0) return false;
    return true;
  }

  invalidate(): void {
    this.basis4?.invalidate();
    if (this.slot) this.slot.owner = null;
  }
}
