import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW } from '../src/optimizers/adamw.ts';
import { fixtureFiles, loadFixture } from './helpers/fixtures.ts';
import { ourConfig, replayFixture } from './helpers/replay.ts';

for (const engine of ['typescript', 'auto'] as const) {
  for (const file of fixtureFiles('adamw')) {
    test(`AdamW replays ${file} step by step (${engine} engine)`, () => {
      const fx = loadFixture(file);
      const ratio = replayFixture(fx, (params) => new AdamW(params, { ...ourConfig(fx), engine }));
      assert.ok(ratio <= 1);
    });
  }
}

test('AdamW: hand-derived first step', () => {
  // t = 1: m = (1−β1)g, v = (1−β2)g², bias-corrected m̂ = g, v̂ = g², so p ← p(1 − lr·wd) − lr·g/(|g| + ε).
  const p = { data: new Float32Array([1, -2, 0.5]), shape: [3] };
  const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.5, eps: 1e-3 });
  opt.step([new Float32Array([2, -0.5, 0])]);
  const expect = [1 * 0.95 - (0.1 * 2) / (2 + 1e-3), -2 * 0.95 + (0.1 * 0.5) / (0.5 + 1e-3), 0.5 * 0.95];
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(p.data[i] - expect[i]) < 1e-6, `${i}: ${p.data[i]}`);
});
