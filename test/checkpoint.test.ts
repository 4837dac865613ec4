import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { HEADER_START, LAYOUT, swapBytesInPlace } from '../src/checkpoint/format.ts';
import {
  CHECKPOINT_FORMAT_VERSION,
  crc32,
  decodeCheckpoint,
  encodeCheckpoint,
  inspectCheckpoint,
  loadCheckpointInto,
  MAGIC,
} from '../src/checkpoint/index.ts';
import {
  loadCheckpoint,
  loadCheckpointSync,
  saveCheckpoint,
  saveCheckpointSync,
} from '../src/checkpoint/node.ts';
import { CheckpointError } from '../src/errors.ts';
import type { Optimizer, StateDict } from '../src/optimizers/optimizer.ts';
import { availableMethods, type MethodCase, supportedPrecisions } from './helpers/methods.ts';
import { ToyOptimizer } from './helpers/toy-optimizer.ts';
import { cloneParams, makeParams, rng, sameBits, train } from './helpers/training.ts';

type Reason = CheckpointError['reason'];

function expectReason(fn: () => unknown, reason: Reason, context = ''): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `${context}: expected a CheckpointError, got ${String(e)}`);
    assert.equal(e.reason, reason, `${context}: ${e.message}`);
    return;
  }
  assert.fail(`${context}: expected a CheckpointError (${reason}), nothing was thrown`);
}

function trainedToy(steps = 3): ToyOptimizer {
  const opt = new ToyOptimizer(makeParams(7));
  train(opt, 0, steps);
  return opt;
}

/** Fixes the checksums after a deliberate edit, to build files that are valid except for one property. */
function reseal(bytes: Uint8Array): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = dv.getUint32(LAYOUT.headerLength, true);
  const payloadOffset = Math.ceil((HEADER_START + headerLength) / 16) * 16;
  dv.setUint32(12, crc32(bytes, 0, 12), true);
  dv.setUint32(LAYOUT.headerCrc, crc32(bytes, HEADER_START, payloadOffset), true);
  dv.setUint32(LAYOUT.payloadCrc, crc32(bytes, payloadOffset, bytes.length), true);
  dv.setUint32(LAYOUT.layoutCrc, crc32(bytes, 16, LAYOUT.layoutCrc), true);
  return bytes;
}

function sectionBoundaries(bytes: Uint8Array): number[] {
  const info = inspectCheckpoint(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloadOffset = Math.ceil((HEADER_START + dv.getUint32(LAYOUT.headerLength, true)) / 16) * 16;
  const header = JSON.parse(
    new TextDecoder().decode(
      bytes.subarray(HEADER_START, HEADER_START + dv.getUint32(LAYOUT.headerLength, true)),
    ),
  ) as { tensors: { offset: number }[] };
  const cuts = [0, 8, 12, 16, 24, 44, 47, 48, HEADER_START + 1, payloadOffset - 1, payloadOffset];
  for (const t of header.tensors) cuts.push(payloadOffset + t.offset, payloadOffset + t.offset + 1);
  cuts.push(info.byteLength - 1);
  return [...new Set(cuts)].filter((c) => c >= 0 && c < bytes.length).sort((a, b) => a - b);
}

describe('CRC-32', () => {
  test('matches the standard check value and zlib on awkward lengths', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    const r = rng(3);
    for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097]) {
      const b = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
      assert.equal(crc32(b), zlib.crc32(b), `length ${n}`);
      const k = Math.floor(n / 3);
      assert.equal(crc32(b, k, n, crc32(b, 0, k)), crc32(b), `continued at ${k} of ${n}`);
      if (n > 10) assert.equal(crc32(b, 5, n - 2), zlib.crc32(b.subarray(5, n - 2)), `sub-range of ${n}`);
    }
    assert.throws(() => crc32(new Uint8Array(4), 2, 5), RangeError);
  });
});

