export { bjorck } from './bjorck.ts';
export { type Eigh, type EighOptions, eigh, eigvalsh } from './eigh.ts';
export { linalgEngine, setLinalgEngine, workspaceFallbacks } from './engine.ts';
export { eigenReconstruct, inverseRootEigenvalues, matrixInverseRoot, type Ridge } from './inverse-root.ts';
export { orthogonalIterationStep } from './orthogonal-iteration.ts';
export { type QrOptions, type QrSign, qr, qrTransposed } from './qr.ts';
export { rayleighQuotients } from './rayleigh.ts';
