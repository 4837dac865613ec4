import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError, ShapeError } from '../src/errors.ts';
import {
  availableEngines,
  createKernels,
  enableRelaxedSimd,
  type WasmEngineName,
} from '../src/kernels/index.ts';
import {
  type Codebook4Name,
  type Codecs,
  createCodecs,
  quant4Layout,
  TsCodecs,
  WasmCodecs,
} from '../src/storage/index.ts';
import { bits, firstDifference, lcg } from './helpers/bit-compare.ts';

// The codecs use no relaxed instructions, but they ship in both builds: test both where the runtime allows.
enableRelaxedSimd();
const wasmEngines = availableEngines().filter((e): e is WasmEngineName => e !== 'typescript');

function pair(engine: WasmEngineName): { wasm: Codecs; ts: Codecs } {
  const kernels = createKernels({ engine });
  const wasm = createCodecs(kernels);
  return { wasm, ts: new TsCodecs(kernels.arena) };
}

const SHAPES: [number, number][] = [
  [1, 1],
  [1, 3],
  [3, 5],
  [17, 1],
  [7, 13],
  [64, 64],
  [65, 65],
  [66, 66],
  [4, 130],
  [5, 200],
  [128, 128],
  [257, 3],
];

test('WASM builds include the codecs, and createCodecs picks them (TS on the TS engine)', () => {
  assert.ok(wasmEngines.length > 0, 'no WASM engine available in this runtime');
  for (const engine of wasmEngines) {
    const codecs = createCodecs(createKernels({ engine }));
    assert.ok(codecs instanceof WasmCodecs);
    assert.equal(codecs.engine, engine);
  }
  assert.ok(createCodecs(createKernels({ engine: 'typescript' })) instanceof TsCodecs);
});

for (const engine of wasmEngines) {
  test(`${engine}: 4-bit codes, scales and decoded values are bit-identical to the TS codecs`, () => {
    const { wasm, ts } = pair(engine);
    const arena = wasm.arena;
    const rand = lcg(17);
    for (const [rows, cols] of SHAPES) {
      for (const name of ['linear-2', 'dynamic'] as Codebook4Name[]) {
        for (const diagReal of rows === cols ? [false, true] : [false]) {
          for (const blockSize of [64, 7, 16]) {
            const mark = arena.mark();
            const l = quant4Layout(rows, cols, blockSize);
            const x = arena.f32(rows * cols);
            const xv = x.view();
            for (let i = 0; i < xv.length; i++) xv[i] = (rand() - 0.5) * 10 ** (6 * rand() - 3);
            // Specials: exact zeros, a zero block, NaN and ±Infinity, a subnormal-scale block.
            if (xv.length > 20) {
              xv[2] = 0;
              xv[5] = Number.NaN;
              xv[11] = -Infinity;
            }
            if (rows >= 3 && cols >= 2) {
              for (let j = 0; j < Math.min(cols, blockSize); j++) xv[cols + j] = 0;
              for (let j = 0; j < Math.min(cols, blockSize); j++) xv[2 * cols + j] = (rand() - 0.5) * 1e-39;
            }
            const before = bits(x.view()).slice();
            const out = [wasm, ts].map((codecs) => {
              const codes = arena.alloc('u8', l.codeBytes);
              codes.view().fill(0xa5); // stale bytes must not leak into the result
              const scales = arena.f32(l.scaleCount);
              const diag = arena.f32(rows);
              const back = arena.f32(rows * cols);
              if (diagReal) {
                codecs.quantize4DiagReal(x, rows, codes, scales, diag, name, blockSize);
                codecs.dequantize4DiagReal(codes, scales, diag, rows, back, name, blockSize);
              } else {
                codecs.quantize4(x, rows, cols, codes, scales, name, blockSize);
                codecs.dequantize4(codes, scales, rows, cols, back, name, blockSize);
              }
              return { codes, scales, diag, back };
            });
            const what = `${rows}×${cols} ${name} B=${blockSize}${diagReal ? ' DiagReal' : ''}`;
            assert.equal(firstDifference(bits(x.view()), before), -1, `${what}: input changed`);
            assert.equal(firstDifference(out[0].codes.view(), out[1].codes.view()), -1, `${what}: codes`);
            assert.equal(firstDifference(bits(out[0].scales.view()), bits(out[1].scales.view())), -1, what);
            assert.equal(firstDifference(bits(out[0].back.view()), bits(out[1].back.view())), -1, what);
            if (diagReal)
              assert.equal(firstDifference(bits(out[0].diag.view()), bits(out[1].diag.view())), -1);
            arena.release(mark);
          }
        }
      }
    }
  });

  test(`${engine}: bf16 encode, stochastic encode and decode are bit-identical to the TS codecs`, () => {
    const { wasm, ts } = pair(engine);
    const arena = wasm.arena;
    const rand = lcg(23);
    for (const n of [0, 1, 7, 8, 9, 31, 1000, 65536]) {
      const mark = arena.mark();
      const x = arena.f32(n);
      const xb = bits(x.view());
      for (let i = 0; i < n; i++) xb[i] = (rand() * 4294967296) >>> 0;
      if (n === 65536) for (let i = 0; i < n; i++) xb[i] = (i << 16) | (i & 0xffff); // every upper half, with ties
      const u = [arena.alloc('u16', n), arena.alloc('u16', n)];
      wasm.bf16Encode(x, u[0]);
      ts.bf16Encode(x, u[1]);
      assert.equal(firstDifference(u[0].view(), u[1].view()), -1, `encode n=${n}`);
      const s0 = { counter: 0xfffffff0, key: 0x9e3779b9 };
      const s1 = { ...s0 };
      wasm.bf16EncodeStochastic(x, u[0], s0);
      ts.bf16EncodeStochastic(x, u[1], s1);
      assert.deepEqual(s0, s1);
      assert.equal(firstDifference(u[0].view(), u[1].view()), -1, `stochastic n=${n}`);
      const y = [arena.f32(n), arena.f32(n)];
      wasm.bf16Decode(u[0], y[0]);
      ts.bf16Decode(u[0], y[1]);
      assert.equal(firstDifference(bits(y[0].view()), bits(y[1].view())), -1, `decode n=${n}`);
      arena.release(mark);
    }
  });

  test(`${engine}: codecs reject short buffers and buffers of another context`, () => {
    const { wasm } = pair(engine);
    const x = wasm.arena.f32(12);
    const codes = wasm.arena.alloc('u8', 5);
    assert.throws(() => wasm.quantize4(x, 3, 4, codes, wasm.arena.f32(3), 'linear-2'), ShapeError);
    const other = createKernels({ engine }).arena.f32(12);
    const codes6 = wasm.arena.alloc('u8', 6);
    assert.throws(() => wasm.quantize4(other, 3, 4, codes6, wasm.arena.f32(3), 'linear-2'), EngineError);
    assert.throws(() => wasm.bf16Encode(x, wasm.arena.alloc('u16', 11)), ShapeError);
  });
}