describe('checkpoint encoding', () => {
  test('round-trips every dtype bit-exactly, deterministically, with header fields', () => {
    const opt = trainedToy();
    const state = opt.stateDict();
    const bytes = encodeCheckpoint(opt);
    assert.deepEqual([...bytes.subarray(0, 8)], [...MAGIC]);
    assert.equal(new DataView(bytes.buffer).getUint32(8, true), CHECKPOINT_FORMAT_VERSION);
    assert.equal(bytes.length % 16, 0);
    assert.deepEqual(encodeCheckpoint(state), bytes, 'same state, same bytes');
    const back = decodeCheckpoint(bytes);
    assert.equal(back.method, 'toy');
    assert.equal(back.version, state.version);
    assert.deepEqual(back.shapes, state.shapes);
    assert.deepEqual(back.config, state.config);
    assert.equal(back.config.horizon, Number.POSITIVE_INFINITY, 'non-finite config numbers survive');
    assert.equal(back.tensors.length, state.tensors.length);
    const dtypes = new Set(back.tensors.map((t) => t.dtype));
    assert.deepEqual([...dtypes].sort(), ['f32', 'f64', 'i32', 'u16', 'u8']);
    state.tensors.forEach((t, i) => {
      const b = back.tensors[i];
      assert.deepEqual({ ...b, data: null }, { ...t, data: null });
      assert.ok(sameBits(b.data, t.data), `tensor ${t.name} of param ${t.param}`);
    });
    // The decoded arrays own their memory and are aligned views of fresh buffers.
    for (const t of back.tensors) assert.equal(t.data.byteOffset, 0);
  });

  test('writes exactly the layout docs/checkpoints.md specifies (built by hand with zlib.crc32)', () => {
    const state: StateDict = {
      format: 'shampoo-ts/state-dict',
      version: 1,
      method: 'toy',
      config: { lr: 0.5, never: Number.POSITIVE_INFINITY },
      shapes: [[2]],
      tensors: [
        { param: -1, name: 'steps', kind: 'counter', dtype: 'f64', data: Float64Array.of(3, 0) },
        { param: 0, name: 'm', kind: 'moment', dtype: 'f32', data: Float32Array.of(1.5, -2) },
      ],
    };
    const json = Buffer.from(
      '{"stateDictFormat":"shampoo-ts/state-dict","stateDictVersion":1,"method":"toy",' +
        '"config":{"lr":0.5,"never":{"$number":"Infinity"}},"shapes":[[2]],"tensors":[' +
        '{"param":-1,"name":"steps","kind":"counter","dtype":"f64","length":2,"offset":0},' +
        '{"param":0,"name":"m","kind":"moment","dtype":"f32","length":2,"offset":16}]}',
    );
    const payloadOffset = Math.ceil((48 + json.length) / 16) * 16;
    const file = Buffer.alloc(payloadOffset + 32);
    Buffer.from([0x89, 0x53, 0x54, 0x53, 0x0d, 0x0a, 0x1a, 0x0a]).copy(file, 0);
    file.writeUInt32LE(1, 8);
    file.writeUInt32LE(zlib.crc32(file.subarray(0, 12)), 12);
    json.copy(file, 48);
    file.writeDoubleLE(3, payloadOffset);
    file.writeDoubleLE(0, payloadOffset + 8);
    file.writeFloatLE(1.5, payloadOffset + 16);
    file.writeFloatLE(-2, payloadOffset + 20);
    file.writeBigUInt64LE(BigInt(file.length), 16);
    file.writeUInt32LE(json.length, 24);
    file.writeUInt32LE(2, 28);
    file.writeUInt32LE(zlib.crc32(file.subarray(48, payloadOffset)), 32);
    file.writeUInt32LE(zlib.crc32(file.subarray(payloadOffset)), 36);
    file.writeUInt32LE(0, 40);
    file.writeUInt32LE(zlib.crc32(file.subarray(16, 44)), 44);
    assert.deepEqual(Buffer.from(encodeCheckpoint(state)), file);
    assert.deepEqual(decodeCheckpoint(file).config, state.config);
  });

  test('decodes from an ArrayBuffer and from an unaligned view', () => {
    const bytes = encodeCheckpoint(trainedToy());
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const a = decodeCheckpoint(bytes.slice().buffer);
    const b = decodeCheckpoint(view);
    // A small Node Buffer is a view into a shared pool; decoding must copy exactly its own bytes.
    const pooled = decodeCheckpoint(Buffer.from(bytes));
    assert.ok(sameBits(pooled.tensors[1].data, a.tensors[1].data));
    a.tensors.forEach((t, i) => {
      assert.ok(sameBits(t.data, b.tensors[i].data));
    });
  });

  test('metadata and inspection', () => {
    const opt = trainedToy(2);
    const bytes = encodeCheckpoint(opt, {
      metadata: { epoch: 3, note: 'x', never: Number.NEGATIVE_INFINITY },
    });
    const info = inspectCheckpoint(bytes);
    assert.equal(info.formatVersion, 1);
    assert.equal(info.byteLength, bytes.length);
    assert.equal(info.method, 'toy');
    assert.deepEqual(info.metadata, { epoch: 3, note: 'x', never: Number.NEGATIVE_INFINITY });
    assert.deepEqual(
      info.tensors.find((t) => t.name === 'codes'),
      { param: 0, name: 'codes', kind: 'basis', dtype: 'u8', length: 15 },
    );
    assert.equal(inspectCheckpoint(encodeCheckpoint(opt)).metadata, undefined);
    assert.throws(() => encodeCheckpoint(opt, { metadata: { f: () => 1 } }), CheckpointError);
  });

  test('byte swapping for big-endian hosts reverses each element', () => {
    const b = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    swapBytesInPlace(b, 2);
    assert.deepEqual([...b], [2, 1, 4, 3, 6, 5, 8, 7]);
    swapBytesInPlace(b, 2);
    swapBytesInPlace(b, 8);
    assert.deepEqual([...b], [8, 7, 6, 5, 4, 3, 2, 1]);
    swapBytesInPlace(b, 1);
    assert.deepEqual([...b], [8, 7, 6, 5, 4, 3, 2, 1]);
  });
});

