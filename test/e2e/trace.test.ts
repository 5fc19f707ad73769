/**
 * Tracing as a user does it: `pvkit trace` records a running host while a guest is created, talks
 * to dom0 through its console and xenstore rings (event channels both ways, grants dom0 maps) and is
 * destroyed; Ctrl-C ends the recording and the file that is written is one Perfetto shows whole —
 * every domain named, every span named from the ABI, flows from one domain to another. Then
 * `pvkit trace 1 -o x.json`, the default file name, bad input, and `pvkit up --trace` on exit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { traceProblems } from "@pvkit/hypervisor/trace/validate";
import { REPO, e2eStage, type Run } from "./stage.ts";

const stage = e2eStage("pvkit-e2e-trace-");
const { dir, pvkit, cfg } = stage;

/** `pvkit ...args` as a process of its own (node with tsx's loader: SIGINT reaches the CLI itself). */
function cli(
  args: string[],
  cwd = dir,
): { child: ChildProcess; stderrShows(re: RegExp): Promise<void>; done: Promise<Run> } {
  const loader = pathToFileURL(join(REPO, "node_modules/tsx/dist/loader.mjs")).href;
  const child = spawn(
    process.execPath,
    ["--import", loader, join(REPO, "hypervisor/src/cli/main.ts"), ...args],
    { cwd },
  );
  let out = "";
  let err = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => {
    err += b.toString();
    for (const w of waiters.filter((w) => w.re.test(err))) w.resolve();
  });
  const done = new Promise<Run>((resolve) =>
    child.on("close", (code) => resolve({ code: code ?? -1, out, err })),
  );
  return {
    child,
    done,
    stderrShows: (re) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(err)) return resolve();
        waiters.push({ re, resolve });
        void done.then(() => reject(new Error(`exited before stderr showed ${re}: ${err}`)));
      }),
  };
}

type Ev = {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
  bind_id?: number;
  flow_out?: boolean;
  flow_in?: boolean;
};

function load(file: string): { traceEvents: Ev[] } {
  return JSON.parse(readFileSync(file, "utf8")) as { traceEvents: Ev[] };
}

/** The flows of a trace: [from slice, to slice] by bind_id. */
function flows(t: { traceEvents: Ev[] }): [Ev, Ev][] {
  const by = new Map<number, { from?: Ev; to?: Ev }>();
  for (const e of t.traceEvents.filter((e) => e.bind_id !== undefined)) {
    const f = by.get(e.bind_id!) ?? {};
    f[e.flow_out ? "from" : "to"] = e;
    by.set(e.bind_id!, f);
  }
  return [...by.values()].map((f) => [f.from!, f.to!]);
}

