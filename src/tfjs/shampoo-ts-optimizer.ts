import * as tf from '@tensorflow/tfjs-core';
import { decodeCheckpoint } from '../checkpoint/decode.ts';
import { encodeCheckpoint } from '../checkpoint/encode.ts';
import { configDifferences } from '../checkpoint/load.ts';
import { CheckpointError, ShapeError, StateDictError } from '../errors.ts';
import { RUNTIME_KEYS } from '../optimizers/common-config.ts';
import type { Optimizer, Param, StateDict } from '../optimizers/optimizer.ts';
import { decodeTfjsConfig, encodeTfjsConfig } from './config-codec.ts';
import { packBytes, unpackBytes } from './weight-codec.ts';

/** Name of the optimizer weight that carries the checkpoint (tfjs' own iteration counter is 'iter'). */
export const CHECKPOINT_WEIGHT_NAME = 'shampoo_ts/checkpoint';

const SCALAR_PARAM = (): Param => ({ data: new Float32Array(1), shape: [1] });

/** tfjs' `NamedTensor` (not exported from the package root). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

type GradientList = tf.NamedTensorMap | NamedTensor[];

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * A shampoo-ts optimizer as a `tf.Optimizer`. The core optimizer is created on the first `applyGradients`
 * from the variables' shapes and current values; all optimizer state lives in the core's typed arrays, so
 * the adapter holds no tensors between steps (nothing for `fit`'s per-batch `tidy` to dispose, nothing to
 * leak). Each step reads every gradient once (`dataSync`), reads a variable only if it changed since our
 * last write, and writes every updated parameter back once (`assign`).
 *
 * Parameters are identified by POSITION in the gradient list, not by variable name: tfjs variable names are
 * global and gain suffixes when a model is rebuilt or reloaded. Count and shapes are checked every step.
 */
export abstract class ShampooTsOptimizer<C extends object = Record<string, unknown>> extends tf.Optimizer {
  private coreConfig: Record<string, unknown>;
  private core: Optimizer | null = null;
  /** State restored by `setWeights` before the variables were known; applied on the first step. */
  private pending: StateDict | null = null;
  /** The `dataId` each position's variable got from our last `assign` (see `applyGradients`). */
  private written: object[] = [];
  /** Tensors returned by the last `getWeights` (tfjs does not dispose them; we do, on the next call). */
  private exported: tf.Tensor[] = [];

  constructor(config: C = {} as C) {
    super();
    const given = structuredClone({ ...(config as Record<string, unknown>) });
    // A throwaway core on one scalar parameter: an invalid config throws here, not in the middle of `fit`.
    const probe = this.createCore([SCALAR_PARAM()], structuredClone(given));
    this.method = probe.method;
    this.resolved = structuredClone({ ...probe.config });
    // Every core's resolved config is an input config: `getConfig` (hence model.json) carries it, defaults
    // included, and the core is created from it. The core's resolved config leaves out how it runs (engine,
    // non-finite policy), which the caller may have chosen: those are carried over as given.
    const runtime = RUNTIME_KEYS.filter((key) => given[key] !== undefined).map((key) => [key, given[key]]);
    this.coreConfig = { ...this.resolved, ...Object.fromEntries(runtime) };
  }

  /** The core method, e.g. 'soap'. */
  readonly method: string;
  /** The core's resolved configuration (as in its state dicts and checkpoints). */
  private readonly resolved: Record<string, unknown>;
  /** Config differences found by the last `setWeights` between the saved state and this optimizer. */
  restoredConfigDifferences: string[] = [];

  /** Creates the core optimizer (one of shampoo-ts' methods) for `params`. */
  protected abstract createCore(params: Param[], config: Record<string, unknown>): Optimizer;

  /** The configuration the core optimizer is created with (as `getConfig` reports it, undecoded). */
  get config(): Readonly<Record<string, unknown>> {
    return this.coreConfig;
  }

  /** The core optimizer, or null before the first step. Its params are copies of the variables' values. */
  get coreOptimizer(): Optimizer | null {
    return this.core;
  }

