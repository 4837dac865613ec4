import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { KroneckerSide, SideScratch } from '../preconditioner/kronecker-side.ts';
import { type ModeShape, modeProduct } from '../preconditioner/mode-products.ts';
import { permuteSecondMoment } from '../preconditioner/second-moment-rotation.ts';
import { descendingEigenvectors, powerStepProposal, writeIdentity } from './power-step.ts';

/**
 * The fp32 store: the factor in parameter coordinates and the basis, both fp32 state buffers handed out
 * directly (`4d² + 4d²` bytes). This is the reference behaviour every other store is compared with.
 */
export class Fp32FactorStore implements KroneckerSide {
  readonly dim: number;
  readonly statistics = 'parameter' as const;
  private readonly factor: F32Buffer;
  private readonly basis: F32Buffer;
  private readonly inc: F32Buffer;
  private readonly prod: F32Buffer;
  private readonly next: F32Buffer;
  private readonly scratch: SideScratch;

  /** `factor` and `basis` are d×d state buffers (zero-filled when allocated). */
  constructor(dim: number, factor: F32Buffer, basis: F32Buffer, scratch: SideScratch) {
    this.dim = dim;
    this.factor = factor;
    this.basis = basis;
    this.scratch = scratch;
    this.inc = scratch.matrix('increment', dim);
    this.prod = scratch.matrix('product', dim);
    this.next = scratch.matrix('next', dim);
  }

  basisF32(): F32Buffer {
    return this.basis;
  }

  incrementBuffer(): F32Buffer {
    return this.inc;
  }

  accumulate(kernels: Kernels, beta: number, weight: number): boolean {
    if (!kernels.allFinite(this.inc)) return false;
    kernels.axpby(weight, this.inc, beta, this.factor);
    return true;
  }

  initialise(kernels: Kernels, beta: number, weight: number, basis: 'eigh' | 'identity'): boolean {
    const ok = this.accumulate(kernels, beta, weight);
    if (basis === 'identity') {
      writeIdentity(this.basis.view(), this.dim);
      return ok;
    }
    if (!descendingEigenvectors(this.factor.view(), this.dim, this.basis.view())) {
      writeIdentity(this.basis.view(), this.dim);
      return false;
    }
    return ok;
  }

  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean {
    const s = this.scratch;
    return powerStepProposal(
      kernels,
      this.dim,
      this.factor,
      this.basis,
      this.prod,
      this.next,
      s.estimates,
      s.perm,
      sortByRayleigh,
    );
  }

  perm(): Int32Array {
    return this.scratch.perm.subarray(0, this.dim);
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
    modeProduct(kernels, x, shape, this.basis, true, tmp);
    modeProduct(kernels, tmp, shape, this.next, false, x);
  }

  commit(): void {
    this.basis.view().set(this.next.view());
  }

  invalidate(): void {}
}
