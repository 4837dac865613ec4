import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError } from '../src/errors.ts';
import {
  availableEngines,
  createKernels,
  type EngineChoice,
  type EngineName,
  enableRelaxedSimd,
  engineSupport,
  preloadKernels,
  selectEngine,
} from '../src/kernels/index.ts';
import { compileWasm, wasmValidates } from '../src/kernels/wasm-module.ts';

// Runs in its own process (one file per process under node --test), so the relaxed-SIMD flag starts unset.
// The order of the tests matters: the opt-in is process-wide and comes last.
const relaxedNative = wasmValidates('wasm-relaxed-simd');

test('SIMD and the TypeScript twin are always available, fastest first', () => {
  const engines = availableEngines();
  assert.ok(engines.includes('wasm-simd'));
  assert.equal(engines.at(-1), 'typescript');
  const order: EngineName[] = ['wasm-relaxed-simd', 'wasm-simd', 'typescript'];
  assert.deepEqual(
    engines,
    order.filter((e) => engines.includes(e)),
  );
  assert.equal(createKernels({ engine: 'typescript' }).engine, 'typescript');
  assert.equal(createKernels({ engine: 'wasm-simd' }).engine, 'wasm-simd');
});

test('without an opt-in, auto uses relaxed SIMD only where the runtime already supports it', (t) => {
  if (relaxedNative) {
    t.diagnostic('this runtime supports relaxed SIMD without a flag');
    assert.equal(selectEngine(), 'wasm-relaxed-simd');
    return;
  }
  const relaxed = engineSupport().find((s) => s.engine === 'wasm-relaxed-simd');
  assert.equal(relaxed?.available, false);
  assert.match(relaxed?.reason ?? '', /enableRelaxedSimd|not support/);
  assert.equal(selectEngine(), 'wasm-simd');
  assert.equal(createKernels().engine, 'wasm-simd');
  // Checking availability must not have set the flag as a side effect.
  assert.equal(wasmValidates('wasm-relaxed-simd'), false);
});

test('unknown engines are rejected with a typed error', () => {
  assert.throws(() => createKernels({ engine: 'gpu' as EngineChoice }), EngineError);
});

test('each build is compiled once per process', () => {
  assert.equal(compileWasm('wasm-simd'), compileWasm('wasm-simd'));
  const one = createKernels({ engine: 'wasm-simd' });
  const two = createKernels({ engine: 'wasm-simd' });
  assert.notEqual(one.wasm?.instance, two.wasm?.instance);
});

test('preloadKernels compiles asynchronously and reports the engines', async () => {
  const engines = await preloadKernels();
  assert.deepEqual(engines, availableEngines());
});

test('allowRelaxedSimd: true opts in; false keeps auto on plain SIMD', (t) => {
  assert.equal(selectEngine({ allowRelaxedSimd: false }), 'wasm-simd');
  const chosen = selectEngine({ allowRelaxedSimd: true });
  if (chosen !== 'wasm-relaxed-simd') {
    t.skip('relaxed SIMD cannot be enabled in this runtime');
    return;
  }
  assert.equal(enableRelaxedSimd(), true);
  // The flag is process-wide: auto now prefers relaxed SIMD unless told otherwise.
  assert.equal(createKernels().engine, 'wasm-relaxed-simd');
  assert.equal(createKernels({ allowRelaxedSimd: false }).engine, 'wasm-simd');
  assert.equal(createKernels({ engine: 'wasm-relaxed-simd' }).engine, 'wasm-relaxed-simd');
});
