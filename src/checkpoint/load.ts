import { CheckpointError, StateDictError } from '../errors.ts';
import { isAllFinite } from '../finite.ts';
import type { Optimizer } from '../optimizers/optimizer.ts';
import { type CheckpointBytes, decodeCheckpoint } from './decode.ts';

export interface LoadOptions {
  /**
   * Reject a checkpoint whose saved config differs from the optimizer's (reason 'mismatch'). Default false:
   * hyperparameters such as `lr` may legitimately change on resume; differences are reported either way, and
   * a difference that changes the state's layout is always rejected by the tensor checks.
   */
  strictConfig?: boolean;
}

export interface LoadReport {
  /** Steps the restored state has taken. */
  stepCount: number;
  /** Config entries that differ between the checkpoint and the optimizer, as `path: saved → current`. */
  configDifferences: string[];
}

const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

/** Paths at which two JSON-like values differ (NaN equals NaN; a missing key differs from any value). */
export function configDifferences(saved: unknown, current: unknown, path = ''): string[] {
  if (Object.is(saved, current)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (Array.isArray(saved) && Array.isArray(current) && saved.length === current.length) {
    return saved.flatMap((v, i) => configDifferences(v, current[i], `${path}[${i}]`));
  }
  if (isObj(saved) && isObj(current) && !Array.isArray(saved) && !Array.isArray(current)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(current)])];
    return keys.flatMap((k) => configDifferences(saved[k], current[k], path ? `${path}.${k}` : k));
  }
  return [`${path || '(root)'}: ${show(saved)} → ${show(current)}`];
}

/**
 * Verifies a checkpoint completely and, only if everything matches (method, shapes, every tensor's name,
 * dtype and length), copies its state into `optimizer`. On any failure a `CheckpointError` is thrown and
 * the optimizer is untouched.
 */
export function loadCheckpointInto(
  optimizer: Optimizer,
  bytes: CheckpointBytes,
  options: LoadOptions = {},
): LoadReport {
  const state = decodeCheckpoint(bytes);
  if (state.method !== optimizer.method) {
    throw new CheckpointError(
      'mismatch',
      `checkpoint is for method '${state.method}', the optimizer is '${optimizer.method}'`,
    );
  }
  const params = optimizer.params;
  if (state.shapes.length !== params.length) {
    throw new CheckpointError(
      'mismatch',
      `checkpoint has ${state.shapes.length} parameters, the optimizer has ${params.length}`,
    );
  }
  state.shapes.forEach((shape, i) => {
    const mine = params[i].shape;
    if (shape.length !== mine.length || shape.some((d, k) => d !== mine[k])) {
      const label = params[i].name ? ` ('${params[i].name}')` : '';
      throw new CheckpointError(
        'mismatch',
        `parameter ${i}${label} has shape ${JSON.stringify(shape)} in the checkpoint, ${JSON.stringify(mine)} in the optimizer`,
      );
    }
  });
  const differences = configDifferences(state.config, { ...optimizer.config });
  if (options.strictConfig && differences.length > 0) {
    throw new CheckpointError('mismatch', `config differs: ${differences.join('; ')}`);
  }
  for (const t of state.tensors) {
    if ((t.dtype === 'f32' || t.dtype === 'f64') && !isAllFinite(t.data)) {
      throw new CheckpointError('format', `tensor '${t.name}' of param ${t.param} contains NaN or Infinity`);
    }
  }
  try {
    optimizer.loadStateDict(state);
  } catch (e) {
    // The base class validates everything before it copies, so the optimizer is still untouched here.
    if (e instanceof StateDictError) throw new CheckpointError('mismatch', e.message);
    throw e;
  }
  return { stepCount: optimizer.stepCount, configDifferences: differences };
}
