import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { Bf16Writer } from './bf16-writer.ts';
import type { U16Buffer } from './codecs.ts';

/**
 * One moment tensor (a first or second moment, a momentum buffer) in fp32 or bf16. A step calls `load()`,
 * updates the returned fp32 buffer in place, then `store()`. In fp32 `load()` is the state buffer itself and
 * `store()` does nothing, so the fp32 path is unchanged; in bf16 `load()` decodes into scratch (shared with the
 * other parameters' moments of the same role) and `store()` checks the values and encodes them once.
 */
export class MomentStore {
  readonly length: number;
  private readonly f32: F32Buffer | null;
  private readonly bf16: U16Buffer | null;
  private readonly work: F32Buffer | null;
  private readonly writer: Bf16Writer | null;

  private constructor(
    length: number,
    f32: F32Buffer | null,
    bf16: U16Buffer | null,
    work: F32Buffer | null,
    writer: Bf16Writer | null,
  ) {
    this.length = length;
    this.f32 = f32;
    this.bf16 = bf16;
    this.work = work;
    this.writer = writer;
  }

  static fp32(state: F32Buffer): MomentStore {
    return new MomentStore(state.length, state, null, null, null);
  }

  /** `work`: fp32 scratch of at least `state.length` elements (sliced to it). */
  static bf16(state: U16Buffer, work: F32Buffer, writer: Bf16Writer): MomentStore {
    return new MomentStore(state.length, null, state, work.slice(0, state.length), writer);
  }

  get inBf16(): boolean {
    return this.bf16 !== null;
  }

  /** The moment as fp32, to be updated in place and written back with `store()`. */
  load(): F32Buffer {
    if (this.f32) return this.f32;
    const work = this.work as F32Buffer;
    (this.writer as Bf16Writer).decode(this.bf16 as U16Buffer, work);
    return work;
  }

  /**
   * Writes back the buffer `load()` returned. bf16: the values are checked first; if any is NaN or ±Infinity
   * nothing is written (the state keeps its previous value) and false is returned.
   */
  store(kernels: Kernels): boolean {
    if (this.f32) return true;
    const work = this.work as F32Buffer;
    if (!kernels.allFinite(work)) return false;
    (this.writer as Bf16Writer).average(work, this.bf16 as U16Buffer);
    return true;
  }
}
