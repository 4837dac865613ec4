import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickReference, summarize } from '../src/cli/report/summary.ts';
import { formatBytes, markdownTable } from '../src/cli/report/table.ts';
import { median, smoothEma, smoothingSpan, stepsToReach } from '../src/cli/train/curves.ts';
import type { RunRecord } from '../src/cli/train/run.ts';

test('EMA smoothing: bias-corrected (a constant stays constant), hand-computed values', () => {
  for (const v of smoothEma([5, 5, 5, 5], 9)) assert.ok(Math.abs(v - 5) < 1e-12);
  // span 3 → β = 0.5. Raw EMA: 2, 0.5·2 + 0.5·2 = 2, 0.5·2 + 0.5·8 = 5; weights 0.5, 0.75, 0.875.
  const s = smoothEma([4, 2, 8], 3);
  assert.ok(Math.abs(s[0] - 4) < 1e-12);
  assert.ok(Math.abs(s[1] - 2 / 0.75) < 1e-12);
  assert.ok(Math.abs(s[2] - 5 / 0.875) < 1e-12);
  assert.deepEqual(smoothEma([3, 1, 2], 1), [3, 1, 2]);
  assert.equal(smoothingSpan(10), 1);
  assert.equal(smoothingSpan(300), 15);
  assert.equal(smoothingSpan(100_000), 100);
});

test('steps to reach a target, median', () => {
  assert.equal(stepsToReach([3, 2, 1.5, 1, 1.2], 1.5), 3);
  assert.equal(stepsToReach([3, 2], 1), null);
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

function run(label: string, method: string, loss: number[], failure?: RunRecord['failure']): RunRecord {
  return {
    label,
    method,
    precision: 'fp32',
    lr: 1e-3,
    config: {},
    engine: 'typescript',
    parameters: 10,
    stepsDone: loss.length,
    loss,
    timeMs: loss.map((_, i) => i + 1),
    evals: [],
    final: { trainLoss: 1, trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.5 },
    wallClockMs: loss.length,
    optimizerStepMs: { median: 1, p90: 2 },
    stateBytes: { total: 2048, byKind: {} },
    ...(failure ? { failure } : {}),
  };
}

test('reference: the plain AdamW run; steps to its final smoothed loss and the ratio', () => {
  const adamw = run('adamw', 'adamw', [4, 3, 2, 1.5, 1.2, 1.0]);
  const soap = run('soap', 'soap', [4, 2, 1.1, 0.9, 0.8, 0.7]);
  const slow = run('shampoo', 'shampoo', [4, 3.9, 3.8, 3.7, 3.6, 3.5]);
  const { summaries, reference } = summarize([soap, adamw, slow], 1);
  assert.deepEqual(reference, { label: 'adamw', target: 1.0, steps: 6 });
  assert.equal(summaries[0].stepsToReference, 4);
  assert.equal(summaries[0].ratioToReference, 4 / 6);
  assert.equal(summaries[1].stepsToReference, 6);
  assert.equal(summaries[1].ratioToReference, 1);
  assert.equal(summaries[2].stepsToReference, null);
  assert.equal(summaries[2].ratioToReference, null);
  // A low-precision AdamW is the reference only when there is no plain one; a failed run never is.
  const low = run('adamw:bf16', 'adamw', [1]);
  assert.equal(pickReference([low, adamw])?.label, 'adamw');
  assert.equal(pickReference([low, soap])?.label, 'adamw:bf16');
  assert.equal(pickReference([run('adamw', 'adamw', [1], { step: 2, error: 'x' }), soap]), undefined);
  assert.equal(summarize([soap], 1).reference, undefined);
  // A reference that dips below its final value early is still credited with its whole run.
  const noisy = run('adamw', 'adamw', [4, 0.9, 2, 1.5, 1.2, 1.0]);
  const s2 = summarize([noisy, soap], 1);
  assert.equal(s2.reference?.steps, 6);
  assert.equal(s2.summaries[0].stepsToReference, 6);
  assert.equal(s2.summaries[1].stepsToReference, 4);
  assert.equal(s2.summaries[1].ratioToReference, 4 / 6);
});

test('table: padded Markdown, byte formatting', () => {
  const t = markdownTable(
    ['a', 'bbb'],
    [
      ['xx', '1'],
      ['y', '22'],
    ],
    [false, true],
  );
  assert.equal(t, ['| a  | bbb |', '|:---|----:|', '| xx |   1 |', '| y  |  22 |'].join('\n'));
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(2048), '2.0 KiB');
  assert.equal(formatBytes(3 * 1024 * 1024), '3.00 MiB');
});
