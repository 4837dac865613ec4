import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError, ShapeError } from '../src/errors.ts';
import {
  availableEngines,
  createKernels,
  enableRelaxedSimd,
  type WasmEngineName,
} from '../src/kernels/index.ts';
import { createCodecs, TsCodecs, WasmCodecs } from '../src/storage/index.ts';
import { dequantize8, quant8ScaleCount, quantize8 } from '../src/storage/quant8.ts';
import { bits, firstDifference, lcg } from './helpers/bit-compare.ts';
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

// The WASM codecs against the TypeScript functions above, bit for bit, on every WASM engine of this runtime.
// The kernels use no relaxed instructions, but they ship in both builds: test both where the runtime allows.
enableRelaxedSimd();
const wasmEngines = availableEngines().filter((e): e is WasmEngineName => e !== 'typescript');

/** Every element of a tie block: exact halves of the code step when the block's absmax is 127 (u = x). */
const TIES = [63.5, -63.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 2.5, -2.5, 0.49999997, -0.49999997];

/**
 * n random values in blocks of B (block scales spread over 12 decades), then, where n allows, special blocks:
 * 1 all zero, 2 one huge entry, 3 NaN entries, 4 all ties (absmax 127), 5 an infinite entry, 6 subnormals.
 */
function inputs(n: number, B: number, rand: () => number): Float32Array {
  const x = new Float32Array(n);
  for (let b = 0; b < n; b += B) {
    const scale = 10 ** (12 * rand() - 6);
    for (let i = b; i < Math.min(b + B, n); i++) x[i] = (2 * rand() - 1) * scale;
  }
  const block = (k: number) => (k * B + B <= n ? x.subarray(k * B, k * B + B) : null);
  block(1)?.fill(0);
  const spike = block(2);
  if (spike) spike[B >> 1] = -1e30;
  const nan = block(3);
  if (nan) {
    nan[0] = Number.NaN;
    nan[B - 1] = Number.NaN;
  }
  const ties = block(4);
  if (ties) {
    for (let i = 0; i < B; i++) ties[i] = TIES[i % TIES.length];
    ties[Math.floor((B * 2) / 3)] = B % 2 ? 127 : -127;
  }
  const inf = block(5);
  if (inf) inf[1] = Number.POSITIVE_INFINITY;
  const tiny = block(6);
  if (tiny) for (let i = 0; i < B; i++) tiny[i] = (2 * rand() - 1) * 1e-40;
  return x;
}

/** Same bits, or NaN in both (an infinite scale decodes to NaN; NaN payloads are not part of the contract). */
function sameFloats(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i])) assert.ok(Number.isNaN(a[i]), `${what}: element ${i}: ${a[i]} vs NaN`);
    else assert.ok(Object.is(a[i], b[i]), `${what}: element ${i}: ${a[i]} vs ${b[i]}`);
  }
}

