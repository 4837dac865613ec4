import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import { fixtureFiles, loadFixture } from './helpers/fixtures.ts';
import { ourConfig, replayFixture } from './helpers/replay.ts';

for (const engine of ['typescript', 'auto'] as const) {
  for (const [method, Cls] of [
    ['kl-shampoo', KLShampoo],
    ['kl-soap', KLSOAP],
  ] as const) {
    for (const file of fixtureFiles(method)) {
      test(`${Cls.name} replays ${file} step by step (${engine} engine)`, () => {
        const fx = loadFixture(file);
        const ratio = replayFixture(fx, (params) => new Cls(params, { ...ourConfig(fx), engine }));
        assert.ok(ratio <= 1);
      });
    }
  }
}
