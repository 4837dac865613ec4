import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface CausalSelfAttentionArgs {
  heads: number;
  /** Seed of the first weight's initializer; the others use seed+1, seed+2, seed+3. */
  seed: number;
  name?: string;
}

type LayerVariable = tfl.LayerVariable;

/**
 * Multi-head causal self-attention over `[batch, time, width]` (tfjs-layers has no attention layer).
 * Separate square query/key/value/output projections keep every weight a width×width matrix, the shape
 * Kronecker-factored optimizers precondition on both sides. Position t attends to positions ≤ t only: the
 * scores of later positions get −1e9 before the softmax, so their weights underflow to exactly 0.
 */
export class CausalSelfAttention extends tfl.layers.Layer {
  static readonly className = 'ShampooTsCausalSelfAttention';
  readonly heads: number;
  readonly seed: number;
  private wq!: LayerVariable;
  private wk!: LayerVariable;
  private wv!: LayerVariable;
  private wo!: LayerVariable;
  private bq!: LayerVariable;
  private bk!: LayerVariable;
  private bv!: LayerVariable;
  private bo!: LayerVariable;

  constructor(args: CausalSelfAttentionArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    if (!Number.isInteger(args.heads) || args.heads < 1)
      throw new Error(`heads must be a positive integer, got ${args.heads}`);
    this.heads = args.heads;
    this.seed = args.seed;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const width = shape[shape.length - 1];
    if (width === null || width % this.heads !== 0) {
      throw new Error(`attention width ${width} must be a multiple of heads (${this.heads})`);
    }
    const kernel = (name: string, k: number) =>
      this.addWeight(
        name,
        [width, width],
        'float32',
        tfl.initializers.glorotUniform({ seed: this.seed + k }),
      );
    const bias = (name: string) => this.addWeight(name, [width], 'float32', tfl.initializers.zeros());
    this.wq = kernel('query_kernel', 0);
    this.wk = kernel('key_kernel', 1);
    this.wv = kernel('value_kernel', 2);
    this.wo = kernel('output_kernel', 3);
    this.bq = bias('query_bias');
    this.bk = bias('key_bias');
    this.bv = bias('value_bias');
    this.bo = bias('output_bias');
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
      const [batch, time, width] = x.shape;
      const h = this.heads;
      const dh = width / h;
      const flat = tf.reshape(x, [batch * time, width]);
      // [batch*time, width] → [batch, heads, time, dh]
      const split = (w: LayerVariable, b: LayerVariable) =>
        tf.transpose(
          tf.reshape(tf.add(tf.matMul(flat, w.read()), b.read()), [batch, time, h, dh]),
          [0, 2, 1, 3],
        );
      const q = split(this.wq, this.bq);
      const k = split(this.wk, this.bk);
      const v = split(this.wv, this.bv);
      const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
      const probs = tf.softmax(tf.add(scores, causalMaskBias(time)));
      const mixed = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [batch * time, width]);
      return tf.reshape(tf.add(tf.matMul(mixed, this.wo.read()), this.bo.read()), [batch, time, width]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), heads: this.heads, seed: this.seed };
  }
}
tf.serialization.registerClass(CausalSelfAttention);

/** [time, time]: 0 on and below the diagonal, −1e9 above it (query row, key column). */
export function causalMaskBias(time: number): tf.Tensor2D {
  return tf.tidy(() => {
    const allowed = tf.linalg.bandPart(tf.ones([time, time]), -1, 0);
    return tf.mul(tf.sub(1, allowed), -1e9) as tf.Tensor2D;
  });
}
