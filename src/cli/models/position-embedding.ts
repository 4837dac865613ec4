import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type LayerVariable = tfl.LayerVariable;

/** Adds a learned position embedding `[time, width]` to `[batch, time, width]`. */
export class PositionEmbedding extends tfl.layers.Layer {
  static readonly className = 'ShampooTsPositionEmbedding';
  readonly seed: number;
  private table!: LayerVariable;

  constructor(args: { seed: number; name?: string }) {
    super(args.name === undefined ? {} : { name: args.name });
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const [, time, width] = shape;
    if (time === null || width === null) throw new Error('PositionEmbedding needs a fixed time and width');
    this.table = this.addWeight(
      'table',
      [time, width],
      'float32',
      tfl.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: this.seed }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.add(x, this.table.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), seed: this.seed };
  }
}
tf.serialization.registerClass(PositionEmbedding);
