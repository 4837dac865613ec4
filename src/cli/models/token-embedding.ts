import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * Token embedding as a one-hot product: `[batch, time]` int ids → `[batch, time, width]`.
 * tfjs-layers' `embedding` is a gather whose gradient needs the `UnsortedSegmentSum` kernel, which the WASM
 * backend does not have. `oneHot(ids) · table` selects the same rows, and its gradient `oneHotᵀ · dy` is a
 * plain matrix product that every backend runs (cheap for a character vocabulary).
 */
export class TokenEmbedding extends tfl.layers.Layer {
  static readonly className = 'ShampooTsTokenEmbedding';
  readonly vocabSize: number;
  readonly width: number;
  readonly seed: number;
  private table!: tfl.LayerVariable;

  constructor(args: { vocabSize: number; width: number; seed: number; name?: string }) {
    super(args.name === undefined ? {} : { name: args.name });
    this.vocabSize = args.vocabSize;
    this.width = args.width;
    this.seed = args.seed;
  }

  override build(): void {
    this.table = this.addWeight(
      'embeddings',
      [this.vocabSize, this.width],
      'float32',
      tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: this.seed }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [...shape, this.width];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const ids = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
      const [batch, time] = ids.shape;
      const flat = tf.reshape(tf.cast(ids, 'int32'), [batch * time]) as tf.Tensor1D;
      const oneHot = tf.cast(tf.oneHot(flat, this.vocabSize), 'float32') as tf.Tensor2D;
      return tf.reshape(tf.matMul(oneHot, this.table.read()), [batch, time, this.width]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), vocabSize: this.vocabSize, width: this.width, seed: this.seed };
  }
}
tf.serialization.registerClass(TokenEmbedding);
