/**
 * The map from the model to the files codegen owns: one generator per emitted file. Paths are relative
 * to the workspace root; the import specifiers are what the generated files use to reach hand-written code.
 */
import { generateCHeader } from "./emit/c-header.ts";
import { generateDispatch } from "./emit/dispatch-ts.ts";
import { generateExamples } from "./emit/examples-ts.ts";
import { generateGuest } from "./emit/guest-ts.ts";
import { generateHandlers } from "./emit/handlers-ts.ts";
import { generateLayout } from "./emit/layout-ts.ts";
import { EXAMPLES_PATH, generateReference } from "./emit/markdown.ts";
import { renderSummary } from "./emit/summary.ts";
import type { AbiModel } from "./model/types.ts";
import type { OutputFile } from "./output.ts";

export const SUMMARY_PATH = "abi/abi.summary";

/**
 * `relative` is the workspace layout; `package` makes every import a package specifier so that a copy
 * generated elsewhere inside the workspace (tests) still resolves the hand-written runtime.
 */
export function generateAll(model: AbiModel, imports: "relative" | "package" = "relative"): OutputFile[] {
  const runtime = imports === "relative" ? "../runtime.ts" : "@pvkit/abi/runtime";
  const base = imports === "relative" ? "../sdk-base.ts" : "@pvkit/abi/sdk-base";
  return [
    { path: "abi/src/generated/layout.ts", content: generateLayout(model, runtime) },
    {
      path: "abi/src/generated/guest.ts",
      content: generateGuest(model, { runtime, base, layout: "./layout.ts" }),
    },
    {
      path: "hypervisor/src/generated/handlers.ts",
      content: generateHandlers(model, { runtime: "@pvkit/abi", layout: layoutFrom(imports) }),
    },
    {
      path: "hypervisor/src/generated/dispatch.ts",
      content: generateDispatch(model, {
        runtime: "@pvkit/abi",
        layout: layoutFrom(imports),
        handlers: "./handlers.ts",
      }),
    },
    { path: "abi/include/pvkit/abi.h", content: generateCHeader(model) },
    { path: "docs/abi-reference.md", content: generateReference(model) },
    // Package specifiers in both modes: the examples are guest code, outside the generated packages.
    {
      path: EXAMPLES_PATH,
      content: generateExamples(model, {
        program: "@pvkit/guest-kernel/kernel/program",
        layout: "@pvkit/abi/layout",
        guest: "@pvkit/abi/guest",
      }),
    },
    { path: SUMMARY_PATH, content: renderSummary(model) },
  ];
}

/** The hypervisor reaches the shared layout through the package, or (package mode) next door. */
const layoutFrom = (imports: "relative" | "package") =>
  imports === "relative" ? "@pvkit/abi/layout" : "../../../abi/src/generated/layout.ts";
