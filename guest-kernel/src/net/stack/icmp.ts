/**
 * ICMP for IPv4 (RFC 792): the messages this stack sends and understands.
 *
 * Every message starts type(1) code(1) checksum(2) and four bytes whose meaning depends on the
 * type; the checksum covers the whole ICMP message (no pseudo-header).
 * - Echo request (8) / reply (0): identifier(2) sequence(2), then data the reply returns unchanged.
 *   That is ping: the identifier picks the pinging program, the sequence the probe.
 * - Destination unreachable (3): four unused bytes, then the offending datagram's IP header and the
 *   first 8 bytes of its payload — enough for the sender to find its UDP or TCP ports. Code 3 is
 *   "port unreachable": a UDP datagram came for a port nobody bound.
 *
 * RFC 1122 3.2.2 says when not to send an error: never about an ICMP error, a broadcast or
 * multicast datagram, or a non-first fragment. The stack checks those before calling
 * buildUnreachable.
 */
import { checksum } from "./checksum.ts";

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_PORT_UNREACH = 3;
const ICMP_HLEN = 8;

export interface IcmpMessage {
  type: number;
  code: number;
  /** Bytes 4..7: identifier and sequence of an echo, unused for an unreachable. */
  id: number;
  seq: number;
  /** What follows the 8-byte header. */
  body: Uint8Array;
}

/** The ICMP message in `data`, or why it was refused. */
export function parseIcmp(data: Uint8Array): IcmpMessage | "icmp.truncated" | "icmp.bad-checksum" {
  if (data.length < ICMP_HLEN) return "icmp.truncated";
  if (checksum(data) !== 0) return "icmp.bad-checksum";
  return {
    type: data[0]!,
    code: data[1]!,
    id: (data[4]! << 8) | data[5]!,
    seq: (data[6]! << 8) | data[7]!,
    body: data.subarray(ICMP_HLEN),
  };
}

function build(type: number, code: number, word: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(ICMP_HLEN + body.length);
  m[0] = type;
  m[1] = code;
  m[4] = word >>> 24;
  m[5] = (word >>> 16) & 0xff;
  m[6] = (word >>> 8) & 0xff;
  m[7] = word & 0xff;
  m.set(body, ICMP_HLEN);
  const sum = checksum(m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
  return m;
}

/** An echo request or reply. */
export function buildEcho(type: number, id: number, seq: number, data: Uint8Array): Uint8Array {
  return build(type, 0, ((id & 0xffff) << 16) | (seq & 0xffff), data);
}

/** A destination unreachable about `datagram` (its IP header and 8 bytes of what follows). */
export function buildUnreachable(code: number, datagram: Uint8Array, headerLength: number): Uint8Array {
  return build(ICMP_DEST_UNREACH, code, 0, datagram.subarray(0, headerLength + 8));
}
