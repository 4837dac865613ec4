import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError, ShapeError } from '../src/errors.ts';
import { Arena } from '../src/kernels/arena.ts';
import {
  bf16ToF32,
  bitsToBf16,
  decodeBf16,
  encodeBf16,
  encodeBf16Stochastic,
  f32ToBf16,
  roundToBf16,
  TsCodecs,
} from '../src/storage/index.ts';

function fromBits(b: number): number {
  const u = new Uint32Array([b >>> 0]);
  return new Float32Array(u.buffer)[0];
}

/**
 * Independent oracle: the two bf16 neighbours of x are its truncation and the next bf16 up in magnitude; pick
 * the nearer by float64 distance (exact for these operands), ties to the even one, NaN → 0x7FC0.
 */
function oracle(bits: number): number {
  const x = fromBits(bits);
  if (Number.isNaN(x)) return 0x7fc0;
  const lo = bits >>> 16;
  if ((bits & 0xffff) === 0) return lo;
  const hi = lo + 1; // one more unit in the last place of the magnitude; 0x7F80/0xFF80 are ±Infinity
  const dLo = Math.abs(x - bf16ToF32(lo));
  const hiVal = bf16ToF32(hi);
  // Past the largest bf16 the upper neighbour is Infinity: round as if it were 2^128 (IEEE overflow rule).
  const dHi = Number.isFinite(hiVal) ? Math.abs(bf16ToF32(hi) - x) : Math.abs(2 ** 128 * Math.sign(x) - x);
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi;
  return lo % 2 === 0 ? lo : hi;
}

test('round to nearest even on hand-picked bit patterns', () => {
  const cases: [number, number, string][] = [
    [0x3f800000, 0x3f80, '1.0 exact'],
    [0x3f808000, 0x3f80, 'tie, even below: down'],
    [0x3f818000, 0x3f82, 'tie, odd below: up'],
    [0x3f808001, 0x3f81, 'just above the tie: up'],
    [0x3f807fff, 0x3f80, 'just below the tie: down'],
    [0xbf808000, 0xbf80, 'negative tie, even: down in magnitude'],
    [0xbf818000, 0xbf82, 'negative tie, odd: up in magnitude'],
    [0x7f7f7fff, 0x7f7f, 'below the overflow tie: largest bf16'],
    [0x7f7f8000, 0x7f80, 'overflow tie with odd 0x7F7F: +Infinity'],
    [0x7f7fffff, 0x7f80, 'largest float32: +Infinity'],
    [0xff7fffff, 0xff80, 'most negative float32: −Infinity'],
    [0x7f800000, 0x7f80, '+Infinity'],
    [0xff800000, 0xff80, '−Infinity'],
    [0x00000000, 0x0000, '+0'],
    [0x80000000, 0x8000, '−0'],
    [0x00000001, 0x0000, 'smallest subnormal: +0'],
    [0x80000001, 0x8000, 'negative smallest subnormal: −0'],
    [0x00008000, 0x0000, 'subnormal tie, even: down'],
    [0x00018000, 0x0002, 'subnormal tie, odd: up'],
    [0x00008001, 0x0001, 'subnormal above tie: smallest bf16 subnormal'],
    [0x007fffff, 0x0080, 'largest subnormal: smallest normal'],
    [0x7fc00000, 0x7fc0, 'quiet NaN'],
    [0x7f800001, 0x7fc0, 'signalling NaN whose truncation is Infinity'],
    [0x7fffffff, 0x7fc0, 'NaN whose rounding would carry into the sign'],
    [0xffc00001, 0x7fc0, 'negative NaN'],
  ];
  for (const [bits, want, what] of cases) {
    assert.equal(bitsToBf16(bits), want, what);
    assert.equal(oracle(bits), want, `oracle: ${what}`);
    if (!Number.isNaN(fromBits(bits))) assert.equal(f32ToBf16(fromBits(bits)), want, what);
  }
  assert.equal(f32ToBf16(Number.NaN), 0x7fc0);
  assert.ok(Object.is(roundToBf16(-0), -0));
  assert.equal(roundToBf16(1 + 2 ** -9), 1);
  assert.equal(roundToBf16(1 + 2 ** -8), 1); // tie: 0x3F80 is even
  assert.equal(roundToBf16(1 + 3 * 2 ** -8), 1 + 2 ** -6); // tie: 0x3F81 is odd, so up to 0x3F82
});

