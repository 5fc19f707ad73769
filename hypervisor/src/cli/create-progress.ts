/**
 * `pvkit create`'s progress: the toolstack reports each step as it starts (reading the config,
 * creating the domain, building it, ...); when one of them has taken longer than a second, a bar on
 * stderr shows which step the create is in, and it is cleared when the create ends. Only on a
 * terminal: piped or redirected, stderr gets nothing and stdout never does, so scripts and tests
 * read exactly what they read without it.
 */
import cliProgress from "cli-progress";
import type { CreateProgress } from "@pvkit/abi/toolstack-protocol";

/** How long a step may take before the bar appears. */
export const SHOW_AFTER_MS = 1000;

export interface ProgressView {
  /** The toolstack started `p`. */
  step(p: CreateProgress): void;
  /** The create ended (either way): the bar, if shown, goes. */
  done(): void;
}

/** A progress view for creating `name`, drawn on `stream` only when it is a terminal. */
export function createProgress(
  name: string,
  stream: NodeJS.WriteStream = process.stderr,
  showAfterMs = SHOW_AFTER_MS,
): ProgressView {
  if (!stream.isTTY) return { step() {}, done() {} };
  let bar: cliProgress.SingleBar | undefined;
  let current: CreateProgress | undefined;
  let timer: NodeJS.Timeout | undefined;
  const show = () => {
    if (!current) return;
    if (!bar) {
      bar = new cliProgress.SingleBar({
        stream,
        format: `pvkit: create ${name} [{bar}] {value}/{total} {step}`,
        barsize: 20,
        clearOnComplete: true,
        hideCursor: true,
      });
      bar.start(current.total, current.index - 1, { step: current.step });
    } else bar.update(current.index - 1, { step: current.step });
  };
  return {
    step(p) {
      current = p;
      clearTimeout(timer);
      if (bar) show();
      else timer = setTimeout(show, showAfterMs).unref();
    },
    done() {
      clearTimeout(timer);
      bar?.stop();
    },
  };
}
