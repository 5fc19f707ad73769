/**
 * XS_DIRECTORY_PART: a large child list served in pieces that each fit one message. A piece is
 * "<generation>\0" followed by whole NUL-terminated names starting at a byte `offset` into the full
 * list; the last piece carries one more NUL. A client that sees the generation change restarts.
 */
import { XENSTORE_PAYLOAD_MAX } from "./abi.ts";
import type { Node } from "./tree.ts";

/** The reply payload for one XS_DIRECTORY_PART request (names are ASCII, so chars = bytes). */
export function directoryPart(node: Node, offset: number): string {
  const all = node.children.map((c) => c + "\0").join("");
  const gen = `${node.gen}\0`;
  if (offset >= all.length) return gen + "\0";
  // Room for names: the whole payload minus the generation and the final terminator.
  const room = XENSTORE_PAYLOAD_MAX - gen.length - 1;
  let end = offset;
  for (;;) {
    const nul = all.indexOf("\0", end);
    if (nul < 0 || nul + 1 - offset > room) break;
    end = nul + 1;
  }
  return gen + all.slice(offset, end) + (end === all.length ? "\0" : "");
}
