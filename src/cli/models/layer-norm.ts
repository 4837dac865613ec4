import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * Layer normalization over the last axis: `(x − mean) / sqrt(var + ε) · γ + β`.
 * tfjs-layers' `layerNormalization` tiles γ and β to the full input shape, and tfjs differentiates a tile as
 * one slice-and-add per repetition: for a [32, 64, 128] activation that is 2,048 slices per parameter, which
 * made the backward pass of the character Transformer ~10 s per batch on the WASM backend. Here γ and β
 * broadcast, and the gradient of a broadcast is a single sum.
 */
export class LayerNorm extends tfl.layers.Layer {
  static readonly className = 'ShampooTsLayerNorm';
  readonly epsilon: number;
  private gamma!: tfl.LayerVariable;
  private beta!: tfl.LayerVariable;

  constructor(args: { epsilon?: number; name?: string } = {}) {
    super(args.name === undefined ? {} : { name: args.name });
    this.epsilon = args.epsilon ?? 1e-5;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const width = shape[shape.length - 1];
    if (width === null) throw new Error('LayerNorm needs a fixed last dimension');
    this.gamma = this.addWeight('gamma', [width], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [width], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const centered = tf.sub(x, tf.mean(x, -1, true));
      const variance = tf.mean(tf.square(centered), -1, true);
      const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, this.epsilon)));
      return tf.add(tf.mul(normed, this.gamma.read()), this.beta.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(LayerNorm);
