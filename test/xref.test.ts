// Settings the reference fixtures leave out, checked against float64 trajectories from an independent
// NumPy re-description of the reference step logic (see the data file's description).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';

interface XrefCase {
  method: 'soap' | 'kl-shampoo' | 'kl-soap';
  config: Record<string, unknown>;
  params: { shape: number[]; data: number[] }[];
  grads: number[][][];
  expected: number[][][];
}

const data = JSON.parse(readFileSync(new URL('./data/xref-trajectories.json', import.meta.url), 'utf8')) as {
  cases: XrefCase[];
};

const make: Record<XrefCase['method'], (p: Param[], c: Record<string, unknown>) => Optimizer> = {
  soap: (p, c) => new SOAP(p, c),
  'kl-shampoo': (p, c) => new KLShampoo(p, c),
  'kl-soap': (p, c) => new KLSOAP(p, c),
};

data.cases.forEach((c, ci) => {
  const shapes = c.params.map((p) => JSON.stringify(p.shape)).join(' ');
  test(`${c.method} case ${ci} (${shapes}) follows the float64 re-description step by step`, () => {
    const params = c.params.map((p) => ({ shape: p.shape, data: Float32Array.from(p.data) }));
    const opt = make[c.method](params, c.config);
    let disp = 0;
    for (const step of c.expected) {
      step.forEach((e, pi) => {
        for (let i = 0; i < e.length; i++) disp = Math.max(disp, Math.abs(e[i] - c.params[pi].data[i]));
      });
    }
    // float32 against float64: a small fraction of how far the parameters move.
    const atol = 1e-6 + 2e-5 * disp;
    c.grads.forEach((g, t) => {
      opt.step(g.map((x) => Float32Array.from(x)));
      params.forEach((p, pi) => {
        for (let i = 0; i < p.data.length; i++) {
          const err = Math.abs(p.data[i] - c.expected[t][pi][i]);
          assert.ok(err <= atol, `call ${t + 1}, param ${pi}[${i}]: ${p.data[i]} vs ${c.expected[t][pi][i]}`);
        }
      });
    });
  });
});
