import { ConfigError } from '../errors.ts';
import type { MomentPrecision, Precision } from '../storage/precision.ts';
import {
  checkConfigObject,
  type ResolvedShared,
  resolveShared,
  type SharedOptions,
} from './common-config.ts';
import {
  checkBoolean,
  checkInteger,
  checkKnownKeys,
  checkNonNegative,
  checkPositive,
  checkRange,
} from './config-checks.ts';
import { resolveStorage, type StorageOptions } from './storage-config.ts';

/**
 * Configuration of `Shampoo`. Two forms of the algorithm exist, selected by `variant`; each accepts exactly the
 * camelCase names and defaults of its reference implementation (plus the shared options `engine`,
 * `allowRelaxedSimd`, `nonFinite`, `precision`, the storage options, and the two extensions `precondition1d`
 * and `maxConsecutiveFailures`). `Shampoo.config` returns a complete config of the same form, which the
 * constructor accepts back unchanged.
 */
export type ShampooConfig = DistributedShampooConfig | LowbitShampooConfig;

/**
 * The storage options Shampoo uses (see `StorageOptions` and docs/storage.md, Shampoo section). The 4-bit
 * options take effect under '4bit' and '4bit-naive' (`rectT1`/`rectT2`: Björck steps on 4-bit eigenvectors;
 * bf16 ones are used as decoded).
 */
export type ShampooStorageOptions = Pick<
  StorageOptions,
  'rectT1' | 'rectT2' | 'minLowbitSize' | 'quanBlocksize' | 'momentPrecision' | 'stochasticRounding'
>;

