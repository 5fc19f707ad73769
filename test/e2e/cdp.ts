/**
 * The least of a debugger a test needs: a WebSocket to a V8 inspector (RFC 6455's handshake over
 * node:http's upgrade; Node 20 has no WebSocket client of its own) speaking the Chrome DevTools
 * Protocol: send a command and wait for its answer, or wait for an event. Frames from a client are
 * masked; the inspector's are not.
 */
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import type { Socket } from "node:net";

/** One masked text frame carrying `text` (client to server). */
function frame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const mask = randomBytes(4);
  const len = payload.length;
  const head =
    len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]); // commands stay under 64 KiB
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

/** Complete unmasked frames at the front of `buf`: their texts, and the bytes left over. */
function readFrames(buf: Buffer): { texts: string[]; rest: Buffer } {
  const texts: string[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    let len = buf[at + 1]! & 0x7f;
    let start = at + 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      start = at + 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = Number(buf.readBigUInt64BE(at + 2));
      start = at + 10;
    }
    if (buf.length < start + len) break;
    if ((buf[at]! & 0x0f) === 0x1) texts.push(buf.subarray(start, start + len).toString("utf8"));
    at = start + len;
  }
  return { texts, rest: buf.subarray(at) };
}

interface Message {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { message: string };
}

export interface CdpSession {
  /** Sends CDP `method`; resolves with its result. */
  call(method: string, params?: object): Promise<unknown>;
  /** Resolves with the params of the next `method` event (or one that came already). */
  event(method: string): Promise<unknown>;
  close(): void;
}

/** Opens a CDP session on `wsUrl` (ws://host:port/id). */
export function cdpSession(wsUrl: string): Promise<CdpSession> {
  const url = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      },
    });
    req.on("error", reject);
    req.on("response", (res) => reject(new Error(`no WebSocket at ${wsUrl}: HTTP ${res.statusCode}`)));
    req.on("upgrade", (_res, socket: Socket, head: Buffer) => {
      let buf = head;
      let nextId = 1;
      const answers = new Map<number, (m: Message) => void>();
      const events: Message[] = [];
      const eventWaiters: { method: string; resolve: (p: unknown) => void }[] = [];
      const onMessage = (m: Message) => {
        if (m.id !== undefined) return answers.get(m.id)?.(m);
        const w = eventWaiters.findIndex((x) => x.method === m.method);
        if (w >= 0) eventWaiters.splice(w, 1)[0]!.resolve(m.params);
        else events.push(m);
      };
      socket.on("data", (chunk: Buffer) => {
        const { texts, rest } = readFrames(Buffer.concat([buf, chunk]));
        buf = rest;
        for (const t of texts) onMessage(JSON.parse(t) as Message);
      });
      resolve({
        call(method, params = {}) {
          const id = nextId++;
          return new Promise((done, fail) => {
            answers.set(id, (m) =>
              m.error ? fail(new Error(`${method}: ${m.error.message}`)) : done(m.result),
            );
            socket.write(frame(JSON.stringify({ id, method, params })));
          });
        },
        event(method) {
          const i = events.findIndex((m) => m.method === method);
          if (i >= 0) return Promise.resolve(events.splice(i, 1)[0]!.params);
          return new Promise((r) => eventWaiters.push({ method, resolve: r }));
        },
        close: () => socket.destroy(),
      });
    });
    req.end();
  });
}
