/** @pvkit/drivers: split front/back drivers. The shared-ring library comes first; blkif and vmxnet build on it. */
export { BackRing, FrontRing } from "./ring.ts";
