/**
 * Parameter → blocks. A Kronecker preconditioner works on tensors whose dims are small enough for a dense
 * d×d factor, so a parameter is first reshaped (size-1 dims dropped, small dims merged) and then cut into
 * blocks along every dim. Reshaping never moves data: the working shape's row-major flattening is the
 * parameter's own, so a block is a strided window into the parameter's `Float32Array`.
 *
 * Two conventions are implemented, one per reference:
 * - Distributed Shampoo (`merge_small_dims` + `multi_dim_split`): squeeze, merge adjacent dims from the back
 *   while their product stays ≤ the max dim, then split every dim into chunks of the max dim.
 * - 4-bit Shampoo (`BlockPartitioner`): squeeze, reshape rank ≥ 2 to `(shape[0], rest)`, then split every dim
 *   larger than the max order into chunks of the max order.
 * In both, chunks have the full size except the last, and blocks are enumerated row-major over the grid of
 * chunks (the last dim's chunk index varies fastest).
 */

/** One block: a box `[start, start + size)` in the working shape. */
export interface Block {
  readonly start: readonly number[];
  readonly size: readonly number[];
  /** Elements in the block (product of `size`). */
  readonly numel: number;
}

/** How a parameter is viewed and cut into blocks. */
export interface BlockLayout {
  /** Working shape; its row-major flattening is the parameter's. */
  readonly shape: readonly number[];
  readonly blocks: readonly Block[];
}

function product(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Drops size-1 dims; a 0-D or all-ones shape becomes `[1]`. */
export function squeezeShape(shape: readonly number[]): number[] {
  const out = shape.filter((d) => d !== 1);
  return out.length === 0 ? [1] : out;
}

/**
 * Distributed Shampoo's `merge_small_dims`: squeezes, then scans the dims from the last one backwards and merges
 * the next dim into the current one while the product is ≤ `threshold` and the result would still have more
 * than `targetDimensionality` dims. `(32, 3, 64, 64)` with threshold 8192 becomes `(96, 4096)`.
 * A `targetDimensionality` of Infinity disables merging and squeezing (the shape is returned as given).
 */
export function mergeSmallDims(
  shape: readonly number[],
  threshold: number,
  targetDimensionality = 1,
): number[] {
  if (shape.includes(0)) return [0];
  if (targetDimensionality === Number.POSITIVE_INFINITY) return shape.length === 0 ? [1] : [...shape];
  const reversed = squeezeShape(shape).reverse();
  const merged = [reversed[0]];
  for (let k = 1; k < reversed.length; k++) {
    const remaining = reversed.length - k;
    const next = merged[merged.length - 1] * reversed[k];
    if (merged.length + remaining > targetDimensionality && next <= threshold) {
      merged[merged.length - 1] = next;
    } else {
      merged.push(reversed[k]);
    }
  }
  return merged.reverse();
}

/** Chunk lengths of a dim of length `dim` cut into pieces of `size` (the last one holds the remainder). */
export function chunkSizes(dim: number, size: number): number[] {
  if (!(size >= 1)) throw new RangeError(`chunk size must be ≥ 1, got ${size}`);
  if (dim <= size) return [dim];
  const out: number[] = [];
  for (let s = 0; s < dim; s += size) out.push(Math.min(size, dim - s));
  return out;
}

/** Blocks of `shape` whose dim k is cut into `chunks[k]`, enumerated row-major over the chunk grid. */
export function gridBlocks(shape: readonly number[], chunks: readonly (readonly number[])[]): Block[] {
  const starts = chunks.map((c) => {
    const s: number[] = [];
    let acc = 0;
    for (const len of c) {
      s.push(acc);
      acc += len;
    }
    return s;
  });
  const blocks: Block[] = [];
  const idx = new Array<number>(shape.length).fill(0);
  for (;;) {
    const start = idx.map((j, k) => starts[k][j]);
    const size = idx.map((j, k) => chunks[k][j]);
    blocks.push({ start, size, numel: product(size) });
    // Odometer: the last dim varies fastest.
    let k = shape.length - 1;
    while (k >= 0) {
      idx[k]++;
      if (idx[k] < chunks[k].length) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) break;
  }
  return blocks;
}

/** Distributed Shampoo's layout: merge small dims, then split every dim into chunks of `maxPreconditionerDim`. */
export function distributedLayout(
  shape: readonly number[],
  maxPreconditionerDim: number,
  targetDimensionality = 1,
): BlockLayout {
  const merged = mergeSmallDims(shape, maxPreconditionerDim, targetDimensionality);
  return {
    shape: merged,
    blocks: gridBlocks(
      merged,
      merged.map((d) => chunkSizes(d, maxPreconditionerDim)),
    ),
  };
}

/** 4-bit Shampoo's working shape: size-1 dims dropped; rank ≥ 2 reshaped to `(shape[0], rest)`; scalars `[]`. */
export function lowbitShape(shape: readonly number[]): number[] {
  const kept = shape.filter((d) => d !== 1);
  if (kept.length > 1) return [kept[0], product(kept) / kept[0]];
  return kept;
}

/** 4-bit Shampoo's layout: `lowbitShape`, then every dim larger than `precMaxorder` split into chunks of it. */
export function lowbitLayout(shape: readonly number[], precMaxorder: number): BlockLayout {
  const working = lowbitShape(shape);
  // A scalar is one block of one element; `[1]` keeps the index arithmetic uniform.
  const dims = working.length === 0 ? [1] : working;
  return {
    shape: working,
    blocks: gridBlocks(
      dims,
      dims.map((d) => chunkSizes(d, precMaxorder)),
    ),
  };
}

/**
 * Calls `run(paramOffset, blockOffset, length)` for every maximal contiguous run of the block: the block's
 * elements in row-major order are `length` consecutive parameter elements starting at `paramOffset`, stored at
 * `blockOffset` in a dense block buffer.
 */
export function forEachRun(
  shape: readonly number[],
  block: Block,
  run: (paramOffset: number, blockOffset: number, length: number) => void,
): void {
  const rank = block.size.length;
  if (rank === 0 || block.numel === product(shape)) {
    run(0, 0, block.numel);
    return;
  }
  const strides = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k];
  }
  // Trailing dims the block spans completely are contiguous with the last dim: fold them into the run.
  let inner = rank - 1;
  let runLength = block.size[inner];
  while (inner > 0 && block.size[inner] === shape[inner]) {
    inner--;
    runLength *= block.size[inner];
  }
  const base = block.start.reduce((acc, st, k) => acc + st * strides[k], 0);
  const idx = new Array<number>(inner).fill(0);
  let dst = 0;
  for (;;) {
    let off = base;
    for (let k = 0; k < inner; k++) off += idx[k] * strides[k];
    run(off, dst, runLength);
    dst += runLength;
    let k = inner - 1;
    while (k >= 0) {
      idx[k]++;
      if (idx[k] < block.size[k]) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) break;
  }
}

/** Copies the block's elements from the parameter-shaped `src` into the dense, row-major `dst`. */
export function gatherBlock(
  src: Float32Array,
  shape: readonly number[],
  block: Block,
  dst: Float32Array,
): void {
  forEachRun(shape, block, (p, b, n) => {
    dst.set(src.subarray(p, p + n), b);
  });
}

/** Copies the dense, row-major block `src` into its place in the parameter-shaped `dst`. */
export function scatterBlock(
  src: Float32Array,
  shape: readonly number[],
  block: Block,
  dst: Float32Array,
): void {
  forEachRun(shape, block, (p, b, n) => {
    dst.set(src.subarray(b, b + n), p);
  });
}
