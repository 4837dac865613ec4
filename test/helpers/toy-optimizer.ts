import type { ArenaBuffer } from '../../src/kernels/index.ts';
import { type CommonOptions, Optimizer, type Param } from '../../src/optimizers/optimizer.ts';

export type ToyConfig = {
  lr: number;
  label: string;
  horizon: number;
};

/**
 * A deterministic test optimizer holding state of every dtype (f32, f64, u8, u16, i32), so the checkpoint
 * format's handling of packed and low-precision buffers is exercised before the real methods use them. Its
 * update mixes every buffer into the parameters, so a state restored wrongly changes the trajectory.
 */
export class ToyOptimizer extends Optimizer {
  readonly method = 'toy';
  private readonly cfg: ToyConfig;
  private readonly bufs: {
    m: ArenaBuffer<'f32'>;
    acc: ArenaBuffer<'f64'>;
    codes: ArenaBuffer<'u8'>;
    half: ArenaBuffer<'u16'>;
    hits: ArenaBuffer<'i32'>;
  }[];

  constructor(params: readonly Param[], config: Partial<ToyConfig> = {}, options: CommonOptions = {}) {
    super(params, options);
    this.cfg = { lr: 0.01, label: 'channels_first', horizon: Number.POSITIVE_INFINITY, ...config };
    this.bufs = params.map((p, i) => ({
      m: this.allocState(i, 'm', 'moment', 'f32', p.data.length),
      acc: this.allocState(i, 'acc', 'eigenvalues', 'f64', 3),
      codes: this.allocState(i, 'codes', 'basis', 'u8', Math.ceil(p.data.length / 2)),
      half: this.allocState(i, 'half', 'factor', 'u16', p.data.length),
      hits: this.allocState(i, 'hits', 'counter', 'i32', 1),
    }));
  }

  get config(): Readonly<Record<string, unknown>> {
    return this.cfg;
  }

  protected applyStep(grads: readonly Float32Array[]): void {
    grads.forEach((g, i) => {
      const b = this.bufs[i];
      const m = b.m.view();
      const acc = b.acc.view();
      const codes = b.codes.view();
      const half = b.half.view();
      const hits = b.hits.view();
      const p = this.params[i].data;
      hits[0] += 1;
      for (let k = 0; k < g.length; k++) {
        m[k] = 0.9 * m[k] + 0.1 * g[k];
        acc[k % 3] += g[k] * g[k] + 1e-3 * acc[(k + 1) % 3];
        const nibble = Math.floor(Math.abs(m[k]) * 97 + hits[0]) & 0xf;
        codes[k >> 1] = k & 1 ? (codes[k >> 1] & 0x0f) | (nibble << 4) : (codes[k >> 1] & 0xf0) | nibble;
        half[k] = (half[k] * 31 + (Math.floor(Math.abs(g[k]) * 1e4) & 0xffff)) & 0xffff;
      }
      for (let k = 0; k < p.length; k++) {
        const code = (codes[k >> 1] >> ((k & 1) * 4)) & 0xf;
        const d = m[k] / (Math.sqrt(acc[k % 3]) + 1e-8) + 1e-3 * (code - 7.5) + 1e-7 * half[k];
        p[k] -= this.cfg.lr * d;
      }
    });
  }
}
