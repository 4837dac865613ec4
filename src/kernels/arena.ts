/**
 * A bump allocator over one `WebAssembly.Memory`. Every optimizer buffer (state and scratch) lives here, so
 * WASM kernels can address it by byte offset and TypeScript reads it through typed-array views.
 *
 * Growing a WebAssembly memory detaches every existing view of it. `ArenaBuffer.view()` is the one place that
 * handles this: it re-creates its cached view whenever the memory's `ArrayBuffer` has changed.
 */
export type DType = 'f32' | 'f64' | 'u8' | 'u16' | 'i32';

export interface ViewOf {
  f32: Float32Array;
  f64: Float64Array;
  u8: Uint8Array;
  u16: Uint16Array;
  i32: Int32Array;
}

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { f32: 4, f64: 8, u8: 1, u16: 2, i32: 4 };

const PAGE_BYTES = 65536;
const ALIGN = 16;

function makeView<D extends DType>(
  dtype: D,
  buffer: ArrayBuffer,
  byteOffset: number,
  length: number,
): ViewOf[D] {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer, byteOffset, length) as ViewOf[D];
    case 'f64':
      return new Float64Array(buffer, byteOffset, length) as ViewOf[D];
    case 'u8':
      return new Uint8Array(buffer, byteOffset, length) as ViewOf[D];
    case 'u16':
      return new Uint16Array(buffer, byteOffset, length) as ViewOf[D];
    default:
      return new Int32Array(buffer, byteOffset, length) as ViewOf[D];
  }
}

export class ArenaBuffer<D extends DType = DType> {
  readonly arena: Arena;
  readonly dtype: D;
  /** Offset in bytes from the start of the arena's memory. */
  readonly byteOffset: number;
  /** Number of elements. */
  readonly length: number;
  private cachedFor: ArrayBuffer | null = null;
  private cachedView: ViewOf[D] | null = null;

  constructor(arena: Arena, dtype: D, byteOffset: number, length: number) {
    this.arena = arena;
    this.dtype = dtype;
    this.byteOffset = byteOffset;
    this.length = length;
  }

  get byteLength(): number {
    return this.length * BYTES_PER_ELEMENT[this.dtype];
  }

  /** A typed-array view of the buffer; valid until the arena's memory grows (call again after allocations). */
  view(): ViewOf[D] {
    const buffer = this.arena.memory.buffer;
    if (this.cachedFor !== buffer || this.cachedView === null) {
      this.cachedView = makeView(this.dtype, buffer, this.byteOffset, this.length);
      this.cachedFor = buffer;
    }
    return this.cachedView;
  }

  /** A handle on `length` elements starting at element `start`, sharing this buffer's memory. */
  slice(start: number, length: number): ArenaBuffer<D> {
    if (start < 0 || length < 0 || start + length > this.length) {
      throw new RangeError(`slice [${start}, ${start + length}) outside a buffer of ${this.length} elements`);
    }
    return new ArenaBuffer(
      this.arena,
      this.dtype,
      this.byteOffset + start * BYTES_PER_ELEMENT[this.dtype],
      length,
    );
  }
}

export type F32Buffer = ArenaBuffer<'f32'>;
export type F64Buffer = ArenaBuffer<'f64'>;

export class Arena {
  readonly memory: WebAssembly.Memory;
  private top: number;

  /** `base` is the first byte the arena may hand out (a WASM module's own data and stack lie below it). */
  constructor(memory: WebAssembly.Memory, base = 0) {
    this.memory = memory;
    this.top = Math.ceil(base / ALIGN) * ALIGN;
  }

  /** Bytes handed out so far, including the reserved base. */
  get used(): number {
    return this.top;
  }

  alloc<D extends DType>(dtype: D, length: number): ArenaBuffer<D> {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`cannot allocate ${length} elements`);
    const bytes = length * BYTES_PER_ELEMENT[dtype];
    const offset = this.top;
    const end = offset + Math.ceil(bytes / ALIGN) * ALIGN;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE_BYTES));
    this.top = end;
    return new ArenaBuffer(this, dtype, offset, length);
  }

  f32(length: number): F32Buffer {
    return this.alloc('f32', length);
  }

  f64(length: number): F64Buffer {
    return this.alloc('f64', length);
  }

  /** A position to `release` back to: everything allocated after `mark()` is freed at once. */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    if (mark > this.top) throw new RangeError('release to a mark above the current top');
    this.top = mark;
  }
}
