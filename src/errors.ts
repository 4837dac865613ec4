/**
 * Typed errors. Every error thrown by shampoo-ts is a `ShampooError` with a stable `code`, so callers can
 * branch on the kind of failure without parsing messages.
 */
export type ShampooErrorCode =
  | 'CONFIG'
  | 'SHAPE'
  | 'NON_FINITE'
  | 'CONVERGENCE'
  | 'STATE_DICT'
  | 'CHECKPOINT'
  | 'ENGINE';

export class ShampooError extends Error {
  readonly code: ShampooErrorCode;
  constructor(code: ShampooErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An invalid hyperparameter. `field` is the config key, e.g. `betas[1]`. */
export class ConfigError extends ShampooError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('CONFIG', `invalid config '${field}': ${message}`);
    this.field = field;
  }
}

/** A parameter or gradient whose count, length or shape does not match what the optimizer holds. */
export class ShapeError extends ShampooError {
  constructor(message: string) {
    super('SHAPE', message);
  }
}

/** NaN or ±Infinity where only finite numbers are allowed (a gradient, a factor before decomposition). */
export class NonFiniteError extends ShampooError {
  constructor(message: string) {
    super('NON_FINITE', message);
  }
}

/** An iterative method (eigensolver, QR, Björck) that did not converge or produced non-finite output. */
export class ConvergenceError extends ShampooError {
  constructor(message: string) {
    super('CONVERGENCE', message);
  }
}

/** A state dict that does not belong to this optimizer (method, version, shapes, missing or extra entries). */
export class StateDictError extends ShampooError {
  constructor(message: string) {
    super('STATE_DICT', message);
  }
}

/** A checkpoint file that is truncated, corrupted, of a newer format, or from another optimizer. */
export class CheckpointError extends ShampooError {
  readonly reason: 'truncated' | 'corrupted' | 'version' | 'mismatch' | 'format';
  constructor(reason: CheckpointError['reason'], message: string) {
    super('CHECKPOINT', `${reason}: ${message}`);
    this.reason = reason;
  }
}

/** A compute engine that cannot be loaded or was asked for where it is unavailable. */
export class EngineError extends ShampooError {
  constructor(message: string) {
    super('ENGINE', message);
  }
}