describe('rejections leave the optimizer untouched', () => {
  const source = trainedToy(4);
  const good = encodeCheckpoint(source);
  const target = trainedToy(1);
  const before = encodeCheckpoint(target);
  const paramsBefore = target.params.map((p) => p.data.slice());
  const assertUntouched = (context: string) => {
    assert.deepEqual(encodeCheckpoint(target), before, `${context}: state changed`);
    target.params.forEach((p, i) => {
      assert.ok(sameBits(p.data, paramsBefore[i]), `${context}: params changed`);
    });
  };
  const rejects = (bytes: Uint8Array, reason: Reason, context: string) => {
    expectReason(() => loadCheckpointInto(target, bytes), reason, context);
    assertUntouched(context);
  };

  test('every single-byte flip is detected (magic → format, anything else → corrupted)', () => {
    const masks = [0x01, 0x80, 0xff, 0x10, 0x42];
    for (let pos = 0; pos < good.length; pos++) {
      const bad = good.slice();
      bad[pos] ^= masks[pos % masks.length];
      const expected: Reason = pos < MAGIC.length ? 'format' : 'corrupted';
      expectReason(() => decodeCheckpoint(bad), expected, `flip at ${pos}`);
      if (pos % 17 === 0) rejects(bad, expected, `flip at ${pos}`);
    }
    assertUntouched('after all flips');
  });

  test('multi-byte corruptions at random places are detected', () => {
    const r = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const bad = good.slice();
      const count = 2 + Math.floor(r() * 6);
      for (let j = 0; j < count; j++)
        bad[MAGIC.length + Math.floor(r() * (good.length - MAGIC.length))] ^= 1 + Math.floor(r() * 255);
      if (Buffer.compare(bad, good) === 0) continue;
      rejects(bad, 'corrupted', `trial ${trial}`);
    }
  });

  test('truncation at every length is detected as truncated', () => {
    for (let len = 0; len < good.length; len++) {
      expectReason(() => decodeCheckpoint(good.subarray(0, len)), 'truncated', `length ${len}`);
    }
    for (const cut of sectionBoundaries(good)) rejects(good.subarray(0, cut), 'truncated', `cut at ${cut}`);
  });

  test('trailing bytes and foreign files', () => {
    const longer = new Uint8Array(good.length + 16);
    longer.set(good);
    rejects(longer, 'corrupted', 'trailing bytes');
    rejects(
      new TextEncoder().encode('{"not": "a checkpoint", "padding": "..............."}'),
      'format',
      'json file',
    );
    rejects(new Uint8Array(64), 'format', 'zeros');
  });

  test('a newer format version, unknown flags, or a newer state dict version', () => {
    const v2 = good.slice();
    new DataView(v2.buffer).setUint32(8, CHECKPOINT_FORMAT_VERSION + 1, true);
    rejects(reseal(v2), 'version', 'format version');
    // A newer version is recognised from the identity block alone, whatever follows it.
    expectReason(() => decodeCheckpoint(reseal(v2).subarray(0, 16)), 'version', 'bare identity block');
    const flagged = good.slice();
    new DataView(flagged.buffer).setUint32(LAYOUT.flags, 1, true);
    rejects(reseal(flagged), 'version', 'flags');
    const state = source.stateDict();
    rejects(encodeCheckpoint({ ...state, version: state.version + 1 }), 'version', 'state dict version');
    const v0 = good.slice();
    new DataView(v0.buffer).setUint32(8, 0, true);
    rejects(reseal(v0), 'format', 'version 0');
  });

  test('another method, other shapes, other tensors', () => {
    const state = source.stateDict();
    rejects(encodeCheckpoint({ ...state, method: 'soap' }), 'mismatch', 'method');
    const other = new ToyOptimizer(makeParams(7, [[5, 6], [7], [2, 3, 4]]));
    rejects(encodeCheckpoint(other), 'mismatch', 'transposed shape');
    rejects(encodeCheckpoint(new ToyOptimizer(makeParams(7, [[6, 5], [7]]))), 'mismatch', 'param count');
    const renamed: StateDict = {
      ...state,
      tensors: state.tensors.map((t) => (t.name === 'half' && t.param === 1 ? { ...t, name: 'halves' } : t)),
    };
    rejects(encodeCheckpoint(renamed), 'mismatch', 'renamed tensor');
    const retyped: StateDict = {
      ...state,
      tensors: state.tensors.map((t) =>
        t.name === 'half' && t.param === 1
          ? { ...t, dtype: 'u8' as const, data: new Uint8Array(t.data.length) }
          : t,
      ),
    };
    rejects(encodeCheckpoint(retyped), 'mismatch', 'dtype');
    rejects(encodeCheckpoint({ ...state, tensors: state.tensors.slice(1) }), 'mismatch', 'missing tensor');
  });

  test('non-finite state is rejected; config differences are reported or, if strict, rejected', () => {
    const state = source.stateDict();
    const nan: StateDict = {
      ...state,
      tensors: state.tensors.map((t) =>
        t.name === 'm' && t.param === 2 ? { ...t, data: t.data.map(() => Number.NaN) } : t,
      ),
    };
    rejects(encodeCheckpoint(nan), 'format', 'NaN state');
    const slower = encodeCheckpoint({ ...state, config: { ...state.config, lr: 0.5 } });
    expectReason(
      () => loadCheckpointInto(target, slower, { strictConfig: true }),
      'mismatch',
      'strict config',
    );
    assertUntouched('strict config');
    const fresh = trainedToy(1);
    const report = loadCheckpointInto(fresh, slower);
    assert.deepEqual(report, { stepCount: 4, configDifferences: ['lr: 0.5 → 0.01'] });
    assert.deepEqual(loadCheckpointInto(fresh, good).configDifferences, []);
  });
});

