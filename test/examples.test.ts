import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs an example in its short mode, as a user would, and returns its output. */
function runExample(file: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('examples', file), '--short', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `${file} exited with ${r.status}:\n${r.stdout}\n${r.stderr.slice(0, 2000)}`);
  return r.stdout;
}

test('examples/tfjs-fit.ts trains with model.fit on the wasm backend', () => {
  const out = runExample('tfjs-fit.ts');
  assert.match(out, /ShampooTsSOAP on wasm: 1 epoch\(s\)/);
  const accuracy = Number(/test accuracy ([\d.]+)/.exec(out)?.[1]);
  assert.ok(accuracy > 0.3, `better than chance (0.1): ${accuracy}`);
});

test('examples/custom-loop.ts trains with minimize and holds no extra tensors', () => {
  const out = runExample('custom-loop.ts');
  const losses = [...out.matchAll(/loss ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.ok(losses.length >= 2 && losses.at(-1)! < losses[0], `loss falls: ${losses.join(', ')}`);
  const [before, after] = /before\/after the loop: (\d+)\/(\d+)/.exec(out)!.slice(1).map(Number);
  assert.equal(after, before);
});

test('examples/checkpoint.ts resumes bit-identically and rejects a damaged file', () => {
  const out = runExample('checkpoint.ts');
  assert.match(out, /parameters bit-identical: true/);
  assert.match(out, /damaged file rejected: reason 'corrupted'/);
});
