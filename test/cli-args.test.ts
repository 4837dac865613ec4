import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { benchScriptPath } from '../src/cli/bench.ts';
import {
  DEFAULT_LR,
  parsePositiveInt,
  resolveCompareOptions,
  TASK_DEFAULTS,
} from '../src/cli/compare-options.ts';
import { EXIT, main } from '../src/cli/main.ts';
import { parseLrList, parseOptimizerList, resolveLrs } from '../src/cli/optimizer-specs.ts';
import { NoProgress } from '../src/cli/report/progress.ts';
import { UsageError } from '../src/cli/usage-error.ts';

/** Runs the CLI in-process and captures its output. */
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

test('optimizer list: methods, precisions, normalization', () => {
  assert.deepEqual(parseOptimizerList('adamw, SOAP:4bit ,kl-soap:bf16,shampoo,kl-shampoo:bf16-naive'), [
    { label: 'adamw', method: 'adamw' },
    { label: 'soap:4bit', method: 'soap', precision: '4bit' },
    { label: 'kl-soap:bf16', method: 'kl-soap', precision: 'bf16' },
    { label: 'shampoo', method: 'shampoo' },
    { label: 'kl-shampoo:bf16-naive', method: 'kl-shampoo', precision: 'bf16-naive' },
  ]);
});

test('optimizer list: every malformed form is a UsageError naming the culprit', () => {
  const cases: [string, RegExp][] = [
    ['adamw,sgd', /unknown optimizer 'sgd'/],
    ['soap:8bit', /unknown precision '8bit'/],
    ['soap:4bit:x', /method\[:precision\]/],
    ['adamw,,soap', /empty entry/],
    ['', /empty/],
    ['soap,soap', /listed twice/],
    ['soap:4bit,SOAP:4bit', /listed twice/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseOptimizerList(text),
      (e: unknown) => e instanceof UsageError && pattern.test(e.message),
      text,
    );
  }
});

test('lr list: by method and by exact label; the label wins; defaults fill the rest', () => {
  const specs = parseOptimizerList('adamw,soap,soap:4bit,kl-soap');
  const lr = parseLrList('soap=3e-3, soap:4bit=1e-3,adamw=0.002', specs);
  assert.deepEqual(resolveLrs(specs, lr, DEFAULT_LR), [0.002, 3e-3, 1e-3, DEFAULT_LR['kl-soap']]);
});

test('lr list: malformed entries, bad values, unknown names, duplicates', () => {
  const specs = parseOptimizerList('adamw,soap');
  const cases: [string, RegExp][] = [
    ['soap', /name=value/],
    ['=1e-3', /name=value/],
    ['soap=', /name=value/],
    ['soap=abc', /positive number, got 'abc'/],
    ['soap=-1e-3', /positive number/],
    ['soap=0', /positive number/],
    ['soap=Infinity', /positive number/],
    ['kl-soap=1e-3', /not among --optimizers/],
    ['soap:4bit=1e-3', /not among --optimizers/],
    ['soap=1e-3,soap=2e-3', /twice/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseLrList(text, specs),
      (e: unknown) => e instanceof UsageError && pattern.test(e.message),
      text,
    );
  }
});

test('positive integers: decimal digits only', () => {
  assert.equal(parsePositiveInt('--steps', '250'), 250);
  for (const bad of ['0', '-3', '1e3', '0x10', '12abc', '2.5', '', ' ']) {
    assert.throws(() => parsePositiveInt('--steps', bad), UsageError, bad);
  }
});

test('compare options: defaults per task', () => {
  const o = resolveCompareOptions({});
  assert.equal(o.task, 'mnist-mlp');
  assert.equal(o.steps, TASK_DEFAULTS['mnist-mlp'].steps);
  assert.equal(o.batchSize, TASK_DEFAULTS['mnist-mlp'].batchSize);
  assert.equal(o.seed, 1);
  assert.equal(o.out, 'results');
  assert.equal(o.backend, 'wasm');
  assert.equal(o.optimizersDefaulted, true);
  assert.deepEqual(
    o.optimizers.map((s) => s.label),
    ['adamw', 'shampoo', 'soap', 'kl-shampoo', 'kl-soap'],
  );
  assert.deepEqual(o.hidden, [512, 256]);
  const lm = resolveCompareOptions({ task: 'char-lm', optimizers: 'adamw', steps: '40' });
  assert.equal(lm.batchSize, TASK_DEFAULTS['char-lm'].batchSize);
  assert.equal(lm.evalEvery, 4);
  assert.equal(lm.optimizersDefaulted, false);
});

test('compare options: idx needs its files, other tasks refuse them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-args-'));
  const f = join(dir, 'x.idx');
  writeFileSync(f, new Uint8Array([0, 0, 8, 1, 0, 0, 0, 0]));
  assert.throws(() => resolveCompareOptions({ task: 'idx' }), /needs --train-images and --train-labels/);
  assert.throws(
    () => resolveCompareOptions({ task: 'idx', trainImages: f, trainLabels: join(dir, 'missing') }),
    /--train-labels: no such file/,
  );
  assert.throws(
    () => resolveCompareOptions({ task: 'idx', trainImages: f, trainLabels: f, testImages: f }),
    /both --test-images and --test-labels/,
  );
  assert.throws(() => resolveCompareOptions({ task: 'idx', trainImages: dir, trainLabels: f }), /not a file/);
  assert.throws(() => resolveCompareOptions({ trainImages: f }), /only used with --task idx/);
  assert.throws(
    () => resolveCompareOptions({ task: 'char-lm', hidden: '8' }),
    /only used with the MLP tasks/,
  );
  assert.throws(() => resolveCompareOptions({ out: f }), /not a directory/);
  const ok = resolveCompareOptions({ task: 'idx', trainImages: f, trainLabels: f, hidden: '32,16' });
  assert.deepEqual(ok.idx, { trainImages: f, trainLabels: f });
  assert.deepEqual(ok.hidden, [32, 16]);
});

