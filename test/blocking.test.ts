import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chunkSizes,
  distributedLayout,
  gatherBlock,
  lowbitLayout,
  lowbitShape,
  mergeSmallDims,
  scatterBlock,
  squeezeShape,
} from '../src/blocking.ts';

test('squeeze drops size-1 dims; 0-D and all-ones become [1]', () => {
  assert.deepEqual(squeezeShape([1, 5, 1, 3]), [5, 3]);
  assert.deepEqual(squeezeShape([]), [1]);
  assert.deepEqual(squeezeShape([1, 1, 1]), [1]);
  assert.deepEqual(squeezeShape([7]), [7]);
});

test('merge_small_dims examples from the reference docstring', () => {
  assert.deepEqual(mergeSmallDims([32, 3, 64, 64], 8192), [96, 4096]);
  assert.deepEqual(mergeSmallDims([1, 2, 5, 1], 10), [10]);
  assert.deepEqual(mergeSmallDims([1, 2, 5, 1], 1), [2, 5]);
  assert.deepEqual(mergeSmallDims([32, 3, 64, 64], 1_000_000, 2), [32, 12288]);
  // Merging scans from the back: (2, 3, 4) at 12 merges 3·4 first, then 2·12 > 12 stops.
  assert.deepEqual(mergeSmallDims([2, 3, 4], 12), [2, 12]);
  assert.deepEqual(mergeSmallDims([4, 3, 2], 12), [4, 6]);
  // A 24×40 matrix below the threshold becomes a 960-vector; above it stays 2-D.
  assert.deepEqual(mergeSmallDims([24, 40], 8192), [960]);
  assert.deepEqual(mergeSmallDims([24, 40], 64), [24, 40]);
  assert.deepEqual(mergeSmallDims([], 64), [1]);
  assert.deepEqual(mergeSmallDims([1, 1], 64), [1]);
  assert.deepEqual(mergeSmallDims([3, 0, 2], 64), [0]);
  assert.deepEqual(mergeSmallDims([1, 3, 4], 100, Number.POSITIVE_INFINITY), [1, 3, 4]);
});

test('chunk sizes: full chunks then the remainder', () => {
  assert.deepEqual(chunkSizes(10000, 1024), [1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 784]);
  assert.deepEqual(chunkSizes(768, 1024), [768]);
  assert.deepEqual(chunkSizes(2048, 1024), [1024, 1024]);
  assert.deepEqual(chunkSizes(1, 1), [1]);
  assert.throws(() => chunkSizes(4, 0), RangeError);
});

test('10000×768 with max dim 1024 splits into 10 row blocks, row-major', () => {
  const layout = distributedLayout([10000, 768], 1024);
  assert.deepEqual(layout.shape, [10000, 768]);
  assert.equal(layout.blocks.length, 10);
  assert.deepEqual(layout.blocks[9].start, [9216, 0]);
  assert.deepEqual(layout.blocks[9].size, [784, 768]);
  assert.equal(
    layout.blocks.reduce((a, b) => a + b.numel, 0),
    10000 * 768,
  );
});

test('conv weight (32,3,64,64) at 8192 merges to (96,4096), then splits at 1024', () => {
  assert.deepEqual(distributedLayout([32, 3, 64, 64], 8192).blocks.length, 1);
  const layout = distributedLayout([32, 3, 64, 64], 1024);
  // Scan from the back: 64; 64·64 = 4096 > 1024 → new dim; 64·3 = 192 ≤ 1024 → merge; 192·32 > 1024 → new dim.
  assert.deepEqual(layout.shape, [32, 192, 64]);
  assert.equal(layout.blocks.length, 1);
});

test('blocks are enumerated row-major over the chunk grid (last dim fastest)', () => {
  const layout = distributedLayout([24, 40], 16);
  assert.deepEqual(
    layout.blocks.map((b) => [b.start, b.size]),
    [
      [
        [0, 0],
        [16, 16],
      ],
      [
        [0, 16],
        [16, 16],
      ],
      [
        [0, 32],
        [16, 8],
      ],
      [
        [16, 0],
        [8, 16],
      ],
      [
        [16, 16],
        [8, 16],
      ],
      [
        [16, 32],
        [8, 8],
      ],
    ],
  );
});

test('size-1 dims, 0-D and all-ones shapes', () => {
  assert.deepEqual(distributedLayout([1, 5, 1], 64).shape, [5]);
  assert.deepEqual(distributedLayout([], 64).shape, [1]);
  assert.deepEqual(distributedLayout([1, 1, 1], 64).blocks, [{ start: [0], size: [1], numel: 1 }]);
  assert.deepEqual(lowbitShape([]), []);
  assert.deepEqual(lowbitShape([1, 1]), []);
  assert.deepEqual(lowbitLayout([], 1200).blocks, [{ start: [0], size: [1], numel: 1 }]);
  assert.deepEqual(lowbitShape([64, 1, 3, 3]), [64, 9]);
  assert.deepEqual(lowbitShape([1, 7]), [7]);
});

test('low-bit layout: (shape[0], rest) then split at prec_maxorder', () => {
  const layout = lowbitLayout([32, 3, 64, 64], 1200);
  assert.deepEqual(layout.shape, [32, 12288]);
  assert.equal(layout.blocks.length, 11); // 12288 = 10·1200 + 288
  assert.deepEqual(layout.blocks[10].size, [32, 288]);
  const sq = lowbitLayout([32, 32], 16);
  assert.equal(sq.blocks.length, 4);
  assert.deepEqual(
    sq.blocks.map((b) => b.start),
    [
      [0, 0],
      [0, 16],
      [16, 0],
      [16, 16],
    ],
  );
  const rect = lowbitLayout([24, 24], 16);
  assert.deepEqual(
    rect.blocks.map((b) => b.size),
    [
      [16, 16],
      [16, 8],
      [8, 16],
      [8, 8],
    ],
  );
});

test('gather/scatter round trip covers every element exactly once', () => {
  const cases: [number[], number][] = [
    [[24, 40], 16],
    [[5, 7, 9], 4],
    [[3, 1, 5, 2], 2],
    [[17], 5],
    [[6, 8], 8],
  ];
  for (const [shape, max] of cases) {
    const layout = distributedLayout(shape, max);
    const n = shape.reduce((a, b) => a * b, 1);
    const src = Float32Array.from({ length: n }, (_, i) => i + 1);
    const seen = new Uint8Array(n);
    const back = new Float32Array(n);
    for (const block of layout.blocks) {
      const buf = new Float32Array(block.numel);
      gatherBlock(src, layout.shape, block, buf);
      for (const v of buf) seen[v - 1]++;
      // Elements of a block are in row-major order of the block: check against explicit index arithmetic.
      const dims = layout.shape;
      const strides = dims.map((_, k) => dims.slice(k + 1).reduce((a, b) => a * b, 1));
      const idx = new Array(dims.length).fill(0);
      for (let e = 0; e < block.numel; e++) {
        let rem = e;
        for (let k = dims.length - 1; k >= 0; k--) {
          idx[k] = rem % block.size[k];
          rem = Math.floor(rem / block.size[k]);
        }
        const flat = idx.reduce((a, j, k) => a + (j + block.start[k]) * strides[k], 0);
        assert.equal(buf[e], src[flat], `shape ${shape} block ${block.start} element ${e}`);
      }
      scatterBlock(buf, layout.shape, block, back);
    }
    assert.ok(
      seen.every((c) => c === 1),
      `shape ${shape}: every element in exactly one block`,
    );
    assert.deepEqual(back, src);
  }
});
