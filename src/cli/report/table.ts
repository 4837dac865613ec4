import type { RunRecord } from '../train/run.ts';
import type { Reference, RunSummary } from './summary.ts';

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}

function num(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : '—';
}

/** Renders rows as a Markdown table with padded columns (readable as plain text too). */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAlign: readonly boolean[],
): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const cell = (s: string, c: number) => (rightAlign[c] ? s.padStart(widths[c]) : s.padEnd(widths[c]));
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (rightAlign[c] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The results table: final losses and accuracies, speed to the reference loss, time and memory. */
export function resultsTable(
  runs: readonly RunRecord[],
  summaries: readonly RunSummary[],
  reference: Reference | undefined,
  lossUnit: string,
): string {
  const unit = lossUnit === 'bits/char' ? 'bpc' : 'loss';
  const header = [
    'optimizer',
    'lr',
    `train ${unit}`,
    'train acc',
    `test ${unit}`,
    'test acc',
    `steps to ${reference?.label ?? 'AdamW'} loss`,
    'ratio',
    'wall-clock s',
    'opt step ms',
    'state',
  ];
  const rows = runs.map((r, i) => {
    const s = summaries[i];
    const failed = r.failure ? ` (stopped at step ${r.failure.step})` : '';
    return [
      `${r.label}${failed}`,
      r.lr.toExponential(1),
      num(r.final.trainLoss, 4),
      pct(r.final.trainAccuracy),
      num(r.final.testLoss, 4),
      pct(r.final.testAccuracy),
      reference ? (s.stepsToReference === null ? `not in ${r.stepsDone}` : String(s.stepsToReference)) : '—',
      s.ratioToReference === null ? '—' : `${s.ratioToReference.toFixed(2)}×`,
      (r.wallClockMs / 1000).toFixed(1),
      num(r.optimizerStepMs.median, 2),
      formatBytes(r.stateBytes.total),
    ];
  });
  return markdownTable(header, rows, [false, true, true, true, true, true, true, true, true, true, true]);
}
