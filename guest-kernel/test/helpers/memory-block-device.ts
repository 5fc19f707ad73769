/**
 * A BlockDevice in memory for tests: a byte array, with every request recorded (so a test can see
 * how many device reads/writes a layer above made) and failures that can be switched on.
 */
import { BlockError, checkRequest, SECTOR_SIZE, type BlockDevice } from "../../src/block/device.ts";

export interface Request {
  op: "read" | "write" | "flush" | "discard";
  sector: number;
  sectors: number;
}

export class MemoryBlockDevice implements BlockDevice {
  readonly sectorSize = SECTOR_SIZE;
  readonly flushes = true;
  readonly discards = false;
  readonly bytes: Uint8Array;
  readonly log: Request[] = [];
  /** Set to make every read (or write) fail with EIO. */
  failReads = false;
  failWrites = false;
  /** Resolves each read only when the test says so, if set (to hold requests in flight). */
  gate?: Promise<void>;

  constructor(
    size: number,
    readonly name = "xvda",
    readonly readonly = false,
  ) {
    this.bytes = new Uint8Array(size);
  }

  get sectors(): number {
    return this.bytes.length / SECTOR_SIZE;
  }

  async read(sector: number, buf: Uint8Array): Promise<void> {
    checkRequest(this, "read", sector, buf.length);
    this.log.push({ op: "read", sector, sectors: buf.length / SECTOR_SIZE });
    if (this.gate) await this.gate;
    if (this.failReads) throw new BlockError("EIO", `${this.name}: read failed`);
    buf.set(this.bytes.subarray(sector * SECTOR_SIZE, sector * SECTOR_SIZE + buf.length));
  }

  async write(sector: number, data: Uint8Array): Promise<void> {
    checkRequest(this, "write", sector, data.length);
    this.log.push({ op: "write", sector, sectors: data.length / SECTOR_SIZE });
    if (this.failWrites) throw new BlockError("EIO", `${this.name}: write failed`);
    this.bytes.set(data, sector * SECTOR_SIZE);
  }

  async flush(): Promise<void> {
    this.log.push({ op: "flush", sector: 0, sectors: 0 });
  }

  async discard(sector: number, count: number): Promise<void> {
    checkRequest(this, "discard", sector, count * SECTOR_SIZE);
    this.log.push({ op: "discard", sector, sectors: count });
  }

  /** Requests of one kind since the log was last cleared. */
  ops(op: Request["op"]): Request[] {
    return this.log.filter((r) => r.op === op);
  }
}
