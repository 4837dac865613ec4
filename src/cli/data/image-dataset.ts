/** A classification data set held in memory: `n` examples of `dim` features in [0, 1], integer labels. */
export interface ImageDataset {
  x: Float32Array;
  y: Int32Array;
  n: number;
  dim: number;
  numClasses: number;
}

export interface ImageSplit {
  train: ImageDataset;
  test: ImageDataset;
  /** Where the data came from, for results.json. */
  source: string;
}

/** The examples at `indices`, copied into a new data set. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const n = indices.length;
  const x = new Float32Array(n * ds.dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    x.set(ds.x.subarray(j * ds.dim, (j + 1) * ds.dim), i * ds.dim);
    y[i] = ds.y[j];
  }
  return { x, y, n, dim: ds.dim, numClasses: ds.numClasses };
}

/** The first `count` examples (or all of them), for tiny test runs. */
export function head(ds: ImageDataset, count: number): ImageDataset {
  if (count >= ds.n) return ds;
  return subset(
    ds,
    Int32Array.from({ length: count }, (_, i) => i),
  );
}
