import { NonFiniteError, ShapeError, StateDictError } from '../errors.ts';
import { isAllFinite } from '../finite.ts';
import type { ArenaBuffer, DType, Kernels, ViewOf } from '../kernels/index.ts';
import { type ComputeOptions, createKernels } from '../kernels/index.ts';
import { MAX_GRAD_SQUARED_NORM } from './gradient-magnitude.ts';

/** A parameter the optimizer updates in place: row-major data and its shape. */
export interface Param {
  data: Float32Array;
  shape: readonly number[];
  name?: string;
}

/** What a state buffer holds; `stateBytes()` reports bytes per kind. */
export type StateKind =
  | 'moment' // first/second moments, filtered gradient
  | 'grafting' // grafting optimizer's accumulator
  | 'factor' // Kronecker factors (L, R) or their rotated form
  | 'basis' // eigenbases Q
  | 'root' // inverse roots
  | 'eigenvalues' // eigenvalue estimates
  | 'scales' // quantization scales
  | 'counter'; // step counts, failure counts

export type TypedArray = ViewOf[DType];

export interface StateDictTensor {
  /** Index of the parameter the tensor belongs to, or −1 for optimizer-wide state. */
  param: number;
  name: string;
  kind: StateKind;
  dtype: DType;
  data: TypedArray;
}

/** Plain, serializable optimizer state (typed arrays inside). */
export interface StateDict {
  format: 'shampoo-ts/state-dict';
  version: number;
  method: string;
  config: Record<string, unknown>;
  shapes: number[][];
  tensors: StateDictTensor[];
}

export interface StateBytes {
  total: number;
  byKind: Partial<Record<StateKind, number>>;
}

export const STATE_DICT_VERSION = 1;

/** What to do with a gradient containing NaN or ±Infinity. */
export type NonFinitePolicy = 'throw' | 'skip';

/** Options every optimizer accepts besides its hyperparameters. */
export interface CommonOptions extends ComputeOptions {
  /** 'throw' (default): a typed error before any state changes. 'skip': the step is skipped and counted. */
  nonFinite?: NonFinitePolicy;
}