async function methodCases(): Promise<{ label: string; create: () => Optimizer }[]> {
  const cases: { label: string; create: () => Optimizer }[] = [
    { label: 'toy (all dtypes)', create: () => new ToyOptimizer(makeParams(5)) },
  ];
  const methods: MethodCase[] = await availableMethods();
  for (const m of methods) {
    for (const precision of supportedPrecisions(m, makeParams(5))) {
      // The test shapes' sides are below the default minLowbitSize: 0 makes every side of a 4-bit state 4-bit.
      const lowbit = precision === '4bit' || precision === '4bit-naive' ? { minLowbitSize: 0 } : {};
      cases.push({
        label: `${m.label} ${precision}`,
        create: () => m.create(makeParams(5), { precision, ...lowbit }),
      });
    }
    if (['SOAP', 'KLShampoo', 'KLSOAP'].includes(m.label)) {
      cases.push({
        label: `${m.label} 4bit, every side 4-bit, 8-bit correlations`,
        create: () => m.create(makeParams(5), { precision: '4bit', minLowbitSize: 0, correlationBits: 8 }),
      });
    }
  }
  return cases;
}

describe('bit-exact continuation after save and load, for every method', async () => {
  const cases = await methodCases();
  for (const c of cases) {
    test(c.label, () => {
      const k = 5;
      const reference = c.create();
      train(reference, 0, 2 * k);

      const first = c.create();
      train(first, 0, k);
      const bytes = encodeCheckpoint(first);
      // A fresh optimizer built like the original, on the saved parameters, then restored.
      const resumed = c.create();
      resumed.params.forEach((p, i) => {
        p.data.set(first.params[i].data);
      });
      const report = loadCheckpointInto(resumed, bytes);
      assert.deepEqual(report, { stepCount: k, configDifferences: [] }, 'the config survives exactly');
      assert.equal(resumed.stepCount, k);
      train(resumed, k, 2 * k);

      reference.params.forEach((p, i) => {
        assert.ok(sameBits(p.data, resumed.params[i].data), `param ${i} differs after resuming`);
      });
      const a = reference.stateDict();
      const b = resumed.stateDict();
      a.tensors.forEach((t, i) => {
        assert.ok(sameBits(t.data, b.tensors[i].data), `state '${t.name}' of param ${t.param} differs`);
      });
      assert.deepEqual(encodeCheckpoint(resumed), encodeCheckpoint(reference));

      // Dense corruption and truncation sample on the real method's checkpoint.
      const before = encodeCheckpoint(resumed);
      const r = rng(bytes.length);
      const positions = new Set<number>();
      for (let p = 0; p < bytes.length; p += 7) positions.add(p);
      for (let j = 0; j < 64; j++) positions.add(Math.floor(r() * bytes.length));
      for (const pos of positions) {
        const bad = bytes.slice();
        bad[pos] ^= 1 << (pos % 8);
        expectReason(
          () => loadCheckpointInto(resumed, bad),
          pos < 8 ? 'format' : 'corrupted',
          `flip at ${pos}`,
        );
      }
      const cuts = new Set(sectionBoundaries(bytes));
      for (let j = 0; j < 32; j++) cuts.add(Math.floor(r() * bytes.length));
      for (const cut of cuts) {
        expectReason(() => loadCheckpointInto(resumed, bytes.subarray(0, cut)), 'truncated', `cut at ${cut}`);
      }
      assert.deepEqual(encodeCheckpoint(resumed), before, 'state changed by a rejected load');
    });
  }
});

