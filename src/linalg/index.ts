export { type Eigh, eigh } from './eigh.ts';
export { type QrSign, qr } from './qr.ts';
