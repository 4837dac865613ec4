import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import {
  type ResolvedLowbitConfig,
  resolveShampooConfig,
  type ShampooConfig,
} from '../src/optimizers/shampoo-config.ts';
import { type Fixture, f32, fixtureFiles, loadFixture } from './helpers/fixtures.ts';
import { type Float64ShampooState, float64LowbitShampoo } from './helpers/float64-shampoo.ts';

/**
 * The low-bit Shampoo fixtures (4-bit and the 32-bit eigen-parametrized form): the fixtures' `precBits: 4`
 * is our `precision: '4bit'`. The paper keeps AdamW's moments in fp32, so the replays say so (our default
 * would keep the first moment in bf16 under a low precision).
 */
function lowbitConfig(fx: Fixture): ShampooConfig {
  return { variant: 'lowbit', ...fx.configCamel, momentPrecision: 'fp32' } as ShampooConfig;
}

const FILES = [...fixtureFiles('shampoo-4bit'), ...fixtureFiles('shampoo-32bit-eigen')];

test('the low-bit fixture set: 4-bit and 32-bit trajectories, precBits mapped to precision', () => {
  assert.ok(fixtureFiles('shampoo-4bit').length > 0, 'no 4-bit fixture found');
  assert.ok(fixtureFiles('shampoo-32bit-eigen').length > 0, 'no 32-bit low-bit fixture found');
  for (const f of fixtureFiles('shampoo-4bit')) {
    const c = new Shampoo([{ shape: [2], data: new Float32Array(2) }], lowbitConfig(loadFixture(f))).config;
    assert.equal(c.precision, '4bit', `${f}: precBits 4 is precision '4bit'`);
  }
});

/** The library's step code in float64 (test/helpers/float64-shampoo.ts) on a fixture's parameters. */
function float64Replay(fx: Fixture) {
  const cfg = resolveShampooConfig(lowbitConfig(fx)) as ResolvedLowbitConfig;
  return float64LowbitShampoo(
    fx.params.map((p) => ({ shape: p.shape, name: p.name, init: f32(p.init) })),
    cfg,
  );
}

for (const file of FILES) {
  test(`float64: the library's low-bit step replays ${file} against expectedFloat64 at atolFloat64`, () => {
    const fx = loadFixture(file);
    assert.ok(fx.expectedFloat64, 'the fixture has a float64 trajectory');
    const { state, optimizer } = float64Replay(fx);
    let worst = 0;
    for (let t = 0; t < fx.steps; t++) {
      optimizer.step(
        fx.grads[t].map((g) => Float64Array.from(f32(g))),
        t + 1,
      );
      const atol = fx.tolerance.recommended.perStepAtolFloat64[t];
      state.weights.forEach((w, i) => {
        const e = fx.expectedFloat64![t][i];
        for (let k = 0; k < w.length; k++) {
          const err = Math.abs(w[k] - e[k]);
          worst = Math.max(worst, err);
          assert.ok(err <= atol, `call ${t + 1}, param ${i}[${k}]: |${w[k]} − ${e[k]}| = ${err} > ${atol}`);
        }
      });
    }
    // Not vacuous: the parameters moved by far more than the tolerance.
    const moved = Math.max(...state.weights[0].map((w, k) => Math.abs(w - fx.params[0].init[k])));
    assert.ok(moved > 1e9 * fx.tolerance.recommended.atolFloat64, `moved ${moved}`);
    assert.ok(worst <= fx.tolerance.recommended.atolFloat64);
  });
}

/** 4-bit codes of the library's state that differ from the float64 replay's (nibble by nibble). */
function codeFlips(opt: Shampoo, replay: Float64ShampooState): { flips: number; codes: number } {
  const sd = opt.stateDict();
  let flips = 0;
  let codes = 0;
  for (const [key, m] of replay.matrices) {
    if (!m.codes) continue;
    const [param, name] = key.split(/:(.*)/s);
    const t = sd.tensors.find((x) => x.param === Number(param) && x.name === `${name}_codes`);
    assert.ok(t, `the library holds ${name}_codes as the replay does`);
    const ours = t.data as Uint8Array;
    assert.equal(ours.length, m.codes.length);
    for (let i = 0; i < ours.length; i++) {
      for (const shift of [0, 4]) {
        codes++;
        if (((ours[i] >> shift) & 15) !== ((m.codes[i] >> shift) & 15)) flips++;
      }
    }
  }
  return { flips, codes };
}

