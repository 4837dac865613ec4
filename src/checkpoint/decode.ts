import { CheckpointError } from '../errors.ts';
import { BYTES_PER_ELEMENT, type DType } from '../kernels/arena.ts';
import {
  STATE_DICT_VERSION,
  type StateDict,
  type StateDictTensor,
  type StateKind,
  type TypedArray,
} from '../optimizers/optimizer.ts';
import { crc32 } from './crc32.ts';
import type { CheckpointHeaderV1 } from './encode.ts';
import {
  ALIGN,
  alignUp,
  CHECKPOINT_FORMAT_VERSION,
  HEADER_START,
  HOST_LITTLE_ENDIAN,
  IDENTITY_BYTES,
  LAYOUT,
  MAGIC,
  swapBytesInPlace,
} from './format.ts';
import { fromJsonValue, type JsonValue } from './json-value.ts';

/** What a checkpoint holds, besides the tensor data. */
export interface CheckpointInfo {
  formatVersion: number;
  byteLength: number;
  method: string;
  config: Record<string, unknown>;
  shapes: number[][];
  tensors: { param: number; name: string; kind: string; dtype: DType; length: number }[];
  metadata: Record<string, unknown> | undefined;
}

export type CheckpointBytes = Uint8Array | ArrayBuffer;

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

function asBytes(input: CheckpointBytes): Uint8Array {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  throw new CheckpointError('format', 'expected a Uint8Array or an ArrayBuffer');
}

function checkCrc(bytes: Uint8Array, start: number, end: number, stored: number, section: string): void {
  const actual = crc32(bytes, start, end);
  if (actual !== stored) {
    throw new CheckpointError(
      'corrupted',
      `${section} checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`,
    );
  }
}

/** Reads and checks the identity and layout blocks: magic, version, sizes, checksums. */
function readFrame(bytes: Uint8Array) {
  const seen = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < seen; i++) {
    if (bytes[i] !== MAGIC[i])
      throw new CheckpointError('format', 'not a shampoo-ts checkpoint (bad magic bytes)');
  }
  if (bytes.length < IDENTITY_BYTES) {
    throw new CheckpointError(
      'truncated',
      `${bytes.length} bytes, shorter than the ${IDENTITY_BYTES}-byte identity block`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkCrc(bytes, 0, 12, dv.getUint32(12, true), 'identity block');
  const formatVersion = dv.getUint32(8, true);
  if (formatVersion > CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      'version',
      `format version ${formatVersion} is newer than this library reads (${CHECKPOINT_FORMAT_VERSION}); upgrade shampoo-ts`,
    );
  }
  if (formatVersion < 1) throw new CheckpointError('format', `invalid format version ${formatVersion}`);
  if (bytes.length < HEADER_START) {
    throw new CheckpointError(
      'truncated',
      `${bytes.length} bytes, shorter than the ${HEADER_START}-byte preamble`,
    );
  }
  checkCrc(bytes, IDENTITY_BYTES, LAYOUT.layoutCrc, dv.getUint32(LAYOUT.layoutCrc, true), 'layout block');
  const flags = dv.getUint32(LAYOUT.flags, true);
  if (flags !== 0) {
    throw new CheckpointError(
      'version',
      `unknown feature flags ${hex(flags)}; written by a newer shampoo-ts`,
    );
  }
  const fileLength = Number(dv.getBigUint64(LAYOUT.fileLength, true));
  const headerLength = dv.getUint32(LAYOUT.headerLength, true);
  const payloadOffset = alignUp(HEADER_START + headerLength);
  if (fileLength % ALIGN !== 0 || fileLength < payloadOffset) {
    throw new CheckpointError(
      'format',
      `inconsistent layout: file length ${fileLength}, header length ${headerLength}`,
    );
  }
  if (bytes.length < fileLength) {
    throw new CheckpointError('truncated', `${bytes.length} of ${fileLength} bytes present`);
  }
  if (bytes.length > fileLength) {
    throw new CheckpointError(
      'corrupted',
      `${bytes.length - fileLength} unexpected bytes after the end (${fileLength} bytes)`,
    );
  }
  checkCrc(bytes, HEADER_START, payloadOffset, dv.getUint32(LAYOUT.headerCrc, true), 'header');
  checkCrc(bytes, payloadOffset, fileLength, dv.getUint32(LAYOUT.payloadCrc, true), 'payload');
  return {
    formatVersion,
    fileLength,
    headerLength,
    payloadOffset,
    tensorCount: dv.getUint32(LAYOUT.tensorCount, true),
  };
}

const isInt = (x: unknown, min: number): x is number => Number.isSafeInteger(x) && (x as number) >= min;
const fail = (message: string): never => {
  throw new CheckpointError('format', message);
};

