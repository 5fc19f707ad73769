/**
 * What the hostile blkback test and its guests agree on: the images' contents (byte i of each file,
 * so a guest can check what it read without being told), where refused writes aim, and the disks'
 * virtual device numbers (docs/misc/vbd-interface.txt: xvda = 202 << 8, xvdb = 202 << 8 | 16).
 */
export const patternA = (i: number) => (i * 7 + (i >> 9)) & 0xff;
export const patternB = (i: number) => ((i * 5 + 3) ^ (i >> 12)) & 0xff;
export const patternVictim = (i: number) => (i * 11 + (i >> 10)) & 0xff;
/** Every write the backend must refuse aims here, from a page of 0xEE. */
export const POISON_SECTOR = 1000;
export const XVDA = 202 << 8;
export const XVDB = (202 << 8) | 16;

/** The victim's write of round `r`: where, how many sectors, and its byte j. */
export const victimRound = (r: number, sectors: number) => ({
  sector: (r * 97) % (sectors - 64),
  count: 64,
  byte: (j: number) => (r * 13 + j * 3 + (j >> 9)) & 0xff,
});