describe("pvkit trace", { timeout: 120_000 }, () => {
  it("records a guest's life with dom0: named domains and vCPUs, ABI span names, flows between domains", async () => {
    const file = join(dir, "life.json");
    const rec = cli(["--socket", stage.host.socket, "trace", "600", "-o", file]);
    await rec.stderrShows(/trace: recording for 600 s \(Ctrl-C ends it early\)/);

    const created = await pvkit(["create", cfg("tracee")]);
    expect(created.code).toBe(0);
    const domid = Number(/id (\d+)/.exec(created.out)![1]);
    await stage.console("tracee", "", /dom\d+\$ $/); // its shell is up: what is typed now is read
    await stage.console("tracee", "xs-read name\r", /xs-read name\r\ntracee\r\n/);
    expect((await pvkit(["destroy", "tracee"])).code).toBe(0); // gone before the trace is written

    rec.child.kill("SIGINT");
    const r = await rec.done;
    expect(r.code).toBe(0);
    const t = load(file);
    const slices = t.traceEvents.filter((e) => e.ph === "X");
    expect(r.out).toBe(`trace: ${slices.length} events written to ${file}\n`);
    expect(traceProblems(t)).toEqual([]);

    // Every domain a process named "<name> (dom<id>)", the destroyed one too; vCPUs as threads.
    const name = (pid: number) =>
      t.traceEvents.find((e) => e.name === "process_name" && e.pid === pid)?.args?.name;
    expect(name(0)).toBe("Domain-0 (dom0)");
    expect(name(domid)).toBe(`tracee (dom${domid})`);
    expect(t.traceEvents).toContainEqual({
      name: "thread_name",
      ph: "M",
      pid: domid,
      tid: 0,
      args: { name: "vcpu0" },
    });

    // Spans named from the ABI, hypercall/sub-op; never a number.
    const names = new Set(slices.map((e) => e.name));
    for (const n of [
      "domctl/XEN_DOMCTL_createdomain",
      "domctl/XEN_DOMCTL_destroydomain",
      "event_channel_op/EVTCHNOP_send",
      "grant_table_op/GNTTABOP_map_grant_ref",
    ])
      expect(names).toContain(n);
    expect([...names].filter((n) => /\.\d+$/.test(n))).toEqual([]);
    expect(slices.find((e) => e.name === "domctl/XEN_DOMCTL_createdomain")?.args).toEqual({ result: domid });

    // Event channels both ways between the guest and dom0, and the ring grants dom0 maps.
    const f = flows(t);
    const evtchn = f.filter(([a]) => a.name === "evtchn send");
    expect(evtchn.some(([a, b]) => a.pid === domid && b.pid === 0 && b.name === "evtchn notify")).toBe(true);
    expect(evtchn.some(([a, b]) => a.pid === 0 && b.pid === domid)).toBe(true);
    expect(f.filter(([a, b]) => a.name === "grant mapped" && a.pid === domid && b.pid === 0)).toHaveLength(2);
  });

  it("`pvkit trace 1 -o x.json` writes a valid trace and says so in one line", async () => {
    const r = await pvkit(["trace", "1", "-o", join(dir, "x.json")]);
    expect(r.code).toBe(0);
    const n = Number(/^trace: (\d+) events? written to .*x\.json\n$/.exec(r.out)?.[1]);
    const t = load(join(dir, "x.json"));
    expect(t.traceEvents.filter((e) => e.ph === "X")).toHaveLength(n);
    expect(traceProblems(t)).toEqual([]);
  });

  it("writes pvkit-trace-<timestamp>.json in the current directory without -o", async () => {
    const here = join(dir, "cwd");
    mkdirSync(here);
    const r = await cli(["--socket", stage.host.socket, "trace", "0.2"], here).done;
    expect(r.code).toBe(0);
    const files = readdirSync(here);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^pvkit-trace-\d{8}-\d{6}\.json$/);
    expect(r.out).toMatch(new RegExp(`^trace: \\d+ events? written to ${files[0]!.replace(".", "\\.")}\\n$`));
  });

  it("refuses bad input in one line", async () => {
    const bad = async (args: string[], err: string) => {
      const r = await pvkit(args);
      expect(r).toMatchObject({ code: 1, out: "", err: `${err}\n` });
    };
    await bad(["trace", "abc"], 'pvkit: trace: "abc" is not a number of seconds');
    await bad(["trace", "0"], 'pvkit: trace: "0" is not a number of seconds');
    await bad(["trace", "-5"], 'pvkit: trace: "-5" is not a number of seconds');
    await bad(
      ["trace", "7200"],
      "pvkit: trace: 7200 s is longer than the most one recording may take (3600 s)",
    );
    await bad(
      ["trace", "1", "-o", join(dir, "no-such-dir", "t.json")],
      `pvkit: trace: cannot write ${join(dir, "no-such-dir", "t.json")}: no such file or directory`,
    );
    const nowhere = join(dir, "nowhere", "control.sock");
    const r = await cli(["--socket", nowhere, "trace", "1", "-o", join(dir, "never.json")]).done;
    expect(r).toMatchObject({
      code: 1,
      err: `pvkit: trace: no host running at ${nowhere} (start one with \`pnpm pvkit up\`)\n`,
    });
    expect(existsSync(join(dir, "never.json"))).toBe(false);
  });
});

describe("pvkit up --trace", { timeout: 120_000 }, () => {
  it("writes the trace on exit and says how many events went where", async () => {
    const run = join(dir, "up-run");
    const file = join(dir, "up.json");
    const up = cli(["--socket", join(run, "control.sock"), "up", "--trace", file]);
    await up.stderrShows(/pvkit: host up/);
    up.child.kill("SIGINT");
    const r = await up.done;
    expect(r.code).toBe(0);
    const t = load(file);
    const n = t.traceEvents.filter((e) => e.ph === "X").length;
    expect(n).toBeGreaterThan(0); // dom0's own boot
    expect(r.err).toContain(`\ntrace: ${n} events written to ${file}\n`);
    expect(t.traceEvents).toContainEqual({
      name: "process_name",
      ph: "M",
      pid: 0,
      tid: 0,
      args: { name: "Domain-0 (dom0)" },
    });
    expect(traceProblems(t)).toEqual([]);
  });
});
