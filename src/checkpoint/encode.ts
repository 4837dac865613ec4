import { BYTES_PER_ELEMENT } from '../kernels/arena.ts';
import type { StateDict } from '../optimizers/optimizer.ts';
import { crc32 } from './crc32.ts';
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
import { type JsonValue, toJsonValue } from './json-value.ts';

/** Anything with a `stateDict()`: every `Optimizer`. */
export interface HasStateDict {
  stateDict(): StateDict;
}

export interface EncodeOptions {
  /** Free-form JSON stored beside the state (epoch, data position, ...); read back with `inspectCheckpoint`. */
  metadata?: Record<string, unknown>;
}

/** The header's JSON, version 1 (docs/checkpoints.md). */
export interface CheckpointHeaderV1 {
  stateDictFormat: string;
  stateDictVersion: number;
  method: string;
  config: JsonValue;
  shapes: number[][];
  tensors: { param: number; name: string; kind: string; dtype: string; length: number; offset: number }[];
  metadata?: JsonValue;
}

function isStateDict(x: HasStateDict | StateDict): x is StateDict {
  return typeof (x as HasStateDict).stateDict !== 'function';
}

/**
 * Serializes an optimizer's state (or a state dict) into a self-describing, checksummed byte array.
 * Deterministic: the same state always encodes to the same bytes.
 */
export function encodeCheckpoint(source: HasStateDict | StateDict, options: EncodeOptions = {}): Uint8Array {
  const state = isStateDict(source) ? source : source.stateDict();
  let offset = 0;
  const tensors = state.tensors.map((t) => {
    const entry = {
      param: t.param,
      name: t.name,
      kind: t.kind,
      dtype: t.dtype,
      length: t.data.length,
      offset,
    };
    offset = alignUp(offset + t.data.length * BYTES_PER_ELEMENT[t.dtype]);
    return entry;
  });
  const payloadLength = offset;
  const header: CheckpointHeaderV1 = {
    stateDictFormat: state.format,
    stateDictVersion: state.version,
    method: state.method,
    config: toJsonValue(state.config, 'config'),
    shapes: state.shapes.map((s) => [...s]),
    tensors,
  };
  if (options.metadata !== undefined) header.metadata = toJsonValue(options.metadata, 'metadata');
  const json = new TextEncoder().encode(JSON.stringify(header));
  const payloadOffset = alignUp(HEADER_START + json.length);
  const fileLength = payloadOffset + payloadLength;

  const out = new Uint8Array(fileLength);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint32(8, CHECKPOINT_FORMAT_VERSION, true);
  dv.setUint32(12, crc32(out, 0, 12), true);

  out.set(json, HEADER_START);
  state.tensors.forEach((t, i) => {
    const at = payloadOffset + tensors[i].offset;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    if (!HOST_LITTLE_ENDIAN) {
      swapBytesInPlace(out.subarray(at, at + t.data.byteLength), BYTES_PER_ELEMENT[t.dtype]);
    }
  });

  dv.setBigUint64(LAYOUT.fileLength, BigInt(fileLength), true);
  dv.setUint32(LAYOUT.headerLength, json.length, true);
  dv.setUint32(LAYOUT.tensorCount, tensors.length, true);
  dv.setUint32(LAYOUT.headerCrc, crc32(out, HEADER_START, payloadOffset), true);
  dv.setUint32(LAYOUT.payloadCrc, crc32(out, payloadOffset, fileLength), true);
  dv.setUint32(LAYOUT.flags, 0, true);
  dv.setUint32(LAYOUT.layoutCrc, crc32(out, IDENTITY_BYTES, LAYOUT.layoutCrc), true);
  if (fileLength % ALIGN !== 0) throw new Error('checkpoint length is not a multiple of 16');
  return out;
}
