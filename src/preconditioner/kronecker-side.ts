/**
 * One side (tensor mode) of a Kronecker-factored preconditioner: its d×d statistics factor and its
 * orthonormal eigenbasis, with the operations SOAP and the KL methods perform on them.
 *
 * This is the seam for storage formats: the optimizers only see `basisF32()` (the basis as fp32 for GEMMs),
 * `proposedF32()`, `accumulate`, `initFromEigh`, `proposeRefresh` and `commit`. An fp32 side hands out its
 * state buffers directly; a bf16 or 4-bit side would decode into scratch and encode on commit.
 *
 * Every amortized computation works on scratch and reports failure instead of throwing, so a failed refresh
 * leaves the previous basis in place (and NaN never reaches the state).
 */
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { eigh, qr } from '../linalg/index.ts';

/** Scratch shared by every side of an optimizer (sides are processed one at a time). */
export class SideScratch {
  readonly increment: F32Buffer;
  readonly product: F32Buffer;
  readonly next: F32Buffer;
  readonly estimates: Float64Array;
  readonly perm: Int32Array;

  constructor(kernels: Kernels, maxDim: number) {
    const n2 = maxDim * maxDim;
    this.increment = kernels.arena.f32(n2);
    this.product = kernels.arena.f32(n2);
    this.next = kernels.arena.f32(n2);
    this.estimates = new Float64Array(maxDim);
    this.perm = new Int32Array(maxDim);
  }
}

function allFiniteArray(x: ArrayLike<number>): boolean {
  let probe = 0;
  for (let i = 0; i < x.length; i++) probe += x[i] * 0;
  return probe === 0;
}

export class KroneckerSide {
  readonly dim: number;
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
    const n2 = dim * dim;
    this.inc = scratch.increment.slice(0, n2);
    this.prod = scratch.product.slice(0, n2);
    this.next = scratch.next.slice(0, n2);
  }

  /** The current basis (columns = eigenvectors) as an fp32 d×d matrix for products. */
  basisF32(): F32Buffer {
    return this.basis;
  }

  /** The basis computed by the last successful `proposeRefresh` (valid until the next side uses the scratch). */
  proposedF32(): F32Buffer {
    return this.next;
  }

  /** d×d scratch to receive a statistic increment before `accumulate`. */
  incrementBuffer(): F32Buffer {
    return this.inc;
  }

  /**
   * `factor ← beta·factor + weight·increment`. An increment with NaN/Infinity (a statistic that overflowed
   * float32) is dropped: the factor is unchanged and false is returned.
   */
  accumulate(kernels: Kernels, beta: number, weight: number): boolean {
    if (!kernels.allFinite(this.inc)) return false;
    kernels.axpby(weight, this.inc, beta, this.factor);
    return true;
  }

  /** basis ← I. */
  setIdentity(): void {
    const q = this.basis.view();
    q.fill(0);
    for (let i = 0; i < this.dim; i++) q[i * this.dim + i] = 1;
  }

  /**
   * basis ← eigenvectors of the factor, columns in descending eigenvalue order (float64 eigh of the
   * symmetrized fp32 factor). Returns false and leaves the basis unchanged if the eigensolver fails or
   * returns non-finite vectors.
   */
  initFromEigh(): boolean {
    const d = this.dim;
    let vectors: Float64Array;
    try {
      vectors = eigh(this.factor.view(), d).vectors;
    } catch {
      return false;
    }
    if (!allFiniteArray(vectors)) return false;
    const q = this.basis.view();
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) q[i * d + j] = vectors[i * d + (d - 1 - j)];
    }
    return true;
  }

  /**
   * One warm-started power-iteration step: `proposal = qr(F·Q).Q` into scratch (the state is not touched).
   * With `sortByRayleigh`, the columns of Q are first ordered by descending Rayleigh quotient
   * `diag(Qᵀ F Q)` and the order is written to `perm()` (new column j = old column perm[j]), so a
   * per-coordinate state tied to the columns can be permuted the same way. Returns false on failure
   * (non-finite factor or product, QR error).
   */
  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean {
    const d = this.dim;
    const perm = this.scratch.perm;
    kernels.gemm(false, false, d, d, d, 1, this.factor, this.basis, 0, this.prod);
    const p = this.prod.view();
    let input: Float32Array = p;
    if (sortByRayleigh) {
      const q = this.basis.view();
      const est = this.scratch.estimates;
      for (let j = 0; j < d; j++) {
        let acc = 0;
        for (let i = 0; i < d; i++) acc += q[i * d + j] * p[i * d + j];
        est[j] = acc;
        perm[j] = j;
      }
      if (!allFiniteArray(est.subarray(0, d))) return false;
      perm.subarray(0, d).sort((a, b) => est[b] - est[a] || a - b);
      const sorted = this.next.view();
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) sorted[i * d + j] = p[i * d + perm[j]];
      }
      input = sorted;
    }
    let result: Float64Array;
    try {
      result = qr(input, d, d, 'positive-diagonal');
    } catch {
      return false;
    }
    if (!allFiniteArray(result)) return false;
    this.next.view().set(result);
    return true;
  }

  /** The column order chosen by the last sorted `proposeRefresh` (first `dim` entries). */
  perm(): Int32Array {
    return this.scratch.perm.subarray(0, this.dim);
  }

  /** basis ← the proposal of the last successful `proposeRefresh`. */
  commit(): void {
    this.basis.view().set(this.next.view());
  }
}