test('CLI: --help for the program and every subcommand exits 0', async () => {
  for (const argv of [['--help'], ['compare', '--help'], ['bench', '--help'], ['help', 'compare']]) {
    const r = await cli(...argv);
    assert.equal(r.code, EXIT.ok, argv.join(' '));
    assert.match(r.out, /Usage: shampoo-ts/, argv.join(' '));
  }
  const compare = await cli('compare', '--help');
  for (const flag of [
    '--task',
    '--optimizers',
    '--lr',
    '--steps',
    '--batch-size',
    '--seed',
    '--out',
    '--backend',
    '--train-images',
    '--test-labels',
  ]) {
    assert.ok(compare.out.includes(flag), flag);
  }
  const v = await cli('--version');
  assert.equal(v.code, EXIT.ok);
  assert.match(v.out, /^\d+\.\d+\.\d+/);
});

test('CLI: every bad argument prints one error line and the usage, exit code 2', async () => {
  const cases: [string[], RegExp][] = [
    [['compare', '--task', 'cifar'], /unknown task 'cifar'/],
    [['compare', '--optimizers', 'adamw,sgd'], /unknown optimizer 'sgd'/],
    [['compare', '--optimizers', 'soap:8bit'], /unknown precision '8bit'/],
    [['compare', '--lr', 'soap=fast'], /--lr value for 'soap'/],
    [['compare', '--lr', 'soap:3e-3'], /not of the form name=value/],
    [['compare', '--optimizers', 'adamw', '--lr', 'soap=1e-3'], /not among --optimizers/],
    [['compare', '--steps', 'ten'], /--steps must be a positive integer/],
    [['compare', '--batch-size', '0'], /--batch-size must be between/],
    [['compare', '--seed', '-1'], /--seed must be an integer/],
    [['compare', '--backend', 'webgl'], /argument 'webgl' is invalid/],
    [['compare', '--engine', 'gpu'], /argument 'gpu' is invalid/],
    [['compare', '--task', 'idx'], /needs --train-images/],
    [
      ['compare', '--task', 'idx', '--train-images', '/no/such', '--train-labels', '/no/such'],
      /no such file/,
    ],
    [['compare', '--frobnicate'], /unknown option '--frobnicate'/],
    [['compare', 'extra'], /too many arguments|unknown command|excess/i],
    [['train'], /unknown command 'train'/],
    [['bench', '--only', 'speed'], /unknown benchmark 'speed'/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await cli(...argv);
    const label = argv.join(' ');
    assert.equal(r.code, EXIT.usage, `${label}: exit code`);
    assert.match(r.err, pattern, label);
    const lines = r.err.trimEnd().split('\n');
    assert.match(lines[0], /^error: /, `${label}: first line is the error`);
    assert.ok(
      lines.some((l) => l.startsWith('Usage: shampoo-ts')),
      `${label}: usage printed`,
    );
    assert.equal(r.out, '', `${label}: nothing on stdout`);
  }
});

test('CLI: a precision the method does not support is refused by name before any training', async () => {
  // AdamW keeps fp32 moments only; asking it for 4-bit state must fail, never silently run fp32.
  const r = await cli('compare', '--optimizers', 'adamw,adamw:4bit', '--backend', 'cpu', '--steps', '1');
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /optimizer 'adamw:4bit' is not available/);
  assert.equal(r.out, '', 'no run started');
});

test('CLI: an --out that cannot be written is refused before any training', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-out-'));
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  const r = await cli('compare', '--optimizers', 'adamw', '--backend', 'cpu', '--out', join(file, 'sub'));
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /^error: --out: cannot write to /);
  assert.equal(r.out, '', 'no run started');
});

test('CLI: no arguments prints the help and exits 2', async () => {
  const r = await cli();
  assert.equal(r.code, EXIT.usage);
  assert.match(r.err, /Commands:/);
});

test('launcher: bin/shampoo-ts.js runs the CLI and returns its exit codes', () => {
  const bin = join(import.meta.dirname, '..', 'bin', 'shampoo-ts.js');
  const help = spawnSync(process.execPath, [bin, 'compare', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--optimizers <list>/);
  const bad = spawnSync(process.execPath, [bin, 'compare', '--task', 'nope'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^error: unknown task 'nope'/);
  assert.match(bad.stderr, /Usage: shampoo-ts compare/);
});

test('bench: runs bench/step.ts in a child process with the arguments after --', {
  skip: !existsSync(benchScriptPath('step')),
}, () => {
  const bin = join(import.meta.dirname, '..', 'bin', 'shampoo-ts.js');
  const r = spawnSync(
    process.execPath,
    [bin, 'bench', '--only', 'step', '--', '--shapes', '16x8', '--methods', 'adamw', '--rounds', '1'],
    { encoding: 'utf8', cwd: tmpdir() },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /== bench\/step\.ts/);
  assert.match(r.stdout, /AdamW/);
});
