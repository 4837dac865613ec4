import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SOAP } from '../src/optimizers/soap.ts';
import { fixtureFiles, loadFixture } from './helpers/fixtures.ts';
import { ourConfig, replayFixture } from './helpers/replay.ts';

for (const engine of ['typescript', 'auto'] as const) {
  for (const file of fixtureFiles('soap')) {
    test(`SOAP replays ${file} step by step (${engine} engine)`, () => {
      const fx = loadFixture(file);
      const ratio = replayFixture(fx, (params) => new SOAP(params, { ...ourConfig(fx), engine }));
      assert.ok(ratio <= 1);
    });
  }
}
