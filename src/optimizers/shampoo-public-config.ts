import type {
  DistributedShampooConfig,
  LowbitShampooConfig,
  ResolvedDistributedConfig,
  ResolvedLowbitConfig,
  ResolvedShampooConfig,
  ResolvedShampooStorage,
  ShampooConfig,
} from './shampoo-config.ts';

/**
 * The resolved configuration written back in the constructor's own input form, every option explicit: what
 * `Shampoo.config` returns and state dicts, checkpoints and the tfjs adapter save. `new Shampoo(params, c)`
 * with it resolves to the same configuration (so to the same optimizer). Nested options use our short type
 * tags; derived values (β3 = β1, the start step, peakLr) are written as the values they resolved to, which the
 * constructor accepts and maps to the same behaviour. The engine options are not part of it (they describe
 * the process, not the method).
 */
export function publicShampooConfig(c: ResolvedShampooConfig): ShampooConfig {
  return c.variant === 'distributed' ? publicDistributed(c) : publicLowbit(c);
}

function storageOptions(c: ResolvedShampooStorage) {
  return {
    precision: c.precision,
    rectT1: c.rectT1,
    rectT2: c.rectT2,
    minLowbitSize: c.minLowbitSize,
    quanBlocksize: c.quanBlocksize,
    momentPrecision: c.momentPrecision,
    stochasticRounding: c.stochasticRounding,
  };
}

function graftingConfig(
  g: ResolvedDistributedConfig['grafting'],
): DistributedShampooConfig['graftingConfig'] {
  switch (g.kind) {
    case 'none':
      return null;
    case 'sgd':
      return { type: 'sgd' };
    case 'adagrad':
      return { type: 'adagrad', epsilon: g.epsilon };
    default:
      return {
        type: g.kind,
        beta2: g.beta2,
        epsilon: g.epsilon,
        dropWeightingFactorOnGsquare: g.dropWeightingFactorOnGsquare,
      };
  }
}

function publicDistributed(c: ResolvedDistributedConfig): DistributedShampooConfig {
  const p = c.preconditioner;
  return {
    variant: 'distributed',
    lr: c.lr,
    betas: [c.betas[0], c.betas[1]],
    beta3: c.beta3,
    epsilon: c.epsilon,
    weightDecay: c.weightDecay,
    weightDecayType: c.weightDecayType,
    peakLr: c.peakLr,
    maxPreconditionerDim: c.maxPreconditionerDim,
    preconditionFrequency: c.preconditionFrequency,
    startPreconditioningStep: c.startPreconditioningStep,
    useBiasCorrection: c.useBiasCorrection,
    graftingConfig: graftingConfig(c.grafting),
    iterateAveragingConfig: c.momentum ? { type: 'classicMomentum', ...c.momentum } : null,
    preconditionerConfig: {
      type: p.type,
      amortizedComputationConfig: {
        type: p.computation,
        rankDeficientStabilityConfig: {
          type: 'perturbation',
          perturbBeforeComputation: p.perturbBeforeComputation,
        },
        tolerance: p.tolerance,
        ...(p.computation === 'qr' ? { maxIterations: p.maxIterations } : {}),
      },
      inverseExponentOverride: structuredClone(p.inverseExponentOverride),
      dropWeightingFactorOnGsquare: p.dropWeightingFactorOnGsquare,
      useTraceScaling: p.traceScalingExponent !== null,
      traceScalingExponent: p.traceScalingExponent ?? 0.5,
    },
    distributedConfig: {
      type: 'singleDevice',
      targetParameterDimensionality: c.targetParameterDimensionality,
    },
    precondition1d: c.precondition1d,
    maxConsecutiveFailures: c.maxConsecutiveFailures,
    ...storageOptions(c),
  };
}

function publicLowbit(c: ResolvedLowbitConfig): LowbitShampooConfig {
  const outer =
    c.optimizer === 'adamw'
      ? { betas: [c.betas[0], c.betas[1]] as [number, number], eps: c.eps }
      : { momentum: c.momentum, nesterov: c.nesterov };
  return {
    variant: 'lowbit',
    optimizer: c.optimizer,
    lr: c.lr,
    ...outer,
    weightDecay: c.weightDecay,
    startPrecStep: c.startPrecStep,
    statComputeSteps: c.statComputeSteps,
    precComputeSteps: c.precComputeSteps,
    statDecay: c.statDecay,
    matrixEps: c.matrixEps,
    precMaxorder: c.precMaxorder,
    invRootMode: c.invRootMode,
    precondition1d: c.precondition1d,
    maxConsecutiveFailures: c.maxConsecutiveFailures,
    ...storageOptions(c),
  };
}
