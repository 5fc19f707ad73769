/**
 * The shell's disk and file commands, over `k.blk` and `k.fs`: lsblk, df, sync, ls [-l], cat,
 * write [-a], mkdir [-p], rm [-r], mv. Paths are absolute; a relative one is taken from `/` (the
 * shell has no working directory). Errors are one line in node's words, e.g.
 * `cat: ENOENT: no such file or directory, open '/nope'`.
 */
import type { KernelHandle } from "../kernel/program.ts";
import type { Command } from "./commands.ts";

const abs = (p: string) => (p.startsWith("/") ? p : `/${p}`);

/** 1.5K / 12M / 3.0G, as ls -h and df -h print sizes. */
export function humanSize(bytes: number): string {
  const units = ["", "K", "M", "G", "T"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** -rwxr-xr-x from a mode. */
export function modeString(mode: number): string {
  const type = (mode & 0o170000) === 0o040000 ? "d" : (mode & 0o170000) === 0o120000 ? "l" : "-";
  const rwx = (bits: number) => `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${bits & 1 ? "x" : "-"}`;
  return type + rwx((mode >> 6) & 7) + rwx((mode >> 3) & 7) + rwx(mode & 7);
}

function monthDay(ms: number): string {
  const d = new Date(ms);
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][
    d.getUTCMonth()
  ];
  const hh = String(d.getUTCHours()).padStart(2, "0");
  const mm = String(d.getUTCMinutes()).padStart(2, "0");
  return `${mon} ${String(d.getUTCDate()).padStart(2)} ${hh}:${mm}`;
}

/** Splits leading -x flags from the rest; returns undefined (after printing usage) on an unknown one. */
function flags(
  args: string[],
  allowed: string,
  cmd: Command,
  k: KernelHandle,
): [Set<string>, string[]] | undefined {
  const set = new Set<string>();
  let i = 0;
  for (; i < args.length && /^-[a-zA-Z]+$/.test(args[i]!); i++) {
    for (const f of args[i]!.slice(1)) {
      if (!allowed.includes(f)) {
        k.print(`${cmd.name}: unknown option -${f}; usage: ${cmd.usage}`);
        return undefined;
      }
      set.add(f);
    }
  }
  return [set, args.slice(i)];
}

function needFs(k: KernelHandle, name: string): boolean {
  if (k.mounts().length > 0) return true;
  k.print(`${name}: no file system is mounted (the domain has no ext2 disk as xvda)`);
  return false;
}

export function fsCommands(): Command[] {
  return [
    {
      name: "lsblk",
      usage: "lsblk",
      help: "the domain's disks",
      run(_a, k) {
        const disks = k.blk.list();
        if (disks.length === 0) return void k.print("no disks");
        k.print("NAME   SIZE RO TYPE MOUNTPOINT");
        for (const d of disks) {
          const mnt = k.mounts().find((m) => m.device === d.name)?.path ?? "";
          k.print(
            `${d.name.padEnd(5)} ${humanSize(d.sectors * 512).padStart(5)}  ${d.readonly ? 1 : 0} disk ${mnt}`.trimEnd(),
          );
        }
      },
    },
    {
      name: "df",
      usage: "df",
      help: "space on the mounted file system",
      async run(_a, k) {
        if (!needFs(k, "df")) return;
        const s = await k.fs.statfs();
        const kib = (blocks: number) => Math.floor((blocks * s.bsize) / 1024);
        const used = s.blocks - s.bfree;
        const pct = s.blocks === 0 ? 0 : Math.ceil((used * 100) / (used + s.bavail || 1));
        k.print("Filesystem     1K-blocks    Used Available Use% Mounted on");
        k.print(
          `/dev/${k.mounts()[0]!.device.padEnd(9)} ${String(kib(s.blocks)).padStart(9)} ${String(kib(used)).padStart(7)} ` +
            `${String(kib(s.bavail)).padStart(9)} ${`${pct}%`.padStart(4)} /`,
        );
        k.print(`inodes: ${s.files - s.ffree} used, ${s.ffree} free`);
      },
    },
    {
      name: "sync",
      usage: "sync",
      help: "write every cached change to the disk",
      async run(_a, k) {
        if (needFs(k, "sync")) await k.fs.sync();
      },
    },
    {
      name: "ls",
      usage: "ls [-l] [PATH...]",
      help: "list directories",
      async run(args, k) {
        const parsed = flags(args, "la", this, k);
        if (!parsed || !needFs(k, "ls")) return;
        const [f, rest] = parsed;
        const paths = rest.length > 0 ? rest.map(abs) : ["/"];
        for (const p of paths) {
          if (paths.length > 1) k.print(`${p}:`);
          const st = await k.fs.lstat(p);
          const names = st.isDirectory() ? (await k.fs.readdir(p)).sort() : [p];
          const shown = f.has("a") ? names : names.filter((n) => !n.startsWith("."));
          if (!f.has("l")) {
            if (shown.length > 0) k.print(shown.join("  "));
            continue;
          }
          for (const name of shown) {
            const full = st.isDirectory() ? (p === "/" ? `/${name}` : `${p}/${name}`) : p;
            const s = await k.fs.lstat(full);
            const link = s.isSymbolicLink() ? ` -> ${await k.fs.readlink(full)}` : "";
            k.print(
              `${modeString(s.mode)} ${String(s.nlink).padStart(2)} ${String(s.uid).padEnd(4)} ${String(s.gid).padEnd(4)} ` +
                `${String(s.size).padStart(8)} ${monthDay(s.mtimeMs)} ${name}${link}`,
            );
          }
        }
      },
    },
    {
      name: "cat",
      usage: "cat FILE...",
      help: "print files",
      async run(args, k) {
        if (args.length === 0) return void k.print(`usage: ${this.usage}`);
        if (!needFs(k, "cat")) return;
        for (const p of args) k.console.write(await k.fs.readFile(abs(p), "utf8"));
      },
    },
    {
      name: "write",
      usage: "write [-a] FILE TEXT...",
      help: "write a line of text to a file (-a: append)",
      async run(args, k) {
        const parsed = flags(args, "a", this, k);
        if (!parsed || !needFs(k, "write")) return;
        const [f, rest] = parsed;
        if (rest.length < 1) return void k.print(`usage: ${this.usage}`);
        const text = rest.length > 1 ? rest.slice(1).join(" ") + "\n" : "";
        if (f.has("a")) await k.fs.appendFile(abs(rest[0]!), text);
        else await k.fs.writeFile(abs(rest[0]!), text);
      },
    },
    {
      name: "mkdir",
      usage: "mkdir [-p] DIR...",
      help: "make directories",
      async run(args, k) {
        const parsed = flags(args, "p", this, k);
        if (!parsed || !needFs(k, "mkdir")) return;
        const [f, rest] = parsed;
        if (rest.length === 0) return void k.print(`usage: ${this.usage}`);
        for (const p of rest) await k.fs.mkdir(abs(p), { recursive: f.has("p") });
      },
    },
    {
      name: "rm",
      usage: "rm [-r] [-f] PATH...",
      help: "remove files (-r: directories and what they hold)",
      async run(args, k) {
        const parsed = flags(args, "rf", this, k);
        if (!parsed || !needFs(k, "rm")) return;
        const [f, rest] = parsed;
        if (rest.length === 0) return void k.print(`usage: ${this.usage}`);
        for (const p of rest) await k.fs.rm(abs(p), { recursive: f.has("r"), force: f.has("f") });
      },
    },
    {
      name: "mv",
      usage: "mv SRC DST",
      help: "rename or move a file or directory (into DST when it is a directory)",
      async run(args, k) {
        if (args.length !== 2) return void k.print(`usage: ${this.usage}`);
        if (!needFs(k, "mv")) return;
        const src = abs(args[0]!);
        let dst = abs(args[1]!);
        const into = await k.fs.stat(dst).then(
          (s) => s.isDirectory(),
          () => false,
        );
        if (into) dst = `${dst.replace(/\/+$/, "")}/${src.split("/").filter(Boolean).pop()}`;
        await k.fs.rename(src, dst);
      },
    },
  ];
}
