/**
 * xl.cfg parsing: a good file becomes a typed DomainConfig; each kind of bad file gets one line that
 * names the file, the line, the key and the problem.
 */
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseDomainConfig } from "../src/dom0/toolstack/cfg.ts";

const FILE = "/etc/pvkit/web.cfg";

describe("parseDomainConfig", () => {
  it("reads every supported key, lists across lines and both disk spellings", () => {
    const c = parseDomainConfig(
      FILE,
      `# a web server
name = "web1"
kernel = 'guests/web.ts'   # relative to the file
memory = 256 ; vcpus = 1
maxmem = 512
disk = [ 'format=raw, vdev=xvda, access=rw, target=disks/root.img',
         'file:/srv/data.img,xvdb,r' ]
vif = [ 'mac=00:16:3e:12:34:56, bridge=pvbr0, ip=10.0.0.2' ]
on_crash = "preserve"
extra = "console=hvc0"
uuid = "6f1d3c6e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
`,
    );
    expect(c).toMatchObject({
      name: "web1",
      kernel: "/etc/pvkit/guests/web.ts",
      memory: 256,
      maxmem: 512,
      vcpus: 1,
      onPoweroff: "destroy",
      onReboot: "restart",
      onCrash: "preserve",
      extra: "console=hvc0",
      uuid: "6f1d3c6e-1b2a-4c3d-9e8f-0a1b2c3d4e5f",
    });
    expect(c.disks).toEqual([
      { target: "/etc/pvkit/disks/root.img", format: "raw", vdev: "xvda", readonly: false },
      { target: "/srv/data.img", format: "raw", vdev: "xvdb", readonly: true },
    ]);
    expect(c.vifs).toEqual([{ devid: 0, mac: "00:16:3e:12:34:56", bridge: "pvbr0", ip: "10.0.0.2" }]);
  });

  it("fills defaults: memory 64, maxmem = memory, one vCPU, a fresh UUID", () => {
    const c = parseDomainConfig(FILE, `name = "a"\nkernel = "/k.ts"\n`);
    expect(c).toMatchObject({ memory: 64, maxmem: 64, vcpus: 1, disks: [], vifs: [], inspect: false });
    expect(c.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(parseDomainConfig(FILE, `name = "a"\nkernel = "/k.ts"\n`).uuid).not.toBe(c.uuid);
  });

  it("says in the file's terms that a domain has one vCPU, not createdomain's EINVAL", () => {
    expect(() => parseDomainConfig(FILE, `name = "a"\nkernel = "/k.ts"\nvcpus = 4\n`)).toThrow(
      "/etc/pvkit/web.cfg:3: vcpus: 4: a pvkit domain has one vCPU for now (vcpus = 1)",
    );
  });

  it("parses the shipped demo config", async () => {
    const file = resolve(import.meta.dirname, "../../examples/configs/demo.cfg");
    const text = (await import("node:fs")).readFileSync(file, "utf8");
    const c = parseDomainConfig(file, text);
    expect(c.name).toBe("demo");
    expect(c.kernel).toBe(join(resolve(import.meta.dirname, "../../examples/guests"), "shell.ts"));
  });

  const bad: [string, string, string][] = [
    [
      "a word where a number goes",
      `name = "d"\nkernel = "/k"\n\nmemory = lots\n`,
      `${FILE}:4: memory: expected a quoted string, a number or a [list], got "lots"`,
    ],
    [
      "a negative-free range",
      `name = "d"\nkernel = "/k"\nmemory = 0\n`,
      `${FILE}:3: memory: expected a whole number from 1 to 65536 MiB, got 0`,
    ],
    [
      "an unknown key with a suggestion",
      `name = "d"\nkernel = "/k"\nmemroy = 64\n`,
      `${FILE}:3: memroy: unknown setting (did you mean "memory"?)`,
    ],
    ["a missing name", `kernel = "/k"\n`, `${FILE}:1: name: missing (every domain needs a name)`],
    ["a missing kernel", `name = "d"\n`, `${FILE}:1: kernel: missing (the guest program module to boot)`],
    [
      "an unsupported action",
      `name = "d"\nkernel = "/k"\non_crash = "coredump-destroy"\n`,
      `${FILE}:3: on_crash: "coredump-destroy" is not supported (use destroy, restart or preserve)`,
    ],
    [
      "an unterminated list",
      `name = "d"\nkernel = "/k"\ndisk = [ 'a,xvda,w'\n`,
      `${FILE}:3: disk: unterminated list (missing \`]\`)`,
    ],
    ["an unterminated string", `name = "d\n`, `${FILE}:1: unterminated string`],
    [
      "a bad disk spec",
      `name = "d"\nkernel = "/k"\ndisk = [ 'target=/x.img, vdev=sda' ]\n`,
      `${FILE}:3: disk: disk 0: vdev must be xvda, xvdb, ... (got "sda")`,
    ],
    [
      "a bad MAC",
      `name = "d"\nkernel = "/k"\nvif = [ 'mac=zz' ]\n`,
      `${FILE}:3: vif: vif 0: "zz" is not a MAC address`,
    ],
    [
      "maxmem below memory",
      `name = "d"\nkernel = "/k"\nmemory = 128\nmaxmem = 64\n`,
      `${FILE}:4: maxmem: 64 MiB is below memory (128 MiB)`,
    ],
    ["a key set twice", `name = "d"\nname = "e"\n`, `${FILE}:2: name: set twice (first on line 1)`],
    [
      "an HVM guest",
      `name = "d"\nkernel = "/k"\ntype = "hvm"\n`,
      `${FILE}:3: type: "hvm" guests are not supported (pvkit runs PV guests: type = "pv")`,
    ],
  ];
  it.each(bad)("rejects %s with one clear line", (_, text, message) => {
    let err: unknown;
    try {
      parseDomainConfig(FILE, text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(message);
    expect((err as Error).message).not.toContain("\n");
  });
});