  override applyGradients(variableGradients: GradientList): void {
    // `minimize` passes a NamedTensorMap; `model.fit` (via minimize with a varList) passes an array.
    const entries: [string, tf.Tensor | null | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const registered = tf.engine().registeredVariables;
    const variables = entries.map(([name], i) => {
      const v = registered[name];
      if (v === undefined)
        throw new ShapeError(`gradient ${i} is for '${name}', which is not a live variable`);
      if (v.dtype !== 'float32')
        throw new ShapeError(`variable '${name}' is ${v.dtype}; only float32 is supported`);
      return v;
    });
    const core = this.core ?? this.createCoreFor(variables);
    if (variables.length !== core.params.length) {
      throw new ShapeError(
        `got gradients for ${variables.length} variables; this optimizer was set up for ${core.params.length}`,
      );
    }
    const grads = entries.map(([name, g], i) => {
      const shape = core.params[i].shape;
      if (!sameShape(variables[i].shape, shape)) {
        throw new ShapeError(
          `variable ${i} ('${name}') has shape ${JSON.stringify(variables[i].shape)}; position ${i} was ${JSON.stringify(shape)}`,
        );
      }
      // A variable the loss does not depend on has no gradient: it gets a zero gradient.
      if (g == null) return new Float32Array(core.params[i].data.length);
      if (g.dtype !== 'float32' || !sameShape(g.shape, shape)) {
        throw new ShapeError(
          `gradient for '${name}' is ${g.dtype} ${JSON.stringify(g.shape)}, expected float32 ${JSON.stringify(shape)}`,
        );
      }
      return g.dataSync() as Float32Array;
    });
    // The variables are the source of truth: they may have changed since the last step (model.setWeights,
    // loadWeights, assign, another variable at this position). tfjs tensors are immutable and every
    // change gives a variable a new `dataId`, so a variable still holding the data we wrote last step
    // equals the core's copy and need not be read back.
    variables.forEach((v, i) => {
      if (this.written[i] !== v.dataId) core.params[i].data.set(v.dataSync() as Float32Array);
    });
    core.step(grads);
    tf.tidy(() => {
      variables.forEach((v, i) => {
        // A copy: tf.tensor may adopt the array, and the core overwrites its buffers on the next step.
        v.assign(tf.tensor(core.params[i].data.slice(), v.shape, 'float32'));
        this.written[i] = v.dataId;
      });
    });
    this.incrementIterations();
  }

  private createCoreFor(variables: tf.Variable[]): Optimizer {
    const params: Param[] = variables.map((v) => ({
      data: Float32Array.from(v.dataSync() as Float32Array),
      shape: [...v.shape],
      name: v.name,
    }));
    const core = this.createCore(params, structuredClone(this.coreConfig));
    if (this.pending) this.restoreInto(core, this.pending);
    this.pending = null;
    this.core = core;
    return core;
  }

  /** Validated restore: maps every state-dict problem to a CheckpointError; `core` is untouched on failure. */
  private restoreInto(core: Optimizer, state: StateDict): void {
    const shapes = core.params.map((p) => p.shape);
    if (state.shapes.length !== shapes.length || state.shapes.some((s, i) => !sameShape(s, shapes[i]))) {
      throw new CheckpointError(
        'mismatch',
        `saved optimizer state is for parameter shapes ${JSON.stringify(state.shapes)}, the variables have ${JSON.stringify(shapes)}`,
      );
    }
    try {
      core.loadStateDict(state);
    } catch (e) {
      if (e instanceof StateDictError) throw new CheckpointError('mismatch', e.message);
      throw e;
    }
  }

  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.exported);
    const weights: NamedTensor[] = [await this.saveIterations()];
    const state = this.core ? this.core.stateDict() : this.pending;
    if (state) {
      weights.push({
        name: CHECKPOINT_WEIGHT_NAME,
        tensor: tf.tensor1d(packBytes(encodeCheckpoint(state)), 'int32'),
      });
    }
    this.exported = weights.map((w) => tf.keep(w.tensor));
    return weights;
  }

  /**
   * Restores what `getWeights` returned: the iteration count and the core state. As with every tfjs
   * optimizer, the configuration stays this optimizer's own (`restoredConfigDifferences` lists where the
   * saved one differed); a difference that changes the state's layout is rejected. Everything is verified
   * before anything changes: a state for another method or other shapes throws a `CheckpointError`. Without
   * a checkpoint weight the optimizer starts afresh.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const iter = weightValues.find((w) => w.name === 'iter');
    const carrier = weightValues.find((w) => w.name === CHECKPOINT_WEIGHT_NAME);
    const unknown = weightValues.filter((w) => w !== iter && w !== carrier).map((w) => w.name);
    if (unknown.length > 0) {
      throw new CheckpointError('format', `unexpected optimizer weights ${JSON.stringify(unknown)}`);
    }
    let state: StateDict | null = null;
    let core: Optimizer | null = null;
    if (carrier) {
      if (carrier.tensor.dtype !== 'int32') {
        throw new CheckpointError(
          'format',
          `'${CHECKPOINT_WEIGHT_NAME}' must be int32, got ${carrier.tensor.dtype}`,
        );
      }
      state = decodeCheckpoint(unpackBytes((await carrier.tensor.data()) as Int32Array));
      if (state.method !== this.method) {
        throw new CheckpointError(
          'mismatch',
          `saved optimizer state is for method '${state.method}', this optimizer is '${this.method}'`,
        );
      }
      if (this.core) {
        core = this.createCore(
          this.core.params.map((p) => ({ ...p, data: p.data.slice(), shape: [...p.shape] })),
          structuredClone(this.coreConfig),
        );
        this.restoreInto(core, state);
      }
    }
    const iterations = iter ? (await iter.tensor.data())[0] : 0;
    // Verified; now commit.
    this.iterations_ = iterations;
    this.restoredConfigDifferences = state ? configDifferences(state.config, this.resolved) : [];
    this.core = core;
    this.pending = core ? null : state;
    this.written = [];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return encodeTfjsConfig(this.coreConfig);
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers' deserializer adds its registry of custom classes to the config it passes here.
    const { customObjects: _registry, ...own } = config;
    return new cls(decodeTfjsConfig(own));
  }

  /** Frees every tensor this optimizer created and drops its state. */
  override dispose(): void {
    super.dispose();
    tf.dispose(this.exported);
    this.exported = [];
    this.core = null;
    this.pending = null;
    this.written = [];
  }
}
