import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './backend.ts';
import { type CompareOptions, METHOD_CONFIG } from './compare-options.ts';
import { METHODS } from './optimizer-specs.ts';
import { lossChartSpec, type PlotSeries, renderSvg, svgToPng } from './report/plots.ts';
import type { ProgressSink } from './report/progress.ts';
import { type Reference, type RunSummary, summarize } from './report/summary.ts';
import { resultsTable } from './report/table.ts';
import { loadTask } from './tasks/load-task.ts';
import { smoothingSpan } from './train/curves.ts';
import { isAvailable, preflight } from './train/optimizer-factory.ts';
import { type RunRecord, runOne } from './train/run.ts';
import { CliRunError, UsageError } from './usage-error.ts';

export interface CompareIo {
  /** Writes one line of the report. */
  print(line: string): void;
  progress: ProgressSink;
}

export interface CompareOutput {
  runs: RunRecord[];
  summaries: RunSummary[];
  reference?: Reference;
  table: string;
  files: Record<string, string>;
}

/** Rounds to `digits` significant digits for results.json (float32 losses carry no more). */
function sig(x: number, digits = 7): number | null {
  return Number.isFinite(x) ? Number(x.toPrecision(digits)) : null;
}

/** Writes one output file; a failure names the file (the runs' results are also on stdout). */
function writeOutput(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new CliRunError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Trains every optimizer on the task from the same seed and writes the table, results.json and plots. */
export async function runCompare(
  opts: CompareOptions,
  io: CompareIo,
  argv: readonly string[],
): Promise<CompareOutput> {
  let specs = opts.optimizers;
  let lrs = opts.lrs;
  if (opts.optimizersDefaulted) {
    const missing = specs.filter((s) => !isAvailable(s));
    if (missing.length > 0) {
      io.print(
        `note: skipping ${missing.map((s) => `'${s.label}'`).join(', ')}: not implemented in this build of shampoo-ts`,
      );
      lrs = lrs.filter((_, i) => isAvailable(specs[i]));
      specs = specs.filter((s) => isAvailable(s));
    }
    if (specs.length === 0) throw new UsageError('no optimizer is available in this build');
  }
  const settings = specs.map((s, i) => ({ lr: lrs[i], engine: opts.engine, extra: METHOD_CONFIG[s.method] }));
  preflight(specs, settings);

  // The output directory is created before training, so a bad --out fails now, not after the runs.
  try {
    mkdirSync(opts.out, { recursive: true });
    accessSync(opts.out, constants.W_OK);
  } catch (e) {
    throw new UsageError(`--out: cannot write to ${opts.out}: ${(e as Error).message}`);
  }
  const backendInfo = await useBackend(opts.backend);
  const t0 = performance.now();
  const task = loadTask(opts);
  io.print(
    `${opts.task}: ${specs.length} optimizer(s), ${opts.steps} steps, batch ${opts.batchSize}, seed ${opts.seed}, ` +
      `${opts.backend} backend (data loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );

  const runs: RunRecord[] = [];
  for (let i = 0; i < specs.length; i++) {
    runs.push(
      await runOne(
        task,
        {
          spec: specs[i],
          ...settings[i],
          steps: opts.steps,
          batchSize: opts.batchSize,
          seed: opts.seed,
          evalEvery: opts.evalEvery,
        },
        io.progress,
      ),
    );
  }

  const span = smoothingSpan(opts.steps);
  const { summaries, reference } = summarize(runs, span);
  const table = resultsTable(runs, summaries, reference, task.lossUnit);
  io.print('');
  io.print(table);
  const notes = tableNotes(task.lossUnit, span, reference);
  for (const n of notes) io.print(n);

  const files: Record<string, string> = {
    table: join(opts.out, 'table.md'),
    results: join(opts.out, 'results.json'),
  };
  writeOutput(
    files.table,
    `# shampoo-ts compare: ${opts.task}\n\n${table}\n\n${notes.map((n) => `${n}\n`).join('')}`,
  );
  if (opts.plots)
    Object.assign(files, await writePlots(opts, runs, summaries, task.lossUnit, backendInfo.backend));
  const results = {
    format: 'shampoo-ts/compare-results',
    version: 1,
    createdAt: new Date().toISOString(),
    command: ['shampoo-ts', ...argv],
    config: {
      task: opts.task,
      optimizers: specs.map((s) => s.label),
      lr: Object.fromEntries(specs.map((s, i) => [s.label, lrs[i]])),
      methodConfig: Object.fromEntries(specs.map((s) => [s.label, METHOD_CONFIG[s.method]])),
      steps: opts.steps,
      batchSize: opts.batchSize,
      seed: opts.seed,
      backend: opts.backend,
      engine: opts.engine,
      evalEvery: opts.evalEvery,
      smoothing: { kind: 'bias-corrected EMA', span },
      trainSubset: opts.trainSubset ?? null,
      testSubset: opts.testSubset ?? null,
      idx: opts.idx ?? null,
      hidden: opts.task === 'char-lm' ? null : opts.hidden,
      plots: opts.plots,
      out: opts.out,
    },
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      tfjsCore: tf.version_core,
      backend: backendInfo,
    },
    task: { ...task.describe(), lossUnit: task.lossUnit },
    reference: reference ?? null,
    runs: runs.map((r, i) => ({
      label: r.label,
      method: r.method,
      title: METHODS[r.method as keyof typeof METHODS]?.title ?? r.method,
      precision: r.precision,
      lr: r.lr,
      optimizerConfig: r.config,
      engine: r.engine,
      parameters: r.parameters,
      stepsDone: r.stepsDone,
      failure: r.failure ?? null,
      final: Object.fromEntries(Object.entries(r.final).map(([k, v]) => [k, sig(v)])),
      stepsToReference: summaries[i].stepsToReference,
      ratioToReference: summaries[i].ratioToReference,
      wallClockMs: sig(r.wallClockMs),
      optimizerStepMs: { median: sig(r.optimizerStepMs.median), p90: sig(r.optimizerStepMs.p90) },
      stateBytes: r.stateBytes,
      curves: {
        loss: r.loss.map((v) => sig(v)),
        smoothedLoss: summaries[i].smoothed.map((v) => sig(v)),
        timeMs: r.timeMs.map((v) => sig(v, 8)),
      },
      evals: r.evals.map((e) => ({
        step: e.step,
        timeMs: sig(e.timeMs, 8),
        testLoss: sig(e.testLoss),
        testAccuracy: sig(e.testAccuracy),
      })),
    })),
    files,
  };
  writeOutput(files.results, `${JSON.stringify(results, null, 1)}\n`);
  io.print('');
  for (const [kind, path] of Object.entries(files)) io.print(`wrote ${kind.padEnd(16)} ${path}`);
  return { runs, summaries, ...(reference ? { reference } : {}), table, files };
}

