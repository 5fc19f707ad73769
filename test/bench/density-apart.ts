/**
 * The density bench in a process of its own: a host's idle cost is measured on a fresh host, not
 * on the bench's process after every other benchmark (and the other density mode) left their
 * garbage, compiled code and V8's after-start tidying in it. Run as a child of `pnpm bench`, it
 * reports its progress and result over IPC; `runDensityApart` is the parent's side.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runDensity, type DensityOptions, type DensityResult } from "./density.ts";

type FromChild =
  { t: "progress"; up: number } | { t: "result"; result: DensityResult } | { t: "error"; message: string };

/** Runs runDensity(o) in a fresh Node process (with tsx, as the bench itself runs). */
export function runDensityApart(o: Omit<DensityOptions, "progress">, progress?: (up: number) => void) {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(o)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise<DensityResult>((resolve, reject) => {
    let settled = false;
    child.on("message", (m: FromChild) => {
      if (m.t === "progress") progress?.(m.up);
      else if (m.t === "result") ((settled = true), resolve(m.result));
      else ((settled = true), reject(new Error(m.message)));
    });
    child.on("exit", (code, signal) => {
      if (!settled) reject(new Error(`the density run ended without a result (${signal ?? `exit ${code}`})`));
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const send = (m: FromChild) => new Promise<void>((r) => process.send!(m, () => r()));
  try {
    const o = JSON.parse(process.argv[2]!) as DensityOptions;
    const result = await runDensity({ ...o, progress: (up) => void send({ t: "progress", up }) });
    await send({ t: "result", result });
  } catch (e) {
    await send({ t: "error", message: e instanceof Error ? e.message : String(e) });
  }
  process.exit(0);
}
