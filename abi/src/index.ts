/**
 * @pvkit/abi: the hypercall ABI as data (abi/src/defs) plus the runtime contract generated code is
 * written against. Generated layout code is at "@pvkit/abi/layout", the guest SDK at "@pvkit/abi/guest".
 */
export * from "./schema.ts";
export * from "./runtime.ts";
export { abi } from "./abi.ts";
export { grantStatusName, shutdownReasonName } from "./names.ts";
