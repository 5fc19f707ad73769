/**
 * esbuild, for the image builders, stopped while it has nothing to build.
 *
 * esbuild builds in a child process of its own, started at the first build and kept for later
 * ones. Kept idle it still wakes up tens of times a second (measured with a thousand idle guests:
 * ~45 context switches a second, about as many as the rest of the host), for a host that builds
 * only when a domain with new code is created: images are kept until their sources change
 * (guest-build.ts, KeptBuilds). So every build goes through here; idleMs after the last one ends,
 * the process is stopped, and the next build starts it again (a few ms).
 *
 * Rule: never stopped while a build is in flight — the count is of builds started here, and the
 * image builders call esbuild's build nowhere else.
 */
import { build as esbuildBuild, stop, type BuildOptions, type BuildResult } from "esbuild";

/** How long esbuild's process is kept after the last build ends (ms; a test may shorten it). */
export const esbuildService = { idleMs: 10_000 };

let inFlight = 0;
let idle: NodeJS.Timeout | undefined;

/** esbuild's build, counted, with the process stopped once idle. */
export async function build<T extends BuildOptions>(
  options: Parameters<typeof esbuildBuild<T>>[0],
): Promise<BuildResult<T>> {
  inFlight++;
  clearTimeout(idle);
  idle = undefined;
  try {
    return await esbuildBuild(options);
  } finally {
    if (--inFlight === 0) {
      idle = setTimeout(() => void stop(), esbuildService.idleMs);
      idle.unref();
    }
  }
}
