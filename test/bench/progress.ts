/**
 * Saying what the bench does now, on stderr (stdout carries the table and nothing else). Each phase
 * gets one line, `bench: <phase>`; a long phase that knows how many steps it has gets a progress
 * bar instead — only when stderr is a terminal, so a run piped into a file or a CI log reads the
 * same lines it always did. A phase's end says how long it took (`bench: <phase>: 9.1 s`): where a
 * run's minutes go is part of what it measures (--quick has a budget of one).
 */
import cliProgress from "cli-progress";

export interface Phase {
  /** `value` of the phase's `total` steps are done; `note` says what happens now. */
  update(value: number, note?: string): void;
  /** The phase ended: the bar, if drawn, is cleared and the phase's line stays. */
  done(): void;
}

/** Starts a phase called `name`; with a `total`, drawn as a bar on a terminal. */
export function phase(name: string, total?: number, stream: NodeJS.WriteStream = process.stderr): Phase {
  const t0 = performance.now();
  const took = () => `bench: ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`;
  if (!stream.isTTY || total === undefined) {
    stream.write(`bench: ${name}\n`);
    return { update() {}, done: () => void stream.write(took()) };
  }
  const bar = new cliProgress.SingleBar({
    stream,
    format: `bench: ${name} [{bar}] {value}/{total} {note}`,
    barsize: 24,
    clearOnComplete: true,
    hideCursor: true,
  });
  bar.start(total, 0, { note: "" });
  return {
    update(value, note = "") {
      bar.update(value, { note });
    },
    done() {
      bar.stop();
      stream.write(took());
    },
  };
}
