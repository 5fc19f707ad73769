/**
 * Time as Xen gives it to PV guests: each vCPU's vcpu_time_info (system time in ns since boot,
 * extrapolated by the guest from a "TSC") and the wallclock in shared_info. pvkit's TSC is the
 * host's monotonic nanosecond counter (process.hrtime.bigint(), the same in every thread), so with
 * tsc_to_system_mul = 2^31 and tsc_shift = 1 one tick is one nanosecond. Writers follow Xen's version
 * protocol: version odd while writing, even when done.
 */
import { SharedInfo, VcpuInfo, VcpuTimeInfo } from "@pvkit/abi/layout";

export class Clock {
  /** Host TSC at hypervisor boot: system time 0. */
  readonly bootTsc = process.hrtime.bigint();
  /** Wallclock (ns since the epoch) at system time 0. */
  readonly bootWallNs = BigInt(Date.now()) * 1_000_000n;

  /** Nanoseconds since boot. */
  systemTime(): bigint {
    return process.hrtime.bigint() - this.bootTsc;
  }

  /** Writes vcpu_time_info for `vcpu` and the wallclock into a shared_info page. */
  publish(sharedInfo: DataView, vcpu = 0): void {
    const t = SharedInfo.offsets.vcpu_info + vcpu * VcpuInfo.size + VcpuInfo.offsets.time;
    const o = VcpuTimeInfo.offsets;
    const u32 = new Uint32Array(sharedInfo.buffer, sharedInfo.byteOffset, 1024);
    const version = (Atomics.load(u32, (t + o.version) >> 2) + 1) | 1;
    Atomics.store(u32, (t + o.version) >> 2, version);
    const tsc = process.hrtime.bigint();
    sharedInfo.setBigUint64(t + o.tsc_timestamp, tsc, true);
    sharedInfo.setBigUint64(t + o.system_time, tsc - this.bootTsc, true);
    sharedInfo.setUint32(t + o.tsc_to_system_mul, 0x8000_0000, true);
    sharedInfo.setInt8(t + o.tsc_shift, 1);
    Atomics.store(u32, (t + o.version) >> 2, version + 1);

    const w = SharedInfo.offsets;
    const wv = (Atomics.load(u32, w.wc_version >> 2) + 1) | 1;
    Atomics.store(u32, w.wc_version >> 2, wv);
    const sec = this.bootWallNs / 1_000_000_000n;
    sharedInfo.setUint32(w.wc_sec, Number(sec & 0xffff_ffffn), true);
    sharedInfo.setUint32(w.wc_nsec, Number(this.bootWallNs % 1_000_000_000n), true);
    sharedInfo.setUint32(w.wc_sec_hi, Number(sec >> 32n), true);
    Atomics.store(u32, w.wc_version >> 2, wv + 1);
  }
}
