import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../src/errors.ts';
import { Arena } from '../src/kernels/arena.ts';
import {
  type Codebook4Name,
  codebook4,
  codebookThresholds,
  dequantize4,
  dequantize4DiagReal,
  dQuantize,
  quant4Bytes,
  quant4Layout,
  quantize4,
  quantize4DiagReal,
  TsCodecs,
  zeroIndex,
} from '../src/storage/index.ts';
import { fixtureFiles, loadFixture } from './helpers/fixtures.ts';

const f = Math.fround;
const CODEBOOKS: Codebook4Name[] = ['linear-2', 'dynamic'];

function bitsOf(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

/** Deterministic uniform [0, 1) stream (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function ulpStep(x: number, k: number): number {
  const b = new Float32Array([x]);
  const i = new Int32Array(b.buffer);
  // Walk k float32 steps up (k > 0) or down (k < 0) through the ordered float32 line.
  for (let s = 0; s < Math.abs(k); s++) {
    const up = k > 0;
    if (b[0] === 0) {
      i[0] = up ? 1 : 0x80000001;
    } else if (b[0] > 0 === up) {
      i[0] += 1;
    } else {
      i[0] -= 1;
    }
  }
  return b[0];
}

/** Exact nearest code by brute force (float64 distances are exact for these float32 operands); null on a tie. */
function nearest(code: Float32Array, x: number): number | null {
  let best = 0;
  let bestD = Math.abs(x - code[0]);
  let tie = false;
  for (let i = 1; i < code.length; i++) {
    const d = Math.abs(x - code[i]);
    if (d < bestD) {
      best = i;
      bestD = d;
      tie = false;
    } else if (d === bestD) tie = true;
  }
  return tie ? null : best;
}

/** The largest distance from a point of [−1, 1] to its nearest code. */
function worstRoundingError(code: Float32Array): number {
  let w = Math.max(code[0] + 1, 1 - code[15]);
  for (let i = 0; i < 15; i++) w = Math.max(w, (code[i + 1] - code[i]) / 2);
  return w;
}

test('linear-2 codebook is bit-identical to the reference float32 codebook of every 4-bit fixture', () => {
  const files = fixtureFiles('shampoo-4bit');
  assert.ok(files.length > 0, 'no 4-bit fixture found');
  for (const file of files) {
    const fx = loadFixture(file).quantizer as { codebookFloat32: number[] };
    assert.deepEqual(bitsOf(codebook4('linear-2')), bitsOf(Float32Array.from(fx.codebookFloat32)), file);
  }
});

test('linear-2 codebook ×225 is the integer list of the specification, within float32 rounding', () => {
  const ints = [-225, -169, -121, -81, -49, -25, -9, 0, 1, 9, 25, 49, 81, 121, 169, 225];
  const cb = codebook4('linear-2');
  ints.forEach((k, i) => {
    assert.ok(Math.abs(cb[i] * 225 - k) < 225 * 2 ** -22, `entry ${i}: ${cb[i] * 225} vs ${k}`);
  });
  assert.equal(cb[7], 0);
  assert.equal(zeroIndex('linear-2'), 7);
});

test('a naive float32 linspace would not give the reference codebook (the torch model matters)', () => {
  const step = f(2 / 15);
  const naive = new Float32Array(16);
  for (let i = 0; i < 16; i++) {
    const x = i === 7 ? 0 : f(-1 + f(i * step));
    naive[i] = Math.sign(x) * f(x * x);
  }
  const ours = codebook4('linear-2');
  const differing = [...naive].map((v, i) => (v === ours[i] ? -1 : i)).filter((i) => i >= 0);
  assert.ok(differing.length > 0, 'the naive formula differs in the last bit from the fixture');
});

test('dynamic-tree codebook matches the specification list to the float32 ulp', () => {
  const spec = [
    -0.8875, -0.6625, -0.4375, -0.2125, -0.0775, -0.0325, -0.0055, 0, 0.0055, 0.0325, 0.0775, 0.2125, 0.4375,
    0.6625, 0.8875, 1,
  ];
  const cb = codebook4('dynamic');
  assert.equal(cb.length, 16);
  spec.forEach((v, i) => {
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(v) || 1)) - 23);
    assert.ok(Math.abs(cb[i] - v) <= ulp, `entry ${i}: ${cb[i]} vs ${v}`);
  });
  for (let i = 1; i < 16; i++) assert.ok(cb[i] > cb[i - 1]);
  // Symmetric except for +1, and no −1.
  for (let i = 0; i < 7; i++) assert.equal(cb[i], -cb[14 - i]);
  assert.equal(zeroIndex('dynamic'), 7);
});

