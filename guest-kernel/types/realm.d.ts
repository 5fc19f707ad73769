/**
 * The globals of a domU's realm, for a guest project's type-checker: the JavaScript language (lib
 * ES2024) plus exactly what the hypervisor endows each domU's compartment with — timers, text
 * codecs, a coarse `performance.now`, and an early `console` that writes to the hypervisor console
 * (`pvkit dmesg <domain>`). No `process`, no `require`, no Node or DOM object exists in a guest; a
 * program that type-checks against these globals finds at run time everything it named.
 * (`pvkit init` includes this file from a project's tsconfig.json.)
 */
declare function setTimeout(fn: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function setInterval(fn: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function setImmediate(fn: (...args: any[]) => void, ...args: any[]): number;
declare function clearTimeout(id: number | undefined): void;
declare function clearInterval(id: number | undefined): void;
declare function clearImmediate(id: number | undefined): void;
declare function queueMicrotask(fn: () => void): void;

declare class TextEncoder {
  readonly encoding: "utf-8";
  encode(input?: string): Uint8Array;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  readonly encoding: string;
  decode(input?: ArrayBufferView | ArrayBuffer, options?: { stream?: boolean }): string;
}

/** Milliseconds since the realm started, coarsened (a fine clock is a side channel). */
declare const performance: { now(): number };

/** The early console: each call writes one line to the hypervisor console (console_io). */
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};