for (const engine of wasmEngines) {
  test(`${engine}: quantize8 and dequantize8 are bit-identical to the TypeScript functions`, () => {
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    const ts = new TsCodecs(kernels.arena);
    assert.ok(wasm instanceof WasmCodecs);
    const arena = kernels.arena;
    const rand = lcg(8);
    let tieCodes = 0;
    for (const blockSize of [64, 7, 37]) {
      for (const n of [0, 1, 6, 15, 33, 7 * blockSize, 9 * blockSize + 13, 4099]) {
        const mark = arena.mark();
        const what = `n=${n} B=${blockSize}`;
        const scaleCount = quant8ScaleCount(n, blockSize);
        const x = arena.f32(n);
        x.view().set(inputs(n, blockSize, rand));
        const before = bits(x.view()).slice();
        // Buffers a few elements longer than needed, with stale contents: nothing past n may be written. (The
        // arena may grow the memory at each allocation, so the views are taken after the last one.)
        const out: { codes: Uint8Array; scales: Float32Array }[] = [wasm, ts]
          .map((codecs) => {
            const c = arena.alloc('u8', n + 5);
            const s = arena.f32(scaleCount + 2);
            c.view().fill(0xa5);
            s.view().fill(-3);
            codecs.quantize8(x, n, c, s, blockSize);
            return { c, s };
          })
          .map((r) => ({ codes: r.c.view(), scales: r.s.view() }));
        assert.equal(firstDifference(bits(x.view()), before), -1, `${what}: input changed`);
        assert.equal(firstDifference(out[0].codes, out[1].codes), -1, `${what}: codes`);
        assert.equal(firstDifference(bits(out[0].scales), bits(out[1].scales)), -1, `${what}: scales`);
        assert.deepEqual(Array.from(out[0].codes.subarray(n)), [0xa5, 0xa5, 0xa5, 0xa5, 0xa5], what);
        assert.deepEqual(Array.from(out[0].scales.subarray(scaleCount)), [-3, -3], what);
        if (n >= 5 * blockSize) {
          // The tie block: 127 → 127 and every x ± 0.5 tie rounded away from zero.
          const tieBlock = out[1].codes.subarray(4 * blockSize, 5 * blockSize);
          for (let i = 0; i < blockSize; i++) {
            const v = x.view()[4 * blockSize + i];
            const q = (tieBlock[i] << 24) >> 24;
            assert.equal(q, Math.sign(v) * Math.floor(Math.abs(v) + 0.5) || 0, `${what}: tie ${v}`);
            if (Math.abs(v) % 1 === 0.5) tieCodes++;
          }
        }
        // Decoding the same codes (a few bytes past n stay stale in `out`).
        const codes = arena.alloc('u8', n);
        codes.view().set(out[1].codes.subarray(0, n));
        const scales = arena.f32(scaleCount);
        scales.view().set(out[1].scales.subarray(0, scaleCount));
        const back = [wasm, ts]
          .map((codecs) => {
            const y = arena.f32(n + 3);
            y.view().fill(7);
            codecs.dequantize8(codes, scales, n, y, blockSize);
            return y;
          })
          .map((y) => y.view());
        sameFloats(back[0], back[1], `${what}: decoded`);
        if (n >= 6 * blockSize)
          assert.ok(back[1].some(Number.isNaN), `${what}: the infinite block decodes to NaN`);
        arena.release(mark);
      }
    }
    assert.ok(tieCodes > 100, `only ${tieCodes} ties were coded`);
  });

  test(`${engine}: dequantize8 decodes every byte, including −128, as the TypeScript function does`, () => {
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    const ts = new TsCodecs(kernels.arena);
    const arena = kernels.arena;
    const rand = lcg(29);
    const n = 256 * 9 + 3;
    const codes = arena.alloc('u8', n);
    const cv = codes.view();
    for (let i = 0; i < n; i++) cv[i] = i < 256 * 8 ? i & 0xff : (rand() * 256) | 0;
    for (const blockSize of [64, 7, 37, 2 ** 40]) {
      const scaleCount = quant8ScaleCount(n, blockSize);
      const scales = arena.f32(scaleCount);
      const sv = scales.view();
      for (let s = 0; s < scaleCount; s++) sv[s] = 10 ** (80 * rand() - 40);
      if (scaleCount > 3) {
        sv[1] = 0;
        sv[2] = 3.4e38;
        sv[3] = 127;
      }
      const back = [wasm, ts]
        .map((codecs) => {
          const y = arena.f32(n);
          codecs.dequantize8(codes, scales, n, y, blockSize);
          return y;
        })
        .map((y) => y.view());
      sameFloats(back[0], back[1], `B=${blockSize}`);
    }
  });

  test(`${engine}: the WASM 8-bit codec checks sizes (ShapeError, memory untouched) and takes any block size`, () => {
    const kernels = createKernels({ engine });
    const wasm = createCodecs(kernels);
    const ts = new TsCodecs(kernels.arena);
    const a = kernels.arena;
    const x = a.f32(100);
    fillUniform(x.view(), seededRandom(4));
    const codes = a.alloc('u8', 101);
    const scales = a.f32(2);
    codes.view().fill(0xa5);
    scales.view().fill(-3);
    const bad: [number, number, number, number, number][] = [
      // n, codes, scales, values, blockSize
      [100, 99, 2, 100, 64],
      [100, 100, 1, 100, 64],
      [101, 101, 2, 100, 64],
      [100, 100, 2, 100, 0],
      [100, 100, 2, 100, 1.5],
      [-1, 100, 2, 100, 64],
      [2.5, 100, 2, 100, 64],
    ];
    for (const [n, nc, ns, nv, blockSize] of bad) {
      const c = codes.slice(0, nc);
      const s = scales.slice(0, ns);
      const v = x.slice(0, nv);
      assert.throws(
        () => wasm.quantize8(v, n, c, s, blockSize),
        ShapeError,
        `quantize8 ${n} ${nc} ${ns} ${nv}`,
      );
      assert.throws(
        () => wasm.dequantize8(c, s, n, v, blockSize),
        ShapeError,
        `dequantize8 ${n} ${nc} ${ns} ${nv}`,
      );
    }
    assert.ok(codes.view().every((b) => b === 0xa5));
    assert.ok(scales.view().every((s) => s === -3));
    assert.equal(x.view()[0], Math.fround(x.view()[0]));
    const other = createKernels({ engine }).arena.f32(100);
    assert.throws(() => wasm.quantize8(other, 100, codes, scales, 64), EngineError);
    // A block size beyond i32 is one block of all n elements, as in the TypeScript function.
    const out = [wasm, ts]
      .map((codecs) => {
        const c = a.alloc('u8', 100);
        const s = a.f32(1);
        codecs.quantize8(x, 100, c, s, 2 ** 40);
        const y = a.f32(100);
        codecs.dequantize8(c, s, 100, y, 2 ** 40);
        return { c, s, y };
      })
      .map((r) => ({ codes: r.c.view(), scale: r.s.view()[0], y: r.y.view() }));
    assert.equal(firstDifference(out[0].codes, out[1].codes), -1);
    assert.equal(out[0].scale, out[1].scale);
    sameFloats(out[0].y, out[1].y, 'B=2^40');
  });
}