test('reference search = brute-force nearest code on 200,001 points of [−1, 1] (exact ties excluded)', () => {
  // linear-2 (the codebook of §8.6): equal on every point. dynamic: the reference compares with midpoints
  // rounded to float32, so it may differ from the exact nearest code, but only for an x lying between the exact
  // midpoint and its float32 rounding (measured: 7 grid points, each an exact float32 midpoint such as
  // fround(−0.775), where the search keeps the even index).
  for (const name of CODEBOOKS) {
    const cb = codebook4(name);
    let ties = 0;
    let roundedMidpoint = 0;
    for (let i = 0; i <= 200_000; i++) {
      const x = f(-1 + i * 1e-5);
      const want = nearest(cb, x);
      if (want === null) {
        ties++;
        continue;
      }
      const got = dQuantize(cb, x);
      if (got === want) continue;
      const j = Math.min(got, want);
      const exact = (cb[j] + cb[j + 1]) / 2;
      const m32 = f(f(cb[j] + cb[j + 1]) * 0.5);
      const between = Math.abs(got - want) === 1 && (x - exact) * (x - m32) <= 0;
      if (name === 'linear-2' || !between) assert.fail(`${name}: x = ${x}: search ${got}, nearest ${want}`);
      roundedMidpoint++;
    }
    assert.ok(ties < 10, `${name}: ${ties} exact ties on the grid`);
    assert.ok(
      roundedMidpoint <= 10,
      `${name}: ${roundedMidpoint} points between exact and float32 midpoints`,
    );
  }
});

test('reference search at exact float32 midpoints keeps the even index; one ulp away it is nearest', () => {
  for (const name of CODEBOOKS) {
    const cb = codebook4(name);
    for (let j = 0; j < 15; j++) {
      const m = f(f(cb[j] + cb[j + 1]) * 0.5);
      assert.equal(dQuantize(cb, m), j % 2 === 0 ? j : j + 1, `${name} midpoint ${j}`);
      assert.equal(dQuantize(cb, ulpStep(m, -1)), j, `${name} below midpoint ${j}`);
      assert.equal(dQuantize(cb, ulpStep(m, 1)), j + 1, `${name} above midpoint ${j}`);
    }
    assert.equal(dQuantize(cb, Number.NaN), 0);
    assert.equal(dQuantize(cb, 5), 15);
    assert.equal(dQuantize(cb, -5), 0);
    assert.equal(dQuantize(cb, 0), 7);
    assert.equal(dQuantize(cb, -0), 7);
  }
});

test('compare-and-count thresholds reproduce the reference search everywhere we look', () => {
  const rand = rng(7);
  for (const name of CODEBOOKS) {
    const cb = codebook4(name);
    const t = codebookThresholds(cb);
    const count = (x: number) => {
      let q = 0;
      for (let j = 0; j < 15; j++) if (x > t[j]) q++;
      return q;
    };
    const probes: number[] = [Number.NaN, Infinity, -Infinity, 0, -0, 1.5, -1.5];
    for (let i = 0; i <= 200_000; i++) probes.push(f(-1 + i * 1e-5));
    for (let j = 0; j < 16; j++) {
      for (let k = -8; k <= 8; k++) probes.push(ulpStep(cb[j], k));
      if (j < 15) for (let k = -8; k <= 8; k++) probes.push(ulpStep(f(f(cb[j] + cb[j + 1]) * 0.5), k));
    }
    for (let i = 0; i < 100_000; i++) probes.push(f((rand() * 2 - 1) * 10 ** (-6 * rand())));
    for (const x of probes) {
      if (count(x) !== dQuantize(cb, x)) assert.fail(`${name}: x = ${x}`);
    }
  }
});

