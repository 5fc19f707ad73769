/**
 * `pvkit console <dom>`: the terminal becomes the guest's console. The tty goes raw so keystrokes
 * reach the guest unchanged; Ctrl-] (0x1d), as with `xl console`, detaches and restores the tty.
 * With input from a pipe, the session ends once the pipe has ended and the guest is quiet.
 */
import type { ControlClient } from "./client.ts";

const CTRL_RIGHT_BRACKET = 0x1d;
/** How long a guest must be quiet after piped input ended before the session ends. */
const QUIET_MS = 1000;

export async function attachConsole(client: ControlClient, domain: string): Promise<void> {
  await client.request({ op: "console", domain });
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  return new Promise((resolve) => {
    const done = () => {
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
      stdin.off("data", onKey);
      stdin.pause();
      client.close();
      resolve();
    };
    const onKey = (chunk: Buffer) => {
      const cut = chunk.indexOf(CTRL_RIGHT_BRACKET);
      if (cut >= 0) {
        if (cut > 0) client.socket.write(chunk.subarray(0, cut));
        done();
        return;
      }
      client.socket.write(chunk);
    };
    // Piped input: after its end, the session lasts until the guest has been quiet for QUIET_MS,
    // so the answer to the last line still arrives (as `nc -q` waits after EOF).
    let quiet: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    const settle = () => {
      clearTimeout(quiet);
      quiet = setTimeout(done, QUIET_MS);
    };
    client.rawMode((bytes) => {
      process.stdout.write(bytes);
      if (ended) settle();
    });
    client.socket.once("close", () => {
      clearTimeout(quiet);
      done();
    });
    if (stdin.isTTY) stdin.setRawMode(true);
    else
      stdin.once("end", () => {
        ended = true;
        settle();
      });
    stdin.on("data", onKey);
    stdin.resume();
  });
}
