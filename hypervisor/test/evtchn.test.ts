// EventChannels: every EVTCHNOP's success path and each errno, over real shared_info pages.
import { beforeEach, describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOSPC,
  EPERM,
  ESRCH,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  VIRQ_CONSOLE,
  VIRQ_DOM_EXC,
  VIRQ_TIMER,
} from "../src/evtchn/consts.ts";
import { EventChannels } from "../src/evtchn/evtchn.ts";
import { FakeEvtchnHost } from "../src/evtchn/fake_host.ts";

const pendingBit = (page: DataView, port: number) =>
  (page.getBigUint64(2048 + Math.floor(port / 64) * 8, true) >> BigInt(port % 64)) & 1n;

let host: FakeEvtchnHost;
let ev: EventChannels;
beforeEach(() => {
  host = new FakeEvtchnHost();
  host.addDomain(0, 1);
  host.addDomain(1, 2);
  host.addDomain(2, 1);
  ev = new EventChannels(host);
});

/** dom1 allocates for dom2, dom2 binds: returns [port in 1, port in 2]. */
function connect(): [number, number] {
  const p1 = ev.allocUnbound(1, false, DOMID_SELF, 2);
  const p2 = ev.bindInterdomain(2, 1, p1);
  expect(p1).toBeGreaterThan(0);
  expect(p2).toBeGreaterThan(0);
  return [p1, p2];
}

describe("alloc_unbound", () => {
  it("hands out the lowest free port from 1 and records who may bind", () => {
    expect(ev.allocUnbound(1, false, DOMID_SELF, 2)).toBe(1);
    expect(ev.allocUnbound(1, false, 1, DOMID_SELF)).toBe(2);
    expect(ev.status(1, false, DOMID_SELF, 1)).toMatchObject({ status: EVTCHNSTAT_unbound, dom: 2 });
    expect(ev.status(1, false, DOMID_SELF, 2)).toMatchObject({ status: EVTCHNSTAT_unbound, dom: 1 });
    expect(ev.portCount(1)).toBe(2);
  });
  it("lets only a privileged caller allocate in another domain", () => {
    expect(ev.allocUnbound(1, false, 2, 0)).toBe(-EPERM);
    expect(ev.allocUnbound(0, true, 2, 0)).toBe(1);
    expect(ev.portCount(2)).toBe(1);
  });
  it("refuses unknown domains with -ESRCH", () => {
    expect(ev.allocUnbound(0, true, 9, 0)).toBe(-ESRCH);
    expect(ev.allocUnbound(1, false, DOMID_SELF, 9)).toBe(-ESRCH);
  });
  it("runs out with -ENOSPC", () => {
    ev = new EventChannels(host, { maxPorts: 4 });
    for (let i = 1; i < 4; i++) expect(ev.allocUnbound(1, false, DOMID_SELF, 2)).toBe(i);
    expect(ev.allocUnbound(1, false, DOMID_SELF, 2)).toBe(-ENOSPC);
  });
});

describe("bind_interdomain", () => {
  it("connects both ends and leaves the new local port pending", () => {
    const [p1, p2] = connect();
    expect(ev.status(1, false, DOMID_SELF, p1)).toMatchObject({
      status: EVTCHNSTAT_interdomain,
      dom: 2,
      port: p2,
    });
    expect(ev.status(2, false, DOMID_SELF, p2)).toMatchObject({
      status: EVTCHNSTAT_interdomain,
      dom: 1,
      port: p1,
    });
    expect(pendingBit(host.sharedInfo(2), p2)).toBe(1n);
    expect(pendingBit(host.sharedInfo(1), p1)).toBe(0n);
  });
  it("allows loopback through DOMID_SELF", () => {
    const p = ev.allocUnbound(1, false, DOMID_SELF, DOMID_SELF);
    const q = ev.bindInterdomain(1, DOMID_SELF, p);
    expect(ev.status(1, false, DOMID_SELF, q)).toMatchObject({
      status: EVTCHNSTAT_interdomain,
      dom: 1,
      port: p,
    });
  });
  it("refuses -ESRCH for an unknown remote and -EINVAL for a bad or foreign port", () => {
    expect(ev.bindInterdomain(2, 9, 1)).toBe(-ESRCH);
    expect(ev.bindInterdomain(2, 1, 0)).toBe(-EINVAL);
    expect(ev.bindInterdomain(2, 1, 5000)).toBe(-EINVAL);
    expect(ev.bindInterdomain(2, 1, 7)).toBe(-EINVAL); // closed
    const forOther = ev.allocUnbound(1, false, DOMID_SELF, 0);
    expect(ev.bindInterdomain(2, 1, forOther)).toBe(-EINVAL); // dom0 may bind it, not dom2
    const [p1] = connect();
    expect(ev.bindInterdomain(2, 1, p1)).toBe(-EINVAL); // already bound
    expect(ev.portCount(2)).toBe(1); // failed binds leaked no port
  });
});