test('layout: per-row blocks, ⌈n/2⌉ bytes, element 2k in the low nibble (hand-derived)', () => {
  const l = quant4Layout(66, 66);
  assert.deepEqual(l, {
    rows: 66,
    cols: 66,
    blockSize: 64,
    blocksPerRow: 2,
    scaleCount: 132,
    codeBytes: 2178,
  });
  assert.equal(quant4Layout(3, 5).codeBytes, 8);
  // 1×5 row, codebook linear-2, absmax 2: normalised [1, −1, 0, 0.36, −0.04] → codes [15, 0, 7, 12, 6].
  const x = Float32Array.from([2, -2, 0, f(0.36) * 2, f(-0.04) * 2]);
  const codes = new Uint8Array(3).fill(0xff);
  const scales = new Float32Array(1);
  quantize4(x, 1, 5, codes, scales);
  assert.deepEqual([...scales], [2]);
  assert.deepEqual([...codes], [0x0f, 0xc7, 0x06]);
  const back = new Float32Array(5);
  dequantize4(codes, scales, 1, 5, back);
  const cb = codebook4('linear-2');
  assert.deepEqual([...back], [2, -2, 0, f(cb[12] * 2), f(cb[6] * 2)]);
});

test('bytes: codes + fp32 scales (+ fp32 diagonal) per n×n matrix', () => {
  for (const n of [1, 63, 64, 65, 66, 128, 1200]) {
    const expected = Math.ceil((n * n) / 2) + 4 * n * Math.ceil(n / 64);
    assert.equal(quant4Bytes(n, n), expected);
    assert.equal(quant4Bytes(n, n, true), expected + 4 * n);
  }
  assert.equal(quant4Bytes(1024, 1024), 1024 * 512 + 4 * 1024 * 16);
});

function roundTrip(
  x: Float32Array,
  rows: number,
  cols: number,
  name: Codebook4Name,
  blockSize = 64,
): { back: Float32Array; scales: Float32Array; codes: Uint8Array } {
  const l = quant4Layout(rows, cols, blockSize);
  const codes = new Uint8Array(l.codeBytes);
  const scales = new Float32Array(l.scaleCount);
  quantize4(x, rows, cols, codes, scales, { codebook: name, blockSize });
  const back = new Float32Array(rows * cols);
  dequantize4(codes, scales, rows, cols, back, { codebook: name, blockSize });
  return { back, scales, codes };
}

function assertWithinBound(
  x: Float32Array,
  back: Float32Array,
  scales: Float32Array,
  rows: number,
  cols: number,
  name: Codebook4Name,
  blockSize = 64,
): void {
  const half = worstRoundingError(codebook4(name));
  const bpr = Math.ceil(cols / blockSize);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = scales[r * bpr + Math.floor(c / blockSize)];
      const err = Math.abs(back[r * cols + c] - x[r * cols + c]);
      // The bound of exact rounding, plus the float32 roundings of x/a and of code·a.
      const bound = (half + 2 ** -22) * a;
      if (!(err <= bound)) assert.fail(`${name} (${r}, ${c}): error ${err} > ${bound}`);
    }
  }
}

