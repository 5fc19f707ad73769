// Bad input never crashes anything: random sequences of event-channel operations with arbitrary
// integers (negative, huge, fractional) always return 0, a port, or one of Xen's errnos, and the
// port table stays consistent with what status() reports.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EEXIST, EINVAL, ENOENT, ENOSPC, EPERM, ESRCH, EVTCHNSTAT_closed } from "../src/evtchn/consts.ts";
import { EventChannels } from "../src/evtchn/evtchn.ts";
import { FakeEvtchnHost } from "../src/evtchn/fake_host.ts";

const ERRNOS = new Set([-EEXIST, -EINVAL, -ENOENT, -ENOSPC, -EPERM, -ESRCH]);
const anyInt = fc.oneof(
  fc.integer({ min: -2, max: 12 }),
  fc.constantFrom(0x7ff0, 4095, 4096, 2 ** 32 - 1, -1, 1.5, Number.NaN),
);
const op = fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 2 }), anyInt, anyInt);

describe("event channels under random input", () => {
  it("answer with a port, 0 or a Xen errno, and never throw", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const host = new FakeEvtchnHost();
        host.addDomain(0, 2);
        host.addDomain(1, 1);
        host.addDomain(2, 1);
        const ev = new EventChannels(host, { maxPorts: 16 });
        for (const [kind, dom, a, b] of ops) {
          const priv = dom === 0;
          let r: number;
          switch (kind) {
            case 0:
              r = ev.allocUnbound(dom, priv, a, b);
              break;
            case 1:
              r = ev.bindInterdomain(dom, a, b);
              break;
            case 2:
              r = ev.bindVirq(dom, a, b);
              break;
            case 3:
              r = ev.bindIpi(dom, a);
              break;
            case 4:
              r = ev.close(dom, a);
              break;
            case 5:
              r = ev.send(dom, a);
              break;
            case 6:
              r = ev.unmask(dom, a);
              break;
            case 7: {
              const st = ev.status(dom, priv, a, b);
              r = typeof st === "number" ? st : 0;
              break;
            }
            case 8:
              r = ev.anyPending(dom, [a, b]);
              break;
            default:
              ev.sendVirq(dom, a, b);
              r = 0;
          }
          expect(Number.isInteger(r)).toBe(true);
          if (r < 0) expect(ERRNOS.has(r), `errno ${r}`).toBe(true);
          else expect(r).toBeLessThan(16);
        }
        for (const d of [0, 1, 2]) {
          let open = 0;
          for (let p = 1; p < 16; p++) {
            const st = ev.status(d, false, d, p);
            if (typeof st !== "number" && st.status !== EVTCHNSTAT_closed) open++;
          }
          expect(ev.portCount(d)).toBe(open);
        }
      }),
      { numRuns: 300 },
    );
  });
});