/** Storage options after validation (shared by both variants). */
export interface ResolvedShampooStorage {
  precision: Precision;
  rectT1: number;
  rectT2: number;
  minLowbitSize: number;
  quanBlocksize: number;
  momentPrecision: MomentPrecision;
  stochasticRounding: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Distributed Shampoo (facebookresearch/optimizers, `DistributedShampoo`)
// ---------------------------------------------------------------------------------------------------------

/**
 * Grafting: each block's Shampoo direction is rescaled to the Frobenius norm of a diagonal method's direction
 * on the same (filtered) gradient, and before `startPreconditioningStep` that method's direction is used as is.
 * `type` accepts our short tags or the reference's class names.
 */
export type GraftingConfig =
  | { type: 'sgd' | 'SGDPreconditionerConfig' | 'SGDGraftingConfig' }
  | {
      type: 'adagrad' | 'AdaGradPreconditionerConfig' | 'AdaGradGraftingConfig';
      /** ε added to `sqrt(V)`, > 0. Default 1e-10. */
      epsilon?: number;
    }
  | {
      type:
        | 'rmsprop'
        | 'RMSpropPreconditionerConfig'
        | 'RMSpropGraftingConfig'
        | 'adam'
        | 'AdamPreconditionerConfig'
        | 'AdamGraftingConfig';
      /** EMA factor of `V = β2·V + (1−β2)·G²`, in (0, 1]. Default 0.99 (RMSprop) or 0.999 (Adam). */
      beta2?: number;
      /** ε added to `sqrt(V)` (Adam: to `sqrt(V/(1−β2ᵗ))`), > 0. Default 1e-10. */
      epsilon?: number;
      /** Drop the `(1−β2)` weight on `G²` (and with it Adam's bias correction). Default false. */
      dropWeightingFactorOnGsquare?: boolean;
    };

/** How the amortized root/eigendecomposition is computed. */
export interface AmortizedComputationConfig {
  /**
   * 'eigh' (also 'EigenConfig', 'EighEigendecompositionConfig'): a full symmetric eigendecomposition (float64).
   * 'qr' (also 'QREigendecompositionConfig'): the QR algorithm warm-started at the previous eigenvectors; only
   * with `preconditionerConfig.type: 'eigendecomposed'`. Default 'eigh'.
   */
  type?: 'eigh' | 'qr' | 'EigenConfig' | 'EighEigendecompositionConfig' | 'QREigendecompositionConfig';
  /** Rank-deficiency handling; only the perturbation form exists. */
  rankDeficientStabilityConfig?: {
    type?: 'perturbation' | 'PerturbationConfig';
    /**
     * true: decompose `A + εI` and shift the spectrum by `ε − λ_min` only when `λ_min < ε`. false: decompose A and
     * always shift by `ε − min(λ_min, 0)`. Default true.
     */
    perturbBeforeComputation?: boolean;
  };
  /** Accepted for compatibility; decompositions here always run in float64. Default true. */
  retryDoublePrecision?: boolean;
  /** Accepted for compatibility; must be ''. */
  eigendecompositionOffloadDevice?: string;
  /**
   * 'qr': skip/stop iterating once `‖B − Diag(diag B)‖_F ≤ tolerance·‖B‖_F` with `B = QᵀAQ`, in [0, 1]
   * (default 0.01). 'eigh' with 'eigendecomposed': skip the eigendecomposition under the same test (default 0,
   * never skip). 'eigh' with 'rootInv': must be 0 (the reference ignores it there).
   */
  tolerance?: number;
  /** 'qr' only: QR iterations per refresh, integer ≥ 1. Default 1. */
  maxIterations?: number;
}

/** Exponent overrides: per tensor order, either one exponent for all dims or one per dim index. */
export type InverseExponentOverride = Record<number | string, number | Record<number | string, number>>;

/** Which Kronecker preconditioner is kept and how it is refreshed. */
export interface ShampooPreconditionerConfig {
  /**
   * 'rootInv' (also 'RootInvShampooPreconditionerConfig'): the inverse roots `F^(−e)` are stored (default).
   * 'eigendecomposed' (also 'EigendecomposedShampooPreconditionerConfig'): eigenvectors and eigenvalues are
   * stored and the root is applied as `Q·Diag(λ^(−e))·Qᵀ`.
   */
  type?:
    | 'rootInv'
    | 'eigendecomposed'
    | 'RootInvShampooPreconditionerConfig'
    | 'EigendecomposedShampooPreconditionerConfig';
  amortizedComputationConfig?: AmortizedComputationConfig;
  /**
   * Inverse exponents e (the root is `F^(−e)`), keyed by block order: a number for every dim or `{dim: e}`.
   * Unspecified dims use `1/(2·max(order, 1))`; `e = 0` leaves that dim unpreconditioned. Values ≥ 0.
   * Default `{}`.
   */
  inverseExponentOverride?: InverseExponentOverride;
  /** Failed refreshes tolerated in a row per block before throwing, integer ≥ 0. Same as `maxConsecutiveFailures`. */
  numToleratedFailedAmortizedComputations?: number;
  /** Factors accumulate `β2·F + G·Gᵀ` (no `1−β2` weight, no bias correction). Default false. */
  dropWeightingFactorOnGsquare?: boolean;
  /** Multiply the factor by `max(tr F, ε)^(−traceScalingExponent)` before the refresh. Default false. */
  useTraceScaling?: boolean;
  /** In (0, 1]. Default 0.5. */
  traceScalingExponent?: number;
  /** Accepted for compatibility (either value); matrices are always stored unpacked here. Default true. */
  useSymmetricPacking?: boolean;
  /** Accepted for compatibility; only float32 ('float32', 'fp32' or 'torch.float32'). */
  factorMatrixDtype?: string;
  /** Accepted for compatibility; only float32. */
  invFactorMatrixDtype?: string;
  /** Accepted for compatibility; only float32. */
  factorMatrixEigenvectorsDtype?: string;
  /** Accepted for compatibility; only float32. */
  factorMatrixEigenvaluesDtype?: string;
}

/** Classic momentum on the search direction: `M ← μ·M + (1−d)·P; P ← nesterov ? (1−d)·P + μ·M : M`. */
export interface ClassicMomentumConfig {
  type: 'classicMomentum' | 'ClassicMomentumConfig';
  /** μ in (0, 1). Default 0.5. */
  momentum?: number;
  /** d in [0, 1). Default 0. */
  dampening?: number;
  /** Default false. */
  useNesterov?: boolean;
}

export interface DistributedShampooConfig extends SharedOptions, ShampooStorageOptions {
  /** The form of Shampoo: 'distributed' (default) is Meta's Distributed Shampoo. */
  variant?: 'distributed';
  /** Learning rate, ≥ 0 (multiplied as a float32 value, as the reference does). Default 1e-2. */
  lr?: number;
  /**
   * `[β1, β2]`: β1 in [0, 1) filters the gradient (0 = off); β2 in (0, 1] is the factor EMA (1 = plain sums,
   * AdaGrad-style). Default `[0.9, 1.0]`.
   */
  betas?: readonly [number, number];
  /** EMA factor of the gradient actually used this step, in [0, 1), or −1 for β1. Default −1. */
  beta3?: number;
  /** ε regularizing the factors before the root (see `perturbBeforeComputation`), > 0. Default 1e-12. */
  epsilon?: number;
  /** Weight decay λ, ≥ 0. Default 0. */
  weightDecay?: number;
  /**
   * 'DECOUPLED' (default): `P += λ·W` after preconditioning. 'L2': `G += λ·W` before anything else.
   * 'CORRECTED': `P += λ·(lr/peakLr)·W`. 'INDEPENDENT': `P += (λ/peakLr)·W`.
   */
  weightDecayType?: 'DECOUPLED' | 'L2' | 'CORRECTED' | 'INDEPENDENT';
  /** Peak learning rate for 'CORRECTED'/'INDEPENDENT' decay, > 0. Default `lr`. */
  peakLr?: number;
  /** Largest factor order: dims are merged up to it and split into blocks of it. Integer ≥ 1 or Infinity. Default 1024. */
  maxPreconditionerDim?: number;
  /** Steps between root refreshes, integer ≥ 1. Default 1. */
  preconditionFrequency?: number;
  /**
   * First step that uses Shampoo (before it: the grafting direction, or Finv = I without grafting). Integer
   * ≥ `preconditionFrequency`, Infinity (never), or −1 for `preconditionFrequency`. Default −1.
   */
  startPreconditioningStep?: number;
  /** Bias-correct the factors by `1−β2ᵗ` and the filtered gradient by `1 − β3·β1^(t−1)`. Default true. */
  useBiasCorrection?: boolean;
  /** Grafting method, or null for none. Default null. */
  graftingConfig?: GraftingConfig | null;
  /** Classic momentum on the search direction, or null. Default null. */
  iterateAveragingConfig?: ClassicMomentumConfig | null;
  /** The Kronecker preconditioner. Default `{ type: 'rootInv' }` with eigh. */
  preconditionerConfig?: ShampooPreconditionerConfig;
  /**
   * Single-process layout options. `targetParameterDimensionality` (integer ≥ 1 or Infinity, default 1):
   * merging stops at this many dims; Infinity disables merging and squeezing.
   */
  distributedConfig?: {
    type?: 'singleDevice' | 'SingleDeviceDistributedConfig';
    targetParameterDimensionality?: number;
  } | null;
  /** Accepted for compatibility (no effect). */
  usePinMemory?: boolean;
  /** Accepted for compatibility; must be null. */
  shampooPt2CompileConfig?: null;
  /** Accepted for compatibility (no effect). */
  shampooRuntimeConfig?: { type?: string; eagerNanCheck?: boolean } | null;
  /** Accepted for compatibility (no effect). */
  concurrencyConfig?: { type?: string; enableCudaStreamForParamGroups?: boolean } | null;
  /**
   * Precondition parameters that are 1-D after squeezing size-1 dims (biases, norm scales, scalars) with a
   * full d×d factor (blocked at `maxPreconditionerDim`) and exponent 1/2, as the reference does (default true).
   * false: they keep no factors and always take the grafting direction (the filtered gradient without
   * grafting), as the reference README suggests for such parameters.
   */
  precondition1d?: boolean;
  /**
   * Failed refreshes tolerated in a row per block (integer ≥ 0, default 3): a refresh whose input is not
   * finite or whose solver fails keeps the previous root and is counted; one more failure after this many
   * throws `ConvergenceError` and leaves the optimizer as it was before the step.
   */
  maxConsecutiveFailures?: number;
}

export type GraftingKind = 'none' | 'sgd' | 'adagrad' | 'rmsprop' | 'adam';

export interface ResolvedGrafting {
  kind: GraftingKind;
  beta2: number;
  epsilon: number;
  dropWeightingFactorOnGsquare: boolean;
}

export interface ResolvedDistributedConfig extends ResolvedShampooStorage {
  variant: 'distributed';
  lr: number;
  betas: [number, number];
  beta3: number;
  epsilon: number;
  weightDecay: number;
  weightDecayType: 'DECOUPLED' | 'L2' | 'CORRECTED' | 'INDEPENDENT';
  peakLr: number;
  maxPreconditionerDim: number;
  preconditionFrequency: number;
  startPreconditioningStep: number;
  useBiasCorrection: boolean;
  grafting: ResolvedGrafting;
  momentum: { momentum: number; dampening: number; useNesterov: boolean } | null;
  preconditioner: {
    type: 'rootInv' | 'eigendecomposed';
    computation: 'eigh' | 'qr';
    perturbBeforeComputation: boolean;
    tolerance: number;
    maxIterations: number;
    inverseExponentOverride: Record<string, number | Record<string, number>>;
    dropWeightingFactorOnGsquare: boolean;
    traceScalingExponent: number | null;
  };
  targetParameterDimensionality: number;
  precondition1d: boolean;
  maxConsecutiveFailures: number;
}

// ---------------------------------------------------------------------------------------------------------
// 4-bit Shampoo's algorithm (Sike-Wang/low-bit-Shampoo `shampoo2.py`)
// ---------------------------------------------------------------------------------------------------------

export interface LowbitShampooConfig extends SharedOptions, ShampooStorageOptions {
  /**
   * The 4-bit paper's form (`ShampooAdamW` / `ShampooSGD`). Its state precision is `precision` ('4bit' is
   * the paper's 4-bit Shampoo, `shampoo2.py` with `prec_bits=4`; '4bit-naive' its naive baseline
   * `shampoo1.py`); `precBits` is accepted as the reference's spelling of it.
   */
  variant: 'lowbit';
  /** The outer optimizer the preconditioned gradient feeds: 'adamw' (`ShampooAdamW`, default) or 'sgd' (`ShampooSGD`). */
  optimizer?: 'adamw' | 'sgd';
  /** Learning rate, ≥ 0. Default 1e-3 (adamw) or 0.1 (sgd). */
  lr?: number;
  /** adamw: `[β1, β2]`, each in [0, 1). Default `[0.9, 0.999]`. */
  betas?: readonly [number, number];
  /** adamw: ε added to the bias-corrected `sqrt(v)`, ≥ 0. Default 1e-8. */
  eps?: number;
  /** sgd: momentum μ in [0, 1) (`buf ← μ·buf + P`). Default 0.9. */
  momentum?: number;
  /** sgd: Nesterov momentum. Default false. */
  nesterov?: boolean;
  /** Weight decay λ ≥ 0: adamw decays `W ← W·(1 − lr·λ)` first; sgd adds `λ·W` to P. Default 0. */
  weightDecay?: number;
  /** First step that preconditions (integer ≥ 1); before it P = G. Default 1. */
  startPrecStep?: number;
  /** T1: steps between statistics updates (integer ≥ 1); only every T1-th gradient enters the factors. Default 100. */
  statComputeSteps?: number;
  /** T2: steps between inverse-root refreshes (integer ≥ 1). Default 500. */
  precComputeSteps?: number;
  /** β of the factor EMA `A ← β·A + (1−β)·G·Gᵀ` (β = 1: plain sum), in [0, 1]. Default 0.95. */
  statDecay?: number;
  /** ε: factors start at εI and the root uses the relative ridge `ε·max(λ)`, > 0. Default 1e-6. */
  matrixEps?: number;
  /** Largest factor order: dims above it are split into blocks of it. Integer ≥ 1. Default 1200. */
  precMaxorder?: number;
  /**
   * The reference's storage bits, an alias of `precision`: 4 = '4bit', 32 = 'fp32'. Giving both is allowed
   * only when they agree.
   */
  precBits?: 4 | 32;
  /** Factors with fewer elements stay fp32 under '4bit'/'4bit-naive'. Integer ≥ 0. Default 4096. */
  minLowbitSize?: number;
  /** Quantization block size, one of 64…2048 (under '4bit'/'4bit-naive'). Default 64. */
  quanBlocksize?: number;
  /** Björck iterations before reconstructing a factor from stored 4-bit eigenvectors. Integer ≥ 0. Default 1. */
  rectT1?: number;
  /** Björck iterations before a root from stored 4-bit eigenvectors. Integer ≥ 0. Default 4. */
  rectT2?: number;
  /**
   * 0: root from the eigen-parametrization, `Vtᵀ·Diag((λ+ρ)^(−1/4))·Vt` with `ρ = matrixEps·max λ`.
   * 1: coupled Schur–Newton iteration on the reconstructed factor (10 rounds, tolerance 1e-6, ridge
   * `matrixEps·λ_max` with λ_max from power iteration). Default 0.
   */
  invRootMode?: 0 | 1;
  /**
   * Precondition 1-D parameters with one eigen-parametrized factor over the vector and exponent 1/2 (an
   * extension). Default false: as the reference, they get no preconditioner.
   */
  precondition1d?: boolean;
  /** As for the distributed form: failed statistics/root refreshes tolerated in a row per block. Default 3. */
  maxConsecutiveFailures?: number;
}

export interface ResolvedLowbitConfig extends ResolvedShampooStorage {
  variant: 'lowbit';
  optimizer: 'adamw' | 'sgd';
  lr: number;
  betas: [number, number];
  eps: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  startPrecStep: number;
  statComputeSteps: number;
  precComputeSteps: number;
  statDecay: number;
  matrixEps: number;
  precMaxorder: number;
  invRootMode: 0 | 1;
  precondition1d: boolean;
  maxConsecutiveFailures: number;
}

export type ResolvedShampooConfig = ResolvedDistributedConfig | ResolvedLowbitConfig;

// ---------------------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------------------

const DISTRIBUTED_KEYS = [
  'variant',
  'lr',
  'betas',
  'beta3',
  'epsilon',
  'weightDecay',
  'weightDecayType',
  'peakLr',
  'maxPreconditionerDim',
  'preconditionFrequency',
  'startPreconditioningStep',
  'useBiasCorrection',
  'graftingConfig',
  'iterateAveragingConfig',
  'preconditionerConfig',
  'distributedConfig',
  'usePinMemory',
  'shampooPt2CompileConfig',
  'shampooRuntimeConfig',
  'concurrencyConfig',
  'precondition1d',
  'maxConsecutiveFailures',
] as const;

/** Storage options of both variants (the low-bit form names the 4-bit ones itself). */
const STORAGE_OPTION_KEYS = [
  'rectT1',
  'rectT2',
  'minLowbitSize',
  'quanBlocksize',
  'momentPrecision',
  'stochasticRounding',
] as const;

const LOWBIT_COMMON_KEYS = [
  'variant',
  'optimizer',
  'lr',
  'weightDecay',
  'startPrecStep',
  'statComputeSteps',
  'precComputeSteps',
  'statDecay',
  'matrixEps',
  'precMaxorder',
  'precBits',
  'minLowbitSize',
  'quanBlocksize',
  'rectT1',
  'rectT2',
  'invRootMode',
  'precondition1d',
  'maxConsecutiveFailures',
] as const;

type Obj = Record<string, unknown>;

function nested(field: string, value: unknown, known: readonly string[]): Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(field, `expected an object, got ${JSON.stringify(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new ConfigError(`${field}.${key}`, `unknown option (known: ${known.join(', ')})`);
  }
  return value as Obj;
}

function tagged<T extends string>(field: string, value: unknown, tags: Record<string, T>): T {
  if (typeof value === 'string' && Object.hasOwn(tags, value)) return tags[value];
  throw new ConfigError(
    field,
    `expected one of ${Object.keys(tags)
      .map((t) => `'${t}'`)
      .join(', ')}, got ${String(value)}`,
  );
}

/** An integer ≥ min, or Infinity. */
function intOrInfinity(field: string, value: unknown, min: number): number {
  return checkInteger(field, value, min, true);
}

function checkFloat32Dtype(field: string, value: unknown): void {
  if (value === undefined) return;
  if (value !== 'float32' && value !== 'fp32' && value !== 'torch.float32') {
    throw new ConfigError(field, `only float32 state is implemented, got ${String(value)}`);
  }
}

function resolveGrafting(value: unknown): ResolvedGrafting {
  const none: ResolvedGrafting = { kind: 'none', beta2: 1, epsilon: 0, dropWeightingFactorOnGsquare: false };
  if (value === undefined || value === null) return none;
  const field = 'graftingConfig';
  const typeOf = (value as Obj)?.type;
  const kind = tagged(`${field}.type`, typeOf, {
    sgd: 'sgd',
    SGDPreconditionerConfig: 'sgd',
    SGDGraftingConfig: 'sgd',
    adagrad: 'adagrad',
    AdaGradPreconditionerConfig: 'adagrad',
    AdaGradGraftingConfig: 'adagrad',
    rmsprop: 'rmsprop',
    RMSpropPreconditionerConfig: 'rmsprop',
    RMSpropGraftingConfig: 'rmsprop',
    adam: 'adam',
    AdamPreconditionerConfig: 'adam',
    AdamGraftingConfig: 'adam',
  } as const);
  if (kind === 'sgd') {
    nested(field, value, ['type']);
    return { kind, beta2: 1, epsilon: 0, dropWeightingFactorOnGsquare: false };
  }
  if (kind === 'adagrad') {
    const c = nested(field, value, ['type', 'epsilon']);
    return {
      kind,
      beta2: 1,
      epsilon: checkPositive(`${field}.epsilon`, c.epsilon ?? 1e-10),
      dropWeightingFactorOnGsquare: false,
    };
  }
  const c = nested(field, value, ['type', 'beta2', 'epsilon', 'dropWeightingFactorOnGsquare']);
  return {
    kind,
    beta2: checkRange(`${field}.beta2`, c.beta2 ?? (kind === 'adam' ? 0.999 : 0.99), 0, 1, { loOpen: true }),
    epsilon: checkPositive(`${field}.epsilon`, c.epsilon ?? 1e-10),
    dropWeightingFactorOnGsquare: checkBoolean(
      `${field}.dropWeightingFactorOnGsquare`,
      c.dropWeightingFactorOnGsquare ?? false,
    ),
  };
}

function resolveMomentum(value: unknown): ResolvedDistributedConfig['momentum'] {
  if (value === undefined || value === null) return null;
  const field = 'iterateAveragingConfig';
  const c = nested(field, value, ['type', 'momentum', 'dampening', 'useNesterov']);
  tagged(`${field}.type`, c.type, {
    classicMomentum: 'classicMomentum',
    ClassicMomentumConfig: 'classicMomentum',
  });
  return {
    momentum: checkRange(`${field}.momentum`, c.momentum ?? 0.5, 0, 1, { loOpen: true, hiOpen: true }),
    dampening: checkRange(`${field}.dampening`, c.dampening ?? 0, 0, 1, { hiOpen: true }),
    useNesterov: checkBoolean(`${field}.useNesterov`, c.useNesterov ?? false),
  };
}

function resolveExponentOverride(value: unknown): Record<string, number | Record<string, number>> {
  const field = 'preconditionerConfig.inverseExponentOverride';
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(field, `expected an object keyed by tensor order, got ${JSON.stringify(value)}`);
  }
  const out: Record<string, number | Record<string, number>> = {};
  for (const [orderKey, v] of Object.entries(value as Obj)) {
    const order = Number(orderKey);
    if (!Number.isInteger(order) || order < 0)
      throw new ConfigError(`${field}.${orderKey}`, 'orders must be integers ≥ 0');
    if (typeof v === 'number') {
      out[orderKey] = checkNonNegative(`${field}.${orderKey}`, v);
      continue;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new ConfigError(
        `${field}.${orderKey}`,
        `expected a number or {dim: exponent}, got ${JSON.stringify(v)}`,
      );
    }
    const perDim: Record<string, number> = {};
    for (const [dimKey, e] of Object.entries(v as Obj)) {
      const dim = Number(dimKey);
      if (!Number.isInteger(dim) || dim < 0 || dim > Math.max(order - 1, 0)) {
        throw new ConfigError(
          `${field}.${orderKey}.${dimKey}`,
          `dims must be integers in [0, ${Math.max(order - 1, 0)}]`,
        );
      }
      perDim[dimKey] = checkNonNegative(`${field}.${orderKey}.${dimKey}`, e);
    }
    out[orderKey] = perDim;
  }
  return out;
}

function resolvePreconditioner(
  value: unknown,
  topLevelFailures: unknown,
): { preconditioner: ResolvedDistributedConfig['preconditioner']; maxConsecutiveFailures: number } {
  const field = 'preconditionerConfig';
  const c =
    value === undefined
      ? {}
      : nested(field, value, [
          'type',
          'amortizedComputationConfig',
          'inverseExponentOverride',
          'numToleratedFailedAmortizedComputations',
          'dropWeightingFactorOnGsquare',
          'useTraceScaling',
          'traceScalingExponent',
          'useSymmetricPacking',
          'factorMatrixDtype',
          'invFactorMatrixDtype',
          'factorMatrixEigenvectorsDtype',
          'factorMatrixEigenvaluesDtype',
        ]);
  const type = tagged(`${field}.type`, c.type ?? 'rootInv', {
    rootInv: 'rootInv',
    RootInvShampooPreconditionerConfig: 'rootInv',
    eigendecomposed: 'eigendecomposed',
    EigendecomposedShampooPreconditionerConfig: 'eigendecomposed',
  } as const);
  for (const k of [
    'factorMatrixDtype',
    'invFactorMatrixDtype',
    'factorMatrixEigenvectorsDtype',
    'factorMatrixEigenvaluesDtype',
  ]) {
    checkFloat32Dtype(`${field}.${k}`, c[k]);
  }
  if (c.useSymmetricPacking !== undefined)
    checkBoolean(`${field}.useSymmetricPacking`, c.useSymmetricPacking);

  const af = `${field}.amortizedComputationConfig`;
  const a =
    c.amortizedComputationConfig === undefined
      ? {}
      : nested(af, c.amortizedComputationConfig, [
          'type',
          'rankDeficientStabilityConfig',
          'retryDoublePrecision',
          'eigendecompositionOffloadDevice',
          'tolerance',
          'maxIterations',
        ]);
  const computation = tagged(`${af}.type`, a.type ?? 'eigh', {
    eigh: 'eigh',
    EigenConfig: 'eigh',
    EighEigendecompositionConfig: 'eigh',
    qr: 'qr',
    QREigendecompositionConfig: 'qr',
  } as const);
  if (computation === 'qr' && type !== 'eigendecomposed') {
    throw new ConfigError(`${af}.type`, "the QR algorithm needs preconditionerConfig.type 'eigendecomposed'");
  }
  if (a.retryDoublePrecision !== undefined)
    checkBoolean(`${af}.retryDoublePrecision`, a.retryDoublePrecision);
  if (a.eigendecompositionOffloadDevice !== undefined && a.eigendecompositionOffloadDevice !== '') {
    throw new ConfigError(`${af}.eigendecompositionOffloadDevice`, "must be '' (no devices here)");
  }
  const tolerance = checkRange(`${af}.tolerance`, a.tolerance ?? (computation === 'qr' ? 0.01 : 0), 0, 1);
  if (type === 'rootInv' && tolerance !== 0) {
    throw new ConfigError(`${af}.tolerance`, "must be 0 with preconditionerConfig.type 'rootInv'");
  }
  if (a.maxIterations !== undefined && computation !== 'qr') {
    throw new ConfigError(`${af}.maxIterations`, "only applies to the 'qr' computation");
  }
  const maxIterations = checkInteger(`${af}.maxIterations`, a.maxIterations ?? 1, 1);
  let perturbBeforeComputation = true;
  if (a.rankDeficientStabilityConfig !== undefined) {
    const rf = `${af}.rankDeficientStabilityConfig`;
    const r = nested(rf, a.rankDeficientStabilityConfig, ['type', 'perturbBeforeComputation']);
    tagged(`${rf}.type`, r.type ?? 'perturbation', {
      perturbation: 'perturbation',
      PerturbationConfig: 'perturbation',
    });
    perturbBeforeComputation = checkBoolean(
      `${rf}.perturbBeforeComputation`,
      r.perturbBeforeComputation ?? true,
    );
  }

  const useTraceScaling = checkBoolean(`${field}.useTraceScaling`, c.useTraceScaling ?? false);
  const traceScalingExponent = checkRange(
    `${field}.traceScalingExponent`,
    c.traceScalingExponent ?? 0.5,
    0,
    1,
    {
      loOpen: true,
    },
  );

  const nested3 = c.numToleratedFailedAmortizedComputations;
  if (nested3 !== undefined && topLevelFailures !== undefined && nested3 !== topLevelFailures) {
    throw new ConfigError(
      'maxConsecutiveFailures',
      `'maxConsecutiveFailures' and 'preconditionerConfig.numToleratedFailedAmortizedComputations' are the same option; give one`,
    );
  }
  const failuresField =
    topLevelFailures !== undefined
      ? 'maxConsecutiveFailures'
      : `${field}.numToleratedFailedAmortizedComputations`;
  const maxConsecutiveFailures = checkInteger(failuresField, topLevelFailures ?? nested3 ?? 3, 0);

  return {
    preconditioner: {
      type,
      computation,
      perturbBeforeComputation,
      tolerance,
      maxIterations,
      inverseExponentOverride: resolveExponentOverride(c.inverseExponentOverride),
      dropWeightingFactorOnGsquare: checkBoolean(
        `${field}.dropWeightingFactorOnGsquare`,
        c.dropWeightingFactorOnGsquare ?? false,
      ),
      traceScalingExponent: useTraceScaling ? traceScalingExponent : null,
    },
    maxConsecutiveFailures,
  };
}

/** The storage options under the resolved precision (the subspace options of the bf16 SOAP store do not apply). */
function resolveShampooStorage(c: Obj, precision: Precision): ResolvedShampooStorage {
  const s = resolveStorage(c, precision);
  return {
    precision,
    rectT1: s.rectT1,
    rectT2: s.rectT2,
    minLowbitSize: s.minLowbitSize,
    quanBlocksize: s.quanBlocksize,
    momentPrecision: s.momentPrecision,
    stochasticRounding: s.stochasticRounding,
  };
}

function resolveDistributed(
  c: Obj,
  shared: ResolvedShared<Precision>,
): ResolvedDistributedConfig & ResolvedShared<Precision> {
  checkKnownKeys(c, [
    ...DISTRIBUTED_KEYS,
    ...STORAGE_OPTION_KEYS,
    'engine',
    'allowRelaxedSimd',
    'nonFinite',
    'precision',
  ]);
  const lr = checkNonNegative('lr', c.lr ?? 1e-2);
  const betas = c.betas ?? [0.9, 1.0];
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new ConfigError('betas', `expected a pair [beta1, beta2], got ${JSON.stringify(betas)}`);
  }
  const beta1 = checkRange('betas[0]', betas[0], 0, 1, { hiOpen: true });
  const beta2 = checkRange('betas[1]', betas[1], 0, 1, { loOpen: true });
  const beta3Raw = c.beta3 ?? -1;
  const beta3 = beta3Raw === -1 ? beta1 : checkRange('beta3', beta3Raw, 0, 1, { hiOpen: true });
  const epsilon = checkPositive('epsilon', c.epsilon ?? 1e-12);
  const weightDecay = checkNonNegative('weightDecay', c.weightDecay ?? 0);
  const weightDecayType = tagged('weightDecayType', c.weightDecayType ?? 'DECOUPLED', {
    DECOUPLED: 'DECOUPLED',
    L2: 'L2',
    CORRECTED: 'CORRECTED',
    INDEPENDENT: 'INDEPENDENT',
  } as const);
  const peakLr = checkPositive('peakLr', c.peakLr ?? (lr > 0 ? lr : 1));
  const maxPreconditionerDim = intOrInfinity('maxPreconditionerDim', c.maxPreconditionerDim ?? 1024, 1);
  const preconditionFrequency = checkInteger('preconditionFrequency', c.preconditionFrequency ?? 1, 1);
  const startRaw = c.startPreconditioningStep ?? -1;
  let startPreconditioningStep: number;
  if (startRaw === -1) startPreconditioningStep = preconditionFrequency;
  else {
    startPreconditioningStep = intOrInfinity('startPreconditioningStep', startRaw, 1);
    if (startPreconditioningStep < preconditionFrequency) {
      throw new ConfigError(
        'startPreconditioningStep',
        `must be ≥ preconditionFrequency (${preconditionFrequency}) or −1, got ${startPreconditioningStep}`,
      );
    }
  }
  const useBiasCorrection = checkBoolean('useBiasCorrection', c.useBiasCorrection ?? true);
  const grafting = resolveGrafting(c.graftingConfig);
  const momentum = resolveMomentum(c.iterateAveragingConfig);
  const { preconditioner, maxConsecutiveFailures } = resolvePreconditioner(
    c.preconditionerConfig,
    c.maxConsecutiveFailures,
  );

  let targetParameterDimensionality = 1;
  if (c.distributedConfig !== undefined && c.distributedConfig !== null) {
    const d = nested('distributedConfig', c.distributedConfig, ['type', 'targetParameterDimensionality']);
    tagged('distributedConfig.type', d.type ?? 'singleDevice', {
      singleDevice: 'singleDevice',
      SingleDeviceDistributedConfig: 'singleDevice',
    });
    targetParameterDimensionality = intOrInfinity(
      'distributedConfig.targetParameterDimensionality',
      d.targetParameterDimensionality ?? 1,
      1,
    );
  }
  if (c.usePinMemory !== undefined) checkBoolean('usePinMemory', c.usePinMemory);
  if (c.shampooPt2CompileConfig !== undefined && c.shampooPt2CompileConfig !== null) {
    throw new ConfigError('shampooPt2CompileConfig', 'must be null (there is no compiler here)');
  }
  for (const k of ['shampooRuntimeConfig', 'concurrencyConfig']) {
    const v = c[k];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      throw new ConfigError(k, `expected an object or null, got ${JSON.stringify(v)}`);
    }
  }
  return {
    ...shared,
    variant: 'distributed',
    lr,
    betas: [beta1, beta2],
    beta3,
    epsilon,
    weightDecay,
    weightDecayType,
    peakLr,
    maxPreconditionerDim,
    preconditionFrequency,
    startPreconditioningStep,
    useBiasCorrection,
    grafting,
    momentum,
    preconditioner,
    targetParameterDimensionality,
    precondition1d: checkBoolean('precondition1d', c.precondition1d ?? true),
    maxConsecutiveFailures,
    ...resolveShampooStorage(c, shared.precision),
  };
}

function resolveLowbit(
  c: Obj,
  shared: ResolvedShared<Precision>,
): ResolvedLowbitConfig & ResolvedShared<Precision> {
  const optimizer = tagged('optimizer', c.optimizer ?? 'adamw', { adamw: 'adamw', sgd: 'sgd' } as const);
  const ownKeys = optimizer === 'adamw' ? ['betas', 'eps'] : ['momentum', 'nesterov'];
  checkKnownKeys(c, [
    ...LOWBIT_COMMON_KEYS,
    ...STORAGE_OPTION_KEYS,
    ...ownKeys,
    'engine',
    'allowRelaxedSimd',
    'nonFinite',
    'precision',
  ]);
  const betas = c.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new ConfigError('betas', `expected a pair [beta1, beta2], got ${JSON.stringify(betas)}`);
  }
  const invRootMode = c.invRootMode ?? 0;
  if (invRootMode !== 0 && invRootMode !== 1) {
    throw new ConfigError(
      'invRootMode',
      `expected 0 (eigen formula) or 1 (Schur–Newton), got ${String(invRootMode)}`,
    );
  }
  return {
    ...shared,
    variant: 'lowbit',
    optimizer,
    lr: checkNonNegative('lr', c.lr ?? (optimizer === 'adamw' ? 1e-3 : 0.1)),
    betas: [
      checkRange('betas[0]', betas[0], 0, 1, { hiOpen: true }),
      checkRange('betas[1]', betas[1], 0, 1, { hiOpen: true }),
    ],
    eps: checkNonNegative('eps', c.eps ?? 1e-8),
    momentum: checkRange('momentum', c.momentum ?? 0.9, 0, 1, { hiOpen: true }),
    nesterov: checkBoolean('nesterov', c.nesterov ?? false),
    weightDecay: checkNonNegative('weightDecay', c.weightDecay ?? 0),
    startPrecStep: intOrInfinity('startPrecStep', c.startPrecStep ?? 1, 1),
    statComputeSteps: intOrInfinity('statComputeSteps', c.statComputeSteps ?? 100, 1),
    precComputeSteps: intOrInfinity('precComputeSteps', c.precComputeSteps ?? 500, 1),
    statDecay: checkRange('statDecay', c.statDecay ?? 0.95, 0, 1),
    matrixEps: checkPositive('matrixEps', c.matrixEps ?? 1e-6),
    precMaxorder: checkInteger('precMaxorder', c.precMaxorder ?? 1200, 1),
    invRootMode,
    precondition1d: checkBoolean('precondition1d', c.precondition1d ?? false),
    maxConsecutiveFailures: checkInteger('maxConsecutiveFailures', c.maxConsecutiveFailures ?? 3, 0),
    ...resolveShampooStorage(c, shared.precision),
  };
}

/** The precisions each variant implements. */
const IMPLEMENTED: Record<'distributed' | 'lowbit', readonly Precision[]> = {
  distributed: ['fp32', 'bf16', '4bit', 'bf16-naive', '4bit-naive'],
  lowbit: ['fp32', 'bf16', '4bit', 'bf16-naive', '4bit-naive'],
};

const PREC_BITS: Readonly<Record<number, Precision>> = { 4: '4bit', 32: 'fp32' };

/** `precision`, or the low-bit form's `precBits` spelling of it (both given: they must agree). */
function effectivePrecision(c: Obj): unknown {
  if (c.precBits === undefined) return c.precision;
  const fromBits = PREC_BITS[c.precBits as number];
  if (fromBits === undefined || typeof c.precBits !== 'number') {
    throw new ConfigError('precBits', `expected 4 or 32, got ${String(c.precBits)}`);
  }
  if (c.precision !== undefined && c.precision !== fromBits) {
    throw new ConfigError(
      'precBits',
      `precBits ${c.precBits} means precision '${fromBits}', but precision is ${JSON.stringify(c.precision)}`,
    );
  }
  return fromBits;
}

/** Validates a Shampoo config and fills in the defaults of the selected variant. Throws `ConfigError`. */
export function resolveShampooConfig(
  config: ShampooConfig | undefined,
): ResolvedShampooConfig & ResolvedShared<Precision> {
  const c = checkConfigObject(config, [
    ...new Set<string>([
      ...DISTRIBUTED_KEYS,
      ...LOWBIT_COMMON_KEYS,
      ...STORAGE_OPTION_KEYS,
      'betas',
      'eps',
      'momentum',
      'nesterov',
    ]),
  ]);
  const variant = tagged('variant', c.variant ?? 'distributed', {
    distributed: 'distributed',
    lowbit: 'lowbit',
  } as const);
  if (variant === 'distributed') return resolveDistributed(c, resolveShared(c, IMPLEMENTED.distributed));
  const shared = resolveShared(
    { ...c, precision: effectivePrecision(c) } as SharedOptions,
    IMPLEMENTED.lowbit,
  );
  return resolveLowbit(c, shared);
}
