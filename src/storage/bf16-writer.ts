import type { F32Buffer, F64Buffer } from '../kernels/index.ts';
import type { StochasticRoundingState } from './bf16.ts';
import type { Codecs, U16Buffer } from './codecs.ts';

/** Fixed key of the stochastic-rounding hash: the draws depend only on the counter kept in the state. */
const ROUNDING_KEY = 0x5eed_b16f;

/**
 * Encodes fp32 scratch into bf16 state. Averages that are updated every step (moments, factor statistics) may
 * use stochastic rounding, whose position in the random stream is a counter kept in the optimizer state (so a
 * run continues bit-identically after a state round trip); everything else rounds to nearest even.
 */
export class Bf16Writer {
  readonly codecs: Codecs;
  private readonly counter: F64Buffer | null;
  private readonly state: StochasticRoundingState = { counter: 0, key: ROUNDING_KEY };

  /** `counter`: a one-element state buffer for stochastic rounding, or null for round-to-nearest only. */
  constructor(codecs: Codecs, counter: F64Buffer | null) {
    this.codecs = codecs;
    this.counter = counter;
  }

  get stochastic(): boolean {
    return this.counter !== null;
  }

  /** Round to nearest even: `out[i] = bf16(x[i])` over x.length elements. */
  nearest(x: F32Buffer, out: U16Buffer): void {
    this.codecs.bf16Encode(x, out);
  }

  /** An average's new value: stochastic rounding when enabled, otherwise nearest even. */
  average(x: F32Buffer, out: U16Buffer): void {
    if (this.counter === null) {
      this.codecs.bf16Encode(x, out);
      return;
    }
    const c = this.counter.view();
    this.state.counter = c[0];
    this.codecs.bf16EncodeStochastic(x, out, this.state);
    c[0] = this.state.counter;
  }

  decode(u: U16Buffer, out: F32Buffer): void {
    this.codecs.bf16Decode(u, out);
  }
}
