import { defineConfig } from "vitest/config";

// One vitest run covers unit tests beside each package and the cross-package suites in test/.
export default defineConfig({
  test: {
    include: ["{abi,codegen,hypervisor,guest-kernel,drivers,examples,test}/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/fixtures/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