describe('checkpoint files (Node)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shampoo-ts-ckpt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('save and load, async and sync, continue identically', async () => {
    const a = trainedToy(3);
    const path = join(dir, 'a.ckpt');
    const written = await saveCheckpoint(a, path);
    assert.equal(written, readFileSync(path).length);
    const b = new ToyOptimizer(cloneParams(a.params));
    const report = await loadCheckpoint(b, path);
    assert.equal(report.stepCount, 3);
    assert.deepEqual(encodeCheckpoint(b), encodeCheckpoint(a));

    saveCheckpointSync(a, path);
    const c = new ToyOptimizer(cloneParams(a.params));
    loadCheckpointSync(c, path);
    train(a, 3, 6);
    train(c, 3, 6);
    assert.deepEqual(encodeCheckpoint(c), encodeCheckpoint(a));
  });

  test('a damaged file is rejected and the optimizer kept', async () => {
    const a = trainedToy(2);
    const path = join(dir, 'damaged.ckpt');
    const bytes = encodeCheckpoint(a);
    writeFileSync(path, bytes.subarray(0, bytes.length - 5));
    const b = trainedToy(1);
    const before = encodeCheckpoint(b);
    await assert.rejects(
      loadCheckpoint(b, path),
      (e: unknown) => e instanceof CheckpointError && e.reason === 'truncated',
    );
    assert.throws(
      () => loadCheckpointSync(b, path),
      (e: unknown) => e instanceof CheckpointError && e.reason === 'truncated',
    );
    assert.deepEqual(encodeCheckpoint(b), before);
    await assert.rejects(loadCheckpoint(b, join(dir, 'missing.ckpt')), { code: 'ENOENT' });
  });
});
