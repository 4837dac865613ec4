import { Prng } from '../prng.ts';
import { IdxError, readIdxFile } from './idx.ts';
import type { ImageDataset, ImageSplit } from './image-dataset.ts';
import { subset } from './image-dataset.ts';

/** Without --test-images, this fraction of the training file is held out (fixed seed) as the test set. */
export const HOLDOUT_FRACTION = 1 / 6;
const HOLDOUT_SEED = 1_000_003;

interface Labelled {
  x: Float32Array;
  y: Int32Array;
  n: number;
  dim: number;
  maxLabel: number;
}

function loadPair(imagesPath: string, labelsPath: string): Labelled {
  const images = readIdxFile(imagesPath);
  if (images.dtype !== 'ubyte') {
    throw new IdxError(imagesPath, `images must be unsigned bytes (IDX type 0x08), got ${images.dtype}`);
  }
  if (images.dims.length < 2) {
    throw new IdxError(
      imagesPath,
      `images need at least 2 dimensions [count, ...], got [${images.dims.join(', ')}]`,
    );
  }
  const labels = readIdxFile(labelsPath);
  if (labels.dtype !== 'ubyte') {
    throw new IdxError(labelsPath, `labels must be unsigned bytes (IDX type 0x08), got ${labels.dtype}`);
  }
  if (labels.dims.length !== 1) {
    throw new IdxError(
      labelsPath,
      `labels must be 1-dimensional, got dimensions [${labels.dims.join(', ')}]`,
    );
  }
  const n = images.dims[0];
  if (labels.dims[0] !== n) {
    throw new IdxError(labelsPath, `has ${labels.dims[0]} labels but ${imagesPath} has ${n} images`);
  }
  if (n === 0) throw new IdxError(imagesPath, 'contains no images');
  const dim = images.dims.slice(1).reduce((a, b) => a * b, 1);
  if (dim === 0) throw new IdxError(imagesPath, 'images have zero pixels');
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  const y = Int32Array.from(labels.data);
  let maxLabel = 0;
  for (const v of y) maxLabel = Math.max(maxLabel, v);
  return { x, y, n, dim, maxLabel };
}

export interface IdxPaths {
  trainImages: string;
  trainLabels: string;
  testImages?: string;
  testLabels?: string;
}

/** Loads MNIST-format files (MNIST, Fashion-MNIST, KMNIST, ...) for classification. */
export function loadIdxSplit(paths: IdxPaths): ImageSplit {
  const train = loadPair(paths.trainImages, paths.trainLabels);
  const test =
    paths.testImages && paths.testLabels ? loadPair(paths.testImages, paths.testLabels) : undefined;
  if (test && test.dim !== train.dim) {
    throw new IdxError(
      paths.testImages!,
      `images have ${test.dim} pixels, training images have ${train.dim}`,
    );
  }
  const numClasses = Math.max(train.maxLabel, test?.maxLabel ?? 0) + 1;
  if (numClasses < 2) throw new IdxError(paths.trainLabels, 'all labels are 0: need at least 2 classes');
  const asSet = (d: Labelled): ImageDataset => ({ x: d.x, y: d.y, n: d.n, dim: d.dim, numClasses });
  if (test) {
    return {
      train: asSet(train),
      test: asSet(test),
      source: `IDX files ${paths.trainImages}, ${paths.trainLabels} (${train.n}); ${paths.testImages}, ${paths.testLabels} (${test.n})`,
    };
  }
  const all = asSet(train);
  const nTest = Math.max(1, Math.round(all.n * HOLDOUT_FRACTION));
  if (all.n - nTest < 1)
    throw new IdxError(paths.trainImages, `${all.n} images are too few to hold out a test set`);
  const order = new Prng(HOLDOUT_SEED).permutation(all.n);
  return {
    train: subset(all, order.subarray(0, all.n - nTest)),
    test: subset(all, order.subarray(all.n - nTest)),
    source: `IDX files ${paths.trainImages}, ${paths.trainLabels} (${all.n}; no test files given, fixed holdout of ${nTest}, seed ${HOLDOUT_SEED})`,
  };
}
