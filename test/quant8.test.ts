import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../src/errors.ts';
import { dequantize8, quant8ScaleCount, quantize8 } from '../src/storage/quant8.ts';
import { fillUniform, seededRandom } from './helpers/random.ts';

// The 8-bit linear block codec against its definition: hand-computed codes, the half-step error bound on
// random blocks (with an all-zero block, a block with one huge entry and a short last block), signs, NaN.

function roundTrip(x: Float32Array, blockSize: number) {
  const n = x.length;
  const codes = new Uint8Array(n);
  const scales = new Float32Array(quant8ScaleCount(n, blockSize));
  quantize8(x, n, codes, scales, blockSize);
  const out = new Float32Array(n);
  dequantize8(codes, scales, n, out, blockSize);
  return { codes, scales, out };
}

test('codes are round(127·x/absmax), ties away from zero, two’s complement bytes', () => {
  // absmax 127, so that 127·x/absmax = x exactly: 63.5 → 64, −63.5 → −64, −0.5 → −1, 0.49 → 0.
  const x = new Float32Array([63.5, -63.5, 127, -0.5, 0.49, -127]);
  const { codes, scales, out } = roundTrip(x, 64);
  assert.equal(scales[0], 127);
  assert.deepEqual(Array.from(codes), [64, 256 - 64, 127, 255, 0, 256 - 127]);
  assert.deepEqual(Array.from(out), [64, -64, 127, -1, 0, -127]);
  // A scale that is not a multiple of 127: decoding is fround(q·(scale/127)).
  const y = roundTrip(new Float32Array([1, -2]), 64);
  assert.deepEqual(Array.from(y.codes), [64, 256 - 127]);
  assert.equal(y.out[0], Math.fround(64 * (2 / 127)));
  assert.equal(y.out[1], -2);
});

test('error within half a step of each block’s scale; zero and spike blocks; a short last block', () => {
  const blockSize = 64;
  const n = 5 * blockSize + 17;
  const x = new Float32Array(n);
  fillUniform(x, seededRandom(7));
  x.fill(0, 64, 128); // an all-zero block
  x[200] = 1e30; // a block with one huge entry
  const { scales, out } = roundTrip(x, blockSize);
  assert.equal(scales[1], 0);
  for (let i = 0; i < n; i++) {
    const scale = scales[Math.floor(i / blockSize)];
    const bound = scale / 254 + Math.abs(x[i]) * 2 ** -23;
    assert.ok(Math.abs(out[i] - x[i]) <= bound, `element ${i}: ${out[i]} vs ${x[i]}, bound ${bound}`);
  }
  for (let i = 64; i < 128; i++) assert.equal(out[i], 0);
  assert.equal(out[200], Math.fround(1e30));
});

test('symmetric in sign; NaN stores 0 and never becomes the scale', () => {
  const x = new Float32Array(130);
  fillUniform(x, seededRandom(3));
  const neg = x.map((v) => -v);
  const a = roundTrip(x, 64).out;
  const b = roundTrip(neg, 64).out;
  for (let i = 0; i < x.length; i++) assert.equal(b[i], -a[i]);
  const withNaN = new Float32Array([0.5, Number.NaN, -0.25]);
  const r = roundTrip(withNaN, 64);
  assert.equal(r.scales[0], 0.5);
  assert.equal(r.out[1], 0);
});

test('short buffers and bad sizes are ShapeErrors', () => {
  const x = new Float32Array(100);
  assert.throws(() => quantize8(x, 100, new Uint8Array(99), new Float32Array(2), 64), ShapeError);
  assert.throws(() => quantize8(x, 100, new Uint8Array(100), new Float32Array(1), 64), ShapeError);
  assert.throws(() => quantize8(x, 101, new Uint8Array(101), new Float32Array(2), 64), ShapeError);
  assert.throws(() => dequantize8(new Uint8Array(100), new Float32Array(2), 100, x, 0), ShapeError);
});
