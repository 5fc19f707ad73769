/**
 * `pvkit console <dom>`: the terminal becomes the guest's console. The tty goes raw so keystrokes
 * reach the guest unchanged; Ctrl-] (0x1d), as with `xl console`, detaches and restores the tty.
 */
import type { ControlClient } from "./client.ts";

const CTRL_RIGHT_BRACKET = 0x1d;

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
    client.rawMode((bytes) => process.stdout.write(bytes));
    client.socket.once("close", done);
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on("data", onKey);
    stdin.resume();
  });
}
