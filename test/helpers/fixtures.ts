import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A reference trajectory from test/fixtures (see its README for the format and tolerance rules). */
export interface Fixture {
  file: string;
  method: string;
  case: string;
  config: Record<string, unknown>;
  configCamel: Record<string, unknown>;
  steps: number;
  params: { name: string; shape: number[]; init: number[]; handledBy?: string }[];
  grads: number[][][];
  expected: number[][][];
  expectedFloat64?: number[][][];
  notes: string;
  stepEvents: string[];
  tolerance: {
    recommended: {
      atol: number;
      perStepAtol: number[];
      atolFloat64: number;
      perStepAtolFloat64: number[];
      atolIfBinFlips?: number;
    };
  };
  quantizer?: Record<string, unknown>;
}

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function loadFixture(file: string): Fixture {
  const d = JSON.parse(readFileSync(join(FIXTURE_DIR, file), 'utf8'));
  d.file = file;
  if (d.expectedFloat64File) {
    d.expectedFloat64 = JSON.parse(
      readFileSync(join(FIXTURE_DIR, d.expectedFloat64File), 'utf8'),
    ).expectedFloat64;
  }
  return d as Fixture;
}

/** Fixture files of one method, e.g. 'soap' → soap_default.json, soap_nondefault.json, soap_nonsquare.json. */
export function fixtureFiles(method: string): string[] {
  const index = JSON.parse(readFileSync(join(FIXTURE_DIR, 'index.json'), 'utf8')) as {
    fixtures: { file: string; method: string }[];
  };
  return index.fixtures.filter((f) => f.method === method).map((f) => f.file);
}

/** JSON numbers → exact float32 values. */
export const f32 = (a: readonly number[]): Float32Array => Float32Array.from(a);

export interface TrajectoryMismatch {
  step: number;
  param: number;
  index: number;
  actual: number;
  expected: number;
  atol: number;
}

/**
 * Compares params after call `step` (0-based) with `expected[step]` using the per-step tolerance.
 * Returns the worst violation, or null when every element is within tolerance.
 */
export function compareStep(
  fixture: Fixture,
  step: number,
  actual: readonly Float32Array[],
  which: 'float32' | 'float64' = 'float32',
  skip: (param: number) => boolean = () => false,
): TrajectoryMismatch | null {
  const rec = fixture.tolerance.recommended;
  const atol = which === 'float32' ? rec.perStepAtol[step] : rec.perStepAtolFloat64[step];
  const expected = which === 'float32' ? fixture.expected[step] : fixture.expectedFloat64![step];
  let worst: TrajectoryMismatch | null = null;
  actual.forEach((p, i) => {
    if (skip(i)) return;
    const e = which === 'float32' ? f32(expected[i]) : expected[i];
    for (let k = 0; k < p.length; k++) {
      const err = Math.abs(p[k] - e[k]);
      if (
        !(err <= atol) &&
        (worst === null || err - atol > Math.abs(worst.actual - worst.expected) - worst.atol)
      ) {
        worst = { step, param: i, index: k, actual: p[k], expected: e[k], atol };
      }
    }
  });
  return worst;
}
