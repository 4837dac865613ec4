import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer, Param } from '../../optimizers/optimizer.ts';

/**
 * Connects a framework-agnostic optimizer to tfjs variables: parameters live as Float32Arrays the optimizer
 * updates in place; each step downloads the gradients, runs the optimizer and uploads the new values.
 * The optimizer's own time is measured apart from the transfers.
 */
export class TfVariableBridge {
  readonly params: Param[];

  constructor(readonly variables: readonly tf.Variable[]) {
    this.params = variables.map((v) => ({
      data: Float32Array.from(v.dataSync() as Float32Array),
      shape: [...v.shape],
      name: v.name,
    }));
  }

  /** Applies one step; returns the milliseconds spent inside `optimizer.step`. */
  step(optimizer: Optimizer, grads: readonly tf.Tensor[]): number {
    const arrays = grads.map((g) => {
      const d = g.dataSync();
      return d instanceof Float32Array ? d : Float32Array.from(d);
    });
    const t0 = performance.now();
    optimizer.step(arrays);
    const ms = performance.now() - t0;
    this.params.forEach((p, i) => {
      // A copy: the CPU backend may keep a reference to the array it is given, and the optimizer keeps
      // mutating `p.data` in place.
      const value = tf.tensor(p.data.slice(), [...p.shape]);
      this.variables[i].assign(value);
      value.dispose();
    });
    return ms;
  }
}