test('round trip of random blocks: per-element error ≤ worst half-gap × absmax; scales are block absmax', () => {
  const rand = rng(11);
  for (const name of CODEBOOKS) {
    for (const [rows, cols] of [
      [1, 1],
      [3, 5],
      [7, 13],
      [17, 1],
      [64, 64],
      [65, 65],
      [66, 66],
      [5, 200],
    ]) {
      const x = new Float32Array(rows * cols);
      for (let i = 0; i < x.length; i++) x[i] = gaussian(rand) * 10 ** (4 * rand() - 2);
      const { back, scales, codes } = roundTrip(x, rows, cols, name);
      assertWithinBound(x, back, scales, rows, cols, name);
      const bpr = Math.ceil(cols / 64);
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < bpr; b++) {
          let m = 0;
          for (let c = b * 64; c < Math.min(cols, b * 64 + 64); c++)
            m = Math.max(m, Math.abs(x[r * cols + c]));
          assert.equal(scales[r * bpr + b], m);
        }
      }
      if ((rows * cols) % 2 === 1) assert.equal(codes[codes.length - 1] >> 4, 0, 'unused high nibble is 0');
    }
  }
});

test('66-wide rows: the 2-element second block has its own scale and is reconstructed from it', () => {
  const n = 66;
  const x = new Float32Array(n * n);
  const rand = rng(3);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) x[r * n + c] = c < 64 ? 100 * (rand() - 0.5) : 0.001 * (rand() - 0.5);
  }
  const { back, scales } = roundTrip(x, n, n, 'linear-2');
  for (let r = 0; r < n; r++) {
    const tailMax = Math.max(Math.abs(x[r * n + 64]), Math.abs(x[r * n + 65]));
    assert.equal(scales[2 * r + 1], tailMax);
    // The block's absmax element is reproduced exactly (code ±1), its neighbour within the bound of the small scale.
    for (const c of [64, 65]) assert.ok(Math.abs(back[r * n + c] - x[r * n + c]) <= 0.125 * tailMax);
  }
});

test('all-zero blocks: scale 0, code of 0, exact zeros back; one huge entry dominates its block only', () => {
  for (const name of CODEBOOKS) {
    const x = new Float32Array(3 * 130);
    x[130 + 70] = 1e30; // row 1, block 1
    x[130 + 71] = 1;
    x[2 * 130 + 5] = -2.5;
    const { back, scales, codes } = roundTrip(x, 3, 130, name);
    assert.deepEqual([...scales], [0, 0, 0, 0, f(1e30), 0, 2.5, 0, 0]);
    assert.equal(back[130 + 70], f(1e30)); // code +1 = 1
    assert.equal(back[130 + 71], 0); // 1e-30 of the scale: rounds to the code of 0
    assert.equal(back[2 * 130 + 5], name === 'linear-2' ? -2.5 : f(f(-0.8875) * 2.5));
    for (let i = 0; i < x.length; i++) if (x[i] === 0) assert.equal(back[i], 0);
    assert.equal(codes[0], 0x77); // elements 0 and 1 of an all-zero block: index 7 twice
  }
});

test('Float64 input is rounded to float32 first, as the reference kernel sees it', () => {
  const rand = rng(5);
  const x64 = new Float64Array(9 * 70);
  for (let i = 0; i < x64.length; i++) x64[i] = gaussian(rand);
  const l = quant4Layout(9, 70);
  const c64 = new Uint8Array(l.codeBytes);
  const s64 = new Float32Array(l.scaleCount);
  quantize4(x64, 9, 70, c64, s64);
  const c32 = new Uint8Array(l.codeBytes);
  const s32 = new Float32Array(l.scaleCount);
  quantize4(Float32Array.from(x64), 9, 70, c32, s32);
  assert.deepEqual(c64, c32);
  assert.deepEqual(s64, s32);
  const out64 = new Float64Array(9 * 70);
  dequantize4(c64, s64, 9, 70, out64);
  for (const v of out64) assert.equal(v, f(v));
});