test('every non-NaN bf16 pattern round-trips exactly; NaN patterns decode to NaN and re-encode to 0x7FC0', () => {
  const all = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) all[i] = i;
  const dec = new Float32Array(65536);
  decodeBf16(all, dec);
  const enc = new Uint16Array(65536);
  encodeBf16(dec, enc);
  let nans = 0;
  for (let u = 0; u < 65536; u++) {
    assert.equal(new Uint32Array(dec.buffer)[u], (u << 16) >>> 0);
    if (Number.isNaN(dec[u])) {
      nans++;
      assert.equal(enc[u], 0x7fc0);
    } else if (enc[u] !== u) {
      assert.fail(`pattern ${u.toString(16)} came back as ${enc[u].toString(16)}`);
    }
  }
  assert.equal(nans, 2 * 127); // exponent all ones, mantissa ≠ 0, either sign
});

test('array encode = nearest-even oracle on random bits, near-tie bits and every exponent', () => {
  let s = 12345;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  const bits: number[] = [];
  for (let i = 0; i < 100_000; i++) bits.push(next());
  for (let e = 0; e < 256; e++) {
    for (const low of [0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff]) {
      for (const mant of [0x00, 0x01, 0x7f]) {
        bits.push(((e << 23) | (mant << 16) | low) >>> 0, ((1 << 31) | (e << 23) | (mant << 16) | low) >>> 0);
      }
    }
  }
  const src = new Float32Array(new Uint32Array(bits).buffer);
  const dst = new Uint16Array(src.length);
  encodeBf16(src, dst);
  bits.forEach((b, i) => {
    if (dst[i] !== oracle(b)) assert.fail(`bits ${b.toString(16)}: ${dst[i].toString(16)} vs ${oracle(b)}`);
  });
});

test('stochastic rounding: deterministic, split-invariant, one of the two neighbours, unbiased', () => {
  const n = 200_000;
  const x = 1 + 2 ** -10; // 1/8 of the way from 1 to the next bf16 (1 + 2^-7)
  const src = new Float32Array(n).fill(x);
  const a = new Uint16Array(n);
  const stateA = { counter: 5, key: 0xdeadbeef };
  encodeBf16Stochastic(src, a, stateA);
  assert.equal(stateA.counter, 5 + n);
  // Same state → same bits; two halves with a carried state → the same bits as one call.
  const b = new Uint16Array(n);
  const stateB = { counter: 5, key: 0xdeadbeef };
  encodeBf16Stochastic(src.subarray(0, 1000), b.subarray(0, 1000), stateB);
  encodeBf16Stochastic(src.subarray(1000), b.subarray(1000), stateB);
  assert.deepEqual(a, b);
  let up = 0;
  for (const u of a) {
    assert.ok(u === 0x3f80 || u === 0x3f81);
    if (u === 0x3f81) up++;
  }
  const p = 1 / 8;
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(up - n * p) < 5 * sd, `${up} round-ups of ${n}, expected ${n * p} ± ${sd.toFixed(0)}`);
  // A different key gives different draws.
  const c = new Uint16Array(n);
  encodeBf16Stochastic(src, c, { counter: 5, key: 1 });
  assert.notDeepEqual(a, c);
  // Exactly representable values, NaN and infinities are not perturbed.
  const special = Float32Array.from([1, -2.5, 0, -0, Infinity, -Infinity, Number.NaN, 3e38]);
  const out = new Uint16Array(special.length);
  encodeBf16Stochastic(special, out, { counter: 0, key: 0 });
  assert.deepEqual([...out.subarray(0, 7)], [0x3f80, 0xc020, 0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0]);
});

test('TsCodecs bf16 over arena buffers; short destinations are rejected', () => {
  const arena = new Arena(new WebAssembly.Memory({ initial: 1 }));
  const codecs = new TsCodecs(arena);
  const x = arena.f32(37);
  x.view().forEach((_, i, a) => {
    a[i] = (i - 18) * 0.3711;
  });
  const u = arena.alloc('u16', 37);
  const y = arena.f32(37);
  codecs.bf16Encode(x, u);
  codecs.bf16Decode(u, y);
  for (let i = 0; i < 37; i++) assert.equal(y.view()[i], roundToBf16(x.view()[i]));
  const st = { counter: 0, key: 9 };
  codecs.bf16EncodeStochastic(x, u, st);
  assert.equal(st.counter, 37);
  assert.throws(() => codecs.bf16Decode(u, arena.f32(36)), ShapeError);
  const other = new Arena(new WebAssembly.Memory({ initial: 1 })).f32(37);
  assert.throws(() => codecs.bf16Encode(other, u), EngineError);
  assert.throws(() => encodeBf16(new Float32Array(4), new Uint16Array(3)), ShapeError);
  assert.throws(() => decodeBf16(new Uint16Array(4), new Float32Array(3)), ShapeError);
});
