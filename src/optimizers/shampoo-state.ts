import type { F32Buffer, F64Buffer } from '../kernels/index.ts';
import { KernelArithmetic } from '../preconditioner/matrix-arithmetic.ts';
import { Bf16Writer } from '../storage/bf16-writer.ts';
import { MomentStore } from '../storage/moment-store.ts';
import { momentInBf16 } from '../storage/precision.ts';
import { createStoredMatrix, type MatrixFormat, type StoredMatrix } from '../storage/stored-matrix.ts';
import { createCodecs } from '../storage/wasm-codecs.ts';
import type { StateKind } from './optimizer.ts';
import type { ResolvedShampooStorage } from './shampoo-config.ts';
import type { MomentState, ShampooHost, ShampooState } from './shampoo-host.ts';

/**
 * The library's `ShampooState`: float32 arithmetic on the kernels, every state buffer registered with the
 * optimizer (so it is part of `stateDict`, `loadStateDict` and `stateBytes`), the low-precision formats on
 * the codecs of the same engine, and bf16 moments decoded into scratch shared per role.
 */
export class KernelShampooState implements ShampooState<F32Buffer> {
  readonly arithmetic: KernelArithmetic;
  readonly weights: readonly Float32Array[];
  readonly shapes: readonly (readonly number[])[];
  readonly host: ShampooHost;
  private readonly storage: ResolvedShampooStorage;
  private readonly maxNumel: number;
  private readonly momentWork = new Map<string, F32Buffer>();
  private writerInstance: Bf16Writer | null = null;
  private readonly roundingCounter: F64Buffer | null;

  constructor(host: ShampooHost, storage: ResolvedShampooStorage) {
    this.host = host;
    this.storage = storage;
    this.arithmetic = new KernelArithmetic(host.kernels);
    this.weights = host.params.map((p) => p.data);
    this.shapes = host.params.map((p) => p.shape);
    this.maxNumel = Math.max(...host.params.map((p) => p.data.length));
    this.roundingCounter = storage.stochasticRounding
      ? host.allocState(-1, 'bf16_rounding_counter', 'counter', 'f64', 1)
      : null;
  }

  /** The bf16 encoder and codecs; the stochastic-rounding counter (if enabled) is optimizer-wide state. */
  get writer(): Bf16Writer {
    this.writerInstance ??= new Bf16Writer(createCodecs(this.host.kernels), this.roundingCounter);
    return this.writerInstance;
  }

  matrix(
    param: number,
    name: string,
    kind: 'factor' | 'root' | 'basis' | 'eigenvalues',
    rows: number,
    cols: number,
    format: MatrixFormat,
  ): StoredMatrix<F32Buffer> {
    return createStoredMatrix(
      format,
      name,
      kind,
      rows,
      cols,
      (n, k, dtype, length) => this.host.allocState(param, n, k, dtype, length, { bf16: dtype === 'u16' }),
      // The codecs are created when a format first needs them (an fp32 optimizer creates none).
      { kernels: this.host.kernels, writer: () => this.writer, quanBlocksize: this.storage.quanBlocksize },
    );
  }

  vector(param: number, name: string, kind: StateKind, length: number): F32Buffer {
    return this.host.allocState(param, name, kind, 'f32', length);
  }

  counters(param: number, name: string, length: number): { view(): Int32Array } {
    return this.host.allocState(param, name, 'counter', 'i32', length);
  }

  moment(
    param: number,
    name: string,
    length: number,
    beta: number,
    role: string,
    elementwise: boolean,
    kind: 'moment' | 'grafting' = 'moment',
  ): MomentState<F32Buffer> {
    const kernels = this.host.kernels;
    let store: MomentStore;
    if (!momentInBf16(this.storage, beta, elementwise)) {
      store = MomentStore.fp32(this.host.allocState(param, name, kind, 'f32', length));
    } else {
      const state = this.host.allocState(param, name, kind, 'u16', length, { bf16: true });
      let work = this.momentWork.get(role);
      if (work === undefined) {
        work = kernels.arena.f32(this.maxNumel);
        this.momentWork.set(role, work);
      }
      store = MomentStore.bf16(state, work, this.writer);
    }
    return { load: () => store.load(), store: () => store.store(kernels) };
  }

  captureState(): () => void {
    return this.host.captureState();
  }

  paramLabel(i: number): string {
    return this.host.paramLabel(i);
  }
}
