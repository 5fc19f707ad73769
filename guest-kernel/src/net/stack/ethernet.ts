/**
 * Ethernet II framing: 6 bytes of destination MAC, 6 of source, a 2-byte EtherType, the payload.
 * Frames reach us without preamble or FCS (netfront hands over what the bridge switched); frames we
 * build are padded to the 60-byte minimum a wire needs (IEEE 802.3's 64 bytes less the FCS), and the
 * protocol above uses its own length field, so receivers ignore the padding.
 */

export const ETH_HLEN = 14;
/** The shortest frame on a wire, without its FCS. */
export const ETH_ZLEN = 60;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;

export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** "00:16:3e:00:00:0a" to its 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p)))
    throw new RangeError(`"${text}" is not a MAC address`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface EthHeader {
  dst: Uint8Array;
  src: Uint8Array;
  type: number;
  /** Everything after the header, padding included. */
  payload: Uint8Array;
}

/** The header of `frame`, or undefined when it is too short to hold one. */
export function parseEthernet(frame: Uint8Array): EthHeader | undefined {
  if (frame.length < ETH_HLEN) return undefined;
  return {
    dst: frame.subarray(0, 6),
    src: frame.subarray(6, 12),
    type: (frame[12]! << 8) | frame[13]!,
    payload: frame.subarray(ETH_HLEN),
  };
}

/** A frame from `src` to `dst` carrying `payload` as `type`, padded to the minimum length. */
export function buildEthernet(
  dst: Uint8Array,
  src: Uint8Array,
  type: number,
  payload: Uint8Array,
): Uint8Array {
  const f = new Uint8Array(Math.max(ETH_ZLEN, ETH_HLEN + payload.length));
  f.set(dst.subarray(0, 6), 0);
  f.set(src.subarray(0, 6), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, ETH_HLEN);
  return f;
}
