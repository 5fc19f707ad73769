/**
 * What blkback serves a disk from: positional, vectored I/O on the host. dom0 implements it over a
 * raw image file (node:fs); the driver itself never touches the host. `readv` and `writev` take
 * views straight into the frontend's granted pages, so the host's read lands where the guest reads
 * it: no copy in between.
 */
export interface BlockStore {
  /** Size in bytes (a whole number of 512-byte sectors is served; a ragged tail is not). */
  readonly bytes: number;
  readonly readonly: boolean;
  /** Whether discard() can free space (hole punching on the host file). */
  readonly discards: boolean;
  /**
   * Fills `bufs`, in order, from byte `position`. Returns nothing when every byte was at hand and
   * `bufs` are filled already (the host's page cache held them): blkback then answers at once,
   * before it copies the next request's data.
   */
  readv(bufs: Uint8Array[], position: number): Promise<void> | undefined;
  /** Writes `bufs`, in order, at byte `position`. */
  writev(bufs: Uint8Array[], position: number): Promise<void>;
  /** Puts every completed write on stable storage (fdatasync). */
  flush(): Promise<void>;
  /** Frees [position, position + length); the range then reads as zeros. */
  discard(position: number, length: number): Promise<void>;
  close(): Promise<void>;
}
