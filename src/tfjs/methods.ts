import * as tf from '@tensorflow/tfjs-core';
import { AdamW, type AdamWConfig } from '../optimizers/adamw.ts';
import type { Optimizer, Param } from '../optimizers/optimizer.ts';
import { SOAP, type SOAPConfig } from '../optimizers/soap.ts';
import { ShampooTsOptimizer } from './shampoo-ts-optimizer.ts';

/*
 * One registered `tf.Optimizer` class per method. Registration (by `className`) is what lets
 * `tf.loadLayersModel` rebuild the optimizer from a model.json saved with `includeOptimizer: true`.
 */

/** AdamW (torch.optim.AdamW semantics) as a `tf.Optimizer`. */
export class ShampooTsAdamW extends ShampooTsOptimizer<AdamWConfig> {
  static readonly className = 'ShampooTsAdamW';
  protected createCore(params: Param[], config: Record<string, unknown>): Optimizer {
    return new AdamW(params, config as AdamWConfig);
  }
}
tf.serialization.registerClass(ShampooTsAdamW);

/** `tf.train`-style factory: `model.compile({ optimizer: adamw({ lr: 1e-3 }), loss })`. */
export const adamw = (config: AdamWConfig = {}): ShampooTsAdamW => new ShampooTsAdamW(config);

/** SOAP (Adam in Shampoo's eigenbasis) as a `tf.Optimizer`. */
export class ShampooTsSOAP extends ShampooTsOptimizer<SOAPConfig> {
  static readonly className = 'ShampooTsSOAP';
  protected createCore(params: Param[], config: Record<string, unknown>): Optimizer {
    return new SOAP(params, config as SOAPConfig);
  }
}
tf.serialization.registerClass(ShampooTsSOAP);

/** `tf.train`-style factory: `soap({ lr: 3e-3, preconditionFrequency: 10 })`. */
export const soap = (config: SOAPConfig = {}): ShampooTsSOAP => new ShampooTsSOAP(config);

/** A registered adapter class: `new Cls(config)`. */
export interface ShampooTsOptimizerClass {
  new (config?: Record<string, unknown>): ShampooTsOptimizer;
  readonly className: string;
}

/** Every registered adapter class, one per core method. */
export const TFJS_OPTIMIZER_CLASSES: readonly ShampooTsOptimizerClass[] = [ShampooTsAdamW, ShampooTsSOAP];
