import type { ArenaBuffer, DType, F32Buffer, F64Buffer, Kernels } from '../kernels/index.ts';
import { type KroneckerSide, SideScratch } from '../preconditioner/kronecker-side.ts';
import { Bf16Writer } from '../storage/bf16-writer.ts';
import type { Codecs } from '../storage/codecs.ts';
import { createFactorStore } from '../storage/factor-stores.ts';
import { MomentStore } from '../storage/moment-store.ts';
import { momentInBf16, type ResolvedStorage } from '../storage/precision.ts';
import type { StoreContext } from '../storage/store-context.ts';
import { createCodecs } from '../storage/wasm-codecs.ts';
import type { StateKind } from './optimizer.ts';

/** `Optimizer.allocState`, handed over by the method. */
export type RegisterState = <D extends DType>(
  param: number,
  name: string,
  kind: StateKind,
  dtype: D,
  length: number,
  options?: { bf16?: boolean },
) => ArenaBuffer<D>;

/** Which fp32 scratch a bf16 moment decodes into: one buffer per role, shared by all parameters. */
export type MomentRole = 'first' | 'second';

/**
 * The storage side of a method's constructor: the scratch and codecs its factor stores share, the stores
 * themselves (by precision) and the moments (fp32 or bf16 by their EMA decay). Everything is allocated here,
 * once; `invalidate` is what the method calls when its state was replaced from outside.
 */
export class MethodStorage {
  readonly storage: ResolvedStorage;
  private readonly kernels: Kernels;
  private readonly register: RegisterState;
  private readonly scratch: SideScratch;
  private readonly maxNumel: number;
  private readonly sides: KroneckerSide[] = [];
  private readonly momentWork = new Map<MomentRole, F32Buffer>();
  private context: StoreContext | null = null;
  private writerInstance: Bf16Writer | null = null;
  private readonly roundingCounter: F64Buffer | null;
  private codecsInstance: Codecs | null = null;

  constructor(
    kernels: Kernels,
    register: RegisterState,
    storage: ResolvedStorage,
    maxDim: number,
    maxNumel: number,
  ) {
    this.kernels = kernels;
    this.register = register;
    this.storage = storage;
    this.maxNumel = maxNumel;
    this.scratch = new SideScratch(kernels, maxDim);
    this.roundingCounter = storage.stochasticRounding
      ? register(-1, 'bf16_rounding_counter', 'counter', 'f64', 1)
      : null;
  }

  private get codecs(): Codecs {
    this.codecsInstance ??= createCodecs(this.kernels);
    return this.codecsInstance;
  }

  /** The bf16 encoder; its stochastic-rounding counter (if enabled) is optimizer-wide state. */
  private get writer(): Bf16Writer {
    this.writerInstance ??= new Bf16Writer(this.codecs, this.roundingCounter);
    return this.writerInstance;
  }

  private get ctx(): StoreContext {
    this.context ??= {
      kernels: this.kernels,
      codecs: this.codecs,
      scratch: this.scratch,
      storage: this.storage,
      writer: this.writer,
    };
    return this.context;
  }

  /** The store of side `mode` (d×d) of parameter `param`. */
  side(param: number, d: number, mode: number): KroneckerSide {
    // Every u16 buffer of a store holds bf16 values.
    const side = createFactorStore(this.ctx, d, mode, (name, kind, dtype, length) =>
      this.register(param, name, kind, dtype, length, { bf16: dtype === 'u16' }),
    );
    this.sides.push(side);
    return side;
  }

  /**
   * A moment of `length` elements of parameter `param`, whose EMA decay is `beta`; `elementwise`: it is used
   * per coordinate (Adam's moments), not fed to a dense preconditioner (see `momentInBf16`).
   */
  moment(
    param: number,
    name: string,
    length: number,
    beta: number,
    role: MomentRole,
    elementwise = true,
  ): MomentStore {
    if (!momentInBf16(this.storage, beta, elementwise))
      return MomentStore.fp32(this.register(param, name, 'moment', 'f32', length));
    const state = this.register(param, name, 'moment', 'u16', length, { bf16: true });
    let work = this.momentWork.get(role);
    if (work === undefined) {
      work = this.kernels.arena.f32(this.maxNumel);
      this.momentWork.set(role, work);
    }
    return MomentStore.bf16(state, work, this.writer);
  }

  /** Every store forgets what it derived from its state. */
  invalidate(): void {
    for (const side of this.sides) side.invalidate();
  }
}
