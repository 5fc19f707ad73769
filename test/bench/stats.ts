/** Small statistics helpers shared by the benchmarks. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

export function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

/** One row of the bench table: a pvkit metric beside its native baseline from the same run. */
export interface BenchRow {
  metric: string;
  unit: string;
  median: number;
  p99?: number;
  baseline?: { name: string; median: number };
  /** What the number alone does not say (how many, why a run stopped). */
  note?: string;
}
