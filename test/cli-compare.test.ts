import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeIdx } from '../src/cli/data/idx.ts';
import { EXIT, main } from '../src/cli/main.ts';
import { METHODS, parseOptimizerList } from '../src/cli/optimizer-specs.ts';
import { Prng } from '../src/cli/prng.ts';
import { NoProgress } from '../src/cli/report/progress.ts';
import { createOptimizer, isAvailable } from '../src/cli/train/optimizer-factory.ts';

const root = mkdtempSync(join(tmpdir(), 'cli-compare-'));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s) },
    progress: new NoProgress(),
  });
  return { code, out, err };
}

/** A tiny learnable IDX data set: 8×8 images whose bright quadrant is the label (4 classes). */
function writeQuadrants(n: number, seed: number, prefix: string): { images: string; labels: string } {
  const r = new Prng(seed);
  const pixels: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = r.int(4);
    labels.push(label);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        const q = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1);
        pixels.push(q === label ? 150 + r.int(100) : r.int(60));
      }
  }
  const images = join(root, `${prefix}-images-idx3-ubyte`);
  const labelsPath = join(root, `${prefix}-labels-idx1-ubyte`);
  writeFileSync(images, encodeIdx('ubyte', [n, 8, 8], pixels));
  writeFileSync(labelsPath, encodeIdx('ubyte', [n], labels));
  return { images, labels: labelsPath };
}

const train = writeQuadrants(96, 1, 'train');
const testSet = writeQuadrants(40, 2, 'test');
const fp32 = Object.keys(METHODS).filter((m) => isAvailable({ method: m as keyof typeof METHODS }));
/** Low-precision variants, where this build has them (an unavailable one is refused, tested in cli-args). */
const lowPrecision = ['soap:4bit', 'kl-soap:bf16', 'shampoo:4bit'].filter((label) => {
  const [spec] = parseOptimizerList(label);
  try {
    createOptimizer(spec, { lr: 1e-3, engine: 'auto' }).dispose();
    return true;
  } catch {
    return false;
  }
});
const methods = [...fp32, ...lowPrecision];

interface Results {
  config: {
    task: string;
    optimizers: string[];
    steps: number;
    seed: number;
    lr: Record<string, number>;
    backend: string;
  };
  reference: { label: string } | null;
  runs: {
    label: string;
    stepsDone: number;
    failure: unknown;
    final: { testAccuracy: number | null };
    stateBytes: { total: number };
    curves: { loss: number[]; smoothedLoss: number[]; timeMs: number[] };
    evals: { step: number }[];
  }[];
}

function idxArgs(out: string, seed = '3'): string[] {
  return [
    'compare',
    '--task',
    'idx',
    '--train-images',
    train.images,
    '--train-labels',
    train.labels,
    '--test-images',
    testSet.images,
    '--test-labels',
    testSet.labels,
    '--hidden',
    '8',
    '--optimizers',
    methods.join(','),
    '--steps',
    '4',
    '--batch-size',
    '16',
    '--eval-every',
    '2',
    '--seed',
    seed,
    '--backend',
    'cpu',
    '--out',
    out,
  ];
}

test(`compare end to end on IDX files with ${methods.join(', ')}: table, results.json, SVG and PNG`, async () => {
  const out = join(root, 'run1');
  const r = await cli(...idxArgs(out));
  assert.equal(r.code, EXIT.ok, r.err);
  // The table, on stdout and in table.md, has a row per optimizer.
  const table = readFileSync(join(out, 'table.md'), 'utf8');
  for (const m of methods) {
    assert.ok(r.out.includes(`| ${m} `), `stdout table has ${m}`);
    assert.ok(table.includes(`| ${m} `), `table.md has ${m}`);
  }
  assert.match(table, /steps to adamw loss/);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
  assert.equal(results.config.task, 'idx');
  assert.deepEqual(results.config.optimizers, methods);
  assert.equal(results.config.steps, 4);
  assert.equal(results.config.backend, 'cpu');
  assert.equal(results.reference?.label, 'adamw');
  for (const run of results.runs) {
    assert.equal(run.failure, null, run.label);
    assert.equal(run.stepsDone, 4);
    assert.equal(run.curves.loss.length, 4);
    assert.equal(run.curves.smoothedLoss.length, 4);
    assert.ok(
      run.curves.timeMs.every((t, i) => i === 0 || t >= run.curves.timeMs[i - 1]),
      'time is cumulative',
    );
    assert.deepEqual(
      run.evals.map((e) => e.step),
      [0, 2, 4],
    );
    assert.ok(run.stateBytes.total > 0, `${run.label} reports its state bytes`);
    assert.ok((run.final.testAccuracy ?? -1) >= 0);
  }

  for (const name of ['loss-vs-step', 'loss-vs-time']) {
    const svg = readFileSync(join(out, `${name}.svg`), 'utf8');
    assert.match(svg, /^<svg/);
    for (const m of methods) assert.ok(svg.includes(`>${m}<`), `${name}.svg names ${m}`);
    const png = readFileSync(join(out, `${name}.png`));
    assert.deepEqual(
      [...png.subarray(0, 8)],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      'PNG signature',
    );
    // IHDR: width and height (big-endian) right after the signature and chunk header; 2× zoom of the chart.
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    assert.ok(width > 1000 && height > 600, `${width}×${height}`);
    assert.ok(png.length > 20_000, `${png.length} bytes`);
  }
});

