/**
 * VXLAN encapsulation (RFC 7348): an Ethernet frame carried in a UDP datagram behind an 8-byte
 * header — a flags byte whose I bit (0x08) says the VNI is valid, 24 reserved bits, the 24-bit
 * VXLAN Network Identifier, and 8 more reserved bits:
 *
 *    0                   1                   2                   3
 *   |R|R|R|R|I|R|R|R|            Reserved                           |
 *   |                VXLAN Network Identifier (VNI) |   Reserved    |
 *
 * Senders set reserved bits to zero; receivers ignore them. The inner frame has no FCS. Linux's
 * `vxlan` link speaks exactly this, by default to UDP port 4789 (IANA's).
 */

export const VXLAN_HLEN = 8;
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_PORT = 4789;
/** An inner frame shorter than an Ethernet header is malformed. */
const ETH_HLEN = 14;

/** The datagram carrying `frame` on network `vni`. */
export function vxlanEncap(vni: number, frame: Uint8Array): Uint8Array {
  const d = new Uint8Array(VXLAN_HLEN + frame.length);
  d[0] = VXLAN_FLAG_I;
  d[4] = (vni >>> 16) & 0xff;
  d[5] = (vni >>> 8) & 0xff;
  d[6] = vni & 0xff;
  d.set(frame, VXLAN_HLEN);
  return d;
}

export type VxlanDecoded = { vni: number; frame: Uint8Array } | { error: string };

/** The frame in a datagram (a view into it), or why the datagram is not VXLAN we can use. */
export function vxlanDecap(datagram: Uint8Array): VxlanDecoded {
  if (datagram.length < VXLAN_HLEN + ETH_HLEN)
    return { error: `${datagram.length}-byte datagram is too short` };
  if (!(datagram[0]! & VXLAN_FLAG_I)) return { error: "I flag clear (no valid VNI)" };
  const vni = (datagram[4]! << 16) | (datagram[5]! << 8) | datagram[6]!;
  return { vni, frame: datagram.subarray(VXLAN_HLEN) };
}
