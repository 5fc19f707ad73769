/**
 * A bench's hang guard: `p`, or a failure saying `why` once `ms` have passed without it. Never a
 * deadline for a measurement — only so that a guest that hangs fails the bench instead of hanging it.
 */
export function guarded<T>(p: Promise<T>, ms: number, why: () => string): Promise<T> {
  let guard: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, fail) => {
    guard = setTimeout(() => fail(new Error(why())), ms);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(guard));
}
