import { ConvergenceError, ShapeError } from '../errors.ts';
import type { ArenaBuffer, DType, Kernels } from '../kernels/index.ts';
import type { FloatArray, MatrixArithmetic } from '../preconditioner/matrix-arithmetic.ts';
import { REFRESH_FAILURE_TEXT, type RefreshStatus } from '../preconditioner/refresh-status.ts';
import type { MatrixFormat, StoredMatrix } from '../storage/stored-matrix.ts';
import type { Param, StateKind } from './optimizer.ts';

/**
 * What a Shampoo variant needs from the optimizer that owns it: the kernels, the parameters, the state registry
 * and the snapshot used to make a fatal step atomic.
 */
export interface ShampooHost {
  readonly kernels: Kernels;
  readonly params: readonly Param[];
  /** `bf16`: a u16 buffer holding bf16 values. */
  allocState<D extends DType>(
    param: number,
    name: string,
    kind: StateKind,
    dtype: D,
    length: number,
    options?: { bf16?: boolean },
  ): ArenaBuffer<D>;
  /** Copies all state and parameters; the returned function puts them back. */
  captureState(): () => void;
  /** ` ('name')` for a named parameter, '' otherwise. */
  paramLabel(i: number): string;
}

/** A moment tensor in its storage format: `load` the fp32 (or float64) values, update them, `store` them. */
export interface MomentState<M> {
  load(): M;
  /** False (state unchanged) if the values are not finite. */
  store(): boolean;
}

/**
 * What the step code of a Shampoo variant needs, over buffers of type M: the arithmetic and the state. The
 * optimizer provides it in float32 over its registered arena state (`KernelShampooState`); the float64
 * fixture replays provide it over plain arrays, so both run the same step code.
 */
export interface ShampooState<M> {
  readonly arithmetic: MatrixArithmetic<M>;
  /** The parameters being updated, in the element type of the arithmetic's results. */
  readonly weights: readonly FloatArray[];
  readonly shapes: readonly (readonly number[])[];
  /** A rows×cols matrix of parameter `param`'s state, in `format`, zero-filled. */
  matrix(
    param: number,
    name: string,
    kind: 'factor' | 'root' | 'basis' | 'eigenvalues',
    rows: number,
    cols: number,
    format: MatrixFormat,
  ): StoredMatrix<M>;
  /** A zero-filled real-valued state vector (fp32 in the library). */
  vector(param: number, name: string, kind: StateKind, length: number): M;
  /** A zero-filled int32 state vector. */
  counters(param: number, name: string, length: number): { view(): Int32Array };
  /**
   * A zero-filled moment whose EMA decay is `beta`, bf16 where the storage options say so (`momentInBf16`:
   * `elementwise` says whether it is used per coordinate, or has a dense preconditioner applied to it). A bf16
   * moment is decoded into scratch shared by the moments of the same `role`, so moments used at the same
   * time need different roles.
   */
  moment(
    param: number,
    name: string,
    length: number,
    beta: number,
    role: string,
    elementwise: boolean,
    kind?: 'moment' | 'grafting',
  ): MomentState<M>;
  /** Copies all state and parameters; the returned function puts them back. */
  captureState(): () => void;
  /** ` ('name')` for a named parameter, '' otherwise. */
  paramLabel(i: number): string;
}

/** One variant's update rule over all parameters. `t` is the 1-based index of this step. */
export interface ShampooVariant {
  step(grads: readonly Float32Array[], t: number): void;
  /** The largest consecutive-failure count over all blocks. */
  consecutiveFailures(): number;
  /** The state was overwritten from outside (a load, an undone step): drop what was derived from it. */
  invalidate(): void;
}

/**
 * The largest factor order that can exist: an n×n float32 matrix must fit in one WebAssembly memory (4 GiB)
 * with room to spare. Larger blocks come from an unbounded max dim (e.g. `maxPreconditionerDim: Infinity` on a
 * long vector) and would otherwise fail deep inside the allocator.
 */
const MAX_FACTOR_ORDER = 16384;

/** Throws `ShapeError` for a factor too large to allocate, naming the parameter and the option to lower. */
export function checkFactorOrder(
  host: Pick<ShampooHost, 'paramLabel'>,
  param: number,
  dim: number,
  option: string,
): void {
  if (dim > MAX_FACTOR_ORDER) {
    throw new ShapeError(
      `param ${param}${host.paramLabel(param)}: a ${dim}×${dim} Kronecker factor is too large ` +
        `(at most ${MAX_FACTOR_ORDER}); lower '${option}'`,
    );
  }
}

/**
 * The failure policy for amortized refreshes, one counter per block (stored as i32 state): a block whose
 * refreshes all succeeded resets to 0; any failure increments it, and a failure while the counter already
 * equals `tolerated` throws. `atRisk` says whether a refresh of the block could throw, so the caller can
 * snapshot the state first and the throw leaves the optimizer as it was.
 */
export class FailureCounters {
  readonly tolerated: number;
  private readonly buffers: { view(): Int32Array }[] = [];
  private readonly label: (param: number) => string;

  constructor(tolerated: number, label: (param: number) => string) {
    this.tolerated = tolerated;
    this.label = label;
  }

  /** Registers the counters of one parameter's blocks. */
  add(param: number, counters: { view(): Int32Array }): void {
    this.buffers[param] = counters;
  }

  private view(param: number): Int32Array {
    return this.buffers[param].view();
  }

  max(): number {
    let m = 0;
    for (const b of this.buffers) if (b) for (const c of b.view()) m = Math.max(m, c);
    return m;
  }

  anyAtRisk(): boolean {
    return this.buffers.some((b) => b?.view().some((c) => c >= this.tolerated));
  }

  /** Records the outcome of one block's refreshes; throws `ConvergenceError` past the tolerance. */
  record(param: number, block: number, failure: Exclude<RefreshStatus, 'ok'> | null): void {
    const v = this.view(param);
    if (failure === null) {
      v[block] = 0;
      return;
    }
    if (v[block] >= this.tolerated) {
      throw new ConvergenceError(
        `Shampoo: param ${param}${this.label(param)} block ${block}: ${v[block] + 1} refreshes in a row ` +
          `failed (${REFRESH_FAILURE_TEXT[failure]}); at most ${this.tolerated} are tolerated. State unchanged.`,
      );
    }
    v[block] += 1;
  }
}

/** `dst[i] = src[i]·s` over `dst.length` elements. */
export function scaleInto(src: Float32Array, s: number, dst: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] = src[i] * s;
}
