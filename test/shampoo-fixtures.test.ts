import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { ShampooConfig } from '../src/optimizers/shampoo-config.ts';
import { type Fixture, fixtureFiles, loadFixture } from './helpers/fixtures.ts';
import { replayFixture } from './helpers/replay.ts';

const GRAFTING_TAGS: Record<string, string> = {
  SGDPreconditionerConfig: 'sgd',
  AdaGradPreconditionerConfig: 'adagrad',
  RMSpropPreconditionerConfig: 'rmsprop',
  AdamPreconditionerConfig: 'adam',
};

/**
 * A Distributed Shampoo fixture's configCamel in our form: grafting types as our short tags; class names
 * elsewhere are accepted as they are, once the fixture's "(== alias)" annotation is stripped.
 */
export function distributedConfig(fx: Fixture): ShampooConfig {
  const c = structuredClone(fx.configCamel) as Record<string, unknown>;
  const grafting = c.graftingConfig as Record<string, unknown> | null;
  if (grafting) {
    const tag = GRAFTING_TAGS[grafting.type as string];
    assert.ok(tag, `grafting type ${grafting.type}`);
    grafting.type = tag;
  }
  const pc = c.preconditionerConfig as Record<string, unknown>;
  // "RootInvShampooPreconditionerConfig (== DefaultShampooConfig)" names the class and its alias.
  pc.type = (pc.type as string).replace(/\s*\(==.*\)$/, '');
  return { variant: 'distributed', ...c } as ShampooConfig;
}

/** A low-bit fixture's configCamel; `ShampooSGD` runs select our `optimizer: 'sgd'`. */
function lowbitConfig(fx: Fixture): ShampooConfig {
  const source = (fx as unknown as { source: string }).source;
  const optimizer = /ShampooSGD/.test(source) ? 'sgd' : 'adamw';
  return { variant: 'lowbit', optimizer, ...fx.configCamel } as ShampooConfig;
}

const cases: [string, (fx: Fixture) => ShampooConfig][] = [
  ...fixtureFiles('shampoo').map((f) => [f, distributedConfig] as [string, (fx: Fixture) => ShampooConfig]),
  ...fixtureFiles('shampoo-32bit-eigen').map(
    (f) => [f, lowbitConfig] as [string, (fx: Fixture) => ShampooConfig],
  ),
];

test('the fixture set has Distributed Shampoo and low-bit (32-bit) trajectories', () => {
  assert.ok(fixtureFiles('shampoo').length > 0, 'no Distributed Shampoo fixture found');
  assert.ok(fixtureFiles('shampoo-32bit-eigen').length > 0, 'no 32-bit low-bit fixture found');
});

for (const engine of ['typescript', 'auto'] as const) {
  for (const [file, toConfig] of cases) {
    test(`Shampoo replays ${file} step by step (${engine} engine)`, () => {
      const fx = loadFixture(file);
      const ratio = replayFixture(
        fx,
        (params) => new Shampoo(params, { ...toConfig(fx), engine } as ShampooConfig),
      );
      assert.ok(ratio <= 1, `worst error / tolerance = ${ratio}`);
    });
  }
}