/**
 * Float32: a 4-bit trajectory matches `expected` within `perStepAtol` only while every quantization decision
 * is the reference's. A flip is proven either way it can happen:
 * - in our run: our 4-bit codes differ from the float64 replay's, which reproduces the reference's float64
 *   run to 1e-16 and so makes the reference's decisions (which the float32 reference shares until it flips);
 * - in the reference's float32 run: `expected` leaves `expectedFloat64` by more than the no-flip spread
 *   (`perStepAtol`), as the README's per-file numbers show for multiblock from call 16.
 * From the first proven flip on, the bound is `atolIfBinFlips` (a file without one must see no flip), and the
 * number of codes that flipped at the first flip must be small.
 */
for (const engine of ['typescript', 'auto'] as const) {
  for (const file of fixtureFiles('shampoo-4bit')) {
    test(`float32 (${engine}): Shampoo precision '4bit' replays ${file}, bin flips proven and counted`, () => {
      const fx = loadFixture(file);
      const rec = fx.tolerance.recommended;
      const params = fx.params.map((p) => ({ name: p.name, shape: p.shape, data: f32(p.init) }));
      const opt = new Shampoo(params, { ...lowbitConfig(fx), engine } as ShampooConfig);
      const replay = float64Replay(fx);
      let firstFlip: { call: number; where: 'ours' | 'reference'; flips: number; codes: number } | null =
        null;
      const report: string[] = [];
      for (let t = 0; t < fx.steps; t++) {
        const g = fx.grads[t].map((x) => f32(x));
        opt.step(g);
        replay.optimizer.step(
          g.map((x) => Float64Array.from(x)),
          t + 1,
        );
        const ours = codeFlips(opt, replay.state);
        let refSpread = 0;
        let err = 0;
        params.forEach((p, i) => {
          const e = f32(fx.expected[t][i]);
          const e64 = fx.expectedFloat64![t][i];
          for (let k = 0; k < p.data.length; k++) {
            err = Math.max(err, Math.abs(p.data[k] - e[k]));
            refSpread = Math.max(refSpread, Math.abs(e[k] - e64[k]));
          }
        });
        if (firstFlip === null && ours.flips > 0) firstFlip = { call: t + 1, where: 'ours', ...ours };
        if (firstFlip === null && refSpread > rec.perStepAtol[t]) {
          firstFlip = { call: t + 1, where: 'reference', flips: 0, codes: ours.codes };
        }
        report.push(`${t + 1}: err ${err.toExponential(1)}, our flips ${ours.flips}`);
        if (firstFlip === null) {
          assert.ok(err <= rec.perStepAtol[t], `call ${t + 1}: ${err} > perStepAtol ${rec.perStepAtol[t]}`);
        } else {
          assert.ok(
            rec.atolIfBinFlips !== undefined,
            `${file} has no flip allowance: ${JSON.stringify(firstFlip)}`,
          );
          assert.ok(
            err <= rec.atolIfBinFlips,
            `call ${t + 1}: ${err} > atolIfBinFlips ${rec.atolIfBinFlips}`,
          );
        }
      }
      if (firstFlip?.where === 'ours') {
        // A flip is one code among thousands, not a systematic difference (e.g. a sign convention).
        assert.ok(firstFlip.flips <= 32, `${firstFlip.flips} of ${firstFlip.codes} codes flipped at once`);
      }
      if (process.env.SHAMPOO_FIXTURE_REPORT) console.log(file, engine, firstFlip, report.join('; '));
    });
  }
}
