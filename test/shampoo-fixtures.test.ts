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

/** A Distributed Shampoo fixture's configCamel in our camelCase, type-tagged form. */
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
  assert.match(pc.type as string, /^RootInvShampooPreconditionerConfig/);
  pc.type = 'rootInv';
  const ac = pc.amortizedComputationConfig as Record<string, unknown>;
  assert.equal(ac.type, 'EigenConfig');
  ac.type = 'eigh';
  return { variant: 'distributed', ...c } as ShampooConfig;
}

function lowbitConfig(fx: Fixture): ShampooConfig {
  return { variant: 'lowbit', ...fx.configCamel } as ShampooConfig;
}

const cases: [string, (fx: Fixture) => ShampooConfig][] = [
  ...fixtureFiles('shampoo').map((f) => [f, distributedConfig] as [string, (fx: Fixture) => ShampooConfig]),
  ...fixtureFiles('shampoo-32bit-eigen').map(
    (f) => [f, lowbitConfig] as [string, (fx: Fixture) => ShampooConfig],
  ),
];

test('the fixture set covers the five Shampoo trajectories', () => {
  assert.deepEqual(cases.map(([f]) => f).sort(), [
    'shampoo-32bit-eigen_default.json',
    'shampoo-32bit-eigen_nondefault.json',
    'shampoo_blocked.json',
    'shampoo_default.json',
    'shampoo_nondefault.json',
  ]);
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