test('DiagReal: exact diagonal, scales ignore the diagonal, off-diagonal within the bound', () => {
  const rand = rng(9);
  for (const name of CODEBOOKS) {
    for (const n of [1, 5, 64, 66, 67]) {
      const x = new Float32Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) x[i * n + j] = i === j ? 1000 * (1 + rand()) : gaussian(rand) * 0.01;
      }
      const l = quant4Layout(n, n);
      const codes = new Uint8Array(l.codeBytes);
      const scales = new Float32Array(l.scaleCount);
      const diag = new Float32Array(n);
      quantize4DiagReal(x, n, codes, scales, diag, { codebook: name });
      const back = new Float32Array(n * n);
      dequantize4DiagReal(codes, scales, diag, n, back, { codebook: name });
      for (let i = 0; i < n; i++) {
        assert.equal(back[i * n + i], x[i * n + i]);
        assert.equal(diag[i], x[i * n + i]);
      }
      // Same as quantizing the matrix with its diagonal zeroed.
      const z = x.slice();
      for (let i = 0; i < n; i++) z[i * n + i] = 0;
      const zc = new Uint8Array(l.codeBytes);
      const zs = new Float32Array(l.scaleCount);
      quantize4(z, n, n, zc, zs, { codebook: name });
      assert.deepEqual(codes, zc);
      assert.deepEqual(scales, zs);
      for (const s of scales) assert.ok(s < 1);
      const offBack = back.slice();
      for (let i = 0; i < n; i++) offBack[i * n + i] = 0;
      assertWithinBound(z, offBack, scales, n, n, name);
    }
  }
});

test('other block sizes follow the same per-row layout', () => {
  const rand = rng(21);
  const x = new Float32Array(6 * 19);
  for (let i = 0; i < x.length; i++) x[i] = gaussian(rand);
  const { back, scales } = roundTrip(x, 6, 19, 'linear-2', 7);
  assert.equal(scales.length, 6 * 3);
  assertWithinBound(x, back, scales, 6, 19, 'linear-2', 7);
  assert.equal(scales[2], Math.max(...[14, 15, 16, 17, 18].map((c) => Math.abs(x[c]))));
});

test('short buffers and non-square DiagReal are rejected with a ShapeError', () => {
  const x = new Float32Array(12);
  assert.throws(() => quantize4(x, 3, 4, new Uint8Array(5), new Float32Array(3)), ShapeError);
  assert.throws(() => quantize4(x, 3, 4, new Uint8Array(6), new Float32Array(2)), ShapeError);
  assert.throws(() => quantize4(x, 3, 5, new Uint8Array(8), new Float32Array(3)), ShapeError);
  assert.throws(
    () => dequantize4(new Uint8Array(6), new Float32Array(3), 3, 4, new Float32Array(11)),
    ShapeError,
  );
  assert.throws(
    () => quantize4DiagReal(x, 4, new Uint8Array(8), new Float32Array(4), new Float32Array(3)),
    ShapeError,
  );
  assert.throws(() => quant4Layout(2, 2, 0), ShapeError);
  assert.throws(() => quant4Layout(-1, 2), ShapeError);
});

test('TsCodecs over arena buffers = the typed-array functions', () => {
  const arena = new Arena(new WebAssembly.Memory({ initial: 1 }));
  const codecs = new TsCodecs(arena);
  const n = 66;
  const l = quant4Layout(n, n);
  const x = arena.f32(n * n);
  const rand = rng(2);
  x.view().forEach((_, i, a) => {
    a[i] = gaussian(rand);
  });
  const codes = arena.alloc('u8', l.codeBytes);
  const scales = arena.f32(l.scaleCount);
  const diag = arena.f32(n);
  const out = arena.f32(n * n);
  for (const name of CODEBOOKS) {
    codecs.quantize4(x, n, n, codes, scales, name);
    const c = new Uint8Array(l.codeBytes);
    const s = new Float32Array(l.scaleCount);
    quantize4(x.view(), n, n, c, s, { codebook: name });
    assert.deepEqual(codes.view(), c);
    assert.deepEqual(scales.view(), s);
    codecs.dequantize4(codes, scales, n, n, out, name);
    const o = new Float32Array(n * n);
    dequantize4(c, s, n, n, o, { codebook: name });
    assert.deepEqual(out.view(), o);
    codecs.quantize4DiagReal(x, n, codes, scales, diag, name);
    codecs.dequantize4DiagReal(codes, scales, diag, n, out, name);
    for (let i = 0; i < n; i++) assert.equal(out.view()[i * n + i], x.view()[i * n + i]);
  }
});
