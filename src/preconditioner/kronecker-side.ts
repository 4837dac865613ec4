/**
 * One side (tensor mode) of a Kronecker-factored preconditioner: its d×d statistics and its orthonormal
 * eigenbasis, with the operations SOAP and the KL methods perform on them.
 *
 * This is the seam between the methods and the storage formats. A method sees only this interface; how the
 * factor and the basis are held (fp32, bf16, the rotated bf16 reparametrization, 4-bit eigenvectors, ...) is the
 * business of the implementation (the factor stores in `src/storage/`, created by `createFactorStore`). The
 * contract, shared by every store:
 *
 * - `basisF32()` is the basis to compute with (columns = eigenvectors), as an fp32 d×d matrix. It stays valid
 *   for the rest of the parameter's step; a store may decode it into a buffer it shares with other parameters'
 *   sides, so a method asks for it again at each step instead of keeping it.
 * - Statistics arrive in `incrementBuffer()` in the coordinates the store asks for (`statistics`): 'parameter'
 *   (`X_(k)·X_(k)ᵀ` of the gradient-derived tensor X) or 'rotated' (the same with X rotated into the current
 *   bases on every mode, i.e. `Q_kᵀ·(X_(k)X_(k)ᵀ)·Q_k` when the other bases are orthogonal), then
 *   `accumulate` folds them in: `F ← β·F + w·increment`.
 * - A refresh is two-phase so that a method can move its per-coordinate state along: `proposeRefresh` computes
 *   the new basis in scratch without touching the state (false = failure: the old basis stays, nothing
 *   changed), then the method carries its second moment over with `rotateSecondMoment`, rotates its first
 *   moment with `rotateMoment`, and `commit` makes the proposal the state.
 * - Every amortized computation works on scratch and reports failure instead of throwing; no store lets NaN or
 *   Infinity into its state.
 * - After the state buffers were overwritten from outside (`loadStateDict`, or a step undone by the failure
 *   policy), `invalidate` drops whatever the store derived from them (decoded or rectified bases).
 */
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { ModeShape } from './mode-products.ts';

/** Coordinates of the statistics a side accumulates; see `KroneckerSide`. */
export type StatisticsCoordinates = 'parameter' | 'rotated';

export interface KroneckerSide {
  readonly dim: number;
  readonly statistics: StatisticsCoordinates;

  /** The current basis (columns = eigenvectors) as an fp32 d×d matrix for products. */
  basisF32(): F32Buffer;

  /** d×d scratch to receive a statistic increment before `accumulate` or `initialise`. */
  incrementBuffer(): F32Buffer;

  /**
   * `factor ← beta·factor + weight·increment`. An increment with NaN/Infinity (a statistic that overflowed
   * float32), or a result that would not be finite, is dropped: the state is unchanged and false is returned.
   */
  accumulate(kernels: Kernels, beta: number, weight: number): boolean;

  /**
   * The first call: the factor (still empty) takes `beta·factor + weight·increment`, then the basis becomes the
   * factor's eigenvectors in descending eigenvalue order (`'eigh'`) or the identity. Returns false if the
   * increment was dropped or the eigensolver failed (the basis is then the identity).
   */
  initialise(kernels: Kernels, beta: number, weight: number, basis: 'eigh' | 'identity'): boolean;

  /**
   * Computes the refreshed basis into scratch (state untouched). With `sortByRayleigh` the columns are first
   * put in descending order of their Rayleigh quotients and `perm()` reports it. Returns false on failure.
   */
  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean;

  /** The column order of the last sorted proposal: new column j = old column perm[j] (first `dim` entries). */
  perm(): Int32Array;

  /**
   * Rotates a tensor held in the current bases (a first moment) along this side's mode into the proposed
   * basis, in place (`tmp`, `tmp2`: scratch of the same length). Valid between a successful `proposeRefresh`
   * and `commit`.
   */
  rotateMoment(kernels: Kernels, x: F32Buffer, shape: ModeShape, tmp: F32Buffer, tmp2: F32Buffer): void;

  /**
   * Carries a second moment held in the current bases into the proposed basis along this side's mode, in place,
   * by the store's rule: the Rayleigh re-sort alone (`perm()`, SOAP's reference rule) where the basis moves
   * only by the power step's small turn (fp32, the naive stores), or `v ← (C∘C)·v` with `C = Q_newᵀ·Q_old`
   * where it moves by more (the 4-bit basis is re-quantized as a whole at every refresh; the bf16 subspace
   * refresh turns k directions at once; see src/preconditioner/second-moment-rotation.ts). SOAP calls it; the
   * KL methods leave their second moment in place, as their reference. Valid between a successful
   * `proposeRefresh` and `commit`.
   */
  rotateSecondMoment(kernels: Kernels, v: F32Buffer, shape: ModeShape, tmp: F32Buffer, tmp2: F32Buffer): void;

  /** Makes the last successful proposal the state. */
  commit(): void;

  /** Forgets anything derived from the state buffers (they were overwritten from outside). */
  invalidate(): void;
}

/** Named d×d scratch matrices. */
export type ScratchMatrix = 'increment' | 'product' | 'next' | 'work';

/**
 * Scratch shared by every side of an optimizer (sides are processed one at a time), sized for the largest
 * side. Buffers a store needs beyond the three every store uses are allocated when a store first asks for them
 * (stores are created in the optimizer's constructor), so an fp32 optimizer holds exactly what it did before.
 */
export class SideScratch {
  readonly maxDim: number;
  readonly increment: F32Buffer;
  readonly product: F32Buffer;
  readonly next: F32Buffer;
  readonly estimates: Float64Array;
  readonly perm: Int32Array;
  private readonly kernels: Kernels;
  private readonly extra = new Map<string, unknown>();

  constructor(kernels: Kernels, maxDim: number) {
    const n2 = maxDim * maxDim;
    this.kernels = kernels;
    this.maxDim = maxDim;
    this.increment = kernels.arena.f32(n2);
    this.product = kernels.arena.f32(n2);
    this.next = kernels.arena.f32(n2);
    this.estimates = new Float64Array(maxDim);
    this.perm = new Int32Array(maxDim);
  }

  /** A d×d slice (d ≤ maxDim) of one of the shared matrices. */
  matrix(name: ScratchMatrix, d: number): F32Buffer {
    const n2 = d * d;
    switch (name) {
      case 'increment':
        return this.increment.slice(0, n2);
      case 'product':
        return this.product.slice(0, n2);
      case 'next':
        return this.next.slice(0, n2);
      case 'work':
        return this.shared('work', () => this.kernels.arena.f32(this.maxDim * this.maxDim)).slice(0, n2);
    }
  }

  /**
   * A scratch object shared under `key`, created by `make` on first request. Stores use it for their own
   * shared buffers (packed codes, decoded-basis slots); everything is created during construction.
   */
  shared<T>(key: string, make: () => T): T {
    let v = this.extra.get(key) as T | undefined;
    if (v === undefined) {
      v = make();
      this.extra.set(key, v);
    }
    return v;
  }
}
