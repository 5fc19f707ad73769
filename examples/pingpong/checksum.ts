/** A position-dependent sum of bytes: ping and pong compute it the same way to check a bulk transfer. */
export function checksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum * 31 + data[i]!) >>> 0;
  return sum;
}
