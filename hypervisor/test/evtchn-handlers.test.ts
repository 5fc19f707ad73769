// The eventChannelOp handler namespace: out fields are set, errnos pass through, and the status
// union carries exactly the variant its status names.
import { describe, expect, it } from "vitest";
import { DOMID_SELF, EINVAL, EPERM, VIRQ_TIMER } from "../src/evtchn/consts.ts";
import { EventChannels } from "../src/evtchn/evtchn.ts";
import { FakeEvtchnHost } from "../src/evtchn/fake_host.ts";
import { eventChannelOp, type EvtchnCallContext } from "../src/hypercalls/event_channel_op.ts";

function setup() {
  const host = new FakeEvtchnHost();
  host.addDomain(0, 1);
  host.addDomain(1, 1);
  const evtchn = new EventChannels(host);
  const ctx = (domid: number): EvtchnCallContext => ({
    domid,
    privileged: domid === 0,
    evtchn,
    domain: { eventsSent: 0 },
    copyFromGuest: () => {
      throw new Error("unused");
    },
    copyToGuest: () => {
      throw new Error("unused");
    },
  });
  return { host, ctx };
}

describe("eventChannelOp handlers", () => {
  it("alloc_unbound, bind_interdomain, send and status round trip", () => {
    const { host, ctx } = setup();
    const a = { dom: DOMID_SELF, remote_dom: 0, port: 0 };
    expect(eventChannelOp.allocUnbound(ctx(1), a)).toBe(0);
    expect(a.port).toBe(1);
    const b = { remote_dom: 1, remote_port: a.port, local_port: 0 };
    expect(eventChannelOp.bindInterdomain(ctx(0), b)).toBe(0);
    expect(b.local_port).toBe(1);
    new Uint8Array(host.sharedInfo(0).buffer).fill(0); // dom0 consumed the bind's pending event
    host.kicks.length = 0;
    expect(eventChannelOp.send(ctx(1), { port: a.port })).toBe(0);
    expect(host.kicks).toEqual([[0, 0]]);
    const st = { dom: DOMID_SELF, port: a.port, status: 0, vcpu: 0, u: {} };
    expect(eventChannelOp.status(ctx(1), st)).toBe(0);
    expect(st).toMatchObject({ status: 2, u: { interdomain: { dom: 0, port: b.local_port } } });
    expect(Object.keys(st.u)).toEqual(["interdomain"]);
  });

  it("virq, ipi, unmask, close and errors", () => {
    const { ctx } = setup();
    const v = { virq: VIRQ_TIMER, vcpu: 0, port: 0 };
    expect(eventChannelOp.bindVirq(ctx(1), v)).toBe(0);
    const st = { dom: DOMID_SELF, port: v.port, status: 0, vcpu: 0, u: {} };
    eventChannelOp.status(ctx(1), st);
    expect(st.u).toEqual({ virq: VIRQ_TIMER });
    const i = { vcpu: 0, port: 0 };
    expect(eventChannelOp.bindIpi(ctx(1), i)).toBe(0);
    expect(i.port).toBe(v.port + 1);
    expect(eventChannelOp.unmask(ctx(1), { port: i.port })).toBe(0);
    expect(eventChannelOp.close(ctx(1), { port: i.port })).toBe(0);
    expect(eventChannelOp.close(ctx(1), { port: i.port })).toBe(-EINVAL);
    const out = { dom: 0, remote_dom: 1, port: 77 };
    expect(eventChannelOp.allocUnbound(ctx(1), out)).toBe(-EPERM);
    expect(out.port).toBe(77); // untouched on failure
    expect(eventChannelOp.status(ctx(1), { dom: 0, port: 1, status: 0, vcpu: 0, u: {} })).toBe(-EPERM);
  });
});
