/**
 * Draws a pvkit trace (the Chrome JSON that `pvkit trace` and `pvkit up --trace` write) as an SVG
 * timeline laid out the way ui.perfetto.dev shows the same file: a time ruler on top; one group per
 * domain (a trace "process", `<name> (dom<id>)`), one track per vCPU thread under it; hypercall
 * spans as boxes labelled with their names, nested by depth; zero-length slices (the ends of flows)
 * as chevrons; flows as arrows from one domain's slice to another's.
 *
 * It is pvkit's own rendering, for docs and for machines without a browser — the trace file itself is
 * what to open in Perfetto. Only what pvkit writes is understood: "X" slices, "M" names, and flows
 * by bind_id with flow_out/flow_in.
 *
 *   tsx hypervisor/src/trace/render-svg.ts trace.json [-o out.svg] [--from MS --to MS | --span MS]
 *
 * Without --from/--to it picks the --span milliseconds (default 4) holding the most flows.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

interface Slice {
  name: string;
  ts: number; // µs
  dur: number; // µs
  pid: number;
  tid: number;
  bindId?: number;
  flow?: "out" | "in";
  depth?: number;
}

export interface RenderOptions {
  /** Window start and end in ms since the trace began; default: the busiest `spanMs` of flows. */
  fromMs?: number;
  toMs?: number;
  spanMs?: number;
  /** A line under the picture (say what it is a rendering of). */
  caption?: string;
}

const WIDTH = 1400;
const LABEL_W = 250;
const RULER_H = 34;
const HEADER_H = 24;
const ROW_H = 20;
const TRACK_PAD = 6;
/** Perfetto-like slice colours (material hues), picked by a hash of the slice's name. */
const PALETTE = [
  "#1e88e5",
  "#43a047",
  "#e53935",
  "#8e24aa",
  "#fb8c00",
  "#00897b",
  "#3949ab",
  "#c0ca33",
  "#6d4c41",
  "#d81b60",
  "#00acc1",
  "#5e35b1",
];