describe("send", () => {
  it("sets the peer's pending, selector and upcall bits and kicks once", () => {
    const [p1, p2] = connect();
    const page = host.sharedInfo(2);
    page.setBigUint64(2048, 0n, true); // the guest consumed the bind's pending bit...
    page.setBigUint64(8, 0n, true); // ...its selector...
    page.setUint8(0, 0); // ...and its upcall flag
    host.kicks.length = 0;
    expect(ev.send(1, p1)).toBe(0);
    expect(pendingBit(page, p2)).toBe(1n);
    expect(page.getBigUint64(8, true)).toBe(1n << BigInt(Math.floor(p2 / 64)));
    expect(page.getUint8(0)).toBe(1);
    expect(host.kicks).toEqual([[2, 0]]);
    expect(ev.send(1, p1)).toBe(0); // still pending: no new edge, no kick
    expect(host.kicks).toHaveLength(1);
    expect(host.pendings.at(-1)).toEqual([2, p2]);
  });
  it("a masked port becomes pending without an upcall; unmask raises it", () => {
    const [p1, p2] = connect();
    const page = host.sharedInfo(2);
    page.setBigUint64(2048, 0n, true);
    page.setBigUint64(8, 0n, true);
    page.setUint8(0, 0);
    page.setBigUint64(2560, 1n << BigInt(p2), true); // guest masks p2
    host.kicks.length = 0;
    ev.send(1, p1);
    expect(pendingBit(page, p2)).toBe(1n);
    expect(page.getUint8(0)).toBe(0);
    expect(host.kicks).toHaveLength(0);
    expect(ev.anyPending(2, [p2])).toBe(1);
    expect(ev.unmask(2, p2)).toBe(0);
    expect(page.getBigUint64(2560, true)).toBe(0n);
    expect(page.getUint8(0)).toBe(1);
    expect(host.kicks).toEqual([[2, 0]]);
  });
  it("drops a send on an unbound port and refuses virq and invalid ports", () => {
    const p = ev.allocUnbound(1, false, DOMID_SELF, 2);
    expect(ev.send(1, p)).toBe(0);
    expect(host.kicks).toHaveLength(0);
    expect(ev.send(1, 99)).toBe(-EINVAL);
    expect(ev.send(1, -1)).toBe(-EINVAL);
    expect(ev.send(1, 1.5)).toBe(-EINVAL);
    expect(ev.send(1, ev.bindVirq(1, VIRQ_TIMER, 0))).toBe(-EINVAL);
  });
  it("an IPI port notifies the caller's own vCPU", () => {
    const p = ev.bindIpi(1, 1);
    expect(ev.status(1, false, DOMID_SELF, p)).toMatchObject({ status: EVTCHNSTAT_ipi, vcpu: 1 });
    ev.send(1, p);
    expect(host.sharedInfo(1).getUint8(64)).toBe(1); // vcpu_info[1].evtchn_upcall_pending
    expect(host.kicks).toEqual([[1, 1]]);
    expect(ev.bindIpi(1, 2)).toBe(-ENOENT);
  });
  it("only the 32 vCPUs with a vcpu_info in shared_info can be targets", () => {
    host.addDomain(3, 40);
    expect(ev.bindIpi(3, 31)).toBeGreaterThan(0);
    expect(ev.bindIpi(3, 32)).toBe(-ENOENT);
    expect(ev.bindVirq(3, VIRQ_TIMER, 35)).toBe(-ENOENT);
  });
});

