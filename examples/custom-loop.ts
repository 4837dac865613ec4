/**
 * A custom training loop with `optimizer.minimize`: a two-layer network fit to a noisy 2-D function, with
 * plain tf.variables (no tfjs-layers). Runs on the tfjs `cpu` backend.
 *
 *   node --import tsx examples/custom-loop.ts [--method soap|adamw|shampoo|kl-shampoo|kl-soap] [--short]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// Gradient functions: tfjs-core registers none by itself in Node. `@tensorflow/tfjs` (the union package)
// or tfjs-layers registers them on import.
import '@tensorflow/tfjs-layers';
import { adamw, klShampoo, klSoap, type ShampooTsOptimizer, shampoo, soap } from 'shampoo-ts/tfjs';

const args = process.argv.slice(2);
const short = args.includes('--short') || process.env.SHAMPOO_TS_EXAMPLE_SHORT === '1';
const method = args.includes('--method') ? args[args.indexOf('--method') + 1] : 'soap';
await tf.setBackend('cpu');

// Data: y = sin(3·x0)·cos(2·x1) + noise, 256 points.
const x = tf.randomUniform([256, 2], -1, 1, 'float32', 1);
const y = tf.tidy(() => {
  const [x0, x1] = tf.split(x, 2, 1);
  return tf.add(
    tf.mul(tf.sin(tf.mul(x0, 3)), tf.cos(tf.mul(x1, 2))),
    tf.randomNormal([256, 1], 0, 0.05, 'float32', 2),
  );
});

const hidden = 32;
const w1 = tf.variable(tf.randomNormal([2, hidden], 0, 1, 'float32', 3), true, 'w1');
const b1 = tf.variable(tf.zeros([hidden]), true, 'b1');
const w2 = tf.variable(tf.randomNormal([hidden, 1], 0, 1 / Math.sqrt(hidden), 'float32', 4), true, 'w2');
const b2 = tf.variable(tf.zeros([1]), true, 'b2');
const predict = (input: tf.Tensor) => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(input, w1), b1)), w2), b2);
const loss = () => tf.losses.meanSquaredError(y, predict(x)) as tf.Scalar;

const OPTIMIZERS: Record<string, () => ShampooTsOptimizer> = {
  adamw: () => adamw({ lr: 1e-2 }),
  soap: () => soap({ lr: 1e-2, preconditionFrequency: 5 }),
  shampoo: () =>
    shampoo({
      lr: 1e-2,
      preconditionFrequency: 5,
      graftingConfig: { type: 'adam', beta2: 0.999, epsilon: 1e-8 },
    }),
  'kl-shampoo': () => klShampoo({ lr: 1e-2, preconditionFrequency: 5 }),
  'kl-soap': () => klSoap({ lr: 1e-2, preconditionFrequency: 5 }),
};
if (!OPTIMIZERS[method]) throw new Error(`--method must be one of ${Object.keys(OPTIMIZERS).join(', ')}`);
const optimizer = OPTIMIZERS[method]();
const steps = short ? 30 : 500;
const tensorsBefore = tf.memory().numTensors;
let last = Number.NaN;
for (let step = 1; step <= steps; step++) {
  // The variables are listed explicitly, so their order (= the optimizer's parameter positions) is fixed.
  const cost = optimizer.minimize(loss, true, [w1, b1, w2, b2]);
  last = (await cost!.data())[0];
  cost!.dispose();
  if (step === 1 || step % Math.max(1, Math.floor(steps / 5)) === 0)
    console.log(`step ${step}: loss ${last.toFixed(5)}`);
}
console.log(
  `${optimizer.getClassName()}: final loss ${last.toFixed(5)} after ${optimizer.iterations} steps; ` +
    `tensors held before/after the loop: ${tensorsBefore}/${tf.memory().numTensors}`,
);
optimizer.dispose();
