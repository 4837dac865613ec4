import * as tf from '@tensorflow/tfjs-core';
import { AdamW, type AdamWConfig } from '../optimizers/adamw.ts';
import { KLShampoo, type KLShampooConfig } from '../optimizers/kl-shampoo.ts';
import { KLSOAP, type KLSOAPConfig } from '../optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../optimizers/optimizer.ts';
import { Shampoo } from '../optimizers/shampoo.ts';
import type { ShampooConfig } from '../optimizers/shampoo-config.ts';
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

/** Shampoo (Distributed Shampoo, or the 4-bit paper's form with `variant: 'lowbit'`) as a `tf.Optimizer`. */
export class ShampooTsShampoo extends ShampooTsOptimizer<ShampooConfig> {
  static readonly className = 'ShampooTsShampoo';
  protected createCore(params: Param[], config: Record<string, unknown>): Optimizer {
    return new Shampoo(params, config as ShampooConfig);
  }
}
tf.serialization.registerClass(ShampooTsShampoo);

/** `tf.train`-style factory: `shampoo({ lr: 1e-3, preconditionFrequency: 20 })`. */
export const shampoo = (config: ShampooConfig = {}): ShampooTsShampoo => new ShampooTsShampoo(config);

/** KL-Shampoo as a `tf.Optimizer`. */
export class ShampooTsKLShampoo extends ShampooTsOptimizer<KLShampooConfig> {
  static readonly className = 'ShampooTsKLShampoo';
  protected createCore(params: Param[], config: Record<string, unknown>): Optimizer {
    return new KLShampoo(params, config as KLShampooConfig);
  }
}
tf.serialization.registerClass(ShampooTsKLShampoo);

/** `tf.train`-style factory: `klShampoo({ lr: 1e-4 })`. */
export const klShampoo = (config: KLShampooConfig = {}): ShampooTsKLShampoo => new ShampooTsKLShampoo(config);

/** KL-SOAP as a `tf.Optimizer`. */
export class ShampooTsKLSOAP extends ShampooTsOptimizer<KLSOAPConfig> {
  static readonly className = 'ShampooTsKLSOAP';
  protected createCore(params: Param[], config: Record<string, unknown>): Optimizer {
    return new KLSOAP(params, config as KLSOAPConfig);
  }
}
tf.serialization.registerClass(ShampooTsKLSOAP);

/** `tf.train`-style factory: `klSoap({ lr: 1e-4 })`. */
export const klSoap = (config: KLSOAPConfig = {}): ShampooTsKLSOAP => new ShampooTsKLSOAP(config);

/** A registered adapter class: `new Cls(config)`. */
export interface ShampooTsOptimizerClass {
  new (config?: Record<string, unknown>): ShampooTsOptimizer;
  readonly className: string;
}

/** Every registered adapter class, one per core method. */
export const TFJS_OPTIMIZER_CLASSES: readonly ShampooTsOptimizerClass[] = [
  ShampooTsAdamW,
  ShampooTsSOAP,
  ShampooTsShampoo,
  ShampooTsKLShampoo,
  ShampooTsKLSOAP,
];