/** Checks the header JSON's structure; the checksums passed, so a failure here is a writer's bug, not noise. */
function parseHeader(bytes: Uint8Array, frame: ReturnType<typeof readFrame>): CheckpointHeaderV1 {
  let h: CheckpointHeaderV1;
  try {
    h = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(HEADER_START, HEADER_START + frame.headerLength),
      ),
    );
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (h === null || typeof h !== 'object') fail('header is not a JSON object');
  if (h.stateDictFormat !== 'shampoo-ts/state-dict')
    fail(`unknown state format ${JSON.stringify(h.stateDictFormat)}`);
  if (!isInt(h.stateDictVersion, 1)) fail('stateDictVersion must be a positive integer');
  if (h.stateDictVersion > STATE_DICT_VERSION) {
    throw new CheckpointError(
      'version',
      `state dict version ${h.stateDictVersion} is newer than this library reads (${STATE_DICT_VERSION})`,
    );
  }
  if (typeof h.method !== 'string' || h.method.length === 0) fail('method must be a non-empty string');
  if (h.config === null || typeof h.config !== 'object' || Array.isArray(h.config))
    fail('config must be an object');
  if (
    h.metadata !== undefined &&
    (h.metadata === null || typeof h.metadata !== 'object' || Array.isArray(h.metadata))
  ) {
    fail('metadata must be an object');
  }
  if (!Array.isArray(h.shapes) || h.shapes.some((s) => !Array.isArray(s) || s.some((d) => !isInt(d, 0)))) {
    fail('shapes must be arrays of non-negative integers');
  }
  if (!Array.isArray(h.tensors) || h.tensors.length !== frame.tensorCount) {
    fail(
      `tensor table has ${Array.isArray(h.tensors) ? h.tensors.length : 'no'} entries, layout says ${frame.tensorCount}`,
    );
  }
  const payloadLength = frame.fileLength - frame.payloadOffset;
  let end = 0;
  const seen = new Set<string>();
  h.tensors.forEach((t, i) => {
    const where = `tensor ${i}`;
    if (t === null || typeof t !== 'object') fail(`${where} is not an object`);
    if (typeof t.name !== 'string' || t.name.length === 0) fail(`${where}: name must be a non-empty string`);
    if (!isInt(t.param, -1) || t.param >= h.shapes.length) fail(`${where}: param ${t.param} out of range`);
    if (typeof t.kind !== 'string' || t.kind.length === 0) fail(`${where}: kind must be a non-empty string`);
    if (!Object.hasOwn(BYTES_PER_ELEMENT, t.dtype))
      fail(`${where}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isInt(t.length, 0) || !isInt(t.offset, 0) || t.offset % ALIGN !== 0)
      fail(`${where}: bad length or offset`);
    if (t.offset < end) fail(`${where} overlaps the previous tensor`);
    end = t.offset + t.length * BYTES_PER_ELEMENT[t.dtype as DType];
    if (end > payloadLength) fail(`${where} extends past the payload`);
    const key = `${t.param}/${t.name}`;
    if (seen.has(key)) fail(`${where}: duplicate name '${t.name}' for param ${t.param}`);
    seen.add(key);
  });
  if (alignUp(end) !== payloadLength) fail(`payload is ${payloadLength} bytes, tensors need ${alignUp(end)}`);
  return h;
}

function makeTyped(dtype: DType, buffer: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer);
    case 'f64':
      return new Float64Array(buffer);
    case 'u8':
      return new Uint8Array(buffer);
    case 'u16':
      return new Uint16Array(buffer);
    default:
      return new Int32Array(buffer);
  }
}

function parse(input: CheckpointBytes, withData: boolean) {
  const bytes = asBytes(input);
  const frame = readFrame(bytes);
  const header = parseHeader(bytes, frame);
  const tensors: StateDictTensor[] = [];
  if (withData) {
    for (const t of header.tensors) {
      const dtype = t.dtype as DType;
      const size = BYTES_PER_ELEMENT[dtype];
      const at = frame.payloadOffset + t.offset;
      // Copy into a fresh buffer: the result must not alias the input, and the input may be unaligned.
      // (Not `bytes.slice`: on a Node Buffer that returns a view.)
      const copy = new Uint8Array(t.length * size);
      copy.set(bytes.subarray(at, at + copy.length));
      if (!HOST_LITTLE_ENDIAN) swapBytesInPlace(copy, size);
      tensors.push({
        param: t.param,
        name: t.name,
        kind: t.kind as StateKind,
        dtype,
        data: makeTyped(dtype, copy.buffer),
      });
    }
  }
  return { frame, header, tensors };
}

/**
 * Parses and fully verifies a checkpoint (magic, version, checksums, structure) and returns its state dict.
 * Throws a `CheckpointError` whose `reason` says what is wrong: 'truncated', 'corrupted', 'version' or 'format'.
 */
export function decodeCheckpoint(input: CheckpointBytes): StateDict {
  const { header, tensors } = parse(input, true);
  return {
    format: 'shampoo-ts/state-dict',
    version: header.stateDictVersion,
    method: header.method,
    config: fromJsonValue(header.config) as Record<string, unknown>,
    shapes: header.shapes,
    tensors,
  };
}

/** Verifies a checkpoint like `decodeCheckpoint` and describes it without copying tensor data. */
export function inspectCheckpoint(input: CheckpointBytes): CheckpointInfo {
  const { frame, header } = parse(input, false);
  return {
    formatVersion: frame.formatVersion,
    byteLength: frame.fileLength,
    method: header.method,
    config: fromJsonValue(header.config) as Record<string, unknown>,
    shapes: header.shapes,
    tensors: header.tensors.map(({ param, name, kind, dtype, length }) => ({
      param,
      name,
      kind,
      dtype: dtype as DType,
      length,
    })),
    metadata:
      header.metadata === undefined
        ? undefined
        : (fromJsonValue(header.metadata as JsonValue) as Record<string, unknown>),
  };
}
