/**
 * @pvkit/codegen: builds the validated ABI model and generates code for both sides of the ABI.
 * `buildModel` is also the layout authority the conformance test compares with Xen's headers.
 */
export { buildModel, ringEntries } from "./model/build.ts";
export { pascalCase, camelCase } from "./model/names.ts";
export * from "./model/types.ts";
export {
  COMMON_ERRORS,
  UNKNOWN_OP_ERROR,
  documentedErrors,
  dispatcherErrors,
  type ErrorRow,
} from "./model/errors.ts";
