import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena } from '../src/kernels/arena.ts';

test('arena views survive memory growth', () => {
  const arena = new Arena(new WebAssembly.Memory({ initial: 1 }));
  const a = arena.f32(10);
  a.view().set([1, 2, 3]);
  const big = arena.f32(200_000); // forces the memory to grow, detaching old views
  assert.equal(big.length, 200_000);
  assert.deepEqual([...a.view().subarray(0, 3)], [1, 2, 3]);
  assert.equal(a.byteOffset % 16, 0);
  assert.equal(big.byteOffset % 16, 0);
});

test('arena mark/release frees everything allocated after the mark', () => {
  const arena = new Arena(new WebAssembly.Memory({ initial: 1 }));
  arena.f32(5);
  const mark = arena.mark();
  const tmp = arena.f64(7);
  arena.release(mark);
  const again = arena.f64(7);
  assert.equal(again.byteOffset, tmp.byteOffset);
});

test('slices address the same memory', () => {
  const arena = new Arena(new WebAssembly.Memory({ initial: 1 }));
  const a = arena.f32(8);
  const s = a.slice(2, 3);
  s.view().fill(5);
  assert.deepEqual([...a.view()], [0, 0, 5, 5, 5, 0, 0, 0]);
  assert.throws(() => a.slice(6, 3), RangeError);
});
