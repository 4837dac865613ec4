/**
 * Outcome of one amortized refresh (inverse root, eigendecomposition, eigenbasis step). Anything but 'ok'
 * means the previous root/basis was kept: the library's failure policy counts these per block and throws
 * after too many in a row.
 */
export type RefreshStatus = 'ok' | 'non-finite-input' | 'solver-failed' | 'non-finite-output';

export const REFRESH_FAILURE_TEXT: Readonly<Record<Exclude<RefreshStatus, 'ok'>, string>> = {
  'non-finite-input': 'the factor contains NaN or Infinity',
  'solver-failed': 'the eigensolver or QR failed',
  'non-finite-output': 'the computed root or basis contains NaN or Infinity',
};