interface RegisteredTensor {
  param: number;
  name: string;
  kind: StateKind;
  buffer: ArenaBuffer;
  /** u16 holding bf16 values: loading rejects NaN/Infinity patterns as for f32. */
  bf16: boolean;
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function validateParams(params: readonly Param[]): void {
  if (!Array.isArray(params) || params.length === 0)
    throw new ShapeError('expected a non-empty array of params');
  params.forEach((p, i) => {
    const label = p?.name ? `param ${i} ('${p.name}')` : `param ${i}`;
    if (!(p?.data instanceof Float32Array)) throw new ShapeError(`${label}: data must be a Float32Array`);
    if (!Array.isArray(p.shape) || p.shape.some((d: number) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(
        `${label}: shape must be an array of non-negative integers, got ${JSON.stringify(p.shape)}`,
      );
    }
    const n = numel(p.shape);
    if (n === 0) throw new ShapeError(`${label}: has zero elements (shape ${JSON.stringify(p.shape)})`);
    if (n !== p.data.length) {
      throw new ShapeError(
        `${label}: shape ${JSON.stringify(p.shape)} has ${n} elements but data has ${p.data.length}`,
      );
    }
  });
}

/**
 * The contract shared by every method: parameter and gradient validation, a registry of state buffers (so
 * `stateDict`, `loadStateDict` and `stateBytes` are generic and exact), and the non-finite gradient policy.
 * A method allocates all of its state in the constructor with `allocState` and implements `applyStep`.
 */
export abstract class Optimizer {
  abstract readonly method: string;
  readonly params: readonly Param[];
  protected readonly kernels: Kernels;
  protected readonly nonFinite: NonFinitePolicy;
  private readonly registry: RegisteredTensor[] = [];
  /** [steps taken, steps skipped for non-finite gradients] */
  private readonly stepCounters: ArenaBuffer<'f64'>;

  protected constructor(params: readonly Param[], options: CommonOptions) {
    validateParams(params);
    this.params = params;
    this.kernels = createKernels(options);
    this.nonFinite = options.nonFinite ?? 'throw';
    this.stepCounters = this.allocState(-1, 'steps', 'counter', 'f64', 2);
  }

  /** The resolved configuration (defaults filled in), as saved in `stateDict().config`. */
  abstract get config(): Readonly<Record<string, unknown>>;

  /** Calls to `step` that updated the state. */
  get stepCount(): number {
    return this.stepCounters.view()[0];
  }

  /** Calls to `step` skipped because a gradient was not finite (with `nonFinite: 'skip'`). */
  get skippedSteps(): number {
    return this.stepCounters.view()[1];
  }

  /** Which kernel engine this optimizer runs on. */
  get engine(): Kernels['engine'] {
    return this.kernels.engine;
  }

  /**
   * Allocates a zero-filled state buffer and registers it for stateDict/stateBytes. Names are unique per param.
   * `bf16`: a u16 buffer holding bf16 values (loading then refuses NaN and Infinity in it).
   */
  protected allocState<D extends DType>(
    param: number,
    name: string,
    kind: StateKind,
    dtype: D,
    length: number,
    options: { bf16?: boolean } = {},
  ) {
    if (this.registry.some((t) => t.param === param && t.name === name)) {
      throw new Error(`state '${name}' registered twice for param ${param}`);
    }
    const buffer = this.kernels.arena.alloc(dtype, length);
    this.registry.push({ param, name, kind, buffer, bf16: dtype === 'u16' && options.bf16 === true });
    return buffer;
  }

  /** Updates every parameter in place from its gradient (aligned with `params`). */
  step(grads: readonly Float32Array[]): void {
    this.validateGrads(grads);
    const problem = this.gradientProblem(grads);
    if (problem !== null) {
      if (this.nonFinite === 'skip') {
        this.stepCounters.view()[1] += 1;
        return;
      }
      throw new NonFiniteError(problem);
    }
    this.applyStep(grads);
    this.stepCounters.view()[0] += 1;
  }

  /**
   * Why the gradients must be refused, or null. One pass per gradient: a squared norm ≤ MAX_GRAD_SQUARED_NORM
   * proves every element finite and every float32 statistic derived from it (g², Gram matrices, rotated
   * gradients) free of overflow; only a failing gradient is scanned again to say which of the two it is.
   */
  private gradientProblem(grads: readonly Float32Array[]): string | null {
    for (let i = 0; i < grads.length; i++) {
      const norm2 = squaredNorm(grads[i]);
      if (norm2 <= MAX_GRAD_SQUARED_NORM) continue;
      const label = `gradient ${i}${this.paramLabel(i)}`;
      return isAllFinite(grads[i])
        ? `${label} is too large (squared norm ${norm2.toExponential(2)} > ${MAX_GRAD_SQUARED_NORM}: its statistics would overflow float32); state unchanged`
        : `${label} contains NaN or Infinity; state unchanged`;
    }
    return null;
  }

  /** One update with validated, finite gradients. Must leave the state unchanged if it throws. */
  protected abstract applyStep(grads: readonly Float32Array[]): void;

  /**
   * Copies every state buffer and every parameter's data; the returned function puts them all back. For a
   * step that may have to throw after it has started mutating (a rare path: callers use it only when a
   * failure would be fatal), so that the throw leaves the optimizer and the parameters as they were.
   */
  protected captureState(): () => void {
    const tensors = this.registry.map((t) => ({ buffer: t.buffer, data: t.buffer.view().slice() }));
    const params = this.params.map((p) => p.data.slice());
    return () => {
      for (const { buffer, data } of tensors) (buffer.view() as TypedArray).set(data as never);
      this.params.forEach((p, i) => {
        p.data.set(params[i]);
      });
      this.stateReplaced();
    };
  }

  /**
   * Called after the state buffers were overwritten from outside a step (`loadStateDict`, or the undo of
   * `captureState`): a method that keeps values derived from its state (decoded or rectified matrices in
   * scratch) drops them here.
   */
  protected stateReplaced(): void {}

  protected paramLabel(i: number): string {
    const name = this.params[i]?.name;
    return name ? ` ('${name}')` : '';
  }

  private validateGrads(grads: readonly Float32Array[]): void {
    if (!Array.isArray(grads) || grads.length !== this.params.length) {
      throw new ShapeError(
        `expected ${this.params.length} gradients, got ${Array.isArray(grads) ? grads.length : typeof grads}`,
      );
    }
    grads.forEach((g, i) => {
      if (!(g instanceof Float32Array))
        throw new ShapeError(`gradient ${i}${this.paramLabel(i)} must be a Float32Array`);
      if (g.length !== this.params[i].data.length) {
        throw new ShapeError(
          `gradient ${i}${this.paramLabel(i)} has ${g.length} elements, param has ${this.params[i].data.length}`,
        );
      }
    });
  }

  /** A deep copy of the state. */
  stateDict(): StateDict {
    return {
      format: 'shampoo-ts/state-dict',
      version: STATE_DICT_VERSION,
      method: this.method,
      config: structuredClone({ ...this.config }),
      shapes: this.params.map((p) => [...p.shape]),
      tensors: this.registry.map((t) => ({
        param: t.param,
        name: t.name,
        kind: t.kind,
        dtype: t.buffer.dtype,
        data: t.buffer.view().slice(),
      })),
    };
  }

  /** Restores a state from `stateDict()`. Everything is validated before anything is copied. */
  loadStateDict(state: StateDict): void {
    if (state?.format !== 'shampoo-ts/state-dict') throw new StateDictError('not a shampoo-ts state dict');
    if (state.version !== STATE_DICT_VERSION) {
      throw new StateDictError(
        `state dict version ${state.version}, this library reads ${STATE_DICT_VERSION}`,
      );
    }
    if (state.method !== this.method) {
      throw new StateDictError(
        `state dict is for method '${state.method}', this optimizer is '${this.method}'`,
      );
    }
    if (!Array.isArray(state.shapes) || state.shapes.length !== this.params.length) {
      throw new StateDictError(
        `state dict has ${state.shapes?.length} params, optimizer has ${this.params.length}`,
      );
    }
    state.shapes.forEach((shape, i) => {
      const mine = this.params[i].shape;
      if (shape.length !== mine.length || shape.some((d, k) => d !== mine[k])) {
        throw new StateDictError(
          `param ${i}${this.paramLabel(i)}: state dict shape ${JSON.stringify(shape)}, param shape ${JSON.stringify(mine)}`,
        );
      }
    });
    if (!Array.isArray(state.tensors) || state.tensors.length !== this.registry.length) {
      throw new StateDictError(
        `state dict has ${state.tensors?.length} tensors, optimizer has ${this.registry.length}`,
      );
    }
    const plan = this.registry.map((t) => {
      const src = state.tensors.find((s) => s.param === t.param && s.name === t.name);
      const where = `tensor '${t.name}' of param ${t.param}`;
      if (!src) throw new StateDictError(`${where} is missing`);
      if (src.dtype !== t.buffer.dtype)
        throw new StateDictError(`${where}: dtype ${src.dtype}, expected ${t.buffer.dtype}`);
      if (src.data?.length !== t.buffer.length) {
        throw new StateDictError(`${where}: ${src.data?.length} elements, expected ${t.buffer.length}`);
      }
      if (
        (src.dtype === 'f32' || src.dtype === 'f64') &&
        !isAllFinite(src.data as Float32Array | Float64Array)
      ) {
        throw new StateDictError(`${where} contains NaN or Infinity`);
      }
      if (t.bf16 && !isAllFiniteBf16(src.data as Uint16Array)) {
        throw new StateDictError(`${where} contains NaN or Infinity`);
      }
      return { dst: t.buffer, src: src.data };
    });
    for (const { dst, src } of plan) (dst.view() as TypedArray).set(src as never);
    this.stateReplaced();
  }

  /** Exact bytes of optimizer state held, in total and by kind (scratch buffers excluded). */
  stateBytes(): StateBytes {
    const byKind: Partial<Record<StateKind, number>> = {};
    let total = 0;
    for (const t of this.registry) {
      byKind[t.kind] = (byKind[t.kind] ?? 0) + t.buffer.byteLength;
      total += t.buffer.byteLength;
    }
    return { total, byKind };
  }
}

/** True when no bf16 bit pattern is NaN or ±Infinity (all exponent bits set). */
function isAllFiniteBf16(u: Uint16Array): boolean {
  for (let i = 0; i < u.length; i++) if ((u[i] & 0x7f80) === 0x7f80) return false;
  return true;
}

/** Σ xᵢ² in float64; four accumulators so the loop is not bound by one addition chain. NaN or ±Infinity give a non-finite result. */
function squaredNorm(x: Float32Array): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n4 = x.length - (x.length % 4);
  for (let k = 0; k < n4; k += 4) {
    a0 += x[k] * x[k];
    a1 += x[k + 1] * x[k + 1];
    a2 += x[k + 2] * x[k + 2];
    a3 += x[k + 3] * x[k + 3];
  }
  for (let k = n4; k < x.length; k++) a0 += x[k] * x[k];
  return a0 + a1 + a2 + a3;
}
