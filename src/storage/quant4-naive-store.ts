import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import { type ModeShape, modeProduct } from '../preconditioner/mode-products.ts';
import { permuteSecondMoment } from '../preconditioner/second-moment-rotation.ts';
import type { U8Buffer } from './codecs.ts';
import { descendingEigenvectors, powerStepProposal } from './power-step.ts';
import { quant4Layout } from './quant4.ts';
import { Quant4Basis } from './quant4-basis.ts';
import type { StateAllocator, StoreContext } from './store-context.ts';

/**
 * The '4bit-naive' baseline (the 4-bit paper's "naive" form, `shampoo1.py`, applied to SOAP/KL): the factor
 * itself, in parameter coordinates, stored DiagReal (fp32 diagonal, 4-bit block-wise off-diagonal), decoded,
 * updated and re-quantized every step; the basis 4-bit exactly as in the '4bit' store (Qᵀ codes, cached
 * rectified), so the only difference from '4bit' is what represents the factor.
 */
export class Quant4NaiveFactorStore implements KroneckerSide {
  readonly dim: number;
  readonly statistics = 'parameter' as const;
  private readonly ctx: StoreContext;
  private readonly codes: U8Buffer;
  private readonly scales: F32Buffer;
  private readonly diag: F32Buffer;
  private readonly basis: Quant4Basis;
  private readonly blockSize: number;

  constructor(
    dim: number,
    name: { factor: string; basis: string },
    alloc: StateAllocator,
    ctx: StoreContext,
  ) {
    this.dim = dim;
    this.ctx = ctx;
    const { quanBlocksize, rectT1, rectT2, rectTol } = ctx.storage;
    this.blockSize = quanBlocksize;
    const layout = quant4Layout(dim, dim, quanBlocksize);
    this.codes = alloc(`${name.factor}_codes`, 'factor', 'u8', layout.codeBytes);
    this.scales = alloc(`${name.factor}_scales`, 'scales', 'f32', layout.scaleCount);
    this.diag = alloc(`${name.factor}_diag`, 'factor', 'f32', dim);
    this.basis = new Quant4Basis(
      dim,
      name.basis,
      alloc,
      ctx.kernels,
      ctx.codecs,
      ctx.scratch,
      quanBlocksize,
      Math.max(rectT1, rectT2),
      rectTol,
    );
    // The all-zero codes decode to −0·scale = 0: the empty factor needs no initialization.
    this.basis.setIdentity();
  }

  basisF32(): F32Buffer {
    return this.basis.get(this.ctx.kernels);
  }

  incrementBuffer(): F32Buffer {
    return this.ctx.scratch.matrix('increment', this.dim);
  }

  /** The factor decoded into the 'work' scratch. */
  private decodeFactor(): F32Buffer {
    const f = this.ctx.scratch.matrix('work', this.dim);
    this.ctx.codecs.dequantize4DiagReal(
      this.codes,
      this.scales,
      this.diag,
      this.dim,
      f,
      'linear-2',
      this.blockSize,
    );
    return f;
  }

  accumulate(kernels: Kernels, beta: number, weight: number): boolean {
    const inc = this.incrementBuffer();
    if (!kernels.allFinite(inc)) return false;
    const f = this.decodeFactor();
    kernels.axpby(weight, inc, beta, f);
    if (!kernels.allFinite(f)) return false;
    this.ctx.codecs.quantize4DiagReal(
      f,
      this.dim,
      this.codes,
      this.scales,
      this.diag,
      'linear-2',
      this.blockSize,
    );
    return true;
  }

  initialise(kernels: Kernels, beta: number, weight: number, basis: 'eigh' | 'identity'): boolean {
    const ok = this.accumulate(kernels, beta, weight);
    if (basis === 'identity') {
      this.basis.setIdentity();
      return ok;
    }
    const d = this.dim;
    const q = this.ctx.scratch.matrix('next', d);
    const f = this.decodeFactor();
    if (!descendingEigenvectors(f.view(), d, q.view()) || !this.basis.propose(kernels, q)) {
      this.basis.setIdentity();
      return false;
    }
    this.basis.commit(q);
    return ok;
  }

  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean {
    const d = this.dim;
    const s = this.ctx.scratch;
    const basis = this.basisF32();
    const f = this.decodeFactor();
    const next = s.matrix('next', d);
    if (
      !powerStepProposal(
        kernels,
        d,
        f,
        basis,
        s.matrix('product', d),
        next,
        s.estimates,
        s.perm,
        sortByRayleigh,
      )
    )
      return false;
    return this.basis.propose(kernels, next);
  }

  perm(): Int32Array {
    return this.ctx.scratch.perm.subarray(0, this.dim);
  }

  rotateSecondMoment(
    _kernels: Kernels,
    v: F32Buffer,
    shape: ModeShape,
    tmp: F32Buffer,
    _tmp2: F32Buffer,
  ): void {
    permuteSecondMoment(v, shape, this.perm(), tmp);
  }

  rotateMoment(kernels: Kernels, x: F32Buffer, shape: ModeShape, tmp: F32Buffer, _tmp2: F32Buffer): void {
    modeProduct(kernels, x, shape, this.basisF32(), true, tmp);
    modeProduct(kernels, tmp, shape, this.ctx.scratch.matrix('next', this.dim), false, x);
  }

  commit(): void {
    this.basis.commit(this.ctx.scratch.matrix('next', this.dim));
  }

  invalidate(): void {
    this.basis.invalidate();
  }
}
