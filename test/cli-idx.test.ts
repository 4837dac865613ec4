import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeIdx, IdxError, parseIdx, readIdxFile } from '../src/cli/data/idx.ts';
import { HOLDOUT_FRACTION, loadIdxSplit } from '../src/cli/data/idx-dataset.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-idx-'));
function file(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

test('IDX header bytes are exactly the documented layout (hand-built file)', () => {
  // magic 0x00 0x00 0x08 0x03, dims 2, 3, 2 big-endian, then 12 unsigned bytes.
  const bytes = new Uint8Array([
    0,
    0,
    8,
    3,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    3,
    0,
    0,
    0,
    2,
    ...Array.from({ length: 12 }, (_, i) => 200 + i),
  ]);
  const a = parseIdx(bytes, 'hand');
  assert.equal(a.dtype, 'ubyte');
  assert.deepEqual(a.dims, [2, 3, 2]);
  assert.deepEqual(
    [...a.data],
    Array.from({ length: 12 }, (_, i) => 200 + i),
  );
  assert.deepEqual(encodeIdx('ubyte', [2, 3, 2], a.data), bytes);
});

test('IDX: every data type round-trips with big-endian values', () => {
  const cases = [
    ['ubyte', [0, 1, 127, 255]],
    ['sbyte', [-128, -1, 0, 127]],
    ['short', [-32768, -2, 258, 32767]],
    ['int', [-2147483648, -70000, 65536 + 2, 2147483647]],
    ['float', [-1.5, 0, 3.25, 1e-3]],
    ['double', [-1e300, Math.PI, 0, 1 / 3]],
  ] as const;
  for (const [dtype, values] of cases) {
    const bytes = encodeIdx(dtype, [2, 2], values);
    const a = parseIdx(bytes, dtype);
    assert.equal(a.dtype, dtype);
    const expected = dtype === 'float' ? values.map(Math.fround) : values;
    assert.deepEqual([...a.data], [...expected], dtype);
  }
  // Big-endian: the short 258 is stored as 0x01 0x02.
  const s = encodeIdx('short', [1], [258]);
  assert.deepEqual([...s.subarray(8)], [1, 2]);
});

test('IDX: gzip when the name ends in .gz; a gzip file without .gz gets a pointed error', () => {
  const raw = encodeIdx(
    'ubyte',
    [3, 2, 2],
    Array.from({ length: 12 }, (_, i) => i),
  );
  const gz = file('imgs-idx3-ubyte.gz', gzipSync(raw));
  assert.deepEqual(
    [...readIdxFile(gz).data],
    Array.from({ length: 12 }, (_, i) => i),
  );
  const misnamed = file('imgs-idx3-ubyte', gzipSync(raw));
  assert.throws(
    () => readIdxFile(misnamed),
    (e: unknown) => e instanceof IdxError && /gzip-compressed/.test(e.message),
  );
  const notGzip = file('plain.gz', raw);
  assert.throws(() => readIdxFile(notGzip), /cannot gunzip/);
});

test('IDX: corrupt files are rejected with the reason and the path', () => {
  const good = encodeIdx('ubyte', [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /shorter than the header/],
    ['bad magic', Uint8Array.from([1, 0, ...good.subarray(2)]), /magic starts with 0x01 0x00/],
    ['unknown dtype', Uint8Array.from([0, 0, 0x0a, ...good.subarray(3)]), /unknown IDX data type 0x0a/],
    ['zero dims', Uint8Array.from([0, 0, 8, 0]), /0 dimensions/],
    ['truncated header', good.subarray(0, 10), /truncated: header needs 16 bytes/],
    [
      'truncated data',
      good.subarray(0, good.length - 1),
      /truncated: dimensions \[2, 2, 2\] of ubyte need 24 bytes, file has 23/,
    ],
    ['trailing bytes', Uint8Array.from([...good, 0]), /trailing bytes/],
    ['truncated int data', encodeIdx('int', [2], [1, 2]).subarray(0, 14), /truncated/],
  ];
  for (const [name, bytes, pattern] of cases) {
    const p = file(`${name.replace(/ /g, '-')}.idx`, bytes);
    assert.throws(
      () => readIdxFile(p),
      (e: unknown) => e instanceof IdxError && pattern.test(e.message) && e.message.startsWith(p),
      name,
    );
  }
  assert.throws(() => readIdxFile(join(dir, 'missing.idx')), /cannot read: no such file/);
  assert.throws(() => readIdxFile(dir), /cannot read: is a directory/);
});

function mnistLike(n: number, side: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  // The first pixel of each image is its index, so every image is distinct.
  const pixels = Array.from({ length: n * side * side }, (_, i) =>
    i % (side * side) === 0 ? i / (side * side) : (i * 37 + seed) % 256,
  );
  const labels = Array.from({ length: n }, (_, i) => (i + seed) % 10);
  return { images: encodeIdx('ubyte', [n, side, side], pixels), labels: encodeIdx('ubyte', [n], labels) };
}

test('IDX data set: pixels scaled to [0, 1], labels kept, test files or a fixed holdout', () => {
  const train = mnistLike(30, 4, 1);
  const test = mnistLike(12, 4, 2);
  const paths = {
    trainImages: file('train-images', train.images),
    trainLabels: file('train-labels', train.labels),
    testImages: file('test-images', test.images),
    testLabels: file('test-labels', test.labels),
  };
  const split = loadIdxSplit(paths);
  assert.equal(split.train.n, 30);
  assert.equal(split.test.n, 12);
  assert.equal(split.train.dim, 16);
  assert.equal(split.train.numClasses, 10);
  assert.equal(split.train.x[5], Math.fround(((5 * 37 + 1) % 256) / 255));
  assert.deepEqual([...split.test.y.subarray(0, 3)], [2, 3, 4]);

  const held = loadIdxSplit({ trainImages: paths.trainImages, trainLabels: paths.trainLabels });
  const nTest = Math.round(30 * HOLDOUT_FRACTION);
  assert.equal(held.test.n, nTest);
  assert.equal(held.train.n, 30 - nTest);
  // Same files, same split: the holdout is fixed.
  const again = loadIdxSplit({ trainImages: paths.trainImages, trainLabels: paths.trainLabels });
  assert.deepEqual(again.test.y, held.test.y);
  assert.deepEqual(again.test.x, held.test.x);
  // A partition: every training example lands in exactly one of the two sets (by its pixel signature).
  const sig = (x: Float32Array, i: number, dim: number) => x.subarray(i * dim, (i + 1) * dim).join(',');
  const all = new Set(Array.from({ length: 30 }, (_, i) => sig(loadIdxSplit(paths).train.x, i, 16)));
  const parts = [
    ...Array.from({ length: held.train.n }, (_, i) => sig(held.train.x, i, 16)),
    ...Array.from({ length: held.test.n }, (_, i) => sig(held.test.x, i, 16)),
  ];
  assert.equal(new Set(parts).size, 30);
  for (const p of parts) assert.ok(all.has(p));
});

test('IDX data set: mismatched or ill-typed files are rejected with both paths named', () => {
  const a = mnistLike(10, 3, 0);
  const imgs = file('a-images', a.images);
  const labels9 = file('labels9', encodeIdx('ubyte', [9], Array(9).fill(1)));
  assert.throws(
    () => loadIdxSplit({ trainImages: imgs, trainLabels: labels9 }),
    /has 9 labels but .*a-images has 10 images/,
  );
  const labels2d = file('labels2d', encodeIdx('ubyte', [10, 1], Array(10).fill(1)));
  assert.throws(
    () => loadIdxSplit({ trainImages: imgs, trainLabels: labels2d }),
    /labels must be 1-dimensional/,
  );
  const floatImgs = file('float-images', encodeIdx('float', [10, 2], Array(20).fill(0.5)));
  const labels = file('labels10', a.labels);
  assert.throws(() => loadIdxSplit({ trainImages: floatImgs, trainLabels: labels }), /unsigned bytes/);
  const oneDim = file('onedim', encodeIdx('ubyte', [10], Array(10).fill(3)));
  assert.throws(() => loadIdxSplit({ trainImages: oneDim, trainLabels: labels }), /at least 2 dimensions/);
  const zeros = file('zeros', encodeIdx('ubyte', [10], Array(10).fill(0)));
  assert.throws(() => loadIdxSplit({ trainImages: imgs, trainLabels: zeros }), /at least 2 classes/);
  const other = file('other-side', mnistLike(5, 4, 0).images);
  const otherLabels = file('other-labels', mnistLike(5, 4, 0).labels);
  assert.throws(
    () =>
      loadIdxSplit({ trainImages: imgs, trainLabels: labels, testImages: other, testLabels: otherLabels }),
    /images have 16 pixels, training images have 9/,
  );
});