test('compare is deterministic for a seed (same curves twice), and the seed matters', async () => {
  const runs = await Promise.all(['a', 'b'].map(async (d) => join(root, d)));
  const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
  const args = (dir: string, seed: string) => {
    const a = idxArgs(dir, seed);
    a[a.indexOf('--optimizers') + 1] = 'adamw';
    a.push('--no-plots');
    return a;
  };
  for (const dir of runs) assert.equal((await cli(...args(dir, '11'))).code, EXIT.ok);
  const other = join(root, 'c');
  assert.equal((await cli(...args(other, '12'))).code, EXIT.ok);
  const [a, b, c] = [...runs, other].map(read);
  assert.deepEqual(a.runs[0].curves.loss, b.runs[0].curves.loss);
  assert.notDeepEqual(a.runs[0].curves.loss, c.runs[0].curves.loss);
});

test('compare on the mnist package and on the Brown corpus (tiny subsets)', async () => {
  const mnistOut = join(root, 'mnist');
  const m = await cli(
    'compare',
    '--optimizers',
    'adamw',
    '--hidden',
    '4',
    '--train-subset',
    '64',
    '--test-subset',
    '32',
    '--steps',
    '2',
    '--batch-size',
    '16',
    '--backend',
    'cpu',
    '--no-plots',
    '--out',
    mnistOut,
  );
  assert.equal(m.code, EXIT.ok, m.err);
  const mr = JSON.parse(readFileSync(join(mnistOut, 'results.json'), 'utf8'));
  assert.equal(mr.task.trainExamples, 64);
  assert.match(mr.task.model, /MLP 784-4-10/);

  const lmOut = join(root, 'lm');
  const l = await cli(
    'compare',
    '--task',
    'char-lm',
    '--optimizers',
    'adamw',
    '--train-subset',
    '2000',
    '--test-subset',
    '300',
    '--steps',
    '2',
    '--batch-size',
    '2',
    // WASM: the backend the LM runs on by default (its gradients need kernels the CPU backend also has).
    '--backend',
    'wasm',
    '--no-plots',
    '--out',
    lmOut,
  );
  assert.equal(l.code, EXIT.ok, l.err);
  const lr = JSON.parse(readFileSync(join(lmOut, 'results.json'), 'utf8'));
  assert.equal(lr.task.lossUnit, 'bits/char');
  // An untrained model over ~80 symbols starts near log2(80) ≈ 6.3 bits per character.
  const initial = lr.runs[0].evals[0].testLoss as number;
  assert.ok(initial > 5 && initial < 8, `initial test bpc ${initial}`);
  assert.match(l.out, /test bpc/);
});

test('compare: a batch larger than the data is a usage error', async () => {
  const r = await cli(...idxArgs(join(root, 'big')).map((a) => (a === '16' ? '500' : a)));
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /--batch-size 500 is larger than the 96 training examples/);
});

test('compare: a corrupt IDX file is a usage error naming the file', async () => {
  const bad = join(root, 'corrupt-images');
  writeFileSync(bad, readFileSync(train.images).subarray(0, 100));
  const args = idxArgs(join(root, 'corrupt'));
  args[args.indexOf('--train-images') + 1] = bad;
  const r = await cli(...args);
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /^error: .*corrupt-images: truncated/);
  assert.match(r.err, /Usage: shampoo-ts compare/);
});