describe("bind_virq and sendVirq", () => {
  it("binds one port per VIRQ per vCPU and delivers to that vCPU", () => {
    const t0 = ev.bindVirq(1, VIRQ_TIMER, 0);
    const t1 = ev.bindVirq(1, VIRQ_TIMER, 1);
    expect(t1).not.toBe(t0);
    expect(ev.bindVirq(1, VIRQ_TIMER, 1)).toBe(-EEXIST);
    expect(ev.status(1, false, DOMID_SELF, t1)).toMatchObject({
      status: EVTCHNSTAT_virq,
      virq: VIRQ_TIMER,
      vcpu: 1,
    });
    expect(ev.sendVirq(1, VIRQ_TIMER, 1)).toBe(true);
    expect(host.kicks).toEqual([[1, 1]]);
    expect(pendingBit(host.sharedInfo(1), t1)).toBe(1n);
    expect(pendingBit(host.sharedInfo(1), t0)).toBe(0n);
  });
  it("global VIRQs bind on vCPU 0 only", () => {
    expect(ev.bindVirq(0, VIRQ_CONSOLE, 0)).toBeGreaterThan(0);
    expect(ev.bindVirq(1, VIRQ_DOM_EXC, 1)).toBe(-EINVAL);
    expect(ev.sendVirq(0, VIRQ_CONSOLE)).toBe(true);
    expect(ev.sendVirq(0, VIRQ_DOM_EXC)).toBe(false); // not bound
  });
  it("refuses bad VIRQs and vCPUs", () => {
    expect(ev.bindVirq(1, 24, 0)).toBe(-EINVAL);
    expect(ev.bindVirq(1, -1, 0)).toBe(-EINVAL);
    expect(ev.bindVirq(1, VIRQ_TIMER, 2)).toBe(-ENOENT);
    expect(ev.bindVirq(9, VIRQ_TIMER, 0)).toBe(-ESRCH);
    expect(ev.sendVirq(9, VIRQ_TIMER)).toBe(false);
  });
});

describe("close, status, closeAll", () => {
  it("close returns an interdomain peer to unbound, waiting for the closer", () => {
    const [p1, p2] = connect();
    expect(ev.close(2, p2)).toBe(0);
    expect(ev.status(2, false, DOMID_SELF, p2)).toMatchObject({ status: EVTCHNSTAT_closed });
    expect(ev.status(1, false, DOMID_SELF, p1)).toMatchObject({ status: EVTCHNSTAT_unbound, dom: 2 });
    expect(pendingBit(host.sharedInfo(2), p2)).toBe(0n); // a freed port is not left pending
    expect(ev.close(2, p2)).toBe(-EINVAL);
    expect(ev.bindInterdomain(2, 1, p1)).toBe(p2); // the peer can reconnect
  });
  it("a closed VIRQ can be bound again", () => {
    const p = ev.bindVirq(1, VIRQ_TIMER, 0);
    expect(ev.close(1, p)).toBe(0);
    expect(ev.bindVirq(1, VIRQ_TIMER, 0)).toBe(p);
  });
  it("status of another domain needs privilege", () => {
    const [, p2] = connect();
    expect(ev.status(1, false, 2, p2)).toBe(-EPERM);
    expect(ev.status(0, true, 2, p2)).toMatchObject({ status: EVTCHNSTAT_interdomain });
    expect(ev.status(0, true, 9, 1)).toBe(-ESRCH);
    expect(ev.status(1, false, DOMID_SELF, 4096)).toBe(-EINVAL);
    expect(ev.status(1, false, DOMID_SELF, 0)).toMatchObject({ status: EVTCHNSTAT_closed });
  });
  it("closeAll frees a dying domain's ports and unbinds its peers", () => {
    const [p1] = connect();
    ev.bindVirq(2, VIRQ_TIMER, 0);
    host.domains.delete(2);
    ev.closeAll(2);
    expect(ev.portCount(2)).toBe(0);
    expect(ev.status(1, false, DOMID_SELF, p1)).toMatchObject({ status: EVTCHNSTAT_unbound, dom: 2 });
    expect(ev.send(1, p1)).toBe(0);
  });
  it("unmask refuses invalid ports; anyPending validates every port", () => {
    expect(ev.unmask(1, 0)).toBe(-EINVAL);
    expect(ev.unmask(1, 4096)).toBe(-EINVAL);
    expect(ev.anyPending(1, [1, 2])).toBe(0);
    expect(ev.anyPending(1, [1, 4096])).toBe(-EINVAL);
  });
});
