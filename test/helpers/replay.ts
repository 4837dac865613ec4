import assert from 'node:assert/strict';
import type { Optimizer, Param } from '../../src/optimizers/optimizer.ts';
import { compareStep, type Fixture, f32 } from './fixtures.ts';

/** Keys of a fixture's `configCamel` that describe the PyTorch run rather than an option of ours. */
const TORCH_ONLY: Record<string, (v: unknown) => boolean> = {
  amsgrad: (v) => v === false,
  maximize: (v) => v === false,
  foreach: (v) => v === null,
  capturable: (v) => v === false,
  // KLOpt: the class (KLShampoo or KLSOAP) chooses the variant; storage precision is our `precision`.
  usingKlsoap: () => true,
  castDtype: (v) => v === 'torch.float32',
  oneDimFallback: () => true,
};

/** The fixture's configCamel as our config: torch-only keys are dropped after checking their values. */
export function ourConfig(fixture: Fixture): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fixture.configCamel)) {
    const check = TORCH_ONLY[k];
    if (check) {
      assert.ok(check(v), `${fixture.file}: ${k} = ${JSON.stringify(v)} is not supported`);
      continue;
    }
    out[k] = v;
  }
  return out;
}

export function fixtureParams(fixture: Fixture): Param[] {
  return fixture.params.map((p) => ({ name: p.name, shape: p.shape, data: f32(p.init) }));
}

/**
 * Replays every step of a fixture and asserts that the parameters match `expected` after each call within
 * the per-step tolerance. Returns the largest error seen relative to the step's tolerance.
 */
export function replayFixture(fixture: Fixture, make: (params: Param[]) => Optimizer): number {
  const params = fixtureParams(fixture);
  const opt = make(params);
  let worstRatio = 0;
  for (let t = 0; t < fixture.steps; t++) {
    opt.step(fixture.grads[t].map((g) => f32(g)));
    const data = params.map((p) => p.data);
    const bad = compareStep(fixture, t, data);
    assert.equal(bad, null, `${fixture.file}: call ${t + 1}: ${JSON.stringify(bad)}`);
    const atol = fixture.tolerance.recommended.perStepAtol[t];
    data.forEach((p, i) => {
      const e = fixture.expected[t][i];
      for (let k = 0; k < p.length; k++) {
        worstRatio = Math.max(worstRatio, Math.abs(p[k] - Math.fround(e[k])) / atol);
      }
    });
  }
  return worstRatio;
}
