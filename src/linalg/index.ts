export { type Eigh, type EighOptions, eigh, eigvalsh } from './eigh.ts';
export { type QrOptions, type QrSign, qr } from './qr.ts';
