/** Versioned binary checkpoints of optimizer state. Browser-safe: the file helpers live in `./node.ts`. */
export { crc32 } from './crc32.ts';
export { type CheckpointBytes, type CheckpointInfo, decodeCheckpoint, inspectCheckpoint } from './decode.ts';
export {
  type CheckpointHeaderV1,
  type EncodeOptions,
  encodeCheckpoint,
  type HasStateDict,
} from './encode.ts';
export { CHECKPOINT_FORMAT_VERSION, MAGIC } from './format.ts';
export { configDifferences, type LoadOptions, type LoadReport, loadCheckpointInto } from './load.ts';