/** Renders the trace `json` as an SVG document. */
export function renderTraceSvg(json: unknown, o: RenderOptions = {}): string {
  const all = (json as { traceEvents?: Record<string, unknown>[] }).traceEvents ?? [];
  const procNames = new Map<number, string>();
  const threadNames = new Map<string, string>();
  const slices: Slice[] = [];
  for (const e of all) {
    const pid = Number(e.pid);
    const tid = Number(e.tid);
    const args = (e.args ?? {}) as Record<string, unknown>;
    if (e.ph === "M" && e.name === "process_name") procNames.set(pid, String(args.name));
    else if (e.ph === "M" && e.name === "thread_name") threadNames.set(`${pid}/${tid}`, String(args.name));
    else if (e.ph === "X") {
      const s: Slice = { name: String(e.name), ts: Number(e.ts), dur: Number(e.dur ?? 0), pid, tid };
      if (e.bind_id !== undefined) {
        s.bindId = Number(e.bind_id);
        s.flow = e.flow_out ? "out" : "in";
      }
      slices.push(s);
    }
  }
  const [from, to] = window(slices, o);
  const visible = slices.filter((s) => s.ts <= to && s.ts + s.dur >= from);
  assignDepths(slices);

  // Layout: a group per process, a track per thread, rows for nesting depth.
  const x = (us: number) =>
    LABEL_W + ((Math.min(Math.max(us, from), to) - from) / (to - from)) * (WIDTH - LABEL_W - 10);
  const rows: string[] = [];
  const trackY = new Map<string, number>();
  let y = RULER_H;
  const pids = [...new Set(visible.map((s) => s.pid))].sort((a, b) => a - b);
  for (const pid of pids) {
    rows.push(
      `<rect x="0" y="${y}" width="${WIDTH}" height="${HEADER_H}" fill="#eceff1"/>`,
      `<text x="10" y="${y + 16}" class="proc">▾ ${esc(procNames.get(pid) ?? `dom${pid}`)} ${pid}</text>`,
    );
    y += HEADER_H;
    const tids = [...new Set(visible.filter((s) => s.pid === pid).map((s) => s.tid))].sort((a, b) => a - b);
    for (const tid of tids) {
      const mine = visible.filter((s) => s.pid === pid && s.tid === tid);
      const depth = Math.max(...mine.map((s) => s.depth ?? 0)) + 1;
      const h = depth * ROW_H + TRACK_PAD * 2;
      trackY.set(`${pid}/${tid}`, y + TRACK_PAD);
      rows.push(
        `<line x1="0" y1="${y + h}" x2="${WIDTH}" y2="${y + h}" stroke="#e0e0e0"/>`,
        `<text x="26" y="${y + TRACK_PAD + 14}" class="thread">${esc(threadNames.get(`${pid}/${tid}`) ?? `thread ${tid}`)} ${tid}</text>`,
      );
      for (const s of mine) rows.push(sliceSvg(s, x, y + TRACK_PAD + (s.depth ?? 0) * ROW_H));
      y += h;
    }
  }

  // Flows whose two ends are both in view, drawn over everything.
  const ends = new Map<number, { out?: Slice; in?: Slice }>();
  for (const s of visible) {
    if (s.bindId === undefined) continue;
    const f = ends.get(s.bindId) ?? {};
    f[s.flow!] = s;
    ends.set(s.bindId, f);
  }
  const arrows: string[] = [];
  for (const f of ends.values()) {
    if (!f.out || !f.in) continue;
    const at = (s: Slice) => trackY.get(`${s.pid}/${s.tid}`)! + (s.depth ?? 0) * ROW_H + ROW_H / 2;
    const [x1, y1, x2, y2] = [x(f.out.ts + f.out.dur), at(f.out), x(f.in.ts), at(f.in)];
    const bend = Math.max(24, Math.abs(y2 - y1) / 3);
    arrows.push(
      `<path d="M${n(x1)},${n(y1)} C${n(x1 + bend)},${n(y1)} ${n(x2 - bend)},${n(y2)} ${n(x2)},${n(y2)}" class="flow" marker-end="url(#arrow)"/>`,
    );
  }

  // A key of the names in view (Perfetto has none; a still picture needs one, labels being clipped).
  const key: string[] = [];
  let kx = 10;
  let ky = y + 22;
  const names = [...new Map(visible.map((s) => [s.name, s.dur === 0])).entries()].sort();
  for (const [name, instant] of names) {
    const w = 22 + name.length * 6.4;
    if (kx + w > WIDTH - 10) [kx, ky] = [10, ky + 18];
    const color = PALETTE[hash(name) % PALETTE.length];
    key.push(
      instant
        ? `<path d="M${kx},${ky - 9} L${kx + 10},${ky - 9} L${kx + 5},${ky + 1} z" fill="${color}"/>`
        : `<rect x="${kx}" y="${ky - 10}" width="10" height="10" fill="${color}"/>`,
      `<text x="${kx + 14}" y="${ky}" class="tick">${esc(name)}</text>`,
    );
    kx += w + 12;
  }
  const keyBottom = names.length > 0 ? ky + 8 : y;
  const height = keyBottom + (o.caption ? 30 : 8);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Roboto, Helvetica, Arial, sans-serif">`,
    `<style>.proc{font-size:13px;font-weight:500;fill:#263238}.thread{font-size:12px;fill:#455a64}` +
      `.label{font-size:11px;fill:#fff}.tick{font-size:10px;fill:#546e7a}.flow{fill:none;stroke:#37474f;stroke-width:1.2}` +
      `.cap{font-size:12px;fill:#546e7a}</style>`,
    `<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#37474f"/></marker></defs>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<line x1="${LABEL_W}" y1="0" x2="${LABEL_W}" y2="${y}" stroke="#cfd8dc"/>`,
    ruler(from, to, x, y),
    ...rows,
    ...arrows,
    ...key,
    o.caption ? `<text x="10" y="${keyBottom + 18}" class="cap">${esc(o.caption)}</text>` : "",
    `</svg>`,
    "",
  ].join("\n");
}

/** The window in µs: as asked, or the `spanMs` with the most flow starts. */
function window(slices: Slice[], o: RenderOptions): [number, number] {
  if (o.fromMs !== undefined && o.toMs !== undefined && o.toMs > o.fromMs)
    return [o.fromMs * 1000, o.toMs * 1000];
  const span = (o.spanMs ?? 4) * 1000;
  const starts = slices
    .filter((s) => s.flow === "out")
    .map((s) => s.ts)
    .sort((a, b) => a - b);
  if (starts.length === 0) {
    const t0 = Math.min(...slices.map((s) => s.ts), 0);
    const t1 = Math.max(...slices.map((s) => s.ts + s.dur), t0 + 1);
    return [t0, t1];
  }
  let best = 0;
  let bestCount = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (starts[j]! < starts[i]! - span) j++;
    if (i - j + 1 > bestCount) [best, bestCount] = [j, i - j + 1];
  }
  const first = starts[best]!;
  return [first - span * 0.05, first + span * 0.95];
}

