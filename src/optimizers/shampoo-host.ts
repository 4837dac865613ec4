import { ConvergenceError, ShapeError } from '../errors.ts';
import type { ArenaBuffer, DType, F32Buffer, Kernels } from '../kernels/index.ts';
import { REFRESH_FAILURE_TEXT, type RefreshStatus } from '../preconditioner/refresh-status.ts';
import type { Param, StateKind } from './optimizer.ts';

/**
 * What a Shampoo variant needs from the optimizer that owns it: the kernels, the parameters, the state registry
 * and the snapshot used to make a fatal step atomic.
 */
export interface ShampooHost {
  readonly kernels: Kernels;
  readonly params: readonly Param[];
  allocState<D extends DType>(
    param: number,
    name: string,
    kind: StateKind,
    dtype: D,
    length: number,
  ): ArenaBuffer<D>;
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
}

/**
 * The largest factor order that can exist: an n×n float32 matrix must fit in one WebAssembly memory (4 GiB)
 * with room to spare. Larger blocks come from an unbounded max dim (e.g. `maxPreconditionerDim: Infinity` on a
 * long vector) and would otherwise fail deep inside the allocator.
 */
const MAX_FACTOR_ORDER = 16384;

/** Throws `ShapeError` for a factor too large to allocate, naming the parameter and the option to lower. */
export function checkFactorOrder(host: ShampooHost, param: number, dim: number, option: string): void {
  if (dim > MAX_FACTOR_ORDER) {
    throw new ShapeError(
      `param ${param}${host.paramLabel(param)}: a ${dim}×${dim} Kronecker factor is too large ` +
        `(at most ${MAX_FACTOR_ORDER}); lower '${option}'`,
    );
  }
}

/** A state buffer initialized to the n×n identity. */
export function allocIdentity(
  host: ShampooHost,
  param: number,
  name: string,
  kind: StateKind,
  n: number,
): F32Buffer {
  const buf = host.allocState(param, name, kind, 'f32', n * n);
  const v = buf.view();
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  return buf;
}

/**
 * The failure policy for amortized refreshes, one counter per block (stored as i32 state): a block whose
 * refreshes all succeeded resets to 0; any failure increments it, and a failure while the counter already
 * equals `tolerated` throws. `atRisk` says whether a refresh of the block could throw, so the caller can
 * snapshot the state first and the throw leaves the optimizer as it was.
 */
export class FailureCounters {
  readonly tolerated: number;
  private readonly buffers: ArenaBuffer<'i32'>[] = [];

  constructor(tolerated: number) {
    this.tolerated = tolerated;
  }

  /** Registers the counters of one parameter's blocks. */
  add(host: ShampooHost, param: number, blocks: number): void {
    this.buffers[param] = host.allocState(param, 'refresh_failures', 'counter', 'i32', blocks);
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
  record(
    host: ShampooHost,
    param: number,
    block: number,
    failure: Exclude<RefreshStatus, 'ok'> | null,
  ): void {
    const v = this.view(param);
    if (failure === null) {
      v[block] = 0;
      return;
    }
    if (v[block] >= this.tolerated) {
      throw new ConvergenceError(
        `Shampoo: param ${param}${host.paramLabel(param)} block ${block}: ${v[block] + 1} refreshes in a row ` +
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
