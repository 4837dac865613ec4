import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadBrownCorpus, untagBrown } from '../src/cli/data/brown-corpus.ts';
import { loadMnistPackage, MNIST_PACKAGE_TEST, MNIST_PACKAGE_TRAIN } from '../src/cli/data/mnist-package.ts';
import { Prng } from '../src/cli/prng.ts';
import { evenWindows } from '../src/cli/tasks/char-lm.ts';
import { EpochSampler } from '../src/cli/tasks/classification.ts';

test('PRNG: same seed same stream, nearby seeds unrelated, values in range', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const sa = Array.from({ length: 100 }, () => a.nextUint32());
  const sb = Array.from({ length: 100 }, () => b.nextUint32());
  const sc = Array.from({ length: 100 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.ok(sa.filter((x, i) => x === sc[i]).length === 0);
  for (const x of sa) assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
  const r = new Prng(7);
  for (let i = 0; i < 1000; i++) {
    const f = r.next();
    assert.ok(f >= 0 && f < 1);
    const k = r.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
  }
  assert.throws(() => new Prng(1.5), RangeError);
  assert.throws(() => r.int(0), RangeError);
});

test('PRNG: int(n) is uniform (chi-square over 60,000 draws) and permutations are permutations', () => {
  const r = new Prng(2024);
  const n = 6;
  const counts = new Array(n).fill(0);
  const draws = 60_000;
  for (let i = 0; i < draws; i++) counts[r.int(n)]++;
  const expected = draws / n;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  // 5 degrees of freedom: P(chi2 > 20.5) ≈ 0.001.
  assert.ok(chi2 < 20.5, `chi2 ${chi2}, counts ${counts}`);
  const p = r.permutation(1000);
  assert.deepEqual(
    [...p].sort((x, y) => x - y),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.notDeepEqual(
    [...p.subarray(0, 20)],
    Array.from({ length: 20 }, (_, i) => i),
  );
});

test('epoch sampler: each epoch visits every example once (last partial batch dropped), seeded order', () => {
  const s = new EpochSampler(10, 3, 5);
  const first = [s.next(), s.next(), s.next()].flatMap((b) => [...b]);
  assert.equal(new Set(first).size, 9);
  const again = new EpochSampler(10, 3, 5);
  assert.deepEqual(
    [again.next(), again.next(), again.next()].flatMap((b) => [...b]),
    first,
  );
  s.next();
  assert.equal(s.epoch, 1);
  assert.throws(() => new EpochSampler(4, 5, 1), /exceeds/);
});

test('Brown corpus: tags removed, quotes and punctuation rejoined', () => {
  const tagged =
    "\n\n\tThe/at jury/nn said/vbd ``/`` it/pps did/dod n't/* know/vb ''/'' ,/, (/( really/rb )/) ./.\n\n\tIt's/pps+bez 1/2/cd done/vbn ?/.\n";
  assert.equal(untagBrown(tagged), 'The jury said "it did n\'t know", (really).\nIt\'s 1/2 done?');
});

test('Brown corpus from the package: document split, alphabet and encoding', () => {
  const c = loadBrownCorpus();
  assert.ok(c.train.length > 4_000_000, `${c.train.length} train characters`);
  assert.ok(c.test.length > 400_000, `${c.test.length} test characters`);
  assert.ok(c.vocab.length > 60 && c.vocab.length < 120, `${c.vocab.length} symbols`);
  assert.ok(!c.vocab.includes('/'.repeat(2)));
  const text = Array.from(c.train.subarray(0, 41), (i) => c.vocab[i]).join('');
  assert.equal(text, 'The Fulton County Grand Jury said Friday ');
  for (const v of c.test.subarray(0, 10000)) assert.ok(v < c.vocab.length);
});

test('MNIST package: fixed 8,000/2,000 split, 784 pixels in [0, 1], all ten digits in both sets', () => {
  const a = loadMnistPackage();
  assert.equal(a.train.n, MNIST_PACKAGE_TRAIN);
  assert.equal(a.test.n, MNIST_PACKAGE_TEST);
  assert.equal(a.train.dim, 784);
  assert.equal(a.train.x.length, MNIST_PACKAGE_TRAIN * 784);
  let min = Infinity;
  let max = -Infinity;
  for (const v of a.test.x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, 0);
  assert.ok(max > 0.99 && max <= 1);
  for (const set of [a.train, a.test]) {
    const counts = new Array(10).fill(0);
    for (const y of set.y) counts[y]++;
    assert.ok(
      counts.every((c) => c > set.n / 20),
      `${counts}`,
    );
  }
  const b = loadMnistPackage();
  assert.deepEqual(b.test.y, a.test.y);
  assert.deepEqual(b.train.x.subarray(0, 5000), a.train.x.subarray(0, 5000));
});

test('LM evaluation windows: evenly spread, inside the text, never overlapping', () => {
  assert.deepEqual(evenWindows(100, 9, 4), [0, 30, 60, 90]);
  // A short text gets only as many windows as fit without overlap.
  assert.deepEqual(evenWindows(25, 9, 128), [0, 15]);
  const w = evenWindows(1_000_000, 64, 128);
  assert.equal(w.length, 128);
  assert.equal(w[w.length - 1], 1_000_000 - 65);
  for (let i = 1; i < w.length; i++) assert.ok(w[i] - w[i - 1] >= 65);
  assert.throws(() => evenWindows(10, 64, 3), RangeError);
});