/** Nesting depth of every slice on its thread, as a viewer stacks them. */
function assignDepths(slices: Slice[]): void {
  const byThread = new Map<string, Slice[]>();
  for (const s of slices) {
    const k = `${s.pid}/${s.tid}`;
    byThread.set(k, [...(byThread.get(k) ?? []), s]);
  }
  for (const list of byThread.values()) {
    list.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const open: Slice[] = [];
    for (const s of list) {
      while (open.length > 0 && open[open.length - 1]!.ts + open[open.length - 1]!.dur <= s.ts) open.pop();
      s.depth = open.length;
      open.push(s);
    }
  }
}

function sliceSvg(s: Slice, x: (us: number) => number, y: number): string {
  const color = PALETTE[hash(s.name) % PALETTE.length];
  const title = `<title>${esc(s.name)} (${s.dur.toFixed(3)} µs)</title>`;
  if (s.dur === 0) {
    // A zero-length slice: a chevron, as Perfetto draws instants.
    const cx = x(s.ts);
    return `<path d="M${n(cx - 5)},${y + 2} L${n(cx + 5)},${y + 2} L${n(cx)},${y + ROW_H - 4} z" fill="${color}">${title}</path>`;
  }
  const x0 = x(s.ts);
  const w = Math.max(1, x(s.ts + s.dur) - x0);
  const room = Math.floor((w - 8) / 6.2);
  const label =
    room >= 4 ? `<text x="${n(x0 + 4)}" y="${y + 13}" class="label">${esc(fit(s.name, room))}</text>` : "";
  return `<g><rect x="${n(x0)}" y="${y + 1}" width="${n(w)}" height="${ROW_H - 3}" fill="${color}"/>${label}${title}</g>`;
}

function ruler(from: number, to: number, x: (us: number) => number, bottom: number): string {
  const span = to - from;
  const raw = span / 8;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  const out = [`<rect x="0" y="0" width="${WIDTH}" height="${RULER_H}" fill="#fafafa"/>`];
  for (let k = 1; from + k * step <= to; k++) {
    const px = x(from + k * step);
    if (px > WIDTH - 60) break; // no room for its label
    const label = step >= 1000 ? `${((k * step) / 1000).toFixed(1)} ms` : `${(k * step).toFixed(0)} µs`;
    out.push(
      `<line x1="${n(px)}" y1="${RULER_H - 8}" x2="${n(px)}" y2="${bottom}" stroke="#eceff1"/>`,
      `<text x="${n(px + 3)}" y="${RULER_H - 12}" class="tick">+${label}</text>`,
    );
  }
  out.push(
    `<text x="10" y="${RULER_H - 12}" class="tick">${(from / 1000).toFixed(3)} ms – ${(to / 1000).toFixed(3)} ms</text>`,
  );
  return out.join("\n");
}

function fit(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`;
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const n = (v: number) => Math.round(v * 10) / 10;

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      from: { type: "string" },
      to: { type: "string" },
      span: { type: "string" },
      caption: { type: "string" },
    },
  });
  const file = positionals[0];
  if (!file) {
    process.stderr.write("usage: render-svg.ts trace.json [-o out.svg] [--from MS --to MS | --span MS]\n");
    process.exit(1);
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const opts: RenderOptions = {};
  for (const [k, v] of [
    ["fromMs", num(values.from)],
    ["toMs", num(values.to)],
    ["spanMs", num(values.span)],
  ] as const)
    if (v !== undefined) opts[k] = v;
  opts.caption =
    values.caption ??
    `pvkit's rendering (hypervisor/src/trace/render-svg.ts) of ${file}, the file ui.perfetto.dev opens`;
  const svg = renderTraceSvg(JSON.parse(readFileSync(file, "utf8")), opts);
  const out = values.output ?? file.replace(/\.json$/, "") + ".svg";
  writeFileSync(out, svg);
  process.stdout.write(`wrote ${out}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