function tableNotes(lossUnit: string, span: number, reference: Reference | undefined): string[] {
  const unit = lossUnit === 'bits/char' ? 'bits per character' : 'nats (mean softmax cross-entropy)';
  return [
    `Losses in ${unit}. Train loss/accuracy: the final model on a fixed training subset; test: the held-out set.`,
    reference
      ? `Steps to ${reference.label} loss: first step whose smoothed training loss (EMA, span ${span}) is ≤ ${reference.label}'s final smoothed loss ${reference.target.toFixed(4)}; ratio = those steps / ${reference.label}'s ${reference.steps} steps (below 1 = fewer steps than ${reference.label}).`
      : 'No AdamW run finished, so steps-to-AdamW-loss is not reported.',
    'Wall-clock: training time without evaluations. Opt step ms: median time of the optimizer update (applyGradients of the tfjs adapter: gradient download, step, weight upload). State: stateBytes().total of the optimizer.',
  ];
}

async function writePlots(
  opts: CompareOptions,
  runs: readonly RunRecord[],
  summaries: readonly RunSummary[],
  lossUnit: string,
  backend: string,
): Promise<Record<string, string>> {
  const yTitle = `training loss (${lossUnit === 'bits/char' ? 'bits/char' : 'nats'}, log scale)`;
  const subtitle = `seed ${opts.seed}, batch ${opts.batchSize}, ${opts.steps} steps, ${backend} backend; faint: per-batch loss, bold: smoothed`;
  const series = (x: (r: RunRecord) => number[]): PlotSeries[] =>
    runs.map((r, i) => ({ label: r.label, x: x(r), raw: r.loss, smoothed: summaries[i].smoothed }));
  const charts = [
    {
      name: 'loss-vs-step',
      spec: lossChartSpec({
        title: `Training loss vs step — ${opts.task}`,
        subtitle,
        xTitle: 'step',
        yTitle,
        series: series((r) => r.loss.map((_, k) => k + 1)),
      }),
    },
    {
      name: 'loss-vs-time',
      spec: lossChartSpec({
        title: `Training loss vs wall-clock — ${opts.task}`,
        subtitle,
        xTitle: 'training wall-clock (s)',
        yTitle,
        series: series((r) => r.timeMs.map((t) => t / 1000)),
      }),
    },
  ];
  const files: Record<string, string> = {};
  for (const chart of charts) {
    const svg = await renderSvg(chart.spec);
    const svgPath = join(opts.out, `${chart.name}.svg`);
    const pngPath = join(opts.out, `${chart.name}.png`);
    writeOutput(svgPath, svg);
    writeOutput(pngPath, svgToPng(svg));
    files[`${chart.name} svg`] = svgPath;
    files[`${chart.name} png`] = pngPath;
  }
  return files;
}
