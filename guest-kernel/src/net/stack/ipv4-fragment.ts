/**
 * IPv4 fragmentation (RFC 791 section 3.2): cutting a datagram too large for a link's MTU into
 * fragments that each fit, for the receiver to put back together (ipv4-reassembly.ts).
 *
 * Every fragment repeats the 20-byte header with its own total length, checksum and flags word; the
 * identification stays the same, which is how the receiver knows the pieces belong together. The
 * data is cut at multiples of 8 bytes, because the fragment offset field counts 8-byte units, and
 * every fragment but the last has More Fragments set.
 *
 * A datagram that is already a fragment can be cut again (a router on a narrower path does this):
 * the pieces' offsets count from its offset, and only the last piece keeps its More Fragments flag,
 * so the receiver cannot tell the difference from cutting the original once.
 *
 * Headers with options are refused rather than handled: RFC 791 copies only the options whose
 * "copied" bit is set into the later fragments, and nothing here sends options.
 */
import { checksum } from "./checksum.ts";
import { IP_HLEN, parseIpv4 } from "./ipv4.ts";

/** More Fragments, in the flags word (bytes 6-7 of the header). */
const IP_MF = 0x2000;

/**
 * `datagram` (a whole, valid IPv4 datagram with a 20-byte header) as fragments of at most `mtu`
 * bytes each. A datagram that already fits is returned alone, as it is. Throws RangeError when it
 * is not a valid datagram, has options, has Don't Fragment set and does not fit, or when `mtu`
 * leaves no room for 8 bytes of data after the header.
 */
export function fragmentIpv4(datagram: Uint8Array, mtu: number): Uint8Array[] {
  const h = parseIpv4(datagram);
  if (typeof h === "string") throw new RangeError(`not an IPv4 datagram (${h})`);
  if (h.totalLength <= mtu) return [datagram.subarray(0, h.totalLength)];
  if (h.headerLength !== IP_HLEN) throw new RangeError("cannot fragment a datagram with IP options");
  if (h.df)
    throw new RangeError(`${h.totalLength} bytes do not fit the MTU (${mtu}) and Don't Fragment is set`);
  // The most data a fragment can carry: what the MTU leaves after the header, rounded down to 8.
  const step = Math.floor((mtu - IP_HLEN) / 8) * 8;
  if (!Number.isInteger(mtu) || step < 8)
    throw new RangeError(`an MTU of ${mtu} leaves no room for a fragment`);

  const out: Uint8Array[] = [];
  for (let at = 0; at < h.payload.length; at += step) {
    const data = h.payload.subarray(at, at + step);
    const last = at + step >= h.payload.length;
    const f = new Uint8Array(IP_HLEN + data.length);
    f.set(h.header, 0);
    f.set(data, IP_HLEN);
    f[2] = f.length >> 8;
    f[3] = f.length & 0xff;
    const units = (h.fragmentOffset + at) / 8;
    // Only the last piece inherits the original's MF: if the original was itself a middle piece,
    // data still follows after our last piece too.
    // DF is clear here (a datagram with it set was refused above).
    const flags = !last || h.mf ? IP_MF : 0;
    f[6] = (flags | units) >> 8;
    f[7] = units & 0xff;
    f[10] = 0;
    f[11] = 0;
    const sum = checksum(f.subarray(0, IP_HLEN));
    f[10] = sum >> 8;
    f[11] = sum & 0xff;
    out.push(f);
  }
  return out;
}
