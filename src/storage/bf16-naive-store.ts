import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import { type ModeShape, modeProduct } from '../preconditioner/mode-products.ts';
import { permuteSecondMoment } from '../preconditioner/second-moment-rotation.ts';
import type { U16Buffer } from './codecs.ts';
import { descendingEigenvectors, powerStepProposal, writeIdentity } from './power-step.ts';
import { DecodeSlot, type StateAllocator, type StoreContext } from './store-context.ts';

/**
 * The 'bf16-naive' baseline: the factor (parameter coordinates) and the basis stored densely in bf16, as they
 * are (`2d² + 2d²` bytes). Every read decodes and every write encodes: the factor EMA is decoded, updated in
 * fp32 and rounded back each step, which is what destroys its small eigenvalues (ALGORITHMS.md P6, §8.5).
 */
export class Bf16NaiveFactorStore implements KroneckerSide {
  readonly dim: number;
  readonly statistics = 'parameter' as const;
  private readonly ctx: StoreContext;
  private readonly factor: U16Buffer;
  private readonly basis: U16Buffer;
  private readonly slot: DecodeSlot;
  private readonly decoded: F32Buffer;
  private readonly pending: U16Buffer;

  constructor(
    dim: number,
    name: { factor: string; basis: string },
    mode: number,
    alloc: StateAllocator,
    ctx: StoreContext,
  ) {
    this.dim = dim;
    this.ctx = ctx;
    const n2 = dim * dim;
    this.factor = alloc(name.factor, 'factor', 'u16', n2);
    this.basis = alloc(name.basis, 'basis', 'u16', n2);
    this.slot = DecodeSlot.for(ctx, mode, dim);
    this.decoded = this.slot.buffer;
    const max = ctx.scratch.maxDim ** 2;
    this.pending = ctx.scratch
      .shared('bf16-pending-basis', () => ctx.kernels.arena.alloc('u16', max))
      .slice(0, n2);
    ctx.scratch.matrix('work', dim);
  }

  basisF32(): F32Buffer {
    if (this.slot.owner !== this) {
      this.ctx.writer.decode(this.basis, this.decoded);
      this.slot.owner = this;
    }
    return this.decoded;
  }

  incrementBuffer(): F32Buffer {
    return this.ctx.scratch.matrix('increment', this.dim);
  }

  accumulate(kernels: Kernels, beta: number, weight: number): boolean {
    const inc = this.incrementBuffer();
    if (!kernels.allFinite(inc)) return false;
    const f = this.ctx.scratch.matrix('work', this.dim);
    this.ctx.writer.decode(this.factor, f);
    kernels.axpby(weight, inc, beta, f);
    if (!kernels.allFinite(f)) return false;
    this.ctx.writer.average(f, this.factor);
    return true;
  }

  initialise(kernels: Kernels, beta: number, weight: number, basis: 'eigh' | 'identity'): boolean {
    const ok = this.accumulate(kernels, beta, weight);
    const d = this.dim;
    const q = this.ctx.scratch.matrix('next', d);
    let eighOk = true;
    if (basis === 'eigh') {
      const f = this.ctx.scratch.matrix('work', d);
      this.ctx.writer.decode(this.factor, f);
      eighOk = descendingEigenvectors(f.view(), d, q.view());
    }
    if (basis === 'identity' || !eighOk) writeIdentity(q.view(), d);
    this.ctx.writer.nearest(q, this.basis);
    this.slot.owner = null;
    return ok && eighOk;
  }

  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean {
    const d = this.dim;
    const s = this.ctx.scratch;
    const f = s.matrix('work', d);
    this.ctx.writer.decode(this.factor, f);
    const next = s.matrix('next', d);
    const basis = this.basisF32();
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
    // The basis is what bf16 will hold: moments are rotated into exactly that.
    this.ctx.writer.nearest(next, this.pending);
    this.ctx.writer.decode(this.pending, next);
    return true;
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
    this.basis.view().set(this.pending.view());
    this.decoded.view().set(this.ctx.scratch.matrix('next', this.dim).view());
    this.slot.owner = this;
  }

  invalidate(): void {
    this.slot.owner = null;
  }
}
